import os
import signal
from contextlib import nullcontext

import mlflow
import pytest

from nlp_lstm.config import load_config
from nlp_lstm.errors import Terminated
from nlp_lstm.tracking import RunTracker


@pytest.fixture
def config(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("text,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    return load_config(
        data={
            "task": "sentiment",
            "name": "t",
            "data": {"train": str(train)},
            "tracking": {"uri": f"sqlite:///{tmp_path / 'mlflow.db'}", "experiment": "tracking-tests"},
        }
    )


def status_of(config, run_id):
    return mlflow.MlflowClient(tracking_uri=config.tracking.uri).get_run(run_id).info.status


@pytest.mark.parametrize(
    "raise_it, expected",
    [
        (lambda: None, "FINISHED"),
        (lambda: (_ for _ in ()).throw(RuntimeError("boom")), "FAILED"),
        (lambda: (_ for _ in ()).throw(KeyboardInterrupt()), "KILLED"),
        (lambda: os.kill(os.getpid(), signal.SIGTERM), "KILLED"),
    ],
    ids=["ok", "exception", "ctrl-c", "sigterm"],
)
def test_run_is_never_left_running(config, raise_it, expected):
    tracker = RunTracker(config)
    with pytest.raises((RuntimeError, KeyboardInterrupt, Terminated)) if expected != "FINISHED" else nullcontext():
        with tracker:
            raise_it()
    assert status_of(config, tracker.run_id) == expected
    assert signal.getsignal(signal.SIGTERM) is not None  # previous handler restored


def test_params_are_the_flattened_config_and_config_is_an_artifact(config):
    with RunTracker(config) as tracker:
        tracker.log_metrics({"val_loss": 0.5}, step=1)
    client = mlflow.MlflowClient(tracking_uri=config.tracking.uri)
    run = client.get_run(tracker.run_id)
    assert run.data.params["training.optimizer.name"] == "adam" and run.data.params["data.validation"] == "null"
    assert run.data.tags["task"] == "sentiment"
    assert [a.path for a in client.list_artifacts(tracker.run_id)] == ["config.yaml"]


def test_disabled_tracking_does_nothing(config):
    config.tracking.enabled = False
    with RunTracker(config) as tracker:
        tracker.log_metrics({"x": 1.0})
    assert tracker.run_id is None


def test_the_experiment_opens_on_a_view_of_its_main_metrics_and_bookkeeping_stays_out_of_the_tag_list(config):
    """MLflow's runs table shows no metric by default and lists every run tag not under `mlflow.`."""
    import json

    from nlp_lstm.tracking.liveness import PID_TAG, process_alive, process_of, process_tags
    from nlp_lstm.tracking.tags import VIEW_TAG
    from nlp_lstm.tracking.ui import trials_view, ui_link

    with RunTracker(config) as tracker:
        pass
    client = mlflow.MlflowClient(tracking_uri=config.tracking.uri)
    experiment = client.get_experiment(tracker.experiment_id)
    view = json.loads(experiment.tags[VIEW_TAG])
    assert view["selectedColumns"][:2] == ["metrics.`test_accuracy`", "metrics.`val_accuracy`"]
    trials = json.loads(trials_view("accuracy", "abc"))
    assert (
        trials["searchFilter"] == "tags.`mlflow.parentRunId` = 'abc'"
        and trials["selectedColumns"] == view["selectedColumns"]
    )
    # A view the user set is kept.
    client.set_experiment_tag(tracker.experiment_id, VIEW_TAG, "mine")
    with RunTracker(config):
        pass
    assert client.get_experiment(tracker.experiment_id).tags[VIEW_TAG] == "mine"

    tags = client.get_run(tracker.run_id).data.tags
    process = [key for key in tags if "pid" in key or "boot_id" in key or "host" in key]
    assert process and all(key.startswith("mlflow.nlp_lstm.") for key in process), process
    # Runs and folders written by nlp_lstm 0.1 named them without the prefix; they are still read.
    legacy = {key.removeprefix("mlflow."): value for key, value in process_tags().items()}
    assert process_of(legacy)[PID_TAG] == str(os.getpid()) and process_alive(legacy) is True
    assert ui_link("3", "r1") == "http://127.0.0.1:5000/#/experiments/3/runs/r1?workflowType=machine_learning"


def test_run_names_start_with_what_changed_and_folders_carry_the_same_name(tmp_path):
    from nlp_lstm.pipeline import _new_run_folder
    from tests.conftest import sentiment_rows, write_csv

    train = write_csv(tmp_path / "train.csv", sentiment_rows())
    overrides = [
        "model.rnn.units=64",
        "training.optimizer.learning_rate=0.003",
        "model.dropout=0.25",
        "model.embedding_dim=32",
        "training.batch_size=16",
        f"output_dir={tmp_path / 'out'}",
    ]
    config = load_config(
        data={"task": "sentiment", "name": "reviews", "data": {"train": str(train)}}, overrides=overrides
    )
    folder = _new_run_folder(config)
    name = config.tracking.run_name
    assert name.startswith("units=64,lr=0.003,dropout=0.25,embedding_dim=32,") and ",+1-reviews-" in name
    assert "-reviews-" in name and folder.name == name

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

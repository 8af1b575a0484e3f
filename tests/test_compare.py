"""`nlp-lstm compare`: finished runs best first by a metric, with only the params that differ."""

from __future__ import annotations

import csv
import io
import json

import mlflow
import pytest

from nlp_lstm import cli


@pytest.fixture
def store(tmp_path):
    """Three finished sentiment runs that differ in units and learning rate, one unfinished, one NER run."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    sentiment = client.create_experiment("sweep")
    for name, units, rate, accuracy, status in (
        ("a", 8, 0.01, 0.81, "FINISHED"),
        ("b", 16, 0.01, 0.86, "FINISHED"),
        ("c", 32, 0.003, 0.84, "FINISHED"),
        ("d", 64, 0.01, 0.99, "KILLED"),
    ):
        run = client.create_run(sentiment, run_name=name, tags={"task": "sentiment"})
        for key, value in (
            ("model.rnn.units", units),
            ("training.optimizer.learning_rate", rate),
            ("training.seed", 42),
            ("tracking.run_name", name),
        ):
            client.log_param(run.info.run_id, key, str(value))
        client.log_metric(run.info.run_id, "test_accuracy", accuracy)
        client.log_metric(run.info.run_id, "train_seconds", 100 * accuracy)
        client.set_terminated(run.info.run_id, status)
    ner = client.create_experiment("tagging")
    run = client.create_run(ner, run_name="n", tags={"task": "ner"})
    client.log_metric(run.info.run_id, "test_f1", 0.9)
    client.set_terminated(run.info.run_id)
    return uri


def _compare(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["compare", *args])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def test_runs_best_first_with_only_the_params_that_differ(store, capsys):
    code, out, _ = _compare(capsys, "sweep", "--tracking-uri", store, "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["run"] for r in rows] == ["b", "c", "a"]  # test_accuracy, highest first; the KILLED run left out
    assert list(rows[0]) == ["run", "run_id", "test_accuracy", "model.rnn.units", "training.optimizer.learning_rate"]
    code, out, _ = _compare(
        capsys, "sweep", "--tracking-uri", store, "--metric", "train_seconds", "--top", "2", "--format", "json"
    )
    assert [r["run"] for r in json.loads(out)] == ["a", "c"]  # times: lowest first
    code, out, _ = _compare(capsys, "sweep", "--tracking-uri", store, "--format", "markdown")
    assert out.splitlines()[0].startswith("| run | run_id | test_accuracy | model.rnn.units |")
    assert out.splitlines()[2].startswith("| b | ")
    code, out, _ = _compare(capsys, "sweep", "--tracking-uri", store)
    assert out.splitlines()[1].split()[0] == "b" and "0.86" in out.splitlines()[1]


def test_compare_errors_say_what_to_give(store, capsys):
    code, _, err = _compare(capsys, "--tracking-uri", store)
    assert code == 2 and "several tasks (ner, sentiment); name a --metric" in err
    code, _, err = _compare(capsys, "nope", "--tracking-uri", store)
    assert code == 2 and "no experiment 'nope'" in err and "sweep" in err
    code, _, err = _compare(capsys, "sweep", "--tracking-uri", store, "--metric", "test_bleu")
    assert code == 2 and "no run has the metric 'test_bleu'" in err


def test_a_sweeps_parent_run_is_not_a_row(store, capsys):
    client = mlflow.MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("sweep").experiment_id
    parent = client.create_run(
        experiment, run_name="sweep-x", tags={"task": "sentiment", "nlp_lstm.sweep.parent": "true"}
    )
    client.log_param(parent.info.run_id, "sweep.trials", "12")
    client.log_metric(parent.info.run_id, "test_accuracy", 1.0)
    client.set_terminated(parent.info.run_id)
    code, out, _ = _compare(capsys, "sweep", "--tracking-uri", store, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["run"] for r in rows] == ["b", "c", "a"] and "sweep.trials" not in rows[0]

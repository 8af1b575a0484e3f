"""`nlp-lstm sweep` on tiny data: one parent MLflow run with a nested run per trial, pruning, the best trial's
params, plots and config on the parent, registration, and a second run of the command continuing the study."""

from __future__ import annotations

import json

import mlflow
import pytest
import yaml

from nlp_lstm import cli

SPACE = """
training.optimizer.learning_rate: {float: [0.00001, 0.05], log: true}
model.rnn.units: {choice: [8, 16]}
"""


@pytest.fixture
def sweep_files(tiny_sentiment_yaml, tmp_path):
    config = yaml.safe_load(tiny_sentiment_yaml.read_text())
    config["training"]["epochs"] = 2
    tiny_sentiment_yaml.write_text(yaml.safe_dump(config), encoding="utf-8")
    space = tmp_path / "space.yaml"
    space.write_text(SPACE, encoding="utf-8")
    return tiny_sentiment_yaml, space, config["tracking"]["uri"]


FIRST = [
    "--first",
    "training.optimizer.learning_rate=0.05,model.rnn.units=16",
    "--first",
    "training.optimizer.learning_rate=0.00001,model.rnn.units=8",
    "--first",
    "training.optimizer.learning_rate=0.00001,model.rnn.units=16",
]


def _sweep(capsys, config, space, *args: str) -> tuple[int, str]:
    code = cli.main(
        [
            "sweep",
            str(config),
            "--space",
            str(space),
            "--seed",
            "3",
            "--prune-after",
            "2",
            "--prune-warmup",
            "0",
            *FIRST,
            *args,
        ]
    )
    return code, capsys.readouterr().out


def test_a_sweep_nests_its_trials_prunes_records_the_best_and_continues(sweep_files, capsys, monkeypatch, tmp_path):
    config, space, uri = sweep_files
    monkeypatch.chdir(tmp_path)
    # a good setting and a hopeless one run whole; a second hopeless one is stopped after its first epoch
    code, out = _sweep(capsys, config, space, "--trials", "3", "--register", "swept")
    assert code == 0, out
    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("tests")
    [parent] = client.search_runs([experiment.experiment_id], "tags.`nlp_lstm.sweep.parent` = 'true'")
    children = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(children) == 3 and all(c.info.status == "FINISHED" for c in children)  # pruned is not FAILED
    pruned = [c for c in children if "nlp_lstm.sweep.pruned" in c.data.tags]
    assert [c.data.tags["nlp_lstm.sweep.trial"] for c in pruned] == ["2"]
    assert pruned[0].data.tags["nlp_lstm.sweep.pruned"].startswith("after epoch 1 (val_loss ")
    first = next(c for c in children if c.data.tags["nlp_lstm.sweep.trial"] == "0")
    assert first not in pruned and "test_accuracy" in first.data.metrics  # a full run: tested, models logged
    assert first.data.params["training.optimizer.learning_rate"] == "0.05"

    parent = client.get_run(parent.info.run_id)
    assert parent.data.tags["best.training.optimizer.learning_rate"] == "0.05"
    assert parent.data.tags["best_run_id"] == first.info.run_id
    best_loss = min(m.value for m in client.get_metric_history(first.info.run_id, "val_loss"))
    assert parent.data.metrics["best_val_loss"] == pytest.approx(best_loss)  # the objective: its kept epoch
    assert parent.data.metrics["trials_pruned"] == len(pruned)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"optimization_history.png", "param_importances.png", "best_config.yaml"} <= artifacts
    best = yaml.safe_load(
        open(
            mlflow.artifacts.download_artifacts(
                run_id=parent.info.run_id, artifact_path="best_config.yaml", tracking_uri=uri
            )
        )
    )
    assert best["training"]["optimizer"]["learning_rate"] == 0.05 and best["model"]["rnn"]["units"] == 16
    assert client.get_model_version("swept", "1").run_id == first.info.run_id
    assert "best trial:  0" in out
    # The trials, with the task's metrics, in the MLflow UI: a shared view of the runs table the summary links to.
    view = f"sweep-{parent.info.run_id}"
    assert f"runs?viewStateShareKey={view}&workflowType=machine_learning  (the trials)" in out
    trials_view = json.loads(client.get_experiment(experiment.experiment_id).tags[f"mlflow.sharedViewState.{view}"])
    assert trials_view["searchFilter"] == f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"

    # the same command with more trials continues the study, in two processes, under the same parent run
    code, out = _sweep(capsys, config, space, "--trials", "5", "--jobs", "2")
    assert code == 0, out
    assert "3 trials finished, 2 to run" in out and f"parent run:  {parent.info.run_id}" in out
    children = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert sorted(int(c.data.tags["nlp_lstm.sweep.trial"]) for c in children) == [0, 1, 2, 3, 4]
    sampled = {
        c.data.params["training.optimizer.learning_rate"]
        for c in children
        if c.data.tags["nlp_lstm.sweep.trial"] in ("3", "4")
    }
    assert len(sampled) == 2  # each worker drew its own values (one seed would repeat the same draw)


def test_search_space_mistakes_name_their_line(sweep_files, capsys, tmp_path):
    config, _, _ = sweep_files
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "training.optimizer.learnin_rate: {float: [0.0001, 0.01]}\nmodel.rnn.units: {choice: [8, -1]}\n"
        "model.dropout: {float: [0.5, 0.1]}\ntraining.epochs: {range: [1, 2]}\n",
        encoding="utf-8",
    )
    code = cli.main(["sweep", str(config), "--space", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert (
        f"{bad}:1: training.optimizer.learnin_rate: unknown key (did you mean 'training.optimizer.learning_rate'?)"
        in err
    )
    assert f"{bad}:2: model.rnn.units: Input should be greater than or equal to 1 (got -1)" in err
    assert f"{bad}:3: model.dropout: float: [0.5, 0.1]: the low bound is above the high one" in err
    assert f"{bad}:4: training.epochs: expected one of {{choice: [...]}}" in err


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(sweep_files, capsys, monkeypatch, tmp_path):
    config, _, uri = sweep_files
    monkeypatch.chdir(tmp_path)
    space = tmp_path / "activation.yaml"
    space.write_text("model.rnn.activation: {choice: [tanh, no_such_activation]}\n", encoding="utf-8")
    code = cli.main(
        [
            "sweep",
            str(config),
            "--space",
            str(space),
            "--sampler",
            "grid",
            "--trials",
            "2",
            "--set",
            "training.epochs=1",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "1 complete, 0 pruned, 1 fail" in out
    client = mlflow.MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("tests").experiment_id])
    status = {r.data.params["model.rnn.activation"]: r.info.status for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert status == {"tanh": "FINISHED", "no_such_activation": "FAILED"}


def test_first_trials_and_grids_are_checked_before_any_trial(sweep_files, capsys, tmp_path):
    config, space, _ = sweep_files
    cases = [
        (["--first", "training.optimizer.learning_rate=5,model.rnn.units=8"], "5.0 is outside float: [1e-05, 0.05]"),
        (["--first", "training.optimizer.learning_rate=1e-3,model.rnn.units=12"], "12 is not one of [8, 16]"),
        (["--first", "model.rnn.units=8"], "give every searched key; missing training.optimizer.learning_rate"),
        (
            ["--first", "training.optimizer.learning_rate=1e-3,model.rnn.units=8", "--sampler", "grid"],
            "a grid search visits every point anyway",
        ),
        (["--sampler", "grid"], "a float range without step has no grid"),
        (["--register", "a/b"], "tracking.register_model: 'a/b': use letters, digits"),
        (["--set", "training.distribution=multi_worker"], "sweep: training.distribution multi_worker"),
    ]
    for args, message in cases:
        assert cli.main(["sweep", str(config), "--space", str(space), *args]) == 2, args
        assert message in capsys.readouterr().err, args


def test_a_trial_that_trained_to_its_last_epoch_is_never_pruned():
    """Pruning saves the epochs still to come; after the last one the trial is evaluated and kept."""
    from nlp_lstm.sweep import PrunedTrial, PruningCallback

    class AlwaysPrune:
        reported: list = []

        def report(self, value, step):
            self.reported.append((step, value))

        def should_prune(self):
            return True

    trial = AlwaysPrune()
    callback = PruningCallback(trial, "val_loss", epochs=3)
    with pytest.raises(PrunedTrial, match="after epoch 2"):
        callback.on_epoch_end(1, {"val_loss": 0.5})
    callback.on_epoch_end(2, {"val_loss": 0.4})  # the last epoch: reported, not pruned
    assert trial.reported == [(2, 0.5), (3, 0.4)]

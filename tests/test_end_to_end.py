"""The CLI as a user runs it: train on tiny data, check the MLflow run, predict and evaluate in new processes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_pipeline, write_csv


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One 1-epoch run shared by the tests below (training is the slow part)."""
    from tests.conftest import sentiment_rows

    tmp = tmp_path_factory.mktemp("e2e")
    rows = sentiment_rows()
    files = {
        name: write_csv(tmp / f"{name}.csv", rows if name == "train" else rows[:8] + rows[-8:])
        for name in ("train", "validation", "test")
    }
    config = tmp / "tiny.yaml"
    config.write_text(
        "task: sentiment\n"
        f"data: {{train: {files['train']}, validation: {files['validation']}, test: {files['test']}}}\n"
        "model: {embedding_dim: 8, rnn: {units: 8}}\n"
        "training: {epochs: 5, batch_size: 8}\n"
        f"output_dir: {tmp / 'outputs'}\n",
        encoding="utf-8",
    )
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    stdout, run_id, model_dir = run_pipeline(
        config,
        "--set",
        "training.epochs=1",
        "--set",
        f"tracking.uri={uri}",
        "--set",
        "tracking.experiment=e2e",
        "--register",
        "e2e-sentiment",
        cwd=tmp,
    )
    return {
        "tmp": tmp,
        "uri": uri,
        "run_id": run_id,
        "model_dir": model_dir,
        "stdout": stdout,
        "files": files,
        "config": config,
    }


def test_run_prints_run_id_model_path_and_test_metrics(trained):
    assert re.fullmatch(r"[0-9a-f]{32}", trained["run_id"])
    assert (trained["model_dir"] / "model.keras").exists() and (trained["model_dir"] / "pipeline.json").exists()
    assert re.search(r"test_accuracy\s+\d\.\d{4}", trained["stdout"])
    assert re.search(r"test_macro_f1\s+\d\.\d{4}", trained["stdout"])


def test_mlflow_run_has_params_metrics_artifacts_inputs_and_models(trained):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=trained["uri"])
    run = client.get_run(trained["run_id"])
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["training.epochs"] == "1" and params["model.rnn.units"] == "8" and params["task"] == "sentiment"
    assert int(params["vocab_size"]) > 10 and params["classes"] == "negative,positive"
    metrics = run.data.metrics
    for name in ("test_accuracy", "test_macro_f1", "train_loss", "val_loss", "val_accuracy", "train_accuracy"):
        assert name in metrics, name
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [1]
    assert run.data.tags["task"] == "sentiment" and run.data.tags["pipeline_file"].endswith("tiny.yaml")
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "evaluation", "preprocessing"} <= artifacts
    nested = {a.path for d in ("evaluation", "preprocessing") for a in client.list_artifacts(run.info.run_id, d)}
    assert {
        "evaluation/test_confusion_matrix.png",
        "evaluation/test_classification_report.txt",
        "preprocessing/vocab.txt",
        "preprocessing/labels.json",
    } <= nested
    contexts = sorted(i.tags[0].value for i in run.inputs.dataset_inputs)
    assert contexts == ["eval", "test", "training"]
    mlflow.set_tracking_uri(trained["uri"])
    models = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    by_name = {m.name: m for m in models}
    assert set(by_name) == {"model", "pipeline"}
    keras_model = mlflow.models.get_model_info(f"models:/{by_name['model'].model_id}")
    assert keras_model.signature.inputs.inputs[0].type.name == "int32"


def test_logged_pipeline_model_predicts_from_raw_text(trained):
    import mlflow
    import pandas as pd

    import nlp_lstm

    mlflow.set_tracking_uri(trained["uri"])
    run = mlflow.MlflowClient().get_run(trained["run_id"])
    model = [
        m
        for m in mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
        if m.name == "pipeline"
    ][0]
    loaded = mlflow.pyfunc.load_model(f"models:/{model.model_id}")
    texts = ["a wonderful film", ""]
    expected = nlp_lstm.load(trained["model_dir"]).predict(texts)
    assert expected[1] == {"label": None, "score": None, "probabilities": {}}  # an empty text: no label invented
    for given in (pd.DataFrame({"text": texts}), texts, pd.Series(texts), pd.DataFrame({"sentence": texts})):
        assert loaded.predict(given) == expected  # exactly what predict gives, whatever holds the texts
    assert loaded.predict(texts, params={"batch_size": 1}) == expected
    signature = loaded.metadata.signature
    assert [p.name for p in signature.params] == ["batch_size"] and signature.outputs.inputs[0].type.to_dict()[
        "type"
    ] == "object"
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"input 1 is missing \(null\), not a text"):
        loaded.predict(["fine", None])


def test_save_load_in_fresh_process_gives_same_predictions(trained):
    import nlp_lstm

    texts = ["a wonderful, moving film", "a dull mess", "", "words never seen before zzz"]
    here = nlp_lstm.load(trained["model_dir"]).predict(texts)
    script = (
        "import json, sys, nlp_lstm; "
        f"print(json.dumps(nlp_lstm.load({str(trained['model_dir'])!r}).predict({texts!r})))"
    )
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=trained["tmp"], timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    there = json.loads(out.stdout.strip().splitlines()[-1])
    assert [p["label"] for p in there] == [p["label"] for p in here]
    for a, b in zip(here, there):
        if a["label"] is None:  # the empty text: no label invented
            assert a == b == {"label": None, "score": None, "probabilities": {}}
            continue
        assert abs(a["score"] - b["score"]) < 1e-5
        assert set(a["probabilities"]) == {"negative", "positive"}


def test_predict_cli_reads_stdin_and_file(trained):
    result = run_cli("predict", str(trained["model_dir"]), stdin="great film\n\nawful\n")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3 and all({"label", "score", "probabilities"} <= set(p) for p in lines)
    path = trained["tmp"] / "in.txt"
    path.write_text("great film\n", encoding="utf-8")
    result = run_cli("predict", str(trained["model_dir"]), "--input", str(path))
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 1


def test_evaluate_cli_prints_metrics_and_writes_predictions(trained):
    out = trained["tmp"] / "predictions.tsv"
    result = run_cli(
        "evaluate", str(trained["model_dir"]), "--data", str(trained["files"]["test"]), "--predictions-out", str(out)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(result.stdout)
    assert set(metrics) >= {"accuracy", "macro_f1", "positive_f1", "negative_recall"}
    assert out.read_text().splitlines()[0] == "text\tgold\tpredicted\tscore" and len(out.read_text().splitlines()) == 17


def test_user_errors_are_one_clear_message_without_traceback(trained, tmp_path):
    cases = [
        (("validate", str(trained["config"]), "--set", "training.epocs=2"), 2, "did you mean 'training.epochs'"),
        (("run", str(tmp_path / "missing.yaml")), 2, "configuration file not found"),
        (  # found before any data is read
            ("validate", str(trained["config"]), "--set", f"model.init_from={trained['model_dir']}"),
            2,
            "holds a sentiment model; it must be a language_model one",
        ),
        (("predict", str(tmp_path)), 3, "not a saved nlp_lstm pipeline"),
        (("evaluate", str(trained["model_dir"]), "--data", str(tmp_path / "nope.csv")), 3, "file not found"),
    ]
    for args, code, message in cases:
        result = run_cli(*args)
        assert result.returncode == code, (args, result.stderr[-2000:])
        assert message in result.stderr and "Traceback" not in result.stderr
    assert run_cli("validate", str(trained["config"])).returncode == 0
    for command in ("run", "validate", "predict", "evaluate"):
        assert run_cli(command, "--help").returncode == 0


def test_a_label_only_in_the_test_file_is_found_before_anything_is_written(trained):
    """Data checks run before the MLflow run and the output folder exist: a bad file leaves nothing behind."""
    import mlflow

    bad_test = write_csv(trained["tmp"] / "bad_test.csv", [("a film", "neutral")])
    result = run_cli(
        "run",
        str(trained["config"]),
        "--set",
        "training.epochs=1",
        "--set",
        f"data.test={bad_test}",
        "--set",
        f"tracking.uri={trained['uri']}",
        "--set",
        "tracking.experiment=e2e-fail",
        "--set",
        "tracking.run_name=doomed",
        cwd=trained["tmp"],
    )
    assert result.returncode == 3 and "label 'neutral' was not seen in training" in result.stderr
    assert "bad_test.csv:2" in result.stderr and "Traceback" not in result.stderr
    assert mlflow.MlflowClient(tracking_uri=trained["uri"]).get_experiment_by_name("e2e-fail") is None
    assert not (trained["tmp"] / "outputs" / "doomed").exists()


def test_training_data_with_a_single_class_or_no_entity_is_refused_before_anything_is_written(tmp_path, capsys):
    from nlp_lstm import cli

    one_class = write_csv(tmp_path / "one.csv", [("a film", "positive"), ("another film", "positive")] * 10)
    no_entity = tmp_path / "none.conll"
    no_entity.write_text("Nothing O\nhere O\n\nor O\nthere O\n" * 10, encoding="utf-8")
    cases = [
        (
            "sentiment",
            one_class,
            "every training example has the label 'positive'; a classifier needs at least two classes",
        ),
        ("ner", no_entity, "no entity in the training data (every tag is O)"),
    ]
    for task, train, message in cases:
        config = tmp_path / f"{task}.yaml"
        config.write_text(
            f"task: {task}\ndata: {{train: {train}}}\ntracking: {{uri: 'sqlite:///{tmp_path}/m.db'}}\n"
            f"output_dir: {tmp_path / 'out'}\n",
            encoding="utf-8",
        )
        assert cli.main(["run", str(config)]) == 3
        err = capsys.readouterr().err
        assert f"error: {train}: {message}" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.db").exists()


def test_registered_model_loads_by_version_latest_and_alias(trained, monkeypatch, capsys, tmp_path):
    import mlflow

    import nlp_lstm
    from nlp_lstm import cli

    assert "registered:  models:/e2e-sentiment/1" in trained["stdout"]
    client = mlflow.MlflowClient(tracking_uri=trained["uri"])
    version = client.get_model_version("e2e-sentiment", "1")
    assert version.run_id == trained["run_id"] and version.tags["task"] == "sentiment"
    run = client.get_run(trained["run_id"])
    assert float(version.tags["test_accuracy"]) == pytest.approx(run.data.metrics["test_accuracy"], abs=1e-6)
    assert version.tags.get("git_commit") == run.data.tags.get("git_commit")  # none here: the YAML is not in git
    client.set_registered_model_alias("e2e-sentiment", "champion", "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained["uri"])
    texts = ["a wonderful film", "i hated it", ""]
    expected = nlp_lstm.load(trained["model_dir"]).predict(texts)
    for uri in (
        "models:/e2e-sentiment/1",
        "models:/e2e-sentiment/latest",
        "models:/e2e-sentiment@champion",
        f"runs:/{trained['run_id']}/pipeline",
    ):
        assert nlp_lstm.load(uri).predict(texts) == expected, uri
    given = tmp_path / "texts.txt"
    given.write_text("a wonderful film\n", encoding="utf-8")
    assert cli.main(["predict", "models:/e2e-sentiment/latest", "--input", str(given)]) == 0
    assert json.loads(capsys.readouterr().out) == expected[0]
    assert cli.main(["predict", "models:/e2e-sentiment/7", "--input", str(given)]) == 3
    assert "models:/e2e-sentiment/7: cannot be fetched" in capsys.readouterr().err


def test_logged_models_load_anywhere_and_the_pipeline_serves_like_predict(trained, tmp_path):
    import nlp_lstm
    from tests.helpers.mlflow_models import (
        assert_keras_model_loads_in_a_fresh_process,
        assert_requirements_are_complete,
        assert_serves_like_predict,
        post,
        scoring_server,
    )

    pipeline = nlp_lstm.load(trained["model_dir"])
    batch = pipeline.batches(["a wonderful, moving film", "i hated it"])[0][0]
    assert_keras_model_loads_in_a_fresh_process(
        trained["uri"], trained["run_id"], {"token_ids": batch}, pipeline.model.predict(batch, verbose=0), tmp_path
    )
    assert_requirements_are_complete(trained["uri"], trained["run_id"])
    texts = ["a wonderful film", "", "a dull mess " * 40]  # an empty text and one cut to max_length
    with scoring_server("models:/e2e-sentiment/1", trained["uri"], tmp_path) as url:
        assert_serves_like_predict(url, texts, pipeline.predict(texts))
        status, answer = post(url, {"inputs": [["a", "token", "list"]]})
        assert status == 400 and answer["message"] == "input 0 is a list (['a', 'token', 'list']), not a text"


def test_serving_a_model_from_the_store_runs_no_code_stored_with_it(trained, tmp_path):
    """The pyfunc file and the package copy logged with a pipeline model are code in the artifact store: anyone
    who can write there could change them. `nlp-lstm serve` reads only the pipeline folder's data."""
    import mlflow

    from tests.helpers.mlflow_models import post, scoring_server

    root = Path(
        mlflow.MlflowClient(trained["uri"]).get_experiment_by_name("e2e").artifact_location.removeprefix("file://")
    )
    marker = tmp_path / "stored-code-ran"
    planted = 0
    for path in [*root.rglob("pyfunc.py"), *root.rglob("code/nlp_lstm/__init__.py")]:
        path.write_text(path.read_text() + f"\nopen({str(marker)!r}, 'a').write({str(path)!r} + '\\n')\n")
        planted += 1
    assert planted >= 2
    with scoring_server("models:/e2e-sentiment/1", trained["uri"], tmp_path) as url:
        assert post(url, {"inputs": ["a wonderful film"]})[0] == 200
    assert not marker.exists(), marker.read_text()
    # MLflow's own loader runs the stored code: the planted lines are live.
    loaded = subprocess.run(
        [sys.executable, "-c", "import mlflow, sys; mlflow.pyfunc.load_model(sys.argv[1])", "models:/e2e-sentiment/1"],
        env={**os.environ, "MLFLOW_TRACKING_URI": trained["uri"]},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert marker.exists(), loaded.stderr[-3000:]


def test_runs_say_what_they_changed_and_plot_their_learning_curves(trained):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=trained["uri"])
    run = client.get_run(trained["run_id"])
    # the name says what differs from the YAML (where results go is left out), and the folder has the name
    assert (
        re.fullmatch(r"epochs=1-tiny-\d{8}-\d{6}", run.info.run_name) and trained["model_dir"].name == run.info.run_name
    )
    assert run.data.tags["mlflow.note.content"].startswith(
        f"tiny (sentiment pipeline from {trained['config']}); --set training.epochs=1, tracking.uri="
    )
    assert run.data.tags["nlp_lstm.overrides"].startswith("training.epochs=1 tracking.uri=")
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # the UI opens on its runs
    assert experiment.tags["mlflow.note.content"].startswith("nlp_lstm sentiment runs")
    pipeline = next(
        m
        for m in client.search_logged_models(
            experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run.info.run_id}'"
        )
        if m.name == "pipeline"
    )
    linked = {m.key: m.dataset_name for m in pipeline.metrics}
    assert linked["test_accuracy"] == linked["test_macro_f1"] == "tiny-test"  # shown per dataset in the UI
    assert linked.get("train_seconds") is None and run.data.metrics["test_accuracy"] == pytest.approx(
        next(m.value for m in pipeline.metrics if m.key == "test_accuracy")
    )
    assert (trained["model_dir"] / "evaluation" / "learning_curves.png").stat().st_size > 1000
    assert "evaluation/learning_curves.png" in {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}


def test_the_command_line_filters_tensorflow_start_up_noise_and_keeps_errors(trained, tmp_path):
    import re as regex

    from nlp_lstm.cli import _STARTUP_NOISE

    noise = regex.compile(_STARTUP_NOISE)
    quiet = run_cli("predict", str(trained["model_dir"]), stdin="a wonderful film\n")
    assert quiet.returncode == 0 and quiet.stdout.count("\n") == 1
    assert not [line for line in quiet.stderr.splitlines() if noise.search(line)], quiet.stderr
    loud = run_cli(
        "predict", str(trained["model_dir"]), stdin="a wonderful film\n", env={"NLP_LSTM_VERBOSE_STARTUP": "1"}
    )
    if not [line for line in loud.stderr.splitlines() if noise.search(line)]:
        pytest.skip("this TensorFlow build prints none of the start-up notes the filter drops")
    failed = run_cli("predict", str(tmp_path / "missing"))
    assert failed.returncode == 3 and failed.stderr.startswith("error: ")

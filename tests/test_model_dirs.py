"""Saved pipeline folders and `predict`/`evaluate` as users break them: every broken folder is exit 3 with one
line naming the folder and the file; empty, over-long and undecodable inputs get documented answers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import keras
import pytest

from nlp_lstm import cli
from nlp_lstm.config import load_config
from nlp_lstm.pipeline import run_pipeline
from tests.conftest import run_cli, sentiment_rows, write_csv

MAX_LENGTH = 6


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny sentiment pipeline trained in this process (no tracking), with max_length 6."""
    tmp = tmp_path_factory.mktemp("saved")
    rows = sentiment_rows()
    files = {
        name: write_csv(tmp / f"{name}.csv", rows if name == "train" else rows[::2])
        for name in ("train", "validation", "test")
    }
    config = load_config(
        data={
            "task": "sentiment",
            "name": "tiny",
            "data": {k: str(v) for k, v in files.items()},
            "preprocessing": {"max_length": MAX_LENGTH},
            "model": {"embedding_dim": 8, "rnn": {"units": 8}},
            "training": {"epochs": 1, "batch_size": 8, "verbose": 0},
            "tracking": {"enabled": False},
            "output_dir": str(tmp / "outputs"),
        }
    )
    result = run_pipeline(config, log=lambda _: None)
    return {"tmp": tmp, "model_dir": result.model_dir, "files": files}


def _copy(saved, tmp_path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(saved["model_dir"], folder)
    return folder


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _manifest(folder: Path, **changes) -> None:
    manifest = json.loads((folder / "pipeline.json").read_text())
    manifest.update(changes)
    (folder / "pipeline.json").write_text(json.dumps(manifest))


def _other_task_model(folder: Path) -> None:
    from nlp_lstm.config.schema import TaggerModelConfig
    from nlp_lstm.models.tagger import build_sequence_tagger

    settings = TaggerModelConfig(
        char_features={"enabled": False}, casing={"enabled": False}, embedding_dim=4, rnn={"units": 4}
    )
    build_sequence_tagger(30, 9, settings).save(folder / "model.keras")


def _lambda_model(folder: Path) -> None:
    inputs = keras.Input((None,), dtype="int32", name="token_ids")
    outputs = keras.layers.Lambda(lambda x: keras.ops.one_hot(x[:, 0], 2))(inputs)
    keras.Model(inputs, outputs).save(folder / "model.keras")


BROKEN = {
    "truncated model.keras": (lambda f: _truncate(f / "model.keras"), "model.keras: damaged or truncated"),
    "missing model.keras": (lambda f: (f / "model.keras").unlink(), "model.keras missing"),
    "missing config.yaml": (lambda f: (f / "config.yaml").unlink(), "config.yaml: missing; the folder is incomplete"),
    "invalid config.yaml": (
        lambda f: (f / "config.yaml").write_text("task: [sentiment"),
        "config.yaml: not valid YAML",
    ),
    "invalid pipeline.json": (lambda f: (f / "pipeline.json").write_text("{not json"), "pipeline.json: not valid JSON"),
    "unknown task": (
        lambda f: _manifest(f, task="summarization"),
        "task 'summarization' is not one this nlp_lstm knows",
    ),
    "newer format": (
        lambda f: _manifest(f, format=99, nlp_lstm_version="9.0"),
        "format 99, written by nlp_lstm 9.0; this version reads format 1",
    ),
    "config of another task": (
        lambda f: (f / "config.yaml").write_text(
            (f / "config.yaml").read_text().replace("task: sentiment", "task: ner")
        ),
        "a ner config, but pipeline.json says",
    ),
    "missing vocabulary": (lambda f: (f / "preprocessing" / "vocab.txt").unlink(), "vocab.txt"),
    "model of another task": (_other_task_model, "model.keras: not the sentiment model this folder's preprocessing"),
    "Lambda layer": (_lambda_model, "model.keras: holds a Lambda layer"),
    "unfinished, no epoch yet": (
        lambda f: (_manifest(f, status="training"), shutil.rmtree(f / "checkpoints")),
        "an unfinished run that has not finished an epoch yet",
    ),
    "pipeline.json nested 100,000 deep": (
        lambda f: (f / "pipeline.json").write_text("[" * 100_000),
        "pipeline.json: not valid JSON (nested too deeply)",
    ),
    "pipeline.json not UTF-8": (
        lambda f: (f / "pipeline.json").write_bytes(b'{"task": "sentiment\xff"}'),
        "pipeline.json: not UTF-8 text",
    ),
    "a bad language in tokenizer.json": (
        lambda f: _edit_json(f / "preprocessing" / "tokenizer.json", language="klingon"),
        "preprocessing/tokenizer.json: language 'klingon' is not one spaCy has; the folder is damaged",
    ),
    "a setting of another kind in tokenizer.json": (
        lambda f: _edit_json(f / "preprocessing" / "tokenizer.json", max_length="long"),
        "preprocessing/tokenizer.json: max_length must be a whole number >= 1 or null, got 'long'",
    ),
    "an unknown setting in tokenizer.json": (
        lambda f: _edit_json(f / "preprocessing" / "tokenizer.json", stemming=True),
        "preprocessing/tokenizer.json: unknown settings ['stemming']",
    ),
}


def _edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_model_folder_is_one_line_naming_it_and_the_file(saved, tmp_path, capsys, case):
    folder = _copy(saved, tmp_path)
    damage, message = BROKEN[case]
    damage(folder)
    for command in (
        ("predict", str(folder), "--input", str(saved["files"]["test"])),
        ("evaluate", str(folder), "--data", str(saved["files"]["test"])),
    ):
        code, out, err = _cli(capsys, *command)
        assert code == 3, (case, err)
        assert err.count("\n") == 1 and err.startswith(f"error: {folder}") and message in err, (case, err)
        assert out == ""


def test_a_model_folder_given_as_a_file_or_missing(saved, tmp_path, capsys):
    texts = str(saved["files"]["test"])
    code, _, err = _cli(capsys, "predict", str(saved["model_dir"] / "model.keras"), "--input", texts)
    assert code == 3 and "not a directory" in err
    code, _, err = _cli(capsys, "predict", str(tmp_path / "gone"), "--input", texts)
    assert code == 3 and "no such model directory" in err


def test_empty_and_over_long_inputs_get_explicit_answers(saved, tmp_path, capsys):
    long_text = "a wonderful moving film with great acting and a clever plot"
    path = tmp_path / "in.txt"
    path.write_text(f"\n   \n{long_text}\ngreat film\n", encoding="utf-8")
    code, out, err = _cli(capsys, "predict", str(saved["model_dir"]), "--input", str(path))
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0] == lines[1] == {"label": None, "score": None, "probabilities": {}}  # nothing invented
    assert lines[2]["truncated"] is True and lines[2]["label"] in {"positive", "negative"}
    assert "truncated" not in lines[3]
    assert err == (
        f"warning: 1 of 4 inputs had more than preprocessing.max_length ({MAX_LENGTH}) tokens; only the "
        f"first {MAX_LENGTH} were read\n"
    )


@pytest.mark.parametrize("size", ["0", "-5", "two"])
def test_batch_size_must_be_a_positive_number(saved, size):
    result = run_cli("predict", str(saved["model_dir"]), "--batch-size", size, stdin="good\n")
    assert result.returncode == 2 and "--batch-size" in result.stderr and "Traceback" not in result.stderr


def test_undecodable_input_names_its_line_and_encoding_reads_it(saved, tmp_path):
    result = run_cli("predict", str(saved["model_dir"]), stdin=None, input_bytes=b"good film\ncaf\xe9 noir\n")
    assert result.returncode == 3 and "<stdin>:2: cannot decode as utf-8" in result.stderr
    assert "--encoding" in result.stderr and "Traceback" not in result.stderr
    path = tmp_path / "latin.txt"
    path.write_bytes(b"good film\ncaf\xe9 noir\n")
    result = run_cli("predict", str(saved["model_dir"]), "--input", str(path), "--encoding", "latin-1")
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 2


def test_predictions_out_creates_missing_folders(saved, tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "predictions.tsv"
    code, stdout, err = _cli(
        capsys,
        "evaluate",
        str(saved["model_dir"]),
        "--data",
        str(saved["files"]["test"]),
        "--predictions-out",
        str(out),
    )
    assert code == 0, err
    assert "accuracy" in json.loads(stdout) and out.read_text().startswith("text\tgold\tpredicted\tscore")
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    code, _, err = _cli(
        capsys,
        "evaluate",
        str(saved["model_dir"]),
        "--data",
        str(saved["files"]["test"]),
        "--predictions-out",
        str(blocked / "predictions.tsv"),
    )
    assert code == 2 and "--predictions-out" in err and "cannot create its folder" in err


def test_a_folder_saved_before_run_statuses_existed_still_loads(saved, tmp_path, capsys):
    folder = _copy(saved, tmp_path)
    manifest = json.loads((folder / "pipeline.json").read_text())
    for key in ("status", "run", "epochs_run", "best_epoch"):
        manifest.pop(key, None)
    (folder / "pipeline.json").write_text(json.dumps(manifest))
    shutil.rmtree(folder / "checkpoints")
    code, out, err = _cli(capsys, "predict", str(folder), "--input", str(saved["files"]["test"]))
    assert code == 0 and err == "" and len(out.splitlines()) == len(saved["files"]["test"].read_text().splitlines())

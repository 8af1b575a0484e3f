"""`kill -9`, crashes and resume, as a user meets them: a run killed at any point of training and resumed with
`nlp-lstm run --resume` ends with exactly the per-epoch and test metrics of the same run uninterrupted, in the
same folder and MLflow run; dead runs do not stay RUNNING; resuming refuses what would not be the same run."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml

from nlp_lstm import cli
from nlp_lstm.config import load_config
from nlp_lstm.files import exclusive_lock
from nlp_lstm.model_dir import LOCK
from nlp_lstm.pipeline import run_pipeline
from tests.conftest import REPO, sentiment_rows, write_csv

EPOCHS = 4


def _config(tmp: Path, files: dict[str, Path], epochs: int = EPOCHS) -> Path:
    """Every piece of training state is in play: dropout and word dropout (seeds), Adam with EMA, a
    learning-rate schedule that acts, early stopping's best epoch, bucketed shuffled batches."""
    path = tmp / "resumable.yaml"
    path.write_text(
        f"""
task: sentiment
data: {{train: {files["train"]}, validation: {files["validation"]}, test: {files["test"]}}}
preprocessing: {{max_length: 16}}
model: {{embedding_dim: 8, word_dropout: 0.1, rnn: {{units: 8}}, dropout: 0.3}}
training:
  epochs: {epochs}
  batch_size: 8
  optimizer: {{learning_rate: 0.05, ema_momentum: 0.9}}
  lr_schedule: {{reduce_on_plateau: true, patience: 0}}
  early_stopping: {{monitor: val_accuracy, mode: max, patience: {EPOCHS}}}
tracking: {{uri: "sqlite:///{tmp / "mlflow.db"}", experiment: resume, log_model: false}}
output_dir: {tmp / "outputs"}
""",
        encoding="utf-8",
    )
    return path


def _killed(point: str, epoch: int, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`nlp-lstm ARGS` that kills itself at `point` of epoch `epoch` (see tests/helpers/killed_run.py)."""
    return subprocess.run(
        [sys.executable, "-m", "tests.helpers.killed_run", point, str(epoch), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
    )


def _printed(stdout: str, what: str) -> str:
    return re.search(rf"{what}:\s+(\S+)", stdout).group(1)


def _run_record(uri: str, run_id: str) -> dict:
    """Status, every metric's full history (step, value) and the final metrics of a run."""
    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    history = {
        key: sorted((m.step, m.value) for m in client.get_metric_history(run_id, key)) for key in run.data.metrics
    }
    return {"status": run.info.status, "history": history, "tags": run.data.tags}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resume")
    rows = sentiment_rows(repeat=4)
    files = {
        name: write_csv(tmp / f"{name}.csv", rows if name == "train" else rows[::3])
        for name in ("train", "validation", "test")
    }
    config = _config(tmp, files)
    with contextlib.chdir(tmp):  # in this process: the killed runs below are the separate processes
        result = run_pipeline(load_config(config, ["tracking.run_name=uninterrupted"]), config, log=lambda _: None)
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    record = _run_record(uri, result.run_id)
    assert len({value for _, value in record["history"]["learning_rate"]}) > 1  # the schedule acted
    metrics = json.loads((result.model_dir / "metrics.json").read_text())
    return {"tmp": tmp, "files": files, "config": config, "uri": uri, "record": record, "metrics": metrics}


def _resume(capsys, *args: str) -> tuple[int, str, str]:
    """`nlp-lstm run --resume ...` in this process (the run it resumes was killed in another)."""
    code = cli.main(["run", "--resume", *args])
    printed = capsys.readouterr()
    return code, printed.out, printed.err


def _assert_same_run(setup, resumed_stdout: str, killed_dir: Path, run_id: str) -> None:
    assert _printed(resumed_stdout, "model saved") == str(killed_dir)  # same folder
    assert _printed(resumed_stdout, "run id") == run_id  # same MLflow run
    record = _run_record(setup["uri"], run_id)
    assert record["status"] == "FINISHED"
    full = setup["record"]["history"]
    per_epoch = [key for key, points in full.items() if len(points) == EPOCHS]
    assert {"train_loss", "val_loss", "val_accuracy", "learning_rate"} <= set(per_epoch)
    for key, points in full.items():
        if key in ("train_seconds", "train_tokens_per_second", "test_examples_per_second"):
            continue  # timings
        assert record["history"][key] == points, key  # same steps (none twice) and bit-identical values
    assert json.loads((killed_dir / "metrics.json").read_text()) == setup["metrics"]
    manifest = json.loads((killed_dir / "pipeline.json").read_text())
    assert manifest["status"] == "finished" and manifest["epochs_run"] == EPOCHS
    assert not (killed_dir / "checkpoints" / "resume.npz").exists()  # a finished run does not resume
    assert record["tags"]["nlp_lstm.resumed"] == "1"


def test_killed_after_a_checkpoint_then_resumed_by_folder_is_the_uninterrupted_run(setup, capsys):
    """SIGKILL right after epoch 2's checkpoint, before MLflow got epoch 2's metrics: the folder is usable
    meanwhile, and the resumed run logs epoch 2 once, then 3 and 4."""
    tmp = setup["tmp"]
    killed = _killed("after-checkpoint", 2, "run", str(setup["config"]), "--set", "tracking.run_name=killed", cwd=tmp)
    assert killed.returncode == -9, killed.stderr[-3000:]
    folder = tmp / "outputs" / "killed"
    manifest = json.loads((folder / "pipeline.json").read_text())
    assert manifest["status"] == "training"
    run_id = manifest["run"]["mlflow_run_id"]
    record = _run_record(setup["uri"], run_id)
    assert record["status"] == "RUNNING" and [s for s, _ in record["history"]["val_loss"]] == [1]

    # the unfinished folder predicts with its best epoch so far, and says so
    texts = tmp / "texts.txt"
    texts.write_text("a wonderful film\n", encoding="utf-8")
    assert cli.main(["predict", str(folder), "--input", str(texts)]) == 0
    printed = capsys.readouterr()
    assert "unfinished run" in printed.err and "--resume" in printed.err
    assert json.loads(printed.out)["label"] in {"positive", "negative"}

    code, out, err = _resume(capsys, str(folder))
    assert code == 0, err[-3000:]
    assert "resuming" in out and "after epoch 2" in out
    assert f"marked run killed ({run_id}) KILLED" in out  # found dead, then reopened
    _assert_same_run(setup, out, folder, run_id)


def test_killed_while_writing_a_checkpoint_then_resumed_by_run_id(setup, capsys):
    """SIGKILL half-way through writing epoch 3's checkpoint: epoch 2's is intact, epoch 3 is trained again.
    Before resuming, `nlp-lstm runs --cleanup` finds the dead run and marks it KILLED."""
    tmp = setup["tmp"]
    killed = _killed("mid-write", 3, "run", str(setup["config"]), "--set", "tracking.run_name=mid-write", cwd=tmp)
    assert killed.returncode == -9, killed.stderr[-3000:]
    folder = tmp / "outputs" / "mid-write"
    assert any(".tmp" in p.name for p in (folder / "checkpoints").iterdir())  # the half-written file
    run_id = json.loads((folder / "pipeline.json").read_text())["run"]["mlflow_run_id"]

    assert cli.main(["runs", "--tracking-uri", setup["uri"], "--cleanup"]) == 0
    listed = capsys.readouterr().out
    assert run_id in listed and "process gone" in listed and "1 run marked KILLED" in listed
    assert _run_record(setup["uri"], run_id)["status"] == "KILLED"

    with contextlib.chdir(tmp):  # where the default store would be; the run id names the run in it
        code, out, err = _resume(capsys, run_id, "--set", f"tracking.uri={setup['uri']}")
    assert code == 0, err[-3000:]
    assert "after epoch 2" in out
    assert not any(".tmp" in p.name for p in (folder / "checkpoints").iterdir())
    _assert_same_run(setup, out, folder, run_id)


def test_a_crashed_run_resumes_only_as_the_same_run_and_may_be_extended(setup, capsys):
    """A crash (an exception, not a kill) in a 3-epoch run after epoch 2: FAILED, resumable. Resuming refuses
    while another process trains in the folder, a changed config or changed data, accepts more epochs (ending
    like the 4-epoch run), and refuses a finished run."""
    tmp, files = setup["tmp"], setup["files"]
    short = _config(tmp, files, epochs=3)
    crashed = _killed("crash", 2, "run", str(short), "--set", "tracking.run_name=crashed", cwd=tmp)
    assert crashed.returncode == 1 and "a bug in the middle of training" in crashed.stderr
    folder = tmp / "outputs" / "crashed"
    run_id = json.loads((folder / "pipeline.json").read_text())["run"]["mlflow_run_id"]
    assert _run_record(setup["uri"], run_id)["status"] == "FAILED"

    with exclusive_lock(folder / LOCK):  # as a second `--resume` of the same run would find it
        code, _, err = _resume(capsys, str(folder))
    assert code == 2 and "another process is training in this folder" in err

    code, _, err = _resume(capsys, str(folder), "--set", "model.rnn.units=16")
    assert code == 2 and "model.rnn.units (8 -> 16)" in err and "only training.epochs may change" in err

    original = files["train"].read_bytes()
    files["train"].write_bytes(original + b"one more line,positive\n")
    try:
        code, _, err = _resume(capsys, str(folder))
    finally:
        files["train"].write_bytes(original)
    assert code == 3 and "changed since the run" in err

    assert cli.main(["run", str(short), "--resume", str(folder), "--set", f"training.epochs={EPOCHS}"]) == 0
    out = capsys.readouterr().out
    _assert_same_run(setup, out, folder, run_id)
    assert _run_record(setup["uri"], run_id)["tags"]["nlp_lstm.resumed_with.training.epochs"] == str(EPOCHS)
    assert yaml.safe_load((folder / "config.yaml").read_text())["training"]["epochs"] == EPOCHS

    code, _, err = _resume(capsys, str(folder))
    assert code == 2 and "finished; there is nothing to resume" in err


def test_resume_errors_name_what_is_wrong(setup, tmp_path, capsys, monkeypatch):
    cases = [
        (("run", "--resume", str(tmp_path / "nowhere")), "neither a run folder nor an MLflow run id"),
        (("run", "--resume", "0" * 32, "--set", f"tracking.uri={setup['uri']}"), "no such run"),
        (("run", "--resume", str(tmp_path)), "stopped before its training started"),
        (("run",), "give a pipeline CONFIG (or --resume"),
    ]
    monkeypatch.chdir(tmp_path)
    for args, message in cases:
        assert cli.main(list(args)) == 2, args
        assert message in capsys.readouterr().err


def test_a_mirrored_run_killed_after_a_checkpoint_resumes_on_its_devices(setup):
    """Over two CPU devices, the resumed optimizer's variables are built inside the strategy's scope (as the
    model's were), and the run ends in the same folder and MLflow run."""
    tmp = setup["tmp"] / "mirrored"
    tmp.mkdir()
    config = _config(tmp, setup["files"])  # of its own: other tests here rewrite theirs
    mirrored = ["--set", "training.distribution=mirrored", "--set", "training.cpu_devices=2"]
    name = ["--set", "tracking.run_name=mirrored"]
    killed = _killed("after-checkpoint", 2, "run", str(config), *name, *mirrored, cwd=tmp)
    assert killed.returncode == -9, killed.stderr[-3000:]
    folder = tmp / "outputs" / "mirrored"
    run_id = json.loads((folder / "pipeline.json").read_text())["run"]["mlflow_run_id"]
    resumed = subprocess.run(
        [sys.executable, "-m", "nlp_lstm.cli", "run", "--resume", str(folder)],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "after epoch 2" in resumed.stdout and _printed(resumed.stdout, "run id") == run_id
    record = _run_record(f"sqlite:///{tmp / 'mlflow.db'}", run_id)
    assert record["status"] == "FINISHED" and [s for s, _ in record["history"]["val_loss"]] == [1, 2, 3, 4]
    assert json.loads((folder / "pipeline.json").read_text())["epochs_run"] == EPOCHS

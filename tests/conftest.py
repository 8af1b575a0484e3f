"""Shared fixtures: tiny datasets written per test, and a CLI runner in a fresh process."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

POSITIVE = [
    "a wonderful, moving film",
    "great acting and a clever plot",
    "i loved it",
    "brilliant and funny",
    "a joy to watch",
    "superb work",
    "charming and warm",
    "excellent story",
]
NEGATIVE = [
    "a dull, boring mess",
    "terrible acting and a lazy plot",
    "i hated it",
    "awful and tedious",
    "a waste of time",
    "bad work",
    "cold and lifeless",
    "poor story",
]


def write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("text", "label")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def sentiment_rows(repeat: int = 3) -> list[tuple[str, str]]:
    rows = [(t, "positive") for t in POSITIVE] + [(t, "negative") for t in NEGATIVE]
    return rows * repeat


@pytest.fixture
def sentiment_files(tmp_path: Path) -> dict[str, Path]:
    rows = sentiment_rows()
    return {
        "train": write_csv(tmp_path / "train.csv", rows),
        "validation": write_csv(tmp_path / "validation.csv", rows[:8] + rows[-8:]),
        "test": write_csv(tmp_path / "test.csv", rows[:8] + rows[-8:]),
    }


@pytest.fixture
def tiny_sentiment_yaml(tmp_path: Path, sentiment_files: dict[str, Path]) -> Path:
    """A 1-epoch, tiny-model sentiment pipeline tracked in a throw-away sqlite store."""
    path = tmp_path / "tiny.yaml"
    path.write_text(
        f"""
task: sentiment
data:
  train: {sentiment_files["train"]}
  validation: {sentiment_files["validation"]}
  test: {sentiment_files["test"]}
preprocessing:
  max_length: 16
model:
  embedding_dim: 8
  rnn: {{units: 8}}
training:
  epochs: 1
  batch_size: 8
tracking:
  uri: sqlite:///{tmp_path / "mlflow.db"}
  experiment: tests
output_dir: {tmp_path / "outputs"}
""",
        encoding="utf-8",
    )
    return path


def run_cli(
    *args: str,
    cwd: Path | None = None,
    stdin: str | None = None,
    env: dict | None = None,
    input_bytes: bytes | None = None,
):
    """Run `nlp-lstm` in a fresh Python process (as a user would); `input_bytes` feeds stdin raw bytes."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    result = subprocess.run(
        [sys.executable, "-m", "nlp_lstm.cli", *args],
        cwd=cwd or REPO,
        input=input_bytes if input_bytes is not None else stdin,
        capture_output=True,
        text=input_bytes is None,
        env=full_env,
        timeout=600,
    )
    if input_bytes is not None:
        result.stdout, result.stderr = result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")
    return result


def run_pipeline(config: Path, *args: str, cwd: Path) -> tuple[str, str, Path]:
    """`nlp-lstm run CONFIG ...` that must succeed: (stdout, MLflow run id, saved model directory)."""
    result = run_cli("run", str(config), *args, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]
    run_id = re.search(r"run id:\s+(\w+)", result.stdout).group(1)
    model_dir = Path(re.search(r"model saved:\s+(\S+)", result.stdout).group(1))
    return result.stdout, run_id, model_dir

"""Data-parallel training (`training.distribution: mirrored`) on two CPU devices against one device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from nlp_lstm.config.loader import load_config
from nlp_lstm.errors import ConfigError
from nlp_lstm.models.crf import CRF
from nlp_lstm.models.losses import ClassLoss
from nlp_lstm.models.seq2seq import SequenceLoss
from nlp_lstm.models.tagger import CRFLoss, MaskedTagLoss
from nlp_lstm.preprocessing.batching import PaddedBatches, ReplicaBatches, replica_batch
from tests.conftest import REPO, run_cli

TRAIN = """
import json, sys
import mlflow
from nlp_lstm.config.loader import load_config
from nlp_lstm.pipeline import run_pipeline

# One run per group of overrides ("::" between groups), in one process: one interpreter and backend start.
groups, current = [], []
for arg in sys.argv[2:] + ["::"]:
    if arg == "::":
        groups.append(current)
        current = []
    else:
        current.append(arg)
for overrides in groups:
    config = load_config(sys.argv[1], overrides)
    result = run_pipeline(config, sys.argv[1], log=lambda line: None)
    params = mlflow.MlflowClient(result.tracking_uri).get_run(result.run_id).data.params
    print("RESULT " + json.dumps({"history": result.history, "metrics": result.metrics, "params": params}))
"""

# Each sample pipeline on a small training file (its own validation and test files kept), without dropout (each
# replica would draw its own masks), with a global batch the replicas do not always divide (odd), so that padding
# rows are exercised.
SAMPLES = {
    "sentiment": (
        "sentiment.yaml",
        [
            "data.train=data/sample/sentiment/validation.csv",
            "data.validation=data/sample/sentiment/validation.csv",
            "data.test=data/sample/sentiment/test.csv",
            "model.dropout=0",
        ],
    ),
    "ner": (
        "ner_bilstm_crf.yaml",
        [
            "data.train=data/sample/ner/validation.conll",
            "data.validation=data/sample/ner/validation.conll",
            "data.test=data/sample/ner/test.conll",
            "model.word_dropout=0",
            "model.input_dropout=0",
            "model.output_dropout=0",
        ],
    ),
    "translation": (
        "translator_seq2seq.yaml",
        [
            "data.train=data/sample/translation/validation",
            "data.validation=data/sample/translation/validation",
            "data.test=data/sample/translation/test",
            "model.embedding_dropout=0",
            "model.encoder.dropout=0",
            "model.decoder.dropout=0",
        ],
    ),
    "language_model": (
        "language_model.yaml",
        [
            "data.train=data/sample/language_model/validation.txt",
            "data.validation=data/sample/language_model/validation.txt",
            "data.test=data/sample/language_model/test.txt",
            "preprocessing.mode=lines",  # stream mode carries each row's state: refused with replicas
            "model.embedding_dropout=0",
            "model.input_dropout=0",
            "model.output_dropout=0",
            "model.rnn.dropout=0",
            "model.rnn.weight_drop=0",
        ],
    ),
}


def _train(config: Path, overrides: list[str], tmp_path: Path, name: str) -> dict:
    return _train_in_one_process(config, {name: overrides}, tmp_path)[name]


def _train_in_one_process(config: Path, runs: dict[str, list[str]], tmp_path: Path) -> dict[str, dict]:
    """Each named run's history, test metrics and MLflow params, the runs made in this order in one process."""
    arguments = []
    for name, overrides in runs.items():
        common = [
            "training.epochs=1",
            "training.batch_size=15",
            "preprocessing.cache=false",
            f"output_dir={tmp_path / name}",
            f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        ]
        arguments += [*(["::"] if arguments else []), *common, *overrides]
    result = subprocess.run(
        [sys.executable, "-c", TRAIN, str(config), *arguments],
        cwd=REPO,
        env={**os.environ, "KERAS_BACKEND": keras.backend.backend()},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    return {name: json.loads(line.removeprefix("RESULT ")) for name, line in zip(runs, lines, strict=True)}


@pytest.mark.backends
@pytest.mark.parametrize("task", sorted(SAMPLES))
def test_two_devices_train_as_one(task: str, tmp_path: Path) -> None:
    config, overrides = SAMPLES[task]
    # Two devices first: the CPU is split before the backend starts; the one-device run then uses the first.
    runs = _train_in_one_process(
        REPO / "pipelines" / config,
        {"two": [*overrides, "training.distribution=mirrored", "training.cpu_devices=2"], "one": overrides},
        tmp_path,
    )
    one, two = runs["one"], runs["two"]
    assert two["params"]["distribution"] == "mirrored" and two["params"]["replicas"] == "2"
    assert one["params"]["replicas"] == "1"
    for epoch_one, epoch_two in zip(one["history"], two["history"], strict=True):
        for key, value in epoch_one.items():
            # The weights, and so every metric, follow one device's up to float summation order. Keras's
            # epoch mean of a loss (training, validation) weighs each batch by its rows, the repeated rows
            # of an odd batch (which weigh nothing in the loss itself) included: it counts a little more.
            tolerance = 5e-3 if key in ("loss", "val_loss") else 2e-4
            assert epoch_two[key] == pytest.approx(value, rel=tolerance, abs=1e-5), (task, key)
    for key, value in one["metrics"].items():
        assert two["metrics"][key] == pytest.approx(value, rel=2e-4, abs=1e-5), (task, key)


def test_replica_batches_fill_up_with_rows_that_weigh_nothing() -> None:
    ids = [np.arange(1, n + 1) for n in (3, 1, 2, 4, 2)]
    targets = [np.full(len(row), 7) for row in ids]
    x, y, weights = replica_batch(PaddedBatches({"ids": ids}, targets, batch_size=5, bucket_by_length=False)[0], 2)
    assert x.shape[0] == y.shape[0] == 6
    np.testing.assert_array_equal(x[5], x[0])  # a real row repeated: a valid input, whatever the model needs
    np.testing.assert_array_equal(weights, [1.0] * 5 + [0.0])
    replicated = ReplicaBatches(PaddedBatches({"ids": ids}, targets, batch_size=2, bucket_by_length=False), 2)
    assert [len(batch[0]) for batch in replicated] == [2, 2, 2]  # the last one: 1 real row, 1 repeated
    assert [list(batch[2]) for batch in replicated][-1] == [1.0, 0.0]


def _one_device_losses():
    rng = np.random.default_rng(0)
    tags = rng.integers(1, 3, (5, 6))  # tag index + 1 (and a valid class id for SequenceLoss)
    tags[:, 4:] = 0  # padding
    tags[0, 2:] = 0
    scores = rng.normal(size=(5, 6, 3)).astype("float32")
    crf = CRF(3)
    crf.build((None, None, 3))
    probabilities = keras.ops.softmax(rng.normal(size=(5, 3)).astype("float32"))
    return [
        (ClassLoss(), rng.integers(0, 3, 5), np.asarray(probabilities)),
        (SequenceLoss(label_smoothing=0.1), tags, scores),
        (MaskedTagLoss(), tags, scores),
        (CRFLoss(crf), tags, scores),
    ]


@pytest.mark.backends
def test_weighted_losses_equal_the_usual_mean_on_one_device() -> None:
    """Every task's loss over rows weighted 1 (and a repeated row weighted 0) is the loss one device
    averages; the replicas' parts, each a weighted sum and a count (`weighted_sum_and_count`), add up to it."""
    for loss, y_true, y_pred in _one_device_losses():
        usual = float(loss(y_true, y_pred))
        y_true, y_pred = np.concatenate([y_true, y_true[:1]]), np.concatenate([y_pred, y_pred[:1]])
        weights = np.array([1.0] * (len(y_true) - 1) + [0.0], dtype="float32")
        assert float(loss(y_true, y_pred, sample_weight=weights)) == pytest.approx(usual, rel=1e-5), type(loss)
        parts = [
            loss.weighted_sum_and_count(y_true[rows], y_pred[rows], weights[rows]) for rows in ([0, 1, 2], [3, 4, 5])
        ]
        total = sum(float(part[0]) for part in parts) / sum(float(part[1]) for part in parts)
        assert total == pytest.approx(usual, rel=1e-5), type(loss)


def test_distribution_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cpu_devices only applies with distribution: mirrored"):
        load_config(REPO / "pipelines" / "sentiment.yaml", ["training.cpu_devices=2"])
    with pytest.raises(ConfigError, match="distribution_options only applies with distribution: multi_worker"):
        load_config(REPO / "pipelines" / "sentiment.yaml", ["training.distribution_options.process_id=1"])
    with pytest.raises(ConfigError, match="process_id 2 is not below num_processes 2"):
        load_config(
            REPO / "pipelines" / "sentiment.yaml",
            [
                "training.distribution=multi_worker",
                "training.distribution_options.num_processes=2",
                "training.distribution_options.process_id=2",
            ],
        )
    with pytest.raises(ConfigError, match="preprocessing.mode: stream"):
        load_config(REPO / "pipelines" / "language_model.yaml", ["training.distribution=mirrored"])
    result = run_cli(
        "validate",
        "pipelines/sentiment.yaml",
        "--set",
        "training.distribution=mirrored",
        env={"KERAS_BACKEND": "torch"},
    )
    assert result.returncode == 2
    assert "training.distribution" in result.stderr and "not on 'torch'" in result.stderr
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    result = run_cli(
        "run",
        "pipelines/sentiment.yaml",
        "--set",
        "training.distribution=multi_worker",
        "--set",
        f"output_dir={tmp_path}",
        env={**env, "KERAS_BACKEND": "tensorflow"},
    )
    assert result.returncode == 2, result.stderr
    assert "TF_CONFIG" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # refused before a folder or an MLflow run existed

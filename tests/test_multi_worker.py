"""Data-parallel training in two processes on loopback (`training.distribution: multi_worker`) against one
process (a file of its own, so that the test runner spreads it apart from the `mirrored` pairs)."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from nlp_lstm.pipeline import load_pipeline
from tests.conftest import REPO
from tests.test_distribution import SAMPLES, _train


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _worker_environment(backend: str, index: int, ports: list[int]) -> dict[str, str]:
    if backend == "tensorflow":
        cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
        return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
    return {
        "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{ports[0]}",
        "KERAS_DISTRIBUTION_NUM_PROCESSES": str(len(ports)),
        "KERAS_DISTRIBUTION_PROCESS_ID": str(index),
    }


def _probabilities(model_dir: Path, texts: list[str]) -> np.ndarray:
    predictions = load_pipeline(model_dir).predict(texts)
    return np.array([[p["probabilities"][label] for label in sorted(p["probabilities"])] for p in predictions])


def _launch(arguments: list[str], backend: str, ports: list[int], scratch: Path) -> list[subprocess.Popen]:
    """The two workers of one `nlp-lstm ARGUMENTS` command, each with its own environment."""
    return [
        subprocess.Popen(
            [sys.executable, "-m", "nlp_lstm.cli", *arguments],
            cwd=REPO,
            env={
                **os.environ,
                "KERAS_BACKEND": backend,
                "TMPDIR": str(scratch),
                **_worker_environment(backend, i, ports),
            },
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]


def _finish(workers: list[subprocess.Popen]) -> list[str]:
    outputs = [worker.communicate(timeout=600)[0] for worker in workers]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    return outputs


@pytest.mark.backends
def test_two_worker_processes_train_as_one_and_resume_after_a_kill(tmp_path: Path) -> None:
    """Two processes on loopback (TF_CONFIG on TensorFlow, a JAX coordinator), both killed after an epoch's
    checkpoint, then both resumed: one MLflow run, one saved pipeline, written by the chief, predicting like
    an uninterrupted single-process run's; the other worker leaves nothing."""
    backend = keras.backend.backend()
    config, overrides = SAMPLES["sentiment"]
    common = [
        *overrides,
        "training.epochs=40",  # resumed with 2: the kill lands long before this run could end
        "training.batch_size=15",
        "preprocessing.cache=false",
        f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
        f"output_dir={tmp_path / 'two'}",
        "training.distribution=multi_worker",
    ]
    killed_scratch, scratch = tmp_path / "killed_scratch", tmp_path / "scratch"
    killed_scratch.mkdir(), scratch.mkdir()
    arguments = ["run", f"pipelines/{config}", *(arg for value in common for arg in ("--set", value))]
    workers = _launch(arguments, backend, _free_ports(2), killed_scratch)
    deadline = time.monotonic() + 600
    states: list[Path] = []
    while not states and time.monotonic() < deadline and all(w.poll() is None for w in workers):
        states = list((tmp_path / "two").glob("*/checkpoints/resume.npz"))
        time.sleep(0.05)
    for worker in workers:
        worker.kill()
    killed = [worker.communicate()[0] for worker in workers]
    assert states, killed[0][-3000:]
    saved = list((tmp_path / "two").iterdir())
    assert len(saved) == 1

    resumed = ["run", "--resume", str(saved[0]), "--set", "training.epochs=2"]
    outputs = _finish(_launch(resumed, backend, _free_ports(2), scratch))
    assert "resuming" in outputs[0] and "run id:" in outputs[0] and "worker 1: training done" in outputs[1]
    assert [path.name for path in scratch.iterdir()] == []  # the other worker's scratch folder is gone
    assert list((tmp_path / "two").iterdir()) == saved

    one = _train(REPO / "pipelines" / config, [*overrides, "training.epochs=2"], tmp_path, "one")
    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    chief = [run for run in runs if run.data.params.get("distribution") == "multi_worker"]
    assert len(runs) == 2 and len(chief) == 1  # the single-process run and the chief's, resumed
    assert chief[0].data.params["workers"] == "2" and chief[0].data.params["replicas"] == "2"
    assert chief[0].info.status == "FINISHED"
    with open(REPO / "data/sample/sentiment/test.csv", newline="") as rows:
        texts = [row["text"] for row in csv.DictReader(rows)]
    single = next((tmp_path / "one").iterdir())
    np.testing.assert_allclose(_probabilities(saved[0], texts), _probabilities(single, texts), atol=1e-5)
    assert one["history"][-1]["val_accuracy"] == pytest.approx(float(chief[0].data.metrics["val_accuracy"]), abs=1e-6)
    history = client.get_metric_history(chief[0].info.run_id, "val_accuracy")
    assert sorted(m.step for m in history) == [0, 1] or sorted(m.step for m in history) == [1, 2]

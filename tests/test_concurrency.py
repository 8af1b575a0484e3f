"""Runs started at the same moment with the same name get folders of their own (one exclusive mkdir each), so
no model overwrites another and no two runs share a checkpoint file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import yaml


def test_concurrent_creations_get_distinct_folders(tmp_path):
    """Twelve processes create the same folder name at the same instant."""
    count, start = 12, time.time() + 3  # all wait for one moment, after every interpreter has started
    script = (
        "import sys, time\n"
        "from nlp_lstm.files import create_unique_directory\n"
        "while time.time() < float(sys.argv[1]): pass\n"
        "print(create_unique_directory(sys.argv[2], 'same-name'))\n"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(start), str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    folders = {process.communicate(timeout=120)[0].strip() for process in processes}
    assert all(process.returncode == 0 for process in processes)
    assert len(folders) == count
    assert {Path(f).name for f in folders} == {"same-name", *(f"same-name-{i}" for i in range(2, count + 1))}


def test_runs_started_at_once_with_one_name_keep_their_own_models(tiny_sentiment_yaml, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [
        sys.executable,
        "-m",
        "nlp_lstm.cli",
        "run",
        str(tiny_sentiment_yaml),
        "--set",
        "tracking.run_name=twin",
        "--set",
        "tracking.log_model=false",
    ]
    processes = [
        subprocess.Popen(
            command + ["--set", f"training.seed={seed}"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2, 3)
    ]
    outputs = [process.communicate(timeout=600) for process in processes]
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    folders = [
        Path(next(line for line in stdout.splitlines() if line.startswith("model saved:")).split()[-1])
        for stdout, _ in outputs
    ]
    assert len(set(folders)) == 3 and {f.name for f in folders} == {"twin", "twin-2", "twin-3"}

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    for folder, (stdout, _), seed in zip(folders, outputs, (1, 2, 3)):
        manifest = json.loads((folder / "pipeline.json").read_text())
        run = client.get_run(manifest["run"]["mlflow_run_id"])
        assert run.info.status == "FINISHED" and stdout.split("run id:")[1].split()[0] == run.info.run_id
        assert run.data.tags["nlp_lstm.model_dir"] == str(folder.resolve())  # each run points at its own folder
        saved = yaml.safe_load((folder / "config.yaml").read_text())
        assert saved["training"]["seed"] == int(run.data.params["training.seed"]) == seed  # its own model
        assert run.info.run_name == folder.name
        assert (folder / "checkpoints" / "best.weights.h5").exists()

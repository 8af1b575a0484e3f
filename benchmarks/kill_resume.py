"""Kill a run with SIGKILL after an epoch, resume it, and compare it with the same run uninterrupted.

    .venv/bin/python benchmarks/kill_resume.py pipelines/sentiment.yaml --kill-after 2 [--set training.epochs=4 ...]

Runs the pipeline twice in separate processes: once uninterrupted, once killed right after epoch K's resume
checkpoint (before MLflow logs that epoch) and then continued with `nlp-lstm run --resume`. Prints both runs'
per-epoch metrics side by side, their test metrics, and whether every value is identical. Both runs go to a
throw-away MLflow store and output folder under --out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from common import ROOT


def _child(kill_after: int, argv: list[str]) -> None:
    """`nlp-lstm ARGV` that kills itself after epoch `kill_after`'s resume checkpoint is written."""
    from nlp_lstm import cli
    from nlp_lstm.training import checkpoints

    original = checkpoints.ResumeCheckpoint.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        original(self, epoch, logs)
        if epoch + 1 == kill_after:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    checkpoints.ResumeCheckpoint.on_epoch_end = on_epoch_end
    sys.exit(cli.main(argv))


def _history(uri: str, run_id: str) -> tuple[dict[str, list[tuple[int, float]]], str]:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)
    return (
        {key: sorted((m.step, m.value) for m in client.get_metric_history(run_id, key)) for key in run.data.metrics},
        run.info.status,
    )


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _child(int(sys.argv[2]), sys.argv[3:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--kill-after", type=int, default=2, help="epoch after which the run is killed")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "kill_resume")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{(args.out / 'mlflow.db').resolve()}"
    sets = [
        a
        for value in [
            *args.overrides,
            f"tracking.uri={uri}",
            "tracking.experiment=kill-resume",
            f"output_dir={args.out / 'runs'}",
        ]
        for a in ("--set", value)
    ]
    nlp_lstm = str(Path(sys.executable).with_name("nlp-lstm"))

    full = subprocess.run([nlp_lstm, "run", str(args.config), *sets], capture_output=True, text=True, check=True)
    full_id = re.search(r"run id:\s+(\w+)", full.stdout).group(1)
    killed = subprocess.run(
        [sys.executable, __file__, "--child", str(args.kill_after), "run", str(args.config), *sets],
        capture_output=True,
        text=True,
    )
    print(f"killed run: exit {killed.returncode} (SIGKILL is -9) after epoch {args.kill_after}")
    folder = Path(re.search(r"saving to (\S+)", killed.stdout).group(1))
    manifest = json.loads((folder / "pipeline.json").read_text())
    print(f"its folder: {folder}, status {manifest['status']!r}")
    resumed = subprocess.run([nlp_lstm, "run", "--resume", str(folder)], capture_output=True, text=True, check=True)
    resumed_id = re.search(r"run id:\s+(\w+)", resumed.stdout).group(1)
    assert resumed_id == manifest["run"]["mlflow_run_id"]

    (a, a_status), (b, b_status) = _history(uri, full_id), _history(uri, resumed_id)
    timings = {"train_seconds", "train_tokens_per_second", "test_examples_per_second"}
    per_epoch = sorted(key for key, points in a.items() if len(points) > 1)
    print(f"\nper-epoch metrics (uninterrupted | killed after epoch {args.kill_after} and resumed):")
    for key in per_epoch:
        left = " ".join(f"{v:.6f}" for _, v in a[key])
        right = " ".join(f"{v:.6f}" for _, v in b[key])
        print(f"  {key:<18} {left}  |  {right}")
    finals = sorted(key for key, points in a.items() if len(points) == 1 and key not in timings)
    print("final metrics:")
    for key in finals:
        print(f"  {key:<28} {a[key][0][1]:.6f}  |  {b.get(key, [(0, float('nan'))])[0][1]:.6f}")
    same = all(a[key] == b.get(key) for key in a if key not in timings)
    print(f"\nstatuses {a_status} | {b_status}; every step and value identical: {same}")


if __name__ == "__main__":
    main()

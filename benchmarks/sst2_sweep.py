"""A real sweep: `nlp-lstm sweep` over the shipped SST-2 pipeline (learning rate, units, dropout, word dropout),
the shipped setting as its first trial, then `nlp-lstm compare` of the trials.

    .venv/bin/python benchmarks/sst2_sweep.py --data-dir ../shared/data/sst2 [--trials 12] [--epochs 4] [--jobs 1]

Epochs are capped (`--epochs`) so that 12 trials take about two hours on 2 CPU cores. Trials are selected on dev
accuracy (the pipeline's monitor); the script prints the best trial's dev accuracy beside the shipped config's
published 0.8601 (12 epochs, early stopping), and the comparison table. Runs go to their own MLflow store and
Optuna storage under --out, so running the command again continues the same study.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from common import ROOT

SHIPPED_DEV_ACCURACY = 0.8601


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder with train.tsv, dev.tsv, test.tsv")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "sst2_sweep")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    nlp_lstm = str(Path(sys.executable).with_name("nlp-lstm"))
    store = f"sqlite:///{(args.out / 'mlflow.db').resolve()}"
    sets = [
        f"data.train={args.data_dir / 'train.tsv'}",
        f"data.validation={args.data_dir / 'dev.tsv'}",
        f"data.test={args.data_dir / 'test.tsv'}",
        f"training.epochs={args.epochs}",
        f"tracking.uri={store}",
        "tracking.experiment=sst2-sweep",
        f"output_dir={args.out / 'runs'}",
    ]
    command = [
        nlp_lstm,
        "sweep",
        str(ROOT / "pipelines" / "sentiment_sst2.yaml"),
        "--space",
        str(ROOT / "benchmarks" / "sst2_space.yaml"),
        "--trials",
        str(args.trials),
        "--jobs",
        str(args.jobs),
        "--seed",
        "7",
        "--first",
        "training.optimizer.learning_rate=0.001,model.rnn.units=256,model.dropout=0.5,model.word_dropout=0.1",
        *[arg for value in sets for arg in ("--set", value)],
    ]
    print("$", " ".join(command), flush=True)
    subprocess.run(command, check=True)
    table = subprocess.run(
        [
            nlp_lstm,
            "compare",
            "sst2-sweep",
            "--tracking-uri",
            store,
            "--metric",
            "best_val_accuracy",
            "--format",
            "markdown",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    print("\n$ nlp-lstm compare sst2-sweep --metric best_val_accuracy --format markdown")
    print(table)
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("sst2-sweep")
    [parent] = client.search_runs([experiment.experiment_id], "tags.`nlp_lstm.sweep.parent` = 'true'")
    best_run = client.get_run(parent.data.tags["best_run_id"])
    best_dev = parent.data.metrics["best_val_accuracy"]
    print(
        f"best trial dev accuracy: {best_dev:.4f} (test {best_run.data.metrics.get('test_accuracy', float('nan')):.4f}) "
        f"vs shipped config {SHIPPED_DEV_ACCURACY:.4f}: {best_dev - SHIPPED_DEV_ACCURACY:+.4f}"
    )


if __name__ == "__main__":
    main()

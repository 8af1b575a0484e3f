"""Translator training speed on Multi30k: target tokens/s per epoch and val BLEU after each (issue 23, target 4).

    python benchmarks/translator_training_speed.py --data-dir ../shared/data/multi30k [--epochs 10] [--set K=V ...]

Trains `pipelines/translator_multi30k.yaml` (a normal tracked run) and prints, per epoch, the seconds spent in
training batches (the per-epoch validation decoding is timed apart), the target tokens/s that gives (real
tokens, EOS included, padding not), the greedy val BLEU and the run's total wall time; then the median
tokens/s and the val BLEU at --report-epochs. To compare two versions of the code, run this file from each
checkout, one after the other on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, epoch_clock, load_benchmark_config


def training_target_tokens(config) -> int:
    """Real target tokens in one training epoch (pairs over max_length filtered as training does)."""
    import numpy as np

    from nlp_lstm.tasks import get_task

    task = get_task(config.task)(config)
    _, batches, _ = task.prepare(task.read_splits(), log=lambda message: None)
    return sum(int(np.count_nonzero(np.asarray(targets))) for _, targets in batches)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="folder with train and val .de/.en files")
    parser.add_argument("--config", type=Path, default=ROOT / "pipelines" / "translator_multi30k.yaml")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--report-epochs", type=int, nargs="+", default=[5, 10], metavar="N")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be >= 1")

    with tempfile.TemporaryDirectory(prefix="translator-speed-") as scratch:
        config = load_benchmark_config(
            args.config,
            {
                "train": args.data_dir / "train",
                "validation": args.data_dir / "val",
                "test": args.data_dir / "test_2016_flickr",
            },
            [
                f"training.epochs={args.epochs}",
                f"output_dir={scratch}/model",
                f"preprocessing.cache_dir={scratch}/cache",
                *args.overrides,
            ],
        )
        if config is None:
            return 2
        from nlp_lstm.pipeline import run_pipeline

        tokens = training_target_tokens(config)
        clock = epoch_clock()
        started = time.perf_counter()
        result = run_pipeline(config, args.config, epoch_callbacks=[clock])
        wall = time.perf_counter() - started

    print(f"\n{'epoch':>5}{'train s':>10}{'tokens/s':>11}{'val BLEU':>10}")
    rates = []
    for row in clock.epochs:
        rate = tokens / row["train_seconds"]
        rates.append(rate)
        bleu = row["logs"].get("val_bleu", float("nan"))
        print(f"{row['epoch']:>5}{row['train_seconds']:>10.1f}{rate:>11,.0f}{bleu:>10.2f}")
    bleu_at = {row["epoch"]: row["logs"].get("val_bleu") for row in clock.epochs}
    print(
        f"\nrun {result.run_id}: {len(clock.epochs)} epochs, {tokens:,} target tokens per epoch, run wall {wall:,.0f} s"
    )
    reported = ", ".join(
        f"epoch {n}: {bleu_at[n]:.2f}" if bleu_at.get(n) is not None else f"epoch {n}: not reached"
        for n in args.report_epochs
    )
    print(f"translator training: {statistics.median(rates):,.0f} target tokens/s (median epoch); val BLEU {reported}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Helpers shared by the benchmark scripts: timing and loading a pipeline config with real-data paths."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def median_seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    """Median wall-clock seconds of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_benchmark_config(path: Path, files: dict[str, Path], overrides: list[str]):
    """The pipeline config with data.train/validation/test set to `files`; None (after printing why) if invalid."""
    from nlp_lstm.config import load_config
    from nlp_lstm.errors import NlpLstmError

    paths = [f"data.{split}={file}" for split, file in files.items()]
    try:
        return load_config(path, paths + overrides)
    except NlpLstmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def print_entity_table(scores: dict, types: list[str]) -> None:
    """One row per split: overall entity F1/P/R and F1 per type (`scores`: split -> TaggingEvaluation)."""
    header = f"{'split':<11}{'F1':>8}{'P':>8}{'R':>8}" + "".join(f"{t + ' F1':>10}" for t in types)
    print(header)
    print("-" * len(header))
    for name, evaluation in scores.items():
        m = evaluation.metrics
        print(
            f"{name:<11}{m['f1']:>8.4f}{m['precision']:>8.4f}{m['recall']:>8.4f}"
            + "".join(f"{m.get(f'{t}_f1', 0.0):>10.4f}" for t in types)
        )

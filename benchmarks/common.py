"""Helpers shared by the benchmark scripts: timing and loading a pipeline config with real-data paths."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The checkout whose `nlp_lstm` a benchmark imports: this one, or another (`speed.py --baseline-checkout`
# times older code with this checkout's benchmark scripts).
CODE = Path(os.environ.get("NLP_LSTM_CODE", ROOT)).resolve()
if str(CODE) not in sys.path:
    sys.path.insert(0, str(CODE))


def median_seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    """Median wall-clock seconds of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def epoch_clock():
    """A Keras callback (passed to `run_pipeline(epoch_callbacks=...)`) recording per epoch: the seconds spent in
    its training batches (first batch start to last batch end, validation left out), the seconds since the
    callback was made when the epoch's validation ended (make it just before the run: setup included, as in
    spaCy's own log) and the epoch's logs (validation metrics included)."""
    import keras

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.created = time.perf_counter()
            self.epochs: list[dict] = []

        def on_epoch_begin(self, epoch, logs=None):
            self.started = self.last_batch = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.last_batch = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epochs.append(
                {
                    "epoch": epoch + 1,
                    "train_seconds": self.last_batch - self.started,
                    "elapsed_seconds": time.perf_counter() - self.created,
                    "logs": dict(logs or {}),
                }
            )

    return EpochClock()


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

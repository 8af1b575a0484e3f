"""Training callbacks shared by the tasks."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import keras


class ValidationMetrics(keras.callbacks.Callback):
    """Adds task metrics computed on the validation set (entity F1, BLEU...) to each epoch's logs.

    Keras's own metrics are per batch; these need the decoded validation set. Placed before the
    checkpoint and early-stopping callbacks, they can select the best epoch (e.g. `monitor: val_f1`).
    """

    def __init__(self, evaluate: Callable[[], Mapping[str, float]], keys: tuple[str, ...], prefix: str = "val_"):
        super().__init__()
        self.evaluate = evaluate
        self.keys = keys
        self.prefix = prefix

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        metrics = self.evaluate()
        for key in self.keys:
            logs[f"{self.prefix}{key}"] = float(metrics[key])

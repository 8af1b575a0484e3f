"""Training callbacks shared by the tasks."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import keras
import numpy as np


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
        # Data-parallel training sets this: the validation set is decoded on one device.
        self.inference_context: Callable[[], AbstractContextManager] = nullcontext

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if logs is None:
            return
        with self.inference_context():
            metrics = self.evaluate()
        for key in self.keys:
            logs[f"{self.prefix}{key}"] = float(metrics[key])


class AveragedWeightsForEvaluation(keras.callbacks.Callback):
    """Evaluate, checkpoint and select epochs with the optimizer's moving average of the weights.

    The optimizer must be built with `use_ema=True`. At each epoch's end (and around the validation
    pass) the averaged weights are put in the model; at the next epoch's start the raw weights come
    back, so training itself is unchanged. Placed first among the callbacks, so that the validation
    metrics, the checkpoint and early stopping's best-weights copy all see the averaged weights.

    Averaging starts at epoch `start_epoch` (1-based), from that epoch's initial weights: an average
    that still holds the first epochs' fast-moving weights scores far below the raw ones and would
    trip early stopping and the learning-rate schedule. Before it, epochs are judged on raw weights.

    Keras's `SwapEMAWeights` swaps the buffers in place instead; on JAX, with a `predict` in an
    epoch-end callback (as the decoding metrics do), that leaves an optimizer variable holding an array
    JAX has donated and deleted (Keras 3.15). Here every value assigned is a fresh copy.
    """

    state_name = "averaged_weights"

    def __init__(self, start_epoch: int = 1) -> None:
        super().__init__()
        self.start_epoch = start_epoch
        self._epoch = 0
        self._raw_weights: list[Any] | None = None

    def get_state(self) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
        """The raw weights held while the model holds the average (resume checkpoints)."""
        return {"epoch": self._epoch}, ({"raw_weights": self._raw_weights} if self._raw_weights is not None else {})

    def set_state(self, values: dict[str, Any], arrays: dict[str, list[np.ndarray]]) -> None:
        self._epoch = values.get("epoch", 0)
        raw = arrays.get("raw_weights")
        self._raw_weights = [np.array(value) for value in raw] if raw else None

    @property
    def _averages(self) -> list[Any]:
        # The optimizer's average of each trainable variable. Keras has no public accessor; its own
        # SwapEMAWeights reads this attribute too.
        optimizer = getattr(self.model.optimizer, "inner_optimizer", self.model.optimizer)  # LossScaleOptimizer
        return optimizer._model_variables_moving_average

    def _averaging(self) -> bool:
        return self._epoch + 1 >= self.start_epoch

    def _restart_average(self) -> None:
        for variable, average in zip(self.model.trainable_variables, self._averages):
            if average is not None:  # Keras keeps no average for some variables
                average.assign(keras.ops.convert_to_numpy(variable).copy())

    def _use_average(self) -> None:
        if self._raw_weights is not None or not self._averaging():
            return
        variables = self.model.trainable_variables
        self._raw_weights = [keras.ops.convert_to_numpy(variable).copy() for variable in variables]
        for variable, average in zip(variables, self._averages):
            if average is not None:
                variable.assign(keras.ops.convert_to_numpy(average).copy())

    def _use_raw(self) -> None:
        if self._raw_weights is None:
            return
        for variable, value in zip(self.model.trainable_variables, self._raw_weights):
            variable.assign(value)
        self._raw_weights = None

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._use_raw()
        self._epoch = epoch
        if epoch > 0 and epoch + 1 == self.start_epoch:  # at epoch 1 the optimizer's first step starts it
            self._restart_average()

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._use_average()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._use_average()


class ReduceLROnPlateauFrom(keras.callbacks.ReduceLROnPlateau):
    """Keras's ReduceLROnPlateau, quiet until `start_epoch` (1-based): a decoded metric such as greedy BLEU is
    noise in the first epochs (0.8 after 1.6), and a halving triggered by that noise slows the whole run.
    From `start_epoch` on, the best value and the patience count start afresh."""

    state_name = "lr_schedule"

    def __init__(self, *args: Any, start_epoch: int = 1, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.start_epoch = start_epoch

    def get_state(self) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
        best = None if self.best is None else float(self.best)
        return {"wait": self.wait, "best": best, "cooldown_counter": self.cooldown_counter}, {}

    def set_state(self, values: dict[str, Any], arrays: dict[str, list[np.ndarray]]) -> None:
        self.wait = values.get("wait", 0)
        self.best = values.get("best")
        self.cooldown_counter = values.get("cooldown_counter", 0)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if epoch + 1 >= self.start_epoch:
            super().on_epoch_end(epoch, logs)
        elif logs is not None:  # logged every epoch, as the parent does
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class TimeLimit(keras.callbacks.Callback):
    """Stops training after the epoch at which one more epoch (as long as the longest so far) would pass
    `seconds` of training time, counting `seconds_before` (a resumed run's earlier time)."""

    def __init__(self, seconds: float, seconds_before: float = 0.0):
        super().__init__()
        self.seconds = seconds
        self.seconds_before = seconds_before
        self.longest_epoch = 0.0

    def on_train_begin(self, logs=None) -> None:
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        now = time.perf_counter()
        self.longest_epoch = max(self.longest_epoch, now - self.epoch_started)
        spent = self.seconds_before + now - self.started
        if spent + self.longest_epoch > self.seconds:
            print(
                f"Epoch {epoch + 1}: training.time_limit_minutes ({self.seconds / 60:g}) would pass during "
                f"another epoch ({spent / 60:.1f} min spent); training ends here."
            )
            self.model.stop_training = True

"""Checkpoints that survive `kill -9`: the best epoch's weights, and a resume state written after every epoch.

The resume state holds everything the rest of a run depends on: every model variable (weights and the
dropout layers' seed states), every optimizer variable (step count, moments, learning rate, the moving
averages of `ema_momentum`, the loss scale), the state of the stateful callbacks (best epoch and its weights,
patience counts, the LR schedule, the raw weights under an average), the finished epochs' logs and the time
spent. Batch order is a function of the seed and the epoch (`PaddedBatches.set_epoch`), so the epoch number
stands for the shuffling state. A run resumed from it continues exactly as if it had not stopped.

Both files are written to a temporary name and renamed, so a kill while writing leaves the previous one.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import keras
import numpy as np

from nlp_lstm.errors import ModelDirError
from nlp_lstm.files import atomic_path

STATE_FORMAT = 1
_STATE_KEY = "__state__"


class StatefulCallback(Protocol):
    """A callback whose state the resume checkpoint saves: JSON-able values and named arrays."""

    state_name: str

    def get_state(self) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]: ...

    def set_state(self, values: dict[str, Any], arrays: dict[str, list[np.ndarray]]) -> None:
        """Applied at `on_train_begin`, after the callback's own reset."""


@dataclass
class TrainingState:
    """What a resume checkpoint holds, as read back."""

    epochs_done: int
    stopped_early: bool  # early stopping ended training (more epochs would not run either)
    history: list[dict[str, float]]
    train_seconds: float
    metadata: dict[str, Any]
    callbacks: dict[str, dict[str, Any]]
    model_variables: list[np.ndarray]
    optimizer_variables: list[np.ndarray]
    callback_arrays: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)

    def complete(self, epochs: int) -> bool:
        """Whether training with `epochs` configured epochs has nothing left to do."""
        return self.stopped_early or self.epochs_done >= epochs

    @property
    def best_epoch(self) -> int | None:
        """1-based epoch whose weights are kept, if any epoch was judged."""
        best = self.callbacks.get("best_epoch", {})
        return best.get("best_epoch", -1) + 1 if best.get("best") is not None else None


def weights_bytes(model) -> int:
    """About the bytes a file of `model`'s weights (and its optimizer's, when it has one) takes: the arrays,
    plus the format's headers (HDF5 keeps a few kB per variable)."""
    variables = list(model.weights)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "built", False):
        variables += list(optimizer.variables)
    arrays = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in variables)
    return arrays + (64 << 10) + (8 << 10) * len(variables)


def _numpy(variables: Sequence[Any]) -> list[np.ndarray]:
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def write_training_state(
    path: Path,
    model: keras.Model,
    *,
    epochs_done: int,
    stopped_early: bool,
    history: list[dict[str, float]],
    train_seconds: float,
    metadata: dict[str, Any],
    callbacks: Sequence[StatefulCallback],
) -> None:
    """Write the resume state of `model` (compiled, its optimizer built) and `callbacks`, atomically."""
    arrays: dict[str, np.ndarray] = {}
    for prefix, values in (("model", _numpy(model.variables)), ("optimizer", _numpy(model.optimizer.variables))):
        for i, value in enumerate(values):
            arrays[f"{prefix}/{i}"] = value
    callback_values: dict[str, dict[str, Any]] = {}
    for callback in callbacks:
        values, named_arrays = callback.get_state()
        callback_values[callback.state_name] = values
        for name, items in named_arrays.items():
            for i, value in enumerate(items):
                arrays[f"callback/{callback.state_name}/{name}/{i}"] = np.asarray(value)
    state = {
        "format": STATE_FORMAT,
        "epochs_done": epochs_done,
        "stopped_early": stopped_early,
        "history": history,
        "train_seconds": train_seconds,
        "metadata": metadata,
        "callbacks": callback_values,
        "counts": {"model": len(model.variables), "optimizer": len(model.optimizer.variables)},
    }
    arrays[_STATE_KEY] = np.frombuffer(json.dumps(state).encode("utf-8"), dtype=np.uint8)
    with atomic_path(path, needed=sum(a.nbytes for a in arrays.values()) + (64 << 10)) as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)


def read_training_state(path: Path) -> TrainingState:
    """Read a resume state; a damaged or foreign file is a `ModelDirError` naming it."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        state = json.loads(bytes(arrays.pop(_STATE_KEY)).decode("utf-8"))
        if state.get("format") != STATE_FORMAT:
            raise ModelDirError(
                f"{path}: resume checkpoint format {state.get('format')!r}; this nlp_lstm reads {STATE_FORMAT}"
            )
        counts = state["counts"]
        callback_arrays: dict[str, dict[str, list[np.ndarray]]] = {}
        for key in sorted((k for k in arrays if k.startswith("callback/")), key=_natural):
            _, owner, name, _index = key.split("/")
            callback_arrays.setdefault(owner, {}).setdefault(name, []).append(arrays[key])
        return TrainingState(
            epochs_done=state["epochs_done"],
            stopped_early=state["stopped_early"],
            history=state["history"],
            train_seconds=state["train_seconds"],
            metadata=state["metadata"],
            callbacks=state["callbacks"],
            model_variables=[arrays[f"model/{i}"] for i in range(counts["model"])],
            optimizer_variables=[arrays[f"optimizer/{i}"] for i in range(counts["optimizer"])],
            callback_arrays=callback_arrays,
        )
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        zipfile.BadZipFile,
        EOFError,
        UnicodeDecodeError,
    ) as exc:
        raise ModelDirError(f"{path}: unreadable resume checkpoint ({type(exc).__name__}: {exc})") from None


def _natural(key: str) -> tuple:
    head, _, index = key.rpartition("/")
    return head, int(index)


def restore_variables(model: keras.Model, state: TrainingState, source: Path) -> None:
    """Put the saved model and optimizer variables back (building the optimizer first)."""
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    for kind, variables, values in (
        ("model", model.variables, state.model_variables),
        ("optimizer", optimizer.variables, state.optimizer_variables),
    ):
        shapes = [tuple(v.shape) for v in variables]
        saved = [tuple(v.shape) for v in values]
        if shapes != saved:
            raise ModelDirError(
                f"{source}: the resume checkpoint's {kind} variables ({len(saved)}) do not match the "
                f"model built from this config ({len(shapes)}); it was written for another model"
            )
        for variable, value in zip(variables, values):
            variable.assign(value)


class ResumeCheckpoint(keras.callbacks.Callback):
    """Writes the resume state after every epoch (placed after every callback that changes state).

    Args:
        path: the state file (`checkpoints/resume.npz`); None keeps the per-epoch logs only.
        stateful: callbacks whose state is saved with the model's.
        metadata: saved as is (the runner's MLflow run id, data fingerprints...).
        previous: the state this run resumes from, whose history and time it continues.
    """

    def __init__(
        self,
        path: Path | None,
        stateful: Sequence[StatefulCallback],
        metadata: dict[str, Any] | None = None,
        previous: TrainingState | None = None,
    ):
        super().__init__()
        self.path = Path(path) if path is not None else None
        self.stateful = list(stateful)
        self.metadata = dict(metadata or {})
        self.history: list[dict[str, float]] = list(previous.history) if previous else []
        self._seconds_before = previous.train_seconds if previous else 0.0
        self._previous = previous
        self._started = time.perf_counter()

    @property
    def train_seconds(self) -> float:
        return self._seconds_before + time.perf_counter() - self._started

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()
        if self._previous is not None:  # after the other callbacks' own resets
            for callback in self.stateful:
                callback.set_state(
                    self._previous.callbacks.get(callback.state_name, {}),
                    self._previous.callback_arrays.get(callback.state_name, {}),
                )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.history.append({k: _float(v) for k, v in (logs or {}).items() if _float(v) is not None})
        if self.path is None:
            return
        write_training_state(
            self.path,
            self.model,
            epochs_done=epoch + 1,
            stopped_early=bool(self.model.stop_training),
            history=self.history,
            train_seconds=self.train_seconds,
            metadata=self.metadata,
            callbacks=self.stateful,
        )


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class BestEpoch(keras.callbacks.EarlyStopping):
    """Keras's `EarlyStopping` (with `restore_best_weights`), the one record of the best epoch: when an
    epoch improves on the best it also writes that epoch's weights to `path` (atomically), so an interrupted
    run keeps its best model, and its state goes into the resume checkpoint."""

    state_name = "best_epoch"

    def __init__(self, path: Path | None = None, **kwargs: Any):
        super().__init__(restore_best_weights=True, **kwargs)
        self.path = Path(path) if path is not None else None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.path is not None and self.best_epoch == epoch and self.best_weights is not None:
            with atomic_path(self.path, suffix=".weights.h5", needed=weights_bytes(self.model)) as temporary:
                self.model.save_weights(temporary)

    def get_state(self) -> tuple[dict[str, Any], dict[str, list[np.ndarray]]]:
        values = {
            "wait": self.wait,
            "stopped_epoch": self.stopped_epoch,
            "best": _float(self.best),
            "best_epoch": self.best_epoch,
        }
        return values, ({"best_weights": list(self.best_weights)} if self.best_weights is not None else {})

    def set_state(self, values: dict[str, Any], arrays: dict[str, list[np.ndarray]]) -> None:
        self.wait = values.get("wait", 0)
        self.stopped_epoch = values.get("stopped_epoch", 0)
        self.best = values.get("best")
        self.best_epoch = values.get("best_epoch", 0)
        self.best_weights = arrays.get("best_weights")


def describe_state(state: TrainingState) -> str:
    """'3 epochs done, best epoch 2', for messages."""
    best = state.best_epoch
    text = f"{state.epochs_done} epoch{'s' if state.epochs_done != 1 else ''} done"
    if best is not None:
        text += f", best epoch {best}"
    return text


__all__ = [
    "BestEpoch",
    "ResumeCheckpoint",
    "TrainingState",
    "describe_state",
    "read_training_state",
    "restore_variables",
    "write_training_state",
]

"""Fit a compiled Keras model with early stopping, best-weights restore, crash-safe checkpoints (resumable)
and LR schedule."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from nlp_lstm.config.schema import OptimizerConfig, TrainingConfig
from nlp_lstm.model_dir import BEST_WEIGHTS, RESUME_STATE
from nlp_lstm.preprocessing.batching import PaddedBatches
from nlp_lstm.training.callbacks import (
    AveragedWeightsForEvaluation,
    ReduceLROnPlateauFrom,
    TimeLimit,
    ValidationMetrics,
)
from nlp_lstm.training.checkpoints import BestEpoch, ResumeCheckpoint, TrainingState, restore_variables
from nlp_lstm.training.distribution import AgreeToStop, Replication, clip_after_aggregation
from nlp_lstm.training.layer_rates import LayerRates, with_layer_rates


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and the backend's RNG (weights init, dropout, shuffling)."""
    keras.utils.set_random_seed(seed)


def make_optimizer(config: OptimizerConfig) -> keras.optimizers.Optimizer:
    kwargs: dict[str, Any] = {"learning_rate": config.learning_rate}
    if config.clipnorm:
        kwargs["clipnorm"] = config.clipnorm
    if config.weight_decay is not None:  # 0 included: AdamW's own default is 0.004
        kwargs["weight_decay"] = config.weight_decay
    if config.ema_momentum:
        kwargs.update(use_ema=True, ema_momentum=config.ema_momentum)
    if config.name == "sgd":
        return keras.optimizers.SGD(momentum=config.momentum or 0.0, **kwargs)
    classes = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "nadam": keras.optimizers.Nadam,
        "rmsprop": keras.optimizers.RMSprop,
    }
    return classes[config.name](**kwargs)


@contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build layers under a Keras dtype policy ("float32", "mixed_float16", "mixed_bfloat16").

    Each layer keeps the policy in its saved config, so a loaded model needs no global setting; the
    global one is restored afterwards so later models in the process are unaffected.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _under_tensorflow_strategy() -> bool:
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return tf.distribute.has_strategy()


def _data_parallel() -> bool:
    """Whether the model is compiled for data-parallel batches (`Replication.scope`)."""
    return _under_tensorflow_strategy() or keras.distribution.distribution() is not None


def compile_model(
    model: keras.Model,
    config: TrainingConfig,
    loss: Any,
    metrics: Sequence[Any] | None = None,
    layer_rates: LayerRates | None = None,
) -> None:
    """Compile with the configured optimizer and XLA setting (and per-layer learning rates when
    `layer_rates` has any). Under mixed_float16 Keras wraps the optimizer in a LossScaleOptimizer, so small
    float16 gradients do not underflow."""
    optimizer = make_optimizer(config.optimizer)
    if layer_rates is not None and layer_rates.active:
        optimizer = with_layer_rates(optimizer, layer_rates)
    if _under_tensorflow_strategy() and config.optimizer.clipnorm:
        optimizer = clip_after_aggregation(optimizer)
    # Data-parallel batches weigh the rows that fill them up 0: metrics must read the weights (Keras's
    # `metrics` ignore them, its `weighted_metrics` do not), and log under the same names.
    weighted = _data_parallel()
    model.compile(
        optimizer=optimizer,
        loss=loss,
        metrics=list(metrics) if metrics and not weighted else None,
        weighted_metrics=list(metrics) if metrics and weighted else None,
        jit_compile=config.jit_compile,
    )


def _verbosity(setting: str | int) -> int:
    if setting == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(setting)


class EpochOrder(keras.callbacks.Callback):
    """Sets the training batches' epoch at each epoch's start, so their order depends on the epoch alone."""

    def __init__(self, batches: PaddedBatches):
        super().__init__()
        self.batches = batches

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.batches.set_epoch(epoch)


@dataclass
class TrainingOutcome:
    """Per-epoch logs of the whole run (resumed epochs included), the kept (best) epoch and the time spent."""

    history: list[dict[str, float]]
    best_epoch: int | None  # 1-based
    train_seconds: float

    @property
    def epochs_run(self) -> int:
        return len(self.history)


def _as_keras_input(data: Any, replication: Replication | None = None) -> Any:
    """A batch source's own Keras input (`as_keras_input`: a tf.data pipeline on TensorFlow), else `data`;
    for data-parallel training, batches that the replicas divide, with row weights."""
    if replication is not None and replication.engine is not None:
        if not isinstance(data, PaddedBatches):
            raise ValueError(f"data-parallel training reads PaddedBatches, not {type(data).__name__}")
        return data.as_keras_input(replicas=replication.num_replicas, share=replication.share)
    return data.as_keras_input() if hasattr(data, "as_keras_input") else data


def train_model(
    model: keras.Model,
    train_data: PaddedBatches | Any,
    validation_data: PaddedBatches | Any,
    config: TrainingConfig,
    *,
    checkpoint_dir: Path | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    after_checkpoint: Sequence[keras.callbacks.Callback] = (),
    resume: TrainingState | None = None,
    metadata: dict[str, Any] | None = None,
    replication: Replication | None = None,
) -> TrainingOutcome:
    """Fit `model` (already compiled) and leave it holding the best validation weights.

    Args:
        train_data, validation_data: `PaddedBatches` (training batches then take their order from the epoch
            number) or anything `Model.fit` accepts.
        checkpoint_dir: where the best epoch's weights (`best.weights.h5`) and the resume state
            (`resume.npz`) are written after each epoch, atomically.
        callbacks: run before the checkpoints (task metrics that add to the epoch's logs).
        after_checkpoint: run after the resume state is written (loggers: a kill between the two loses
            nothing that resuming does not log again).
        resume: a state read from a resume checkpoint: training continues after its last epoch.
        metadata: saved in the resume state.
        replication: the devices the model was built for (`nlp_lstm.training.distribution`); its batches
            then carry row weights, and validation metrics predict on one device.
    """
    stopping = config.early_stopping
    stateful: list[Any] = []
    all_callbacks: list[keras.callbacks.Callback] = []
    if isinstance(train_data, PaddedBatches):
        all_callbacks.append(EpochOrder(train_data))
    if config.optimizer.ema_momentum:
        # First, so that validation metrics, the checkpoint and the best-epoch copy all see the averaged
        # weights; the raw weights are swapped back in at the next epoch's start.
        averaging = AveragedWeightsForEvaluation(config.optimizer.ema_start_epoch)
        all_callbacks.append(averaging)
        stateful.append(averaging)
    all_callbacks.extend(callbacks)
    if replication is not None and replication.engine is not None:
        for callback in callbacks:
            if isinstance(callback, ValidationMetrics):
                callback.inference_context = lambda: replication.single_device([model])
    if config.lr_schedule.reduce_on_plateau:
        schedule = config.lr_schedule
        plateau = ReduceLROnPlateauFrom(
            monitor=stopping.monitor,
            mode=stopping.mode,
            factor=schedule.factor,
            patience=schedule.patience,
            min_lr=schedule.min_learning_rate,
            verbose=1,
            start_epoch=schedule.start_epoch,
        )
        all_callbacks.append(plateau)
        stateful.append(plateau)
    # Always track the best epoch; `patience` only decides whether training also stops early.
    best = BestEpoch(
        checkpoint_dir / BEST_WEIGHTS if checkpoint_dir is not None else None,
        monitor=stopping.monitor,
        mode=stopping.mode,
        min_delta=stopping.min_delta,
        verbose=1,
        patience=stopping.patience if stopping.enabled else config.epochs,
    )
    all_callbacks.append(best)
    stateful.append(best)
    if config.time_limit_minutes:
        all_callbacks.append(TimeLimit(config.time_limit_minutes * 60, resume.train_seconds if resume else 0.0))
    if replication is not None and replication.num_workers > 1:
        all_callbacks.append(AgreeToStop(replication))  # after every callback that may stop, before the records
    state_path = checkpoint_dir / RESUME_STATE if checkpoint_dir is not None else None
    recorder = ResumeCheckpoint(state_path, stateful, metadata, previous=resume)
    all_callbacks.append(recorder)
    all_callbacks.extend(after_checkpoint)

    if resume is not None:
        # inside the strategy's scope: the optimizer's variables it builds are then replicated like the model's
        with replication.scope() if replication is not None else nullcontext():
            restore_variables(model, resume, state_path or Path("the resume state"))
    if resume is not None and resume.complete(config.epochs):
        # Training had ended (early stop or last epoch) before the interruption: keep its best epoch.
        best_weights = resume.callback_arrays.get(best.state_name, {}).get("best_weights")
        if best_weights is not None:
            model.set_weights(best_weights)
        return TrainingOutcome(list(resume.history), resume.best_epoch, resume.train_seconds)
    model.fit(
        _as_keras_input(train_data, replication),
        validation_data=_as_keras_input(validation_data, replication) if validation_data is not None else None,
        epochs=config.epochs,
        initial_epoch=resume.epochs_done if resume is not None else 0,
        callbacks=all_callbacks,
        shuffle=False,  # the batches reshuffle themselves each epoch (keeping length buckets)
        verbose=_verbosity(config.verbose),
    )
    best_epoch = best.best_epoch + 1 if best.best is not None else None
    return TrainingOutcome(recorder.history, best_epoch, recorder.train_seconds)

"""Fit a compiled Keras model with early stopping, best-weights restore, checkpointing and LR schedule."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import keras

from nlp_lstm.config.schema import OptimizerConfig, TrainingConfig
from nlp_lstm.training.callbacks import AveragedWeightsForEvaluation, ReduceLROnPlateauFrom


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and the backend's RNG (weights init, dropout, shuffling)."""
    keras.utils.set_random_seed(seed)


def make_optimizer(config: OptimizerConfig) -> keras.optimizers.Optimizer:
    kwargs: dict[str, Any] = {"learning_rate": config.learning_rate}
    if config.clipnorm:
        kwargs["clipnorm"] = config.clipnorm
    if config.weight_decay:
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


def compile_model(model: keras.Model, config: TrainingConfig, loss: Any, metrics: Sequence[Any] | None = None) -> None:
    """Compile with the configured optimizer and XLA setting. Under mixed_float16 Keras wraps the optimizer
    in a LossScaleOptimizer, so small float16 gradients do not underflow."""
    model.compile(optimizer=make_optimizer(config.optimizer), loss=loss, metrics=list(metrics) if metrics else None,
                  jit_compile=config.jit_compile)


def _verbosity(setting: str | int) -> int:
    if setting == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(setting)


def train_model(
    model: keras.Model,
    train_data: Any,
    validation_data: Any,
    config: TrainingConfig,
    *,
    checkpoint_path: Path | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> keras.callbacks.History:
    """Fit `model` (already compiled) and leave it holding the best validation weights.

    The best weights are also written to `checkpoint_path` as training goes, so an interrupted run
    keeps its best model so far.
    """
    stopping = config.early_stopping
    all_callbacks: list[keras.callbacks.Callback] = []
    if config.optimizer.ema_momentum:
        # First, so that validation metrics, the checkpoint and the best-epoch copy all see the averaged
        # weights; the raw weights are swapped back in at the next epoch's start.
        all_callbacks.append(AveragedWeightsForEvaluation(config.optimizer.ema_start_epoch))
    all_callbacks.extend(callbacks)
    if checkpoint_path is not None:
        checkpoint_path.parent.mkdir(parents=True, exist_ok=True)
        all_callbacks.append(
            keras.callbacks.ModelCheckpoint(
                str(checkpoint_path), monitor=stopping.monitor, mode=stopping.mode, save_best_only=True,
                save_weights_only=True, verbose=0,
            )
        )
    if config.lr_schedule.reduce_on_plateau:
        schedule = config.lr_schedule
        all_callbacks.append(
            ReduceLROnPlateauFrom(
                monitor=stopping.monitor, mode=stopping.mode, factor=schedule.factor, patience=schedule.patience,
                min_lr=schedule.min_learning_rate, verbose=1, start_epoch=schedule.start_epoch,
            )
        )
    # Always track the best epoch; `patience` only decides whether training also stops early.
    all_callbacks.append(
        keras.callbacks.EarlyStopping(
            monitor=stopping.monitor,
            mode=stopping.mode,
            patience=stopping.patience if stopping.enabled else config.epochs,
            min_delta=stopping.min_delta,
            restore_best_weights=True,
            verbose=1,
        )
    )
    return model.fit(
        train_data,
        validation_data=validation_data,
        epochs=config.epochs,
        callbacks=all_callbacks,
        shuffle=False,  # the batches reshuffle themselves each epoch (keeping length buckets)
        verbose=_verbosity(config.verbose),
    )

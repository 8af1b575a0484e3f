"""Resume checkpoints: a training run stopped after any epoch and resumed from its checkpoint continues exactly
as if it had not stopped (weights, optimizer and EMA state, dropout seeds, batch order, early stopping, LR
schedule), and a checkpoint is never left half-written."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from nlp_lstm.config.schema import TrainingConfig
from nlp_lstm.errors import ModelDirError
from nlp_lstm.model_dir import RESUME_STATE
from nlp_lstm.preprocessing.batching import PaddedBatches
from nlp_lstm.training.checkpoints import read_training_state
from nlp_lstm.training.trainer import compile_model, set_seed, train_model

EPOCHS = 6


class _StopAfter(keras.callbacks.Callback):
    """Interrupts training right after the resume state of `epoch` is written (as a kill would)."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


def _data(n: int, seed: int) -> PaddedBatches:
    rng = np.random.default_rng(seed)
    sequences = [list(rng.integers(1, 30, size=int(length))) for length in rng.integers(1, 12, size=n)]
    labels = [int(sum(s) % 2) for s in sequences]
    return PaddedBatches({"ids": sequences}, labels, batch_size=8, shuffle=seed == 0, seed=seed, pad_to_multiple=4)


def _model_and_config() -> tuple[keras.Model, TrainingConfig]:
    set_seed(7)
    inputs = keras.Input((None,), dtype="int32", name="ids")
    x = keras.layers.Embedding(30, 8, mask_zero=True)(inputs)
    x = keras.layers.Dropout(0.3)(x)  # seeded randomness that must continue, not restart
    x = keras.layers.GRU(8)(x)
    outputs = keras.layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    config = TrainingConfig(
        epochs=EPOCHS,
        verbose=0,
        optimizer={"learning_rate": 0.02, "ema_momentum": 0.8, "ema_start_epoch": 2},
        early_stopping={"monitor": "val_loss", "mode": "min", "patience": EPOCHS},
        lr_schedule={"reduce_on_plateau": True, "patience": 0, "factor": 0.5},
    )
    compile_model(model, config, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model, config


def _fit(directory, stop_after=None, resume=None, epochs=EPOCHS):
    model, config = _model_and_config()
    config.epochs = epochs
    outcome = None
    try:
        outcome = train_model(
            model,
            _data(64, 0),
            _data(24, 1),
            config,
            checkpoint_dir=directory,
            after_checkpoint=[_StopAfter(stop_after)] if stop_after else [],
            resume=resume,
        )
    except KeyboardInterrupt:
        pass
    return model, outcome


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    directory = tmp_path_factory.mktemp("uninterrupted")
    model, outcome = _fit(directory)
    return directory, model, outcome


def _same_weights(a: keras.Model, b: keras.Model) -> None:
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)


@pytest.mark.backends  # CI runs it under JAX too
def test_a_run_resumed_after_an_epoch_ends_exactly_like_the_uninterrupted_run(uninterrupted, tmp_path):
    _, full_model, full = uninterrupted
    _, interrupted = _fit(tmp_path, stop_after=2)
    assert interrupted is None  # it really stopped
    state = read_training_state(tmp_path / RESUME_STATE)
    assert state.epochs_done == 2 and not state.complete(EPOCHS) and len(state.history) == 2

    resumed_model, resumed = _fit(tmp_path, resume=state)
    assert resumed.history == full.history  # every metric of every epoch, learning rate included, bit for bit
    assert resumed.best_epoch == full.best_epoch
    assert len({h["learning_rate"] for h in full.history}) > 1  # the LR schedule acted, and resumed
    _same_weights(full_model, resumed_model)  # the kept (best, averaged) weights


def test_extending_a_finished_number_of_epochs_continues_from_the_last_one(uninterrupted, tmp_path):
    _, full_model, full = uninterrupted
    _fit(tmp_path, epochs=3)
    state = read_training_state(tmp_path / RESUME_STATE)
    assert state.complete(3) and not state.complete(EPOCHS) and state.epochs_done == 3
    extended_model, extended = _fit(tmp_path, resume=state, epochs=EPOCHS)
    assert extended.history == full.history
    _same_weights(full_model, extended_model)


def test_a_complete_state_restores_the_kept_weights_without_training(uninterrupted):
    directory, full_model, full = uninterrupted
    state = read_training_state(directory / RESUME_STATE)
    again, outcome = _fit(directory, resume=state)
    assert outcome.history == full.history and outcome.best_epoch == full.best_epoch
    _same_weights(full_model, again)


@pytest.mark.backends
def test_batch_order_is_a_function_of_the_seed_and_the_epoch():
    batches = _data(64, 0)
    orders = []
    for epoch in (0, 1, 2, 1, 0, 3):
        batches.set_epoch(epoch)
        orders.append([list(rows) for rows in batches.batch_indices])
    assert orders[0] == orders[4] and orders[1] == orders[3] and orders[0] != orders[1] != orders[2]
    fresh = _data(64, 0)
    fresh.set_epoch(3)
    assert [list(rows) for rows in fresh.batch_indices] == orders[5]


def test_a_kill_while_the_checkpoint_is_written_leaves_the_previous_one(tmp_path):
    """SIGKILL half-way through writing a state (the bytes on disk cut short): the file read back is the
    complete previous state, and only a temporary file is left beside it."""
    script = textwrap.dedent(f"""
        import os, signal
        import numpy as np
        from nlp_lstm.files import atomic_path
        from nlp_lstm.training import checkpoints

        class Model:  # what write_training_state reads from a model
            def __init__(self, value):
                self.variables = [np.full((3,), value, "float32")]
                self.optimizer = type("O", (), {{"variables": [np.array(value, "int64")]}})()

        path = {str(tmp_path / RESUME_STATE)!r}
        checkpoints.write_training_state(path=__import__("pathlib").Path(path), model=Model(1.0), epochs_done=1,
                                         stopped_early=False, history=[{{"loss": 1.0}}], train_seconds=1.0,
                                         metadata={{}}, callbacks=[])
        savez = np.savez
        def half_then_die(handle, **arrays):
            savez(handle, **arrays)
            handle.truncate(handle.tell() // 2)
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        np.savez = half_then_die
        checkpoints.write_training_state(path=__import__("pathlib").Path(path), model=Model(2.0), epochs_done=2,
                                         stopped_early=False, history=[{{"loss": 1.0}}, {{"loss": 0.5}}],
                                         train_seconds=2.0, metadata={{}}, callbacks=[])
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == -9, result.stderr[-2000:]
    state = read_training_state(tmp_path / RESUME_STATE)
    assert state.epochs_done == 1 and state.history == [{"loss": 1.0}]
    np.testing.assert_array_equal(state.model_variables[0], np.full((3,), 1.0, "float32"))
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != RESUME_STATE]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".{RESUME_STATE}.") and ".tmp" in leftovers[0]


def test_a_damaged_state_is_a_model_dir_error(tmp_path):
    path = tmp_path / RESUME_STATE
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ModelDirError, match=f"{RESUME_STATE}: unreadable resume checkpoint"):
        read_training_state(path)

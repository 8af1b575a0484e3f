"""training.optimizer.ema_momentum: validation, checkpoints and the kept model use the moving average of the
weights, while the optimizer keeps training the raw weights exactly as without it."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from nlp_lstm.config.schema import TrainingConfig
from nlp_lstm.training.callbacks import ReduceLROnPlateauFrom
from nlp_lstm.training.trainer import compile_model, train_model

pytestmark = pytest.mark.backends  # CI runs these under JAX too (where Keras's own EMA swap breaks)

MOMENTUM = 0.5
EPOCHS = 4
TRUE_WEIGHTS = np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")


class _WeightRecorder(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.at_begin: list[np.ndarray] = []
        self.at_end: list[np.ndarray] = []
        self.val_loss: list[float] = []

    def _kernel(self) -> np.ndarray:
        return keras.ops.convert_to_numpy(self.model.trainable_variables[0]).copy()

    def on_epoch_begin(self, epoch, logs=None):
        self.at_begin.append(self._kernel())

    def on_epoch_end(self, epoch, logs=None):
        self.model.predict(np.ones((2, 4), "float32"), verbose=0)  # as the task metrics do (decoding)
        self.at_end.append(self._kernel())
        self.val_loss.append(float(logs["val_loss"]))


class _OneBatch(keras.utils.PyDataset):
    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        super().__init__()
        self.batch = (x, y)

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int):
        return self.batch


def _train(
    ema_momentum: float | None, initial: list[np.ndarray], checkpoint, start_epoch: int = 1
) -> tuple[keras.Model, _WeightRecorder]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = x @ TRUE_WEIGHTS
    x_val = rng.normal(size=(8, 4)).astype("float32")
    y_val = x_val @ TRUE_WEIGHTS

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False)])
    model.set_weights(initial)
    config = TrainingConfig(
        epochs=EPOCHS,
        verbose=0,
        optimizer={
            "name": "adam",
            "learning_rate": 0.05,
            "clipnorm": None,
            "ema_momentum": ema_momentum,
            "ema_start_epoch": start_epoch,
        },
        early_stopping={"monitor": "val_loss", "mode": "min", "patience": EPOCHS},
    )
    compile_model(model, config, loss="mse")
    recorder = _WeightRecorder()
    # One batch per epoch, so the raw weights at each epoch's end are one Adam step apart.
    train_model(model, _OneBatch(x, y), (x_val, y_val), config, checkpoint_dir=checkpoint, callbacks=[recorder])
    return model, recorder


@pytest.mark.parametrize("start_epoch", [1, 3])
def test_ema_validates_on_the_average_and_trains_the_raw_weights(start_epoch, tmp_path):
    initial = [np.linspace(-1.0, 1.0, 4, dtype="float32").reshape(4, 1)]
    _, plain = _train(None, initial, tmp_path / "plain")
    model, averaged = _train(MOMENTUM, initial, tmp_path / "ema", start_epoch)

    raw = plain.at_end  # W_1..W_4: one step each
    # Before start_epoch the raw weights are judged; the average restarts from that epoch's initial weights.
    expected_average = list(raw[: start_epoch - 1])
    average = raw[start_epoch - 2] if start_epoch > 1 else None
    for weights in raw[start_epoch - 1 :]:
        average = weights if average is None else MOMENTUM * average + (1 - MOMENTUM) * weights
        expected_average.append(average)

    # Training itself is unchanged: each epoch starts from the raw weights of the run without averaging.
    np.testing.assert_allclose(averaged.at_begin[0], initial[0], rtol=1e-6)
    for epoch in range(1, EPOCHS):
        np.testing.assert_allclose(averaged.at_begin[epoch], raw[epoch - 1], rtol=1e-5, atol=1e-6)
    # What validation, the checkpoint and early stopping see at each epoch's end is the average.
    for epoch in range(EPOCHS):
        np.testing.assert_allclose(averaged.at_end[epoch], expected_average[epoch], rtol=1e-5, atol=1e-6)
    assert not np.allclose(averaged.at_end[-1], raw[-1])

    # The model kept is the average of the best validation epoch, the same weights as the checkpoint.
    best = int(np.argmin(averaged.val_loss))
    kept = keras.ops.convert_to_numpy(model.trainable_variables[0])
    np.testing.assert_allclose(kept, expected_average[best], rtol=1e-5, atol=1e-6)
    restored = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False)])
    restored.load_weights(tmp_path / "ema" / "best.weights.h5")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(restored.trainable_variables[0]), kept, rtol=1e-6)


def test_lr_schedule_waits_for_its_start_epoch_then_counts_patience_afresh():
    """Greedy BLEU is noise in the first epochs (1.6 then 0.8 was measured on Multi30k): no halving then."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.002), loss="mse")
    schedule = ReduceLROnPlateauFrom(monitor="val_bleu", mode="max", factor=0.5, patience=1, start_epoch=3)
    schedule.set_model(model)
    schedule.on_train_begin()
    rates = []
    for epoch, bleu in enumerate([1.6, 0.8, 0.5, 5.0, 4.0, 6.0, 5.5]):
        logs = {"val_bleu": bleu}
        schedule.on_epoch_end(epoch, logs)
        rates.append(round(float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), 6))
        assert logs["learning_rate"] == pytest.approx(0.002 if epoch < 3 else rates[epoch - 1])  # MLflow's curve
    assert rates == [0.002, 0.002, 0.002, 0.002, 0.001, 0.001, 0.0005]


def test_the_time_limit_ends_training_before_an_epoch_that_would_pass_it(tmp_path, capsys):
    """A limit shorter than one epoch stops after the first; a generous one lets every epoch run."""
    import time

    class _SlowBatch(_OneBatch):
        def __getitem__(self, index: int):
            time.sleep(0.3)
            return self.batch

    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4)).astype("float32")
    runs = {}
    for minutes in (0.008, 10.0):  # 0.48 s: one 0.3 s epoch fits, a second would not
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        config = TrainingConfig(
            epochs=4,
            verbose=0,
            time_limit_minutes=minutes,
            early_stopping={"monitor": "val_loss", "mode": "min", "patience": 4},
        )
        compile_model(model, config, loss="mse")
        outcome = train_model(
            model, _SlowBatch(x, x[:, :1]), (x, x[:, :1]), config, checkpoint_dir=tmp_path / str(minutes)
        )
        runs[minutes] = outcome.epochs_run
    assert runs == {0.008: 1, 10.0: 4}
    assert "time_limit_minutes (0.008) would pass during another epoch" in capsys.readouterr().out

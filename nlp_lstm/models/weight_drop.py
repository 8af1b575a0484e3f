"""Weight dropping (DropConnect, Wan et al. 2013) on the hidden-to-hidden matrix of a recurrent layer, as in
Merity et al. (2018, AWD-LSTM): one mask over the recurrent kernel for a whole batch, so every time step of
a sequence sees the same dropped transition, and the layer's own step (the fused cuDNN kernel included)
runs unchanged. Standard dropout on the recurrent state would instead block the fused kernel.

The dropped matrix stands in for the cell's `recurrent_kernel` during the call only (the variable is what
the optimizer updates and what is saved), the way AWD-LSTM's PyTorch `WeightDrop` swaps its weight in.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops


class _WeightDropped:
    """Mixin for a `keras.layers.RNN` subclass: `weight_drop` of the recurrent kernel's entries dropped in
    training (the rest scaled by 1 / (1 - weight_drop)), one mask per call."""

    def __init__(self, *args: Any, weight_drop: float = 0.0, weight_drop_seed: int | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if not 0.0 <= weight_drop < 1.0:
            raise ValueError(f"weight_drop must be in [0, 1), got {weight_drop}")
        self.weight_drop = weight_drop
        self.weight_drop_seed = weight_drop_seed
        self.weight_drop_generator = keras.random.SeedGenerator(weight_drop_seed)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if not (training and self.weight_drop):
            return super().call(sequences, initial_state=initial_state, mask=mask, training=training)
        cell = self.cell
        variable = cell.recurrent_kernel
        kernel = ops.convert_to_tensor(variable)
        keep = keras.random.uniform(ops.shape(kernel), seed=self.weight_drop_generator) >= self.weight_drop
        dropped = ops.where(keep, kernel / (1.0 - self.weight_drop), ops.zeros_like(kernel))
        # object.__setattr__: Keras's attribute tracking must neither record the tensor nor lose the variable.
        object.__setattr__(cell, "recurrent_kernel", dropped)
        try:
            return super().call(sequences, initial_state=initial_state, mask=mask, training=training)
        finally:
            object.__setattr__(cell, "recurrent_kernel", variable)

    def get_config(self):
        return {**super().get_config(), "weight_drop": self.weight_drop, "weight_drop_seed": self.weight_drop_seed}


@keras.saving.register_keras_serializable(package="nlp_lstm")
class WeightDropLSTM(_WeightDropped, layers.LSTM):
    """`keras.layers.LSTM` with DropConnect on its recurrent kernel (fusable as the plain LSTM is).

    Args:
        weight_drop: fraction of the recurrent kernel's entries dropped per training batch.
        weight_drop_seed: seed of the masks.
        *args, **kwargs: as for `keras.layers.LSTM`.
    """


@keras.saving.register_keras_serializable(package="nlp_lstm")
class WeightDropGRU(_WeightDropped, layers.GRU):
    """`keras.layers.GRU` with DropConnect on its recurrent kernel (same Args as `WeightDropLSTM`)."""


@keras.saving.register_keras_serializable(package="nlp_lstm")
class WeightDropRNN(_WeightDropped, layers.RNN):
    """`keras.layers.RNN` over an LSTM-variant cell (cells.py) with DropConnect on its `recurrent_kernel`."""


WEIGHT_DROPPED = {"lstm": WeightDropLSTM, "gru": WeightDropGRU}

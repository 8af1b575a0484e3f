"""The one recurrent encoder every pipeline builds from its YAML `model.rnn` section.

Stacked LSTM/GRU layers, optionally bidirectional, with dropout between layers. The defaults (tanh,
sigmoid, use_bias, no recurrent dropout, no unroll, right-padded masks) keep each layer eligible for the
fused cuDNN kernel on TensorFlow.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

from nlp_lstm.models.layers import gather_time_step, lengths_from_mask

_CELLS = {"lstm": layers.LSTM, "gru": layers.GRU}


@keras.saving.register_keras_serializable(package="nlp_lstm")
class RecurrentEncoder(layers.Layer):
    """Stacked (bi)directional LSTM/GRU over a masked sequence.

    Returns the sequence of top-layer outputs, or with `return_final=True` a tuple
    (sequences, final) where `final` is the top layer's state after each row's last valid token
    (for a bidirectional encoder: forward state at the end, backward state at the start, concatenated).
    """

    def __init__(
        self,
        cell: str = "lstm",
        units: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
        use_bias: bool = True,
        unroll: bool = False,
        return_final: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if cell not in _CELLS:
            raise ValueError(f"cell must be one of {sorted(_CELLS)}, got {cell!r}")
        self.cell = cell
        self.units = units
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.use_bias = use_bias
        self.unroll = unroll
        self.return_final = return_final
        self.supports_masking = True
        self.recurrent_layers = [self._make_layer(i) for i in range(num_layers)]
        self.dropouts = [layers.Dropout(dropout, name=f"dropout_{i}") for i in range(num_layers - 1)] if dropout else []

    def _make_layer(self, index: int) -> layers.Layer:
        rnn = _CELLS[self.cell](
            self.units,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
            use_bias=self.use_bias,
            recurrent_dropout=self.recurrent_dropout,
            unroll=self.unroll,
            return_sequences=True,
            name=f"{self.cell}_{index}",
        )
        return layers.Bidirectional(rnn, name=f"bi{self.cell}_{index}") if self.bidirectional else rnn

    @property
    def output_dim(self) -> int:
        return self.units * (2 if self.bidirectional else 1)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.recurrent_layers:
            layer.build(shape)
            shape = (*shape[:-1], self.output_dim)
        for dropout in self.dropouts:
            dropout.build(shape)

    def call(self, inputs, mask=None, training=None):
        x = inputs
        for i, layer in enumerate(self.recurrent_layers):
            x = layer(x, mask=mask, training=training)
            if i < len(self.dropouts):
                x = self.dropouts[i](x, training=training)
        if not self.return_final:
            return x
        if mask is None:
            mask = ops.ones(ops.shape(x)[:2], dtype="bool")
        last = lengths_from_mask(mask) - 1
        forward_final = gather_time_step(x, last)
        if not self.bidirectional:
            return x, forward_final
        final = ops.concatenate([forward_final[:, : self.units], x[:, 0, self.units :]], axis=-1)
        return x, final

    def compute_mask(self, inputs, mask=None):
        return (mask, None) if self.return_final else mask

    def compute_output_shape(self, input_shape):
        seq = (*tuple(input_shape)[:-1], self.output_dim)
        return (seq, (input_shape[0], self.output_dim)) if self.return_final else seq

    def get_config(self):
        return {
            **super().get_config(),
            "cell": self.cell,
            "units": self.units,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "activation": self.activation,
            "recurrent_activation": self.recurrent_activation,
            "use_bias": self.use_bias,
            "unroll": self.unroll,
            "return_final": self.return_final,
        }

    @classmethod
    def from_settings(cls, rnn_config, **kwargs: Any) -> "RecurrentEncoder":
        """Build from a `RecurrentConfig` (the YAML `model.rnn` section)."""
        settings = rnn_config.model_dump()
        settings["num_layers"] = settings.pop("layers")
        return cls(**settings, **kwargs)

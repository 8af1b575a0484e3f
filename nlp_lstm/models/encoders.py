"""The one recurrent encoder every pipeline builds from its YAML `model.rnn` section.

Stacked LSTM/GRU (or LSTM-variant, see cells.py) layers, optionally bidirectional, with dropout between layers, in one of two modes:

- length-aware (`fused: require`, and `auto` on a JAX or PyTorch GPU or for forward-only layers; see
  `nlp_lstm.fused_kernels.length_aware_encoder`): no mask reaches the recurrent layers, so they
  stay eligible for the fused cuDNN kernel on TensorFlow, JAX and PyTorch alike. Right padding cannot
  change a forward RNN's outputs at valid positions; the backward direction runs as a forward RNN over
  each sequence reversed within its own length, and its outputs are reversed back. Outputs at valid
  positions equal those of Keras's masked `Bidirectional` (tested); padded positions are zeros.
- masked (`fused: off`, and `auto` on TensorFlow or a CPU, where it is faster): Keras's `Bidirectional`
  with the mask, which Keras fuses only on TensorFlow.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

from nlp_lstm.fused_kernels import CELLS, fused_kernel_blockers, length_aware_encoder
from nlp_lstm.models.cells import VARIANT_CELLS
from nlp_lstm.models.layers import gather_time_step, lengths_from_mask
from nlp_lstm.models.weight_drop import WEIGHT_DROPPED, WeightDropRNN

_FUSABLE = {"lstm": layers.LSTM, "gru": layers.GRU}
FUSED_MODES = ("auto", "require", "off")

__all__ = ["CELLS", "FUSED_MODES", "RecurrentEncoder", "fused_kernel_blockers", "reverse_within_length"]


def reverse_within_length(sequences, lengths):
    """Each row's first `length` steps in reverse order, padding left in place: [a b c 0] -> [c b a 0].

    Its own inverse; this is how the backward direction runs as a forward RNN over right-padded rows.
    """
    steps = ops.expand_dims(ops.arange(ops.shape(sequences)[1]), 0)
    lengths = ops.expand_dims(ops.cast(lengths, "int32"), 1)
    index = ops.where(steps < lengths, lengths - 1 - steps, steps)
    index = ops.broadcast_to(ops.expand_dims(index, -1), ops.shape(sequences))
    return ops.take_along_axis(sequences, index, axis=1)


@keras.saving.register_keras_serializable(package="nlp_lstm")
class RecurrentEncoder(layers.Layer):
    """Stacked (bi)directional LSTM/GRU over a masked sequence.

    Returns the sequence of top-layer outputs, or with `return_final=True` a tuple
    (sequences, final) where `final` is the top layer's state after each row's last valid token
    (for a bidirectional encoder: forward state at the end, backward state at the start, concatenated).

    With `return_state=True` (forward only: a language model reading on from where it stopped) it
    returns (sequences, states), every layer's states after the last time step (LSTM: h and c; GRU: h),
    and `call` takes them back as `initial_state`; `state_sizes` gives their sizes.
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
        fused: str = "off",  # "off" for configs saved before the length-aware mode; the YAML default is auto
        return_state: bool = False,
        weight_drop: float = 0.0,
        length_aware: bool | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if return_state and (bidirectional or return_final):
            raise ValueError("return_state is for a forward encoder (bidirectional and return_final false)")
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        if fused not in FUSED_MODES:
            raise ValueError(f"fused must be one of {FUSED_MODES}, got {fused!r}")
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
        self.fused = fused
        self.return_state = return_state
        self.weight_drop = weight_drop
        # None: an encoder saved before `auto` chose per backend and device, when every mode but off was
        # length-aware; its weights are laid out that way.
        self.length_aware = fused != "off" if length_aware is None else length_aware
        if fused == "require" and not self.length_aware:
            raise ValueError("fused: require runs length-aware (length_aware=False contradicts it)")
        self.supports_masking = True
        self.recurrent_layers = [self._make_layer(i) for i in range(num_layers)]
        self.dropouts = [layers.Dropout(dropout, name=f"dropout_{i}") for i in range(num_layers - 1)] if dropout else []

    def _rnn(self, name: str) -> layers.Layer:
        settings = dict(
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
            use_bias=self.use_bias,
            recurrent_dropout=self.recurrent_dropout,
        )
        options = dict(return_sequences=True, return_state=self.return_state, unroll=self.unroll, name=name)
        if self.weight_drop:
            options["weight_drop"] = self.weight_drop
        if self.cell in VARIANT_CELLS:
            rnn_class = WeightDropRNN if self.weight_drop else layers.RNN
            return rnn_class(VARIANT_CELLS[self.cell](self.units, **settings), **options)
        rnn_class = WEIGHT_DROPPED[self.cell] if self.weight_drop else _FUSABLE[self.cell]
        return rnn_class(self.units, **settings, **options)

    def _make_layer(self, index: int) -> layers.Layer | list[layers.Layer]:
        if self.length_aware:
            directions = ("forward", "backward") if self.bidirectional else ("forward",)
            return [self._rnn(f"{direction}_{self.cell}_{index}") for direction in directions]
        rnn = self._rnn(f"{self.cell}_{index}")
        return layers.Bidirectional(rnn, name=f"bi{self.cell}_{index}") if self.bidirectional else rnn

    def directions(self, index: int) -> list[layers.Layer]:
        """The recurrent layers of layer `index`, forward first (then backward), in either mode."""
        layer = self.recurrent_layers[index]
        if isinstance(layer, list):
            return layer
        if isinstance(layer, layers.Bidirectional):
            return [layer.forward_layer, layer.backward_layer]
        return [layer]

    @property
    def output_dim(self) -> int:
        return self.units * (2 if self.bidirectional else 1)

    @property
    def state_sizes(self) -> list[int]:
        """Sizes of the states `return_state` gives, layer after layer (LSTM and variants: h, c; GRU: h)."""
        per_layer = [self.units] if self.cell == "gru" else [self.units, self.units]
        return per_layer * self.num_layers

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.recurrent_layers:
            for rnn in layer if isinstance(layer, list) else [layer]:
                rnn.build(shape)
            shape = (*shape[:-1], self.output_dim)
        for dropout in self.dropouts:
            dropout.build(shape)

    def _length_aware_layer(self, directions: list[layers.Layer], x, lengths, valid, training):
        outputs = [directions[0](x, training=training)]
        if len(directions) == 2:
            backward = directions[1](reverse_within_length(x, lengths), training=training)
            outputs.append(reverse_within_length(backward, lengths))
        y = outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=-1)
        return ops.where(valid, y, ops.zeros_like(y))

    def _stateful_call(self, x, mask, training, initial_state):
        """Forward layers from `initial_state` (zeros if None); returns the outputs and the final states."""
        per_layer = len(self.state_sizes) // self.num_layers
        states = []
        for i, layer in enumerate(self.recurrent_layers):
            rnn = layer[0] if isinstance(layer, list) else layer
            start = None if initial_state is None else list(initial_state[i * per_layer : (i + 1) * per_layer])
            x, *final = rnn(x, mask=None if self.length_aware else mask, initial_state=start, training=training)
            states.extend(final)
            if i < len(self.dropouts):
                x = self.dropouts[i](x, training=training)
        return x, states

    def call(self, inputs, mask=None, training=None, initial_state=None):
        x = inputs
        if self.return_state:
            return self._stateful_call(x, mask, training, initial_state)
        if mask is None:
            mask = ops.ones(ops.shape(x)[:2], dtype="bool")
        lengths = lengths_from_mask(mask)
        valid = ops.expand_dims(mask, -1)
        for i, layer in enumerate(self.recurrent_layers):
            if self.length_aware:
                x = self._length_aware_layer(layer, x, lengths, valid, training)
            else:
                x = layer(x, mask=mask, training=training)
            if i < len(self.dropouts):
                x = self.dropouts[i](x, training=training)
        if not self.return_final:
            return x
        last = ops.maximum(lengths - 1, 0)
        forward_final = gather_time_step(x, last)
        if not self.bidirectional:
            return x, forward_final
        final = ops.concatenate([forward_final[:, : self.units], x[:, 0, self.units :]], axis=-1)
        return x, final

    def compute_mask(self, inputs, mask=None):
        if self.return_state:
            return [mask] + [None] * len(self.state_sizes)
        return (mask, None) if self.return_final else mask

    def compute_output_shape(self, input_shape):
        seq = (*tuple(input_shape)[:-1], self.output_dim)
        if self.return_state:
            return seq, [(input_shape[0], size) for size in self.state_sizes]
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
            "fused": self.fused,
            "return_state": self.return_state,
            "weight_drop": self.weight_drop,
            "length_aware": self.length_aware,
        }

    @classmethod
    def from_settings(cls, rnn_config, **kwargs: Any) -> RecurrentEncoder:
        """Build from a `RecurrentConfig` (the YAML `model.rnn` section), its `fused` mode resolved for this
        backend and device."""
        settings = settings_for_encoder(rnn_config)
        return cls(**settings, **kwargs)


def settings_for_encoder(rnn_config) -> dict[str, Any]:
    """`RecurrentEncoder` arguments from a `RecurrentConfig`, with `length_aware` decided here (and so saved
    with the model: a model loads with the layout it was trained with, on any backend)."""
    settings = rnn_config.model_dump()
    settings["num_layers"] = settings.pop("layers")
    settings["length_aware"] = length_aware_here(settings["fused"], settings["bidirectional"])
    return settings


def length_aware_here(fused: str, bidirectional: bool) -> bool:
    """`length_aware_encoder` for the Keras backend in use and its devices."""
    backend = keras.backend.backend()
    return length_aware_encoder(fused, bidirectional, backend, _has_gpu(backend))


def _has_gpu(backend: str) -> bool:
    if backend == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.is_available()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    return False

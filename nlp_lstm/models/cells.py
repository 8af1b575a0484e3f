"""LSTM variants from the literature as Keras RNN cells, selectable as `model.rnn.cell` in YAML.

- `peephole_lstm` (Gers & Schmidhuber 2000): the gates also see the cell state through diagonal
  "peephole" weights; input and forget gates the previous cell state, the output gate the new one.
- `cifg_lstm` (coupled input-forget gate; Greff et al. 2017, "LSTM: A Search Space Odyssey"): one gate
  decides both, f = 1 - i, so the cell has three weight blocks instead of four.
- `mlstm` (multiplicative LSTM, Krause et al. 2016): an intermediate state m = (x W_mx) * (h U_mh)
  replaces the previous output in every gate, so each input can select its own recurrent transition.
  Candidate and output keep the usual LSTM nonlinearities, h = o * tanh(c), as common implementations do.

Each subclasses `keras.layers.LSTMCell` for its settings, serialisation and variational dropout masks,
and overrides the weights and the step. None of them has a fused (cuDNN) kernel: wrapped in
`keras.layers.RNN` they run Keras's generic step loop on every backend.
"""

from __future__ import annotations

import keras
from keras import initializers, layers, ops


class _VariantCell(layers.LSTMCell):
    """An LSTMCell whose weights and step a subclass redefines; state is (h, c) as for LSTMCell."""

    def __init__(self, units: int, **kwargs):
        super().__init__(units, **kwargs)
        # LSTMCell switches to per-gate dropout masks when recurrent dropout is on; one mask serves here.
        self.dropout_mask_count = None

    def _kernel(self, name: str, shape: tuple[int, ...], recurrent: bool = False):
        return self.add_weight(
            shape=shape,
            name=name,
            initializer=self.recurrent_initializer if recurrent else self.kernel_initializer,
            regularizer=self.recurrent_regularizer if recurrent else self.kernel_regularizer,
            constraint=self.recurrent_constraint if recurrent else self.kernel_constraint,
        )

    def _bias(self, blocks: int, forget_like_block: int | None, forget_like_value: float):
        """A bias of `blocks` x units; with unit_forget_bias, block `forget_like_block` starts at the value."""
        if not self.use_bias:
            return None

        def initializer(shape, dtype=None):
            parts = [self.bias_initializer((self.units,), dtype=dtype) for _ in range(blocks)]
            if self.unit_forget_bias and forget_like_block is not None:
                parts[forget_like_block] = initializers.Constant(forget_like_value)((self.units,), dtype=dtype)
            return ops.concatenate(parts)

        return self.add_weight(
            shape=(blocks * self.units,),
            name="bias",
            initializer=initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
        )

    def _dropped(self, inputs, h_tm1, training):
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and 0.0 < self.recurrent_dropout < 1.0:
            h_tm1 = h_tm1 * self.get_recurrent_dropout_mask(h_tm1)
        return inputs, h_tm1

    def _projection(self, inputs, h_tm1):
        z = ops.matmul(inputs, self.kernel) + ops.matmul(h_tm1, self.recurrent_kernel)
        return z + self.bias if self.use_bias else z


@keras.saving.register_keras_serializable(package="nlp_lstm")
class PeepholeLSTMCell(_VariantCell):
    """LSTM with diagonal peephole connections from the cell state to the gates (Gers & Schmidhuber 2000).

    i = sigma(x W_i + h U_i + p_i * c_prev + b_i)     f = sigma(x W_f + h U_f + p_f * c_prev + b_f)
    c = f * c_prev + i * tanh(x W_c + h U_c + b_c)    o = sigma(x W_o + h U_o + p_o * c + b_o)
    h = o * tanh(c)
    """

    def build(self, input_shape):
        self.kernel = self._kernel("kernel", (input_shape[-1], 4 * self.units))
        self.recurrent_kernel = self._kernel("recurrent_kernel", (self.units, 4 * self.units), recurrent=True)
        self.peephole_weights = self.add_weight(
            shape=(3, self.units), name="peephole_weights", initializer=self.kernel_initializer
        )
        self.bias = self._bias(4, forget_like_block=1, forget_like_value=1.0)
        self.built = True

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states
        inputs, h_in = self._dropped(inputs, h_tm1, training)
        z_i, z_f, z_c, z_o = ops.split(self._projection(inputs, h_in), 4, axis=-1)
        p_i, p_f, p_o = (self.peephole_weights[k] for k in range(3))
        i = self.recurrent_activation(z_i + p_i * c_tm1)
        f = self.recurrent_activation(z_f + p_f * c_tm1)
        c = f * c_tm1 + i * self.activation(z_c)
        o = self.recurrent_activation(z_o + p_o * c)
        h = o * self.activation(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="nlp_lstm")
class CIFGLSTMCell(_VariantCell):
    """LSTM with coupled input and forget gates (CIFG): f = 1 - i.

        i = sigma(x W_i + h U_i + b_i)    c = (1 - i) * c_prev + i * tanh(x W_c + h U_c + b_c)
        o = sigma(x W_o + h U_o + b_o)    h = o * tanh(c)

    With `unit_forget_bias` the input-gate bias starts at -1, so f = 1 - sigma(-1) = sigma(1) starts where
    an LSTM's forget gate with bias 1 does.
    """

    def build(self, input_shape):
        self.kernel = self._kernel("kernel", (input_shape[-1], 3 * self.units))
        self.recurrent_kernel = self._kernel("recurrent_kernel", (self.units, 3 * self.units), recurrent=True)
        self.bias = self._bias(3, forget_like_block=0, forget_like_value=-1.0)
        self.built = True

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states
        inputs, h_in = self._dropped(inputs, h_tm1, training)
        z_i, z_c, z_o = ops.split(self._projection(inputs, h_in), 3, axis=-1)
        i = self.recurrent_activation(z_i)
        c = (1.0 - i) * c_tm1 + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="nlp_lstm")
class MultiplicativeLSTMCell(_VariantCell):
    """Multiplicative LSTM (Krause et al. 2016): an input-dependent intermediate state drives the gates.

    m = (x W_mx) * (h U_mh)
    i = sigma(x W_i + m U_i + b_i)    f = sigma(x W_f + m U_f + b_f)    o = sigma(x W_o + m U_o + b_o)
    c = f * c_prev + i * tanh(x W_c + m U_c + b_c)                     h = o * tanh(c)
    """

    def build(self, input_shape):
        input_dim = input_shape[-1]
        self.multiplicative_kernel = self._kernel("multiplicative_kernel", (input_dim, self.units))
        self.multiplicative_recurrent_kernel = self._kernel(
            "multiplicative_recurrent_kernel", (self.units, self.units), recurrent=True
        )
        self.kernel = self._kernel("kernel", (input_dim, 4 * self.units))
        self.recurrent_kernel = self._kernel("recurrent_kernel", (self.units, 4 * self.units), recurrent=True)
        self.bias = self._bias(4, forget_like_block=1, forget_like_value=1.0)
        self.built = True

    def call(self, inputs, states, training=False):
        h_tm1, c_tm1 = states
        inputs, h_in = self._dropped(inputs, h_tm1, training)
        m = ops.matmul(inputs, self.multiplicative_kernel) * ops.matmul(h_in, self.multiplicative_recurrent_kernel)
        z_i, z_f, z_c, z_o = ops.split(self._projection(inputs, m), 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_tm1 + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return h, [h, c]


VARIANT_CELLS: dict[str, type[layers.LSTMCell]] = {
    "peephole_lstm": PeepholeLSTMCell,
    "cifg_lstm": CIFGLSTMCell,
    "mlstm": MultiplicativeLSTMCell,
}

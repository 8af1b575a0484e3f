"""LSTM variant cells against NumPy references of their equations, with serialisation and config wiring."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from nlp_lstm.config.loader import load_config
from nlp_lstm.errors import ConfigError
from nlp_lstm.models.cells import CIFGLSTMCell, MultiplicativeLSTMCell, PeepholeLSTMCell
from nlp_lstm.models.encoders import CELLS, RecurrentEncoder
from tests.conftest import REPO

pytestmark = pytest.mark.backends  # CI runs these under JAX too

UNITS, INPUT_DIM = 5, 4


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def peephole_reference(weights, xs):
    kernel, recurrent, peephole, bias = weights
    h = c = np.zeros((xs.shape[0], UNITS))
    outputs = []
    for x in xs.transpose(1, 0, 2):
        z_i, z_f, z_c, z_o = np.split(x @ kernel + h @ recurrent + bias, 4, axis=-1)
        i = sigmoid(z_i + peephole[0] * c)
        f = sigmoid(z_f + peephole[1] * c)
        c = f * c + i * np.tanh(z_c)
        o = sigmoid(z_o + peephole[2] * c)
        h = o * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, 1), h, c


def cifg_reference(weights, xs):
    kernel, recurrent, bias = weights
    h = c = np.zeros((xs.shape[0], UNITS))
    outputs = []
    for x in xs.transpose(1, 0, 2):
        z_i, z_c, z_o = np.split(x @ kernel + h @ recurrent + bias, 3, axis=-1)
        i = sigmoid(z_i)
        c = (1 - i) * c + i * np.tanh(z_c)
        h = sigmoid(z_o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, 1), h, c


def mlstm_reference(weights, xs):
    w_mx, w_mh, kernel, recurrent, bias = weights
    h = c = np.zeros((xs.shape[0], UNITS))
    outputs = []
    for x in xs.transpose(1, 0, 2):
        m = (x @ w_mx) * (h @ w_mh)
        z_i, z_f, z_c, z_o = np.split(x @ kernel + m @ recurrent + bias, 4, axis=-1)
        c = sigmoid(z_f) * c + sigmoid(z_i) * np.tanh(z_c)
        h = sigmoid(z_o) * np.tanh(c)
        outputs.append(h)
    return np.stack(outputs, 1), h, c


@pytest.mark.parametrize(
    "cell_class,reference",
    [
        (PeepholeLSTMCell, peephole_reference),
        (CIFGLSTMCell, cifg_reference),
        (MultiplicativeLSTMCell, mlstm_reference),
    ],
)
def test_cell_matches_numpy_reference(cell_class, reference):
    rng = np.random.default_rng(3)
    rnn = keras.layers.RNN(cell_class(UNITS), return_sequences=True, return_state=True)
    rnn.build((None, None, INPUT_DIM))
    weights = [rng.normal(scale=0.5, size=w.shape) for w in rnn.get_weights()]
    rnn.set_weights([w.astype("float32") for w in weights])
    xs = rng.normal(size=(3, 6, INPUT_DIM))
    outputs, h, c = (to_numpy(t) for t in rnn(xs.astype("float32")))
    expected_outputs, expected_h, expected_c = reference(weights, xs)
    np.testing.assert_allclose(outputs, expected_outputs, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h, expected_h, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(c, expected_c, rtol=1e-4, atol=1e-5)


def test_forget_bias_initialisation():
    peephole, cifg = PeepholeLSTMCell(UNITS), CIFGLSTMCell(UNITS)
    peephole.build((None, INPUT_DIM))
    cifg.build((None, INPUT_DIM))
    np.testing.assert_array_equal(to_numpy(peephole.bias)[UNITS : 2 * UNITS], 1.0)
    # CIFG's forget gate is 1 - input gate: an input-gate bias of -1 starts it at sigmoid(1), like an LSTM's
    np.testing.assert_array_equal(to_numpy(cifg.bias)[:UNITS], -1.0)
    assert cifg.kernel.shape == (INPUT_DIM, 3 * UNITS)
    assert not CIFGLSTMCell(UNITS, use_bias=False).use_bias


@pytest.mark.parametrize("cell", ["peephole_lstm", "cifg_lstm", "mlstm"])
def test_variant_encoder_saves_loads_and_applies_recurrent_dropout(cell, tmp_path):
    inputs = keras.Input((None, INPUT_DIM))
    encoder = RecurrentEncoder(cell, UNITS, num_layers=2, recurrent_dropout=0.5, fused="auto", name="encoder")
    model = keras.Model(inputs, encoder(inputs))
    x = np.random.default_rng(0).normal(size=(2, 7, INPUT_DIM)).astype("float32")
    inference = to_numpy(model(x))
    assert not np.allclose(to_numpy(model(x, training=True)), inference)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(to_numpy(loaded(x)), inference, rtol=1e-6)
    assert loaded.get_layer("encoder").directions(0)[0].cell.__class__ is encoder.directions(0)[0].cell.__class__


def test_variant_cells_from_yaml_and_fused_require_names_the_cell():
    from typing import get_args

    # the YAML schema and fused_kernels name the cells without importing Keras; cells.py and the encoder build
    # them: the lists must agree
    from nlp_lstm import fused_kernels
    from nlp_lstm.config.schema import RecurrentConfig
    from nlp_lstm.models import cells

    assert set(get_args(RecurrentConfig.model_fields["cell"].annotation)) == set(CELLS)
    assert set(fused_kernels.VARIANT_CELLS) == set(cells.VARIANT_CELLS)
    config = load_config(REPO / "pipelines" / "sentiment.yaml", ["model.rnn.cell=cifg_lstm"])
    assert config.model.rnn.cell == "cifg_lstm"
    with pytest.raises(ConfigError, match=r"model.rnn: fused: require, but .* cell is mlstm: only lstm and gru"):
        load_config(REPO / "pipelines" / "sentiment.yaml", ["model.rnn.cell=mlstm", "model.rnn.fused=require"])
    with pytest.raises(ConfigError, match=r"model.rnn.cell"):
        load_config(REPO / "pipelines" / "sentiment.yaml", ["model.rnn.cell=nas"])

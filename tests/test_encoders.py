"""The shared recurrent encoder: the length-aware mode equals Keras's masked Bidirectional at every valid
position, and the kernel policy names what keeps a layer off the fused kernel."""

from __future__ import annotations

from types import SimpleNamespace

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from nlp_lstm.config.loader import load_config
from nlp_lstm.errors import ConfigError
from nlp_lstm.fused_kernels import length_aware_encoder
from nlp_lstm.models.encoders import RecurrentEncoder, fused_kernel_blockers, reverse_within_length
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.backends  # CI runs these under JAX too


def test_reverse_within_length_keeps_padding_in_place_and_is_its_own_inverse():
    x = np.array([[1, 2, 3, 0], [4, 5, 0, 0], [6, 0, 0, 0]], dtype="float32")[..., None]
    lengths = np.array([3, 2, 1])
    reversed_ = to_numpy(reverse_within_length(x, lengths))
    np.testing.assert_array_equal(reversed_[..., 0], [[3, 2, 1, 0], [5, 4, 0, 0], [6, 0, 0, 0]])
    np.testing.assert_array_equal(to_numpy(reverse_within_length(reversed_, lengths)), x)


def _copy_weights(masked: RecurrentEncoder, fused: RecurrentEncoder) -> None:
    for masked_layer, fused_layers in zip(masked.recurrent_layers, fused.recurrent_layers):
        if masked.bidirectional:
            fused_layers[0].set_weights(masked_layer.forward_layer.get_weights())
            fused_layers[1].set_weights(masked_layer.backward_layer.get_weights())
        else:
            fused_layers[0].set_weights(masked_layer.get_weights())


@pytest.mark.parametrize("cell", ["lstm", "gru", "peephole_lstm", "cifg_lstm", "mlstm"])
@pytest.mark.parametrize("bidirectional,num_layers", [(True, 1), (True, 2), (False, 2)])
def test_length_aware_encoder_equals_masked_bidirectional(cell, bidirectional, num_layers):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(5, 9, 4)).astype("float32")
    lengths = np.array([9, 4, 1, 6, 2])  # ragged, right-padded
    mask = np.arange(9)[None, :] < lengths[:, None]
    settings = dict(cell=cell, units=6, num_layers=num_layers, bidirectional=bidirectional, return_final=True)
    masked = RecurrentEncoder(**settings, fused="off")
    fused = RecurrentEncoder(**settings, fused="auto")
    masked.build((None, None, 4))
    fused.build((None, None, 4))
    _copy_weights(masked, fused)
    expected, expected_final = (to_numpy(t) for t in masked(x, mask=mask))
    got, got_final = (to_numpy(t) for t in fused(x, mask=mask))
    np.testing.assert_allclose(got[mask], expected[mask], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_final, expected_final, rtol=1e-5, atol=1e-6)
    assert np.all(got[~mask] == 0.0)
    # whatever sits in the padding does not matter
    noisy = np.where(mask[..., None], x, 50.0).astype("float32")
    np.testing.assert_allclose(to_numpy(fused(noisy, mask=mask)[0])[mask], got[mask], rtol=1e-5, atol=1e-6)


def test_length_aware_encoder_saves_and_old_configs_stay_masked(tmp_path):
    inputs = keras.Input((None, 3))
    outputs = RecurrentEncoder("lstm", 4, num_layers=2, fused="auto", name="encoder")(inputs)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), rtol=1e-6)
    assert loaded.get_layer("encoder").length_aware

    config = RecurrentEncoder("lstm", 4).get_config()
    del config["fused"], config["length_aware"]  # as saved before the length-aware mode existed
    assert not RecurrentEncoder.from_config(config).length_aware
    config = RecurrentEncoder("lstm", 4, fused="auto").get_config()
    del config["length_aware"]  # as saved before auto chose per backend and device: length-aware then
    assert RecurrentEncoder.from_config(config).length_aware
    chosen = RecurrentEncoder("lstm", 4, fused="auto", length_aware=False).get_config()
    assert not RecurrentEncoder.from_config(chosen).length_aware  # the layout it was trained with, anywhere


@pytest.mark.parametrize(
    ("fused", "bidirectional", "backend", "gpu", "length_aware"),
    [
        ("auto", True, "tensorflow", False, False),  # measured: masked 1.56x inference, 1.2x training
        ("auto", True, "tensorflow", True, False),  # cuDNN takes right-padded masks
        ("auto", True, "jax", False, False),  # measured: masked 1.05-1.35x inference
        ("auto", True, "jax", True, True),  # JAX fuses an LSTM only without a mask
        ("auto", True, "torch", True, True),  # PyTorch: any mask leaves cuDNN
        ("auto", False, "tensorflow", False, True),  # forward-only: the modes differ by the mask only
        ("require", True, "tensorflow", False, True),
        ("off", False, "jax", True, False),
    ],
)
def test_fused_auto_picks_the_faster_exact_mode(fused, bidirectional, backend, gpu, length_aware):
    assert length_aware_encoder(fused, bidirectional, backend, gpu) is length_aware


def test_encoders_built_from_a_config_follow_the_rule_here():
    config = load_config(REPO / "pipelines" / "sentiment.yaml").model.rnn
    encoder = RecurrentEncoder.from_settings(config)
    assert config.fused == "auto" and config.bidirectional
    assert encoder.length_aware is length_aware_encoder("auto", True, keras.backend.backend(), gpu=False)
    assert not encoder.length_aware  # a CPU, on TensorFlow and JAX alike
    assert RecurrentEncoder.from_settings(config.model_copy(update={"fused": "require"})).length_aware


def _settings(**changes):
    base = dict(
        cell="lstm",
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        recurrent_dropout=0.0,
        unroll=False,
        fused="auto",
    )
    return SimpleNamespace(**{**base, **changes})


@pytest.mark.parametrize(
    "changes,backend,named",
    [
        ({}, "tensorflow", None),
        ({}, "jax", None),
        ({}, "torch", None),
        ({"activation": "relu"}, "tensorflow", "activation"),
        ({"recurrent_activation": "hard_sigmoid"}, "torch", "recurrent_activation"),
        ({"use_bias": False}, "jax", "use_bias"),
        ({"recurrent_dropout": 0.2}, "tensorflow", "recurrent_dropout"),
        ({"unroll": True}, "tensorflow", "unroll"),
        ({"fused": "off"}, "tensorflow", None),
        ({"fused": "off"}, "torch", "fused is off"),
        ({"cell": "gru"}, "jax", "cell is gru"),
        ({"cell": "gru"}, "torch", None),
        ({"cell": "mlstm"}, "tensorflow", "cell is mlstm"),
        ({"cell": "peephole_lstm"}, "jax", "cell is peephole_lstm"),
    ],
)
def test_fused_kernel_blockers_name_the_setting(changes, backend, named):
    blockers = fused_kernel_blockers(_settings(**changes), backend)
    if named is None:
        assert blockers == []
    else:
        assert len(blockers) == 1 and blockers[0].startswith(named)


def test_fused_require_fails_before_any_work_and_info_reports_each_layer():
    with pytest.raises(ConfigError, match=r"model.rnn: fused: require, but .* unroll is true"):
        load_config(REPO / "pipelines" / "sentiment.yaml", ["model.rnn.fused=require", "model.rnn.unroll=true"])
    assert load_config(REPO / "pipelines" / "sentiment.yaml", ["model.rnn.fused=off"]).model.rnn.fused == "off"
    result = run_cli("info", "pipelines/translator_seq2seq.yaml", "--set", "model.decoder.input_feeding=false")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"backend: {keras.config.backend()}" in result.stdout and "CPU" in result.stdout
    backend = keras.config.backend()
    encoder = f"model.encoder: 1 x bidirectional lstm, 64 units (masked Bidirectional: fused auto on {backend} CPU)"
    assert encoder in result.stdout
    if backend == "tensorflow":
        assert f"{encoder}: fused kernel" in result.stdout
    assert "model.decoder: 1 x lstm, 128 units (teacher-forced, no mask): fused kernel" in result.stdout
    result = run_cli("info", "pipelines/ner_bilstm_crf.yaml", "--set", "model.rnn.recurrent_dropout=0.1")
    assert "model.rnn: 1 x bidirectional lstm" in result.stdout
    assert "generic loop: recurrent_dropout is 0.1 (needs 0)" in result.stdout
    assert "training: mixed_precision float32, jit_compile auto" in result.stdout
    result = run_cli("info", "pipelines/ner_bilstm_crf.yaml", "--set", "training.jit_compile=true")
    fallback = "jit_compile True (falls back to off on tensorflow: the CRF runs an ops.scan"
    assert (fallback in result.stdout) == (keras.config.backend() == "tensorflow"), result.stdout

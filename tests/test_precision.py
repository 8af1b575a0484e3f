"""training.mixed_precision and training.jit_compile: layers compute in the low-precision dtype while
outputs, loss and CRF stay float32; the policy travels with the saved model and does not leak."""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import pytest
from keras.ops import convert_to_numpy as to_numpy

from nlp_lstm.config.loader import load_config
from nlp_lstm.config.schema import ClassifierModelConfig, TaggerModelConfig, TrainingConfig, TranslatorModelConfig
from nlp_lstm.errors import ConfigError
from nlp_lstm.models.classifier import build_text_classifier
from nlp_lstm.models.crf import CRF
from nlp_lstm.models.seq2seq import SequenceLoss, build_translator
from nlp_lstm.models.tagger import build_sequence_tagger, tagging_loss
from tests.conftest import REPO

pytestmark = pytest.mark.backends  # CI runs these under JAX too

TOKENS = np.array([[4, 5, 6, 7], [8, 9, 0, 0], [3, 0, 0, 0]], dtype="int32")


def _classifier():
    config = ClassifierModelConfig(embedding_dim=8, rnn={"units": 8}, dropout=0.0)
    return build_text_classifier(20, 2, config), np.array([0, 1, 1]), "sparse_categorical_crossentropy"


def _tagger():
    config = TaggerModelConfig(
        embedding_dim=8, rnn={"units": 8}, char_features={"enabled": False}, casing={"enabled": False}
    )
    model = build_sequence_tagger(20, 4, config)
    return model, np.where(TOKENS > 0, 1 + TOKENS % 4, 0), tagging_loss(model)


def _translator():
    config = TranslatorModelConfig.model_validate(
        {
            "source_embedding_dim": 8,
            "target_embedding_dim": 8,
            "encoder": {"units": 8, "layers": 1},
            "decoder": {"units": 16, "input_feeding": True},
        }
    )
    model = build_translator(20, 12, config)
    inputs = {"source_ids": TOKENS, "target_in": np.array([[2, 5, 6], [2, 7, 0], [2, 0, 0]], dtype="int32")}
    return model, inputs, np.array([[5, 6, 3], [7, 3, 0], [3, 0, 0]]), SequenceLoss(0.1)


@pytest.mark.parametrize(
    "builder,policy",
    [
        ("classifier", "mixed_bfloat16"),
        ("classifier", "mixed_float16"),
        ("tagger", "mixed_bfloat16"),
        ("tagger", "mixed_float16"),
        ("translator", "mixed_bfloat16"),  # one translator: its scan is slow to trace
    ],
)
def test_mixed_precision_computes_low_keeps_outputs_float32_and_saves(policy, builder, tmp_path):
    from nlp_lstm.training.trainer import compile_model, dtype_policy

    keras.utils.set_random_seed(0)
    with dtype_policy(policy):
        if builder == "translator":
            model, x, y, loss = _translator()
        else:
            (model, y, loss), x = {"classifier": _classifier, "tagger": _tagger}[builder](), TOKENS
        compile_model(model, TrainingConfig(mixed_precision=policy, jit_compile=False), loss=loss)
    assert keras.config.dtype_policy().name == "float32"  # restored for whatever is built next

    low = {"mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}[policy]
    encoder = next(layer for layer in model.layers if "encoder" in layer.name)
    assert encoder.compute_dtype == low and encoder.variable_dtype == "float32"
    for layer in model.layers:
        if isinstance(layer, CRF):
            assert layer.compute_dtype == "float32"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")

    losses = [float(model.train_on_batch(x, y)) for _ in range(3)]
    assert np.all(np.isfinite(losses)), losses
    outputs = model.predict_on_batch(x)
    assert to_numpy(outputs).dtype == np.float32

    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    assert next(layer for layer in loaded.layers if "encoder" in layer.name).compute_dtype == low
    # the same weights, up to low-precision rounding (a rebuilt graph may order operations differently)
    np.testing.assert_allclose(to_numpy(loaded.predict_on_batch(x)), to_numpy(outputs), rtol=1e-2, atol=1e-3)


def test_precision_and_jit_settings_from_yaml():
    config = load_config(
        REPO / "pipelines" / "sentiment.yaml", ["training.mixed_precision=mixed_bfloat16", "training.jit_compile=false"]
    )
    assert config.training.mixed_precision == "mixed_bfloat16" and config.training.jit_compile is False
    assert load_config(REPO / "pipelines" / "sentiment.yaml").training.jit_compile == "auto"
    with pytest.raises(ConfigError, match=r"training.mixed_precision"):
        load_config(REPO / "pipelines" / "sentiment.yaml", ["training.mixed_precision=float8"])
    with pytest.raises(ConfigError, match=r"training.jit_compile"):
        load_config(REPO / "pipelines" / "sentiment.yaml", ["training.jit_compile=sometimes"])


def test_jit_compile_setting_reaches_the_model():
    from nlp_lstm.training.trainer import compile_model

    model, _, loss = _classifier()
    compile_model(model, TrainingConfig(jit_compile=False), loss=loss)
    assert model.jit_compile is False
    if keras.config.backend() != "torch":  # torch's jit is torch.compile, too slow to start in a unit test
        compile_model(model, TrainingConfig(jit_compile=True), loss=loss)
        assert model.jit_compile is True
        x = np.array([[4, 5, 0], [6, 0, 0]], dtype="int32")
        assert np.isfinite(float(model.train_on_batch(x, np.array([0, 1]))))


@pytest.mark.parametrize("builder", ["tagger", "translator"])
def test_jit_compile_true_trains_models_that_scan_over_time(builder):
    """The CRF and the input-feeding decoder run `ops.scan`, whose gradient TensorFlow's XLA refuses: on
    TensorFlow they opt out (jit falls back to off, as for Keras's fused LSTM) instead of failing in fit."""
    from nlp_lstm.training.trainer import compile_model

    backend = keras.config.backend()
    if backend == "torch":
        pytest.skip("torch's jit is torch.compile, too slow to start in a unit test")
    if builder == "translator" and backend != "tensorflow":
        pytest.skip("the opt-out is TensorFlow's; JAX always compiles, and its translator trace is slow")
    keras.utils.set_random_seed(0)
    if builder == "translator":
        model, x, y, loss = _translator()
    else:
        (model, y, loss), x = _tagger(), TOKENS
    on_tensorflow = backend == "tensorflow"
    with pytest.warns(UserWarning, match="jit_compile") if on_tensorflow else contextlib.nullcontext():
        compile_model(model, TrainingConfig(jit_compile=True), loss=loss)
    assert model.jit_compile is not on_tensorflow
    assert np.isfinite(float(model.train_on_batch(x, y)))

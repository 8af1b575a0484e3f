"""The NumPy tagger (`nlp_lstm.inference`) computes what the Keras tagger computes: tag scores at every
real word to float32 rounding, and the same best tags, for each architecture it exports; what it cannot
compute is refused by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from nlp_lstm.config.schema import TaggerModelConfig
from nlp_lstm.inference.tagger import NumpyTagger, TaggerArrays
from nlp_lstm.models.export import NotExportable, export_tagger
from nlp_lstm.models.tagger import build_sequence_tagger, build_tag_decoder
from nlp_lstm.preprocessing.casing import CASING_CLASSES
from nlp_lstm.preprocessing.tags import allowed_ends, allowed_starts, allowed_transitions
from tests.conftest import REPO

LABELS = ["O", "B-X", "I-X", "E-X", "S-X", "B-Y", "I-Y", "E-Y", "S-Y"]
LENGTHS = [9, 6, 4, 2, 1, 9]

ARCHITECTURES = {
    "lstm_charcnn_casing_crf_constrained": {
        "char_features": {"encoder": "cnn", "filters": 6, "embedding_dim": 5, "kernel_size": [3, 4]},
    },
    "lstm_charlstm_crf_two_layers": {
        "char_features": {"encoder": "lstm", "lstm_units": 4, "embedding_dim": 5},
        "casing": {"enabled": False},
        "rnn": {"units": 7, "layers": 2},
    },
    "gru_words_softmax": {
        "decoder": "softmax",
        "char_features": {"enabled": False},
        "casing": {"enabled": False},
        "rnn": {"units": 7, "cell": "gru"},
    },
    "lstm_forward_only_crf": {"char_features": {"enabled": False}, "rnn": {"units": 7, "bidirectional": False}},
    "lstm_masked_bidirectional_crf": {"rnn": {"units": 7, "fused": "off"}},
    # the layout a JAX or PyTorch GPU run saves (`fused: auto` there): each direction its own layer
    "lstm_length_aware_charlstm_crf": {
        "char_features": {"encoder": "lstm", "lstm_units": 4, "embedding_dim": 5},
        "rnn": {"units": 7, "fused": "require"},
    },
}


def _inputs(seed: int, vocab: int = 30, chars: int = 12, char_vocab: int = 20) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    mask = np.arange(max(LENGTHS))[None, :] < np.array(LENGTHS)[:, None]
    char_lengths = rng.integers(1, chars + 1, mask.shape)
    char_mask = (np.arange(chars)[None, None, :] < char_lengths[..., None]) & mask[..., None]
    return {
        "token_ids": np.where(mask, rng.integers(1, vocab, mask.shape), 0).astype("int32"),
        "char_ids": np.where(char_mask, rng.integers(1, char_vocab, (*mask.shape, chars)), 0).astype("int32"),
        "casing_ids": np.where(mask, rng.integers(1, len(CASING_CLASSES), mask.shape), 0).astype("int32"),
    }


def _tagger(settings: dict, constrained: bool) -> keras.Model:
    config = TaggerModelConfig(
        embedding_dim=6, input_dropout=0.0, output_dropout=0.0, **{"rnn": {"units": 7}, **settings}
    )
    keras.utils.set_random_seed(3)
    model = build_sequence_tagger(
        30,
        len(LABELS),
        config,
        char_vocab_size=20,
        allowed_transitions=allowed_transitions(LABELS, "iobes") if constrained else None,
        allowed_start=allowed_starts(LABELS, "iobes") if constrained else None,
        allowed_end=allowed_ends(LABELS, "iobes") if constrained else None,
    )
    # Initial CRF and bias weights are small or zero: larger ones make the tags depend on every part.
    rng = np.random.default_rng(5)
    for variable in model.weights:
        variable.assign(rng.normal(0, 0.6, variable.shape).astype("float32"))
    return model


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_numpy_tagger_scores_and_decodes_like_keras(name: str, tmp_path: Path, monkeypatch):
    from nlp_lstm.models import features

    if "length_aware" in name:
        monkeypatch.setattr(features, "length_aware_here", lambda fused, bidirectional: True)
    model = _tagger(ARCHITECTURES[name], constrained=name.endswith("constrained"))
    if "length_aware" in name:
        assert model.get_layer("encoder").length_aware
        assert model.get_layer("char_lstm_features").encoder.length_aware
        assert isinstance(model.get_layer("encoder").recurrent_layers[0], list)
    path = tmp_path / "tagger.npz"
    export_tagger(model).save(path)
    tagger = NumpyTagger(TaggerArrays.load(path))
    names = (
        {name for name in ("token_ids", "char_ids", "casing_ids") if name in model.input}
        if isinstance(model.input, dict)
        else {"token_ids"}
    )
    decoder = build_tag_decoder(model)
    for seed in range(3):
        inputs = {key: value for key, value in _inputs(seed).items() if key in names}
        x = inputs if isinstance(model.input, dict) else inputs["token_ids"]
        mask = inputs["token_ids"] != 0
        expected = keras.ops.convert_to_numpy(model.predict_on_batch(x))
        np.testing.assert_allclose(tagger.scores(inputs)[mask], expected[mask], rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(tagger.decode(inputs), keras.ops.convert_to_numpy(decoder.predict_on_batch(x)))


def test_what_the_numpy_pass_does_not_compute_is_refused_by_name():
    words_only = {"char_features": {"enabled": False}}
    for settings, named in (
        ({"rnn": {"units": 7, "cell": "peephole_lstm"}}, "cell"),
        ({"rnn": {"units": 7, "activation": "relu"}}, "activation"),
        ({"rnn": {"units": 7, "recurrent_activation": "hard_sigmoid"}}, "recurrent_activation"),
        ({"rnn": {"units": 7, "weight_drop": 0.3, "fused": "off"}}, "weight_drop"),
        ({"rnn": {"units": 7, "use_bias": False}}, "use_bias"),
    ):
        with pytest.raises(NotExportable, match=named):
            export_tagger(_tagger({**words_only, **settings}, constrained=False))
    model = _tagger(words_only, constrained=False)
    extra = keras.Model(model.input, keras.layers.Activation("relu", name="extra")(model.output))
    with pytest.raises(NotExportable, match="'extra'"):
        export_tagger(extra)
    policy = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_float16")
        mixed = _tagger(words_only, constrained=False)
    finally:
        keras.config.set_dtype_policy(policy)
    with pytest.raises(NotExportable, match="mixed precision"):
        export_tagger(mixed)


def test_the_numpy_tagger_and_the_prediction_command_import_no_deep_learning_framework():
    code = (
        "import sys, nlp_lstm.inference.tagger, nlp_lstm.tasks.ner.prediction, nlp_lstm.cli; "
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", [name for name in sorted(ARCHITECTURES) if "char" in name])
def test_character_features_per_word_give_the_taggers_tags(name: str, tmp_path: Path):
    """The word-table decoders (`build_word_table_decoder`, the NumPy tagger's `char_features`) read each
    word's character features computed on its own and give the tags of the whole model."""
    from nlp_lstm.models.tagger import build_word_table_decoder

    model = _tagger(ARCHITECTURES[name], constrained=name.endswith("constrained"))
    char_model, decoder = build_word_table_decoder(model)
    export_tagger(model).save(tmp_path / "tagger.npz")
    tagger = NumpyTagger(TaggerArrays.load(tmp_path / "tagger.npz"))
    for seed in range(3):
        inputs = {key: value for key, value in _inputs(seed).items() if key in model.input}
        batch, words, chars = inputs["char_ids"].shape
        per_word = inputs["char_ids"].reshape(batch * words, 1, chars)
        features = keras.ops.convert_to_numpy(char_model.predict_on_batch(per_word)).reshape(batch, words, -1)
        np.testing.assert_allclose(
            tagger.char_features(per_word).reshape(batch, words, -1), features, rtol=1e-4, atol=1e-4
        )
        table_inputs = {key: value for key, value in inputs.items() if key != "char_ids"}
        table_inputs["char_features"] = features
        expected = keras.ops.convert_to_numpy(build_tag_decoder(model).predict_on_batch(inputs))
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(decoder.predict_on_batch(table_inputs)), expected)
        np.testing.assert_array_equal(tagger.decode(table_inputs), expected)


def test_a_tagger_without_characters_has_no_word_table_decoder():
    from nlp_lstm.models.tagger import build_word_table_decoder

    assert build_word_table_decoder(_tagger(ARCHITECTURES["gru_words_softmax"], constrained=False)) is None

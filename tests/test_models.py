import keras
import numpy as np
import pytest

from nlp_lstm.config.schema import ClassifierModelConfig
from nlp_lstm.models import AttentionPooling, MaskedPooling, RecurrentEncoder, WordDropout, build_text_classifier
from nlp_lstm.models.layers import gather_time_step
from nlp_lstm.models.losses import token_cross_entropy
from tests.helpers.gradients import gradient

pytestmark = pytest.mark.backends  # CI runs these under JAX too

LENGTHS = [5, 1, 3]


def ragged_batch(features: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(len(LENGTHS), max(LENGTHS), features)).astype("float32")
    mask = np.arange(max(LENGTHS))[None, :] < np.array(LENGTHS)[:, None]
    x[~mask] = 123.0  # padding must never leak into results
    return x, mask


def test_masked_max_and_mean_ignore_padding():
    x, mask = ragged_batch()
    got_max = keras.ops.convert_to_numpy(MaskedPooling("max")(x, mask=mask))
    got_mean = keras.ops.convert_to_numpy(MaskedPooling("mean")(x, mask=mask))
    for i, n in enumerate(LENGTHS):
        np.testing.assert_allclose(got_max[i], x[i, :n].max(axis=0), rtol=1e-6)
        np.testing.assert_allclose(got_mean[i], x[i, :n].mean(axis=0), rtol=1e-5)


def test_attention_pooling_is_a_convex_combination_of_valid_steps():
    x, mask = ragged_batch()
    pooled = keras.ops.convert_to_numpy(AttentionPooling(8)(x, mask=mask))
    np.testing.assert_allclose(pooled[1], x[1, 0], rtol=1e-5)  # one valid step: weight 1
    for i, n in enumerate(LENGTHS):
        assert np.all(pooled[i] <= x[i, :n].max(axis=0) + 1e-5) and np.all(pooled[i] >= x[i, :n].min(axis=0) - 1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_encoder_final_state_matches_keras_bidirectional(cell):
    x, mask = ragged_batch()
    encoder = RecurrentEncoder(cell=cell, units=3, num_layers=2, bidirectional=True, return_final=True)
    sequences, final = encoder(x, mask=mask)
    # Reference: the same weights in a Keras Bidirectional layer that returns only final outputs.
    top = encoder.recurrent_layers[-1]
    below = encoder.recurrent_layers[0](x, mask=mask)
    ref_layer = keras.layers.Bidirectional(keras.layers.LSTM(3) if cell == "lstm" else keras.layers.GRU(3))
    ref_layer.build(below.shape)
    ref_layer.set_weights(top.get_weights())
    reference = keras.ops.convert_to_numpy(ref_layer(below, mask=mask))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(final), reference, rtol=1e-5, atol=1e-6)
    assert tuple(sequences.shape) == (3, 5, 6)


def test_encoder_unidirectional_final_is_last_valid_output():
    x, mask = ragged_batch()
    encoder = RecurrentEncoder(units=3, bidirectional=False, return_final=True)
    sequences, final = (keras.ops.convert_to_numpy(t) for t in encoder(x, mask=mask))
    for i, n in enumerate(LENGTHS):
        np.testing.assert_allclose(final[i], sequences[i, n - 1], rtol=1e-6)


def test_encoder_defaults_are_cudnn_eligible():
    encoder = RecurrentEncoder(cell="lstm", units=4, num_layers=2)
    for layer in encoder.recurrent_layers:
        for rnn in (layer.forward_layer, layer.backward_layer):
            cell = rnn.cell
            assert cell.activation.__name__ == "tanh" and cell.recurrent_activation.__name__ == "sigmoid"
            assert cell.use_bias and cell.recurrent_dropout == 0 and not rnn.unroll


@pytest.mark.parametrize("pooling", ["max", "mean", "last", "attention"])
def test_classifier_ignores_padding_and_round_trips(tmp_path, pooling):
    config = ClassifierModelConfig(
        embedding_dim=6, rnn={"units": 5, "layers": 2, "dropout": 0.1}, pooling=pooling, hidden_units=[7]
    )
    model = build_text_classifier(vocab_size=30, num_classes=3, config=config)
    short = np.array([[4, 5, 6]], dtype="int32")
    padded = np.array([[4, 5, 6, 0, 0, 0, 0, 0]], dtype="int32")
    p_short, p_padded = model.predict(short, verbose=0), model.predict(padded, verbose=0)
    np.testing.assert_allclose(p_short, p_padded, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(p_short.sum(axis=1), 1.0, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(again.predict(padded, verbose=0), p_padded, rtol=1e-6)


def test_word_dropout_replaces_only_real_tokens_and_only_in_training():
    ids = np.array([[5, 6, 7, 8, 0, 0]] * 2000, dtype="int32")
    layer = WordDropout(0.25, oov_id=1, seed=3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(ids, training=False)), ids)
    out = keras.ops.convert_to_numpy(layer(ids, training=True))
    assert (out[:, 4:] == 0).all()  # padding untouched
    dropped = out[:, :4] == 1
    assert set(np.unique(out[:, :4])) <= {1, 5, 6, 7, 8}
    assert 0.23 < dropped.mean() < 0.27
    spare_first = keras.ops.convert_to_numpy(WordDropout(0.5, oov_id=1, seed=3, keep_first=True)(ids, training=True))
    assert (spare_first[:, 0] == 5).all() and (spare_first[:, 1:4] == 1).mean() > 0.45


@pytest.mark.parametrize("kernel_size, widths", [(3, 1), ([3], 1), ([2, 3, 5], 3)])
def test_char_cnn_ignores_character_and_word_padding(kernel_size, widths):
    from nlp_lstm.models import CharCNN

    layer = CharCNN(vocab_size=10, embedding_dim=4, filters=5, kernel_size=kernel_size)
    chars = np.array([[[2, 3, 0, 0], [4, 0, 0, 0], [0, 0, 0, 0]]], dtype="int32")
    wider = np.zeros((1, 3, 7), dtype="int32")
    wider[:, :, :4] = chars
    out, out_wider = (keras.ops.convert_to_numpy(layer(c)) for c in (chars, wider))
    assert out.shape == (1, 3, 5 * widths) == layer.compute_output_shape((1, 3, 4))
    np.testing.assert_allclose(out, out_wider, rtol=1e-6, atol=1e-8)  # atol: float32 round-off near 0 on JAX
    np.testing.assert_array_equal(out[0, 2], 0.0)  # an all-padding word
    assert np.abs(out[0, 0]).sum() > 0


def test_classifier_with_char_features_round_trips(tmp_path):
    char_features = {"enabled": True, "filters": 4, "kernel_size": [2, 3]}
    config = ClassifierModelConfig(embedding_dim=6, rnn={"units": 5}, char_features=char_features)
    model = build_text_classifier(vocab_size=30, num_classes=2, config=config, char_vocab_size=12)
    x = {
        "token_ids": np.array([[4, 5, 0]], dtype="int32"),
        "char_ids": np.array([[[2, 3], [4, 0], [0, 0]]], dtype="int32"),
    }
    short = {"token_ids": x["token_ids"][:, :2], "char_ids": x["char_ids"][:, :2]}
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(short, verbose=0), rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "m.keras")
    np.testing.assert_allclose(
        keras.saving.load_model(tmp_path / "m.keras").predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6
    )


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_token_cross_entropy_matches_the_smoothed_distribution_and_its_gradient(smoothing):
    """Against a brute-force cross-entropy with the smoothed target distribution (1 - e on the target plus e
    spread uniformly), value and gradient (softmax minus that distribution)."""
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(2, 4, 9)) * 3).astype("float32")
    targets = rng.integers(0, 9, size=(2, 4))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    smoothed = np.full(logits.shape, smoothing / 9) + (1 - smoothing) * np.eye(9)[targets]
    expected = -(smoothed * log_probs).sum(-1)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(token_cross_entropy(targets, logits, smoothing)), expected, atol=1e-5
    )

    grad = gradient(lambda x: keras.ops.sum(token_cross_entropy(targets, x, smoothing)), logits)
    np.testing.assert_allclose(grad, np.exp(log_probs) - smoothed, atol=1e-5)


def test_gather_time_step_picks_each_rows_step_and_routes_its_gradient_there():
    rng = np.random.default_rng(0)
    sequences = rng.normal(size=(3, 5, 4)).astype("float32")
    positions = np.array([4, 0, 2])
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(gather_time_step(sequences, positions)), sequences[np.arange(3), positions]
    )
    weights = np.arange(1, 5, dtype="float32")
    expected = np.zeros_like(sequences)
    expected[np.arange(3), positions] = weights
    grad = gradient(lambda x: keras.ops.sum(gather_time_step(x, positions) * weights), sequences)
    np.testing.assert_allclose(grad, expected)

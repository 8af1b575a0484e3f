"""BiLSTM sequence tagger (Lample et al. 2016; Ma & Hovy 2016): word features -> BiLSTM -> CRF or softmax.

The trained model outputs per-tag scores (emissions). Training uses `CRFLoss` or `MaskedTagLoss` on
targets that are tag index + 1 (0 = padding); `build_tag_decoder` wraps a trained model into one that
outputs the best tag indices (Viterbi for the CRF), so decoding runs inside Keras's compiled predict.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers, ops

from nlp_lstm.config.schema import TaggerModelConfig
from nlp_lstm.models.crf import CRF
from nlp_lstm.models.encoders import RecurrentEncoder
from nlp_lstm.models.features import CharBiLSTM, model_inputs, word_features
from nlp_lstm.models.layers import CharCNN, WordDropout
from nlp_lstm.models.losses import GlobalBatchLoss

# Every layer `build_sequence_tagger` may create, by name: code that takes a trained tagger apart (the NumPy
# export, `build_word_table_decoder`) refuses a model holding any other layer rather than leaving it out.
TAGGER_LAYERS = {
    "token_ids": layers.InputLayer,
    "char_ids": layers.InputLayer,
    "casing_ids": layers.InputLayer,
    "word_dropout": WordDropout,
    "embedding": layers.Embedding,
    "char_cnn": CharCNN,
    "char_lstm_features": CharBiLSTM,
    "casing_embedding": layers.Embedding,
    "word_features": layers.Concatenate,
    "input_dropout": layers.Dropout,
    "encoder": RecurrentEncoder,
    "output_dropout": layers.Dropout,
    "tag_scores": layers.Dense,
    "crf": CRF,
}
CHAR_FEATURE_LAYERS = ("char_cnn", "char_lstm_features")


def unknown_tagger_layer(model: keras.Model) -> str | None:
    """The first layer of `model` that `build_sequence_tagger` does not create ("'name' (Class)"), or None."""
    for layer in model.layers:
        known = TAGGER_LAYERS.get(layer.name)
        if known is None or type(layer) is not known:
            return f"{layer.name!r} ({type(layer).__name__})"
    return None


def build_sequence_tagger(
    vocab_size: int,
    num_tags: int,
    config: TaggerModelConfig,
    *,
    char_vocab_size: int | None = None,
    embedding_matrix: np.ndarray | None = None,
    allowed_transitions: Sequence[tuple[int, int]] | None = None,
    allowed_start: Sequence[int] | None = None,
    allowed_end: Sequence[int] | None = None,
) -> keras.Model:
    """Right-padded word inputs -> (batch, words, num_tags) float32 tag scores."""
    features = word_features(config, vocab_size, char_vocab_size, embedding_matrix)
    x = features.vectors
    if config.input_dropout:
        x = layers.Dropout(config.input_dropout, name="input_dropout")(x)
    x = RecurrentEncoder.from_settings(config.rnn, name="encoder")(x)
    if config.output_dropout:
        x = layers.Dropout(config.output_dropout, name="output_dropout")(x)
    scores = layers.Dense(num_tags, dtype="float32", name="tag_scores")(x)
    if config.decoder == "crf":
        scores = CRF(
            num_tags,
            allowed_transitions=allowed_transitions,
            allowed_start=allowed_start,
            allowed_end=allowed_end,
            dtype="float32",
            name="crf",
        )(scores)
    return keras.Model(model_inputs(features), scores, name=f"bilstm_{config.decoder}_tagger")


def _targets_and_mask(y_true):
    y_true = ops.cast(y_true, "int32")
    mask = ops.greater(y_true, 0)
    return ops.maximum(y_true - 1, 0), mask


@keras.saving.register_keras_serializable(package="nlp_lstm")
class CRFLoss(GlobalBatchLoss):
    """Negative CRF log-likelihood per sentence; targets are tag index + 1, 0 at padding.

    Args:
        crf: the model's CRF layer, whose transition scores the likelihood uses.
        crf_layer: that layer's name. A loss rebuilt from its config (a model loaded with `compile=True`)
            knows only the name: `bind(model)` finds the layer again; until then computing it is an error,
            never a loss over freshly initialised transitions.
    """

    def __init__(self, crf: CRF | None = None, name: str = "crf_loss", crf_layer: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.crf = crf
        self.crf_layer = crf.name if crf is not None else crf_layer

    def bind(self, model: keras.Model) -> CRFLoss:
        self.crf = model.get_layer(self.crf_layer)
        return self

    def call(self, y_true, y_pred):
        if self.crf is None:
            raise ValueError(
                f"this CRFLoss was rebuilt from a config and holds no CRF layer: call "
                f"loss.bind(model) (layer {self.crf_layer!r}), or compile with tagging_loss(model)"
            )
        tags, mask = _targets_and_mask(y_true)
        return -self.crf.log_likelihood(y_pred, tags, mask)

    def get_config(self) -> dict:
        return {**super().get_config(), "crf_layer": self.crf_layer}


@keras.saving.register_keras_serializable(package="nlp_lstm")
class MaskedTagLoss(GlobalBatchLoss):
    """Softmax cross-entropy per token, zero at padding (targets are tag index + 1), averaged over tokens."""

    def __init__(self, name: str = "tag_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        tags, mask = _targets_and_mask(y_true)
        losses = keras.losses.sparse_categorical_crossentropy(tags, ops.cast(y_pred, "float32"), from_logits=True)
        return losses * ops.cast(mask, "float32")

    def weighted_sum_and_count(self, y_true, y_pred, weights):
        # Keras averages call's (batch, time) values over both axes: per example, the mean over the padded time
        per_example = ops.mean(self.call(y_true, y_pred), axis=-1)
        return ops.sum(per_example * weights), ops.sum(weights)


def tagging_loss(model: keras.Model) -> keras.losses.Loss:
    """The loss matching the model's output layer."""
    crf = _crf_layer(model)
    return CRFLoss(crf) if crf is not None else MaskedTagLoss()


def _crf_layer(model: keras.Model) -> CRF | None:
    return next((layer for layer in model.layers if isinstance(layer, CRF)), None)


@keras.saving.register_keras_serializable(package="nlp_lstm")
class TagDecoder(layers.Layer):
    """Best tag index per word: Viterbi through `crf`, or argmax without one; 0 at padding."""

    def __init__(self, crf: CRF | None = None, **kwargs):
        super().__init__(**kwargs)
        self.crf = crf
        self.supports_masking = True  # the mask is recomputed from token_ids; this only accepts it

    def get_config(self) -> dict:
        crf = keras.saving.serialize_keras_object(self.crf) if self.crf is not None else None
        return {**super().get_config(), "crf": crf}

    @classmethod
    def from_config(cls, config: dict) -> TagDecoder:
        config = dict(config)
        crf = config.pop("crf", None)
        return cls(keras.saving.deserialize_keras_object(crf) if crf is not None else None, **config)

    def compute_mask(self, scores, mask=None):
        return None

    def call(self, scores, token_ids):
        mask = ops.not_equal(token_ids, 0)
        if self.crf is not None:
            path, _ = self.crf.decode(scores, mask)
        else:
            path = ops.cast(ops.argmax(scores, axis=-1), "int32")
        return ops.where(mask, ops.cast(path, "int32"), 0)

    def compute_output_spec(self, scores, token_ids):
        return keras.KerasTensor(tuple(scores.shape[:2]), dtype="int32")


def build_tag_decoder(model: keras.Model) -> keras.Model:
    """Inference model: the tagger's inputs -> (batch, words) int32 best tag indices."""
    token_ids = model.inputs[0] if not isinstance(model.input, dict) else model.input["token_ids"]
    tags = TagDecoder(_crf_layer(model), name="decode")(model.output, token_ids)
    return keras.Model(model.input, tags, name=f"{model.name}_decoder")


def build_word_table_decoder(model: keras.Model) -> tuple[keras.Model, keras.Model] | None:
    """Inference models that compute the character features once per distinct word instead of once per token:
    `(char_model, decoder)`, or None when the tagger reads no characters or holds a layer it does not create.

    `char_model`: (words, 1, chars) character ids -> (words, 1, features), each word on its own row (a word's
    features depend on its characters alone). `decoder`: the tagger's inputs with `char_features` (batch,
    words, features) in place of `char_ids` -> (batch, words) best tag indices, as `build_tag_decoder` gives
    (dropout layers are left out: they do nothing at inference).
    """
    names = {layer.name for layer in model.layers}
    char_name = next((name for name in CHAR_FEATURE_LAYERS if name in names), None)
    if char_name is None or "word_features" not in names or unknown_tagger_layer(model) is not None:
        return None
    char_layer = model.get_layer(char_name)
    char_ids = keras.Input(shape=(None, None), dtype="int32", name="char_ids")
    char_model = keras.Model(char_ids, char_layer(char_ids), name=f"{model.name}_char_features")

    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    char_features = keras.Input(
        shape=(None, char_layer.compute_output_shape((None, None, None))[-1]), name="char_features"
    )
    inputs = {"token_ids": token_ids, "char_features": char_features}
    parts = {"embedding": model.get_layer("embedding")(token_ids), char_name: char_features}
    if "casing_embedding" in names:
        inputs["casing_ids"] = keras.Input(shape=(None,), dtype="int32", name="casing_ids")
        parts["casing_embedding"] = model.get_layer("casing_embedding")(inputs["casing_ids"])
    concatenate = model.get_layer("word_features")
    order = [tensor._keras_history.operation.name for tensor in concatenate.input]  # the trained order
    vectors = concatenate([parts[name] for name in order])
    # The char features carry no mask, and Keras merges masks with `any`: give the encoder the words' mask.
    x = model.get_layer("encoder")(vectors, mask=ops.not_equal(token_ids, 0))
    scores = model.get_layer("tag_scores")(x)
    if "crf" in names:
        scores = model.get_layer("crf")(scores)
    tags = TagDecoder(_crf_layer(model), name="decode")(scores, token_ids)
    return char_model, keras.Model(inputs, tags, name=f"{model.name}_word_table_decoder")

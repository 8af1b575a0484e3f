"""Word features shared by every model: word embedding (optionally pretrained) + char + casing features.

`word_features` builds the Keras inputs and the per-token vectors from a `WordFeaturesConfig`, so the
classifier and the tagger compose the same parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers, ops

from nlp_lstm.config.schema import CharFeaturesConfig, WordFeaturesConfig
from nlp_lstm.models.encoders import RecurrentEncoder, length_aware_here
from nlp_lstm.models.layers import CharCNN, WordDropout
from nlp_lstm.preprocessing.casing import CASING_CLASSES
from nlp_lstm.preprocessing.vocab import Vocabulary


@keras.saving.register_keras_serializable(package="nlp_lstm")
class CharBiLSTM(layers.Layer):
    """Character-level word features (Lample et al. 2016): a BiLSTM over each word's characters.

    Input: (batch, words, chars) character ids, 0 = padding. Output: (batch, words, 2 * units), the final
    forward and backward states; padding words give zeros and are masked.
    """

    def __init__(
        self, vocab_size: int, embedding_dim: int = 32, units: int = 25, length_aware: bool | None = None, **kwargs
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.embedding = layers.Embedding(vocab_size, embedding_dim, mask_zero=True, name="char_embedding")
        self.encoder = RecurrentEncoder(
            "lstm",
            units,
            num_layers=1,
            bidirectional=True,
            return_final=True,
            fused="auto",
            length_aware=length_aware,  # None: saved before auto chose per backend (length-aware then)
            name="char_lstm",
        )

    def build(self, input_shape):
        self.embedding.build((None, None))
        self.encoder.build((None, None, self.embedding_dim))

    def call(self, char_ids, training=None):
        batch, words, chars = ops.shape(char_ids)[0], ops.shape(char_ids)[1], ops.shape(char_ids)[2]
        flat = ops.reshape(char_ids, (-1, chars))
        is_word = ops.any(ops.not_equal(flat, 0), axis=1)
        # Padding words would be all-padding rows, which the fused GPU kernel rejects: give them one char.
        first_column = ops.cast(ops.arange(chars) == 0, flat.dtype)[None, :]
        flat = ops.where(is_word[:, None], flat, first_column * Vocabulary.oov_id)
        embedded = self.embedding(flat)
        _, final = self.encoder(embedded, mask=ops.not_equal(flat, 0), training=training)
        final = ops.where(is_word[:, None], final, ops.zeros_like(final))
        return ops.reshape(final, (batch, words, 2 * self.units))

    def compute_mask(self, char_ids, mask=None):
        return ops.any(ops.not_equal(char_ids, 0), axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], 2 * self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "length_aware": self.encoder.length_aware,
        }


# The layers `word_features` concatenates, by name (what reads the text's words, below the encoder).
WORD_INPUT_LAYERS = ("embedding", "char_cnn", "char_lstm_features", "casing_embedding")


def char_features_layer(config: CharFeaturesConfig, vocab_size: int) -> layers.Layer:
    if config.encoder == "lstm":
        length_aware = length_aware_here("auto", bidirectional=True)
        return CharBiLSTM(
            vocab_size, config.embedding_dim, config.lstm_units, length_aware=length_aware, name="char_lstm_features"
        )
    return CharCNN(vocab_size, config.embedding_dim, config.filters, config.kernel_size, name="char_cnn")


@dataclass
class WordFeatures:
    inputs: dict[str, keras.KerasTensor]  # named model inputs, as `WordInputs` produces them
    vectors: keras.KerasTensor  # (batch, words, features), masked where token_ids == 0


def word_features(
    config: WordFeaturesConfig,
    vocab_size: int,
    char_vocab_size: int | None = None,
    embedding_matrix: np.ndarray | None = None,
) -> WordFeatures:
    """Keras inputs and per-word vectors: word embedding, then char and casing features concatenated.

    `embedding_matrix` (vocab_size, embedding_dim) initialises the word embedding (pretrained vectors).
    """
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    inputs = {"token_ids": token_ids}
    x = token_ids
    if config.word_dropout:
        x = WordDropout(config.word_dropout, oov_id=Vocabulary.oov_id, name="word_dropout")(x)
    embedding = layers.Embedding(
        vocab_size, config.embedding_dim, mask_zero=True, trainable=config.embeddings.trainable, name="embedding"
    )
    parts = [embedding(x)]
    if embedding_matrix is not None:
        # Set after building rather than as a Constant initializer, which would put the matrix in the config.
        embedding.set_weights([np.asarray(embedding_matrix, dtype="float32")])
    if config.char_features.enabled:
        char_ids = keras.Input(shape=(None, None), dtype="int32", name="char_ids")
        inputs["char_ids"] = char_ids
        parts.append(char_features_layer(config.char_features, char_vocab_size)(char_ids))
    if config.casing.enabled:
        casing_ids = keras.Input(shape=(None,), dtype="int32", name="casing_ids")
        inputs["casing_ids"] = casing_ids
        parts.append(
            layers.Embedding(len(CASING_CLASSES), config.casing.embedding_dim, mask_zero=True, name="casing_embedding")(
                casing_ids
            )
        )
    vectors = parts[0] if len(parts) == 1 else layers.Concatenate(name="word_features")(parts)
    return WordFeatures(inputs, vectors)


def model_inputs(features: WordFeatures):
    """A single input is passed as a tensor, several as a dict (what `PaddedBatches` yields)."""
    return features.inputs["token_ids"] if len(features.inputs) == 1 else features.inputs

"""LSTM text classifier: word features -> recurrent encoder -> pooling -> dense head -> softmax."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from nlp_lstm.config.schema import ClassifierModelConfig
from nlp_lstm.models.encoders import RecurrentEncoder
from nlp_lstm.models.features import model_inputs, word_features
from nlp_lstm.models.layers import AttentionPooling, MaskedPooling


def build_text_classifier(
    vocab_size: int,
    num_classes: int,
    config: ClassifierModelConfig,
    char_vocab_size: int | None = None,
    embedding_matrix: np.ndarray | None = None,
) -> keras.Model:
    """A functional Keras model: right-padded int32 token ids (0 = padding) -> class probabilities.

    Char and casing features, when enabled, add the inputs `char_ids` (batch, words, chars) and `casing_ids`.
    """
    features = word_features(config, vocab_size, char_vocab_size, embedding_matrix)
    x = features.vectors
    if config.embedding_dropout:
        x = layers.SpatialDropout1D(config.embedding_dropout, name="embedding_dropout")(x)
    encoder = RecurrentEncoder.from_settings(config.rnn, return_final=config.pooling == "last", name="encoder")
    encoded = encoder(x)
    if config.pooling == "last":
        x = encoded[1]
    elif config.pooling == "attention":
        x = AttentionPooling(config.rnn.units, name="pooling")(encoded)
    else:
        x = MaskedPooling(config.pooling, name="pooling")(encoded)
    for i, units in enumerate(config.hidden_units):
        x = layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
        x = layers.Dense(units, activation="relu", name=f"hidden_{i}")(x)
    x = layers.Dropout(config.dropout, name="output_dropout")(x)
    probabilities = layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(model_inputs(features), probabilities, name="lstm_text_classifier")

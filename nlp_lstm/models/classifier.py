"""LSTM text classifier: embedding -> recurrent encoder -> pooling -> dense head -> softmax."""

from __future__ import annotations

import keras
from keras import layers

from nlp_lstm.config.schema import ClassifierModelConfig
from nlp_lstm.models.encoders import RecurrentEncoder
from nlp_lstm.models.layers import AttentionPooling, CharCNN, MaskedPooling, WordDropout
from nlp_lstm.preprocessing.vocab import Vocabulary


def build_text_classifier(
    vocab_size: int, num_classes: int, config: ClassifierModelConfig, char_vocab_size: int | None = None
) -> keras.Model:
    """A functional Keras model: right-padded int32 token ids (0 = padding) -> class probabilities.

    With `config.char_features.enabled`, a second input `char_ids` (batch, words, chars) feeds a char CNN.
    """
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = token_ids
    if config.word_dropout:
        x = WordDropout(config.word_dropout, oov_id=Vocabulary.oov_id, name="word_dropout")(x)
    x = layers.Embedding(vocab_size, config.embedding_dim, mask_zero=True, name="embedding")(x)
    inputs = token_ids
    if config.char_features.enabled:
        chars = config.char_features
        char_ids = keras.Input(shape=(None, None), dtype="int32", name="char_ids")
        char_vectors = CharCNN(char_vocab_size, chars.embedding_dim, chars.filters, chars.kernel_size, name="char_cnn")(char_ids)
        x = layers.Concatenate(name="word_and_char")([x, char_vectors])
        inputs = {"token_ids": token_ids, "char_ids": char_ids}
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
    return keras.Model(inputs, probabilities, name="lstm_text_classifier")

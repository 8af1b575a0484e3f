"""Attentional LSTM encoder-decoder (Luong et al. 2015), written with keras.ops/keras.layers only.

Training model: {source_ids, target_in} -> logits over the target vocabulary at each step (teacher forcing).
The decoder also exposes `initial_state` and `step`, which the batched greedy/beam search
(`models/search.py`) runs inside a compiled Keras predict function.

Two decoder regimes:
- without input feeding, the decoder LSTMs run over the whole target sequence at once (the fused cuDNN
  kernel on a GPU: no mask is needed, right padding cannot change earlier steps) and attention is
  computed for all steps together;
- with input feeding, step t reads the attentional vector of step t-1, so the steps run in an `ops.scan`
  over the LSTM cells.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers, ops

from nlp_lstm.config.schema import ATTENTION_SCORES
from nlp_lstm.models.encoders import RecurrentEncoder, settings_for_encoder
from nlp_lstm.models.layers import WordDropout, masked_fill_value, scans_over_time
from nlp_lstm.models.losses import GlobalBatchLoss, token_cross_entropy, token_weights
from nlp_lstm.preprocessing.vocab import Vocabulary


@keras.saving.register_keras_serializable(package="nlp_lstm")
class SourceEncoder(layers.Layer):
    """Source ids -> (encoder states (batch, time, memory_dim), final state (batch, memory_dim))."""

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 256,
        dropout: float = 0.0,
        rnn: dict[str, Any] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        self.rnn_settings = dict(rnn or {})
        self.embedding = layers.Embedding(vocab_size, embedding_dim, name="source_embedding")
        self.embedding_dropout = layers.Dropout(dropout, name="embedding_dropout")
        self.rnn = RecurrentEncoder(**self.rnn_settings, return_final=True, name="rnn")

    @property
    def output_dim(self) -> int:
        return self.rnn.output_dim

    def build(self, input_shape):
        self.embedding.build(input_shape)
        self.rnn.build((*input_shape, self.embedding_dim))

    def call(self, source_ids, training=None):
        mask = ops.not_equal(source_ids, 0)
        x = self.embedding_dropout(self.embedding(source_ids), training=training)
        return self.rnn(x, mask=mask, training=training)

    def compute_mask(self, source_ids, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.output_dim), (input_shape[0], self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "dropout": self.dropout,
            "rnn": self.rnn_settings,
        }


@keras.saving.register_keras_serializable(package="nlp_lstm")
class Attention(layers.Layer):
    """Luong attention over encoder states with a dot, general (bilinear) or additive (Bahdanau) score.

    `keys(memory)` projects the encoder states once per sentence; `attend` then scores queries
    (batch, steps, query_dim) against them, masking source padding, and returns the context vectors
    and the attention weights (batch, steps, source_time).
    """

    def __init__(self, score: str = "general", units: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if score not in ATTENTION_SCORES:
            raise ValueError(f"score must be one of {ATTENTION_SCORES}, got {score!r}")
        self.score = score
        self.units = units
        self.key_projection = None if score == "dot" else layers.Dense(units, use_bias=False, name="key_projection")
        if score == "additive":
            self.query_projection = layers.Dense(units, name="query_projection")
            self.energy = layers.Dense(1, use_bias=False, name="energy")

    def build(self, query_shape, memory_shape):
        if self.key_projection is not None:
            self.key_projection.build(memory_shape)
        if self.score == "additive":
            self.query_projection.build(query_shape)
            self.energy.build((None, self.units))

    def keys(self, memory):
        return memory if self.key_projection is None else self.key_projection(memory)

    def attend(self, query, keys, memory, memory_mask):
        if self.score == "additive":
            hidden = ops.expand_dims(self.query_projection(query), 2) + ops.expand_dims(keys, 1)
            scores = ops.squeeze(self.energy(ops.tanh(hidden)), -1)
        else:
            scores = ops.matmul(query, ops.transpose(keys, (0, 2, 1)))
        scores = ops.cast(scores, "float32")
        scores = ops.where(ops.expand_dims(memory_mask, 1), scores, masked_fill_value("float32"))
        weights = ops.softmax(scores, axis=-1)
        context = ops.matmul(ops.cast(weights, memory.dtype), memory)
        return context, weights

    def call(self, query, memory, memory_mask):
        return self.attend(query, self.keys(memory), memory, memory_mask)

    def get_config(self):
        return {**super().get_config(), "score": self.score, "units": self.units}


@keras.saving.register_keras_serializable(package="nlp_lstm")
class AttentionDecoder(layers.Layer):
    """Target embedding -> stacked LSTM (started from the encoder) -> attention -> attentional vector
    tanh(W [context; h]) -> dropout -> logits over the target vocabulary (optionally tied to the embedding).
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 256,
        units: int = 256,
        num_layers: int = 1,
        attention: str = "general",
        input_feeding: bool = True,
        dropout: float = 0.0,
        tie_embeddings: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.num_layers = num_layers
        self.attention_score = attention
        self.input_feeding = input_feeding
        self.dropout = dropout
        self.tie_embeddings = tie_embeddings
        if input_feeding:
            scans_over_time(self)
        # Tied output weights are the embedding matrix, so the attentional vector has its width.
        self.attentional_dim = embedding_dim if tie_embeddings else units
        self.embedding = layers.Embedding(vocab_size, embedding_dim, name="target_embedding")
        self.rnns = [
            layers.LSTM(units, return_sequences=True, return_state=True, name=f"decoder_lstm_{i}")
            for i in range(num_layers)
        ]
        self.bridge = layers.Dense(2 * units * num_layers, activation="tanh", name="bridge")
        self.attention = Attention(attention, units, name="attention")
        self.combine = layers.Dense(self.attentional_dim, activation="tanh", use_bias=False, name="combine")
        self.dropout_layer = layers.Dropout(dropout, name="dropout")
        # Logits over the vocabulary stay float32 under mixed precision: the softmax and loss need the range.
        self.output_layer = None if tie_embeddings else layers.Dense(vocab_size, dtype="float32", name="output")

    # ------------------------------------------------------------------------------- building
    def build(self, target_ids_shape, memory_shape, final_state_shape, source_ids_shape):
        self.embedding.build(target_ids_shape)
        input_dim = self.embedding_dim + (self.attentional_dim if self.input_feeding else 0)
        for rnn in self.rnns:
            rnn.build((None, None, input_dim))
            input_dim = self.units
        self.bridge.build(final_state_shape)
        self.attention.build((None, None, self.units), memory_shape)
        self.combine.build((None, memory_shape[-1] + self.units))
        if self.output_layer is not None:
            self.output_layer.build((None, self.attentional_dim))
        else:
            self.output_bias = self.add_weight(shape=(self.vocab_size,), initializer="zeros", name="output_bias")

    # ------------------------------------------------------------------------------ the parts
    def initial_state(self, final_state) -> tuple:
        """(h, c) per layer from the encoder's final state, plus a zero attentional vector to feed."""
        bridged = ops.split(self.bridge(final_state), 2 * self.num_layers, axis=-1)
        state = tuple(bridged)
        if self.input_feeding:
            state += (ops.zeros((ops.shape(final_state)[0], self.attentional_dim), dtype=bridged[0].dtype),)
        return state

    def _logits(self, attentional):
        if self.output_layer is not None:
            return self.output_layer(attentional)
        embeddings = ops.cast(self.embedding.embeddings, "float32")
        return ops.matmul(ops.cast(attentional, "float32"), ops.transpose(embeddings)) + ops.cast(
            self.output_bias, "float32"
        )

    def _attentional(self, h, keys, memory, source_mask):
        context, weights = self.attention.attend(h, keys, memory, source_mask)
        return self.combine(ops.concatenate([context, h], axis=-1)), weights

    def _cell_step(self, x_t, state: tuple, keys, memory, source_mask):
        """One step for a batch: embedded input (batch, dim) and state -> attentional vector, state, weights."""
        if self.input_feeding:
            x_t = ops.concatenate([x_t, state[-1]], axis=-1)
        new_state = []
        h = x_t
        for i, rnn in enumerate(self.rnns):
            h, (h_i, c_i) = rnn.cell(h, [state[2 * i], state[2 * i + 1]])
            new_state += [h_i, c_i]
        attentional, weights = self._attentional(ops.expand_dims(h, 1), keys, memory, source_mask)
        attentional, weights = ops.squeeze(attentional, 1), ops.squeeze(weights, 1)
        if self.input_feeding:
            new_state.append(attentional)
        return attentional, tuple(new_state), weights

    def step(self, tokens, state: tuple, keys, memory, source_mask):
        """Inference step: previous tokens (batch,) -> log-probabilities (batch, vocab) in float32, state,
        attention weights (batch, source_time)."""
        attentional, state, weights = self._cell_step(self.embedding(tokens), state, keys, memory, source_mask)
        return ops.log_softmax(ops.cast(self._logits(attentional), "float32"), axis=-1), state, weights

    # ------------------------------------------------------------------------------- training
    def call(self, target_ids, memory, final_state, source_ids, training=None):
        source_mask = ops.not_equal(source_ids, 0)
        keys = self.attention.keys(memory)
        state = self.initial_state(final_state)
        x = self.dropout_layer(self.embedding(target_ids), training=training)
        if not self.input_feeding:
            h = x
            for i, rnn in enumerate(self.rnns):
                h, *_ = rnn(h, initial_state=list(state[2 * i : 2 * i + 2]), training=training)
            attentional, _ = self._attentional(h, keys, memory, source_mask)
        else:
            # Keras's TensorFlow scan needs each step's output shaped like the carry, so the state is
            # packed into one tensor and output whole; the attentional vector is its last slice.
            sizes = [self.units] * (2 * self.num_layers) + [self.attentional_dim]
            splits = [sum(sizes[: i + 1]) for i in range(len(sizes) - 1)]

            def step(packed, x_t):
                _, carry, _ = self._cell_step(x_t, tuple(ops.split(packed, splits, axis=-1)), keys, memory, source_mask)
                packed = ops.concatenate(carry, axis=-1)
                return packed, packed

            _, states = ops.scan(step, ops.concatenate(state, axis=-1), ops.transpose(x, (1, 0, 2)))
            attentional = ops.transpose(states[..., splits[-1] :], (1, 0, 2))
        return self._logits(self.dropout_layer(attentional, training=training))

    def compute_output_shape(self, target_ids_shape, *args, **kwargs):
        return (*target_ids_shape, self.vocab_size)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "num_layers": self.num_layers,
            "attention": self.attention_score,
            "input_feeding": self.input_feeding,
            "dropout": self.dropout,
            "tie_embeddings": self.tie_embeddings,
        }


@keras.saving.register_keras_serializable(package="nlp_lstm")
class SequenceLoss(GlobalBatchLoss):
    """Token cross-entropy with label smoothing, averaged over the real (non-padding) target tokens."""

    def __init__(self, label_smoothing: float = 0.0, name: str = "sequence_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def token_losses(self, y_true, y_pred):
        return token_cross_entropy(y_true, y_pred, self.label_smoothing)

    def call(self, y_true, y_pred):
        mask = ops.cast(ops.not_equal(ops.cast(y_true, "int32"), 0), "float32")
        return ops.sum(self.token_losses(y_true, y_pred) * mask) / ops.maximum(ops.sum(mask), 1.0)

    def weighted_sum_and_count(self, y_true, y_pred, weights):
        tokens = token_weights(y_true, weights)
        return ops.sum(self.token_losses(y_true, y_pred) * tokens), ops.sum(tokens)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def _word_dropout(token_ids, rate: float, name: str, keep_first: bool = False):
    if not rate:
        return token_ids
    return WordDropout(rate, oov_id=Vocabulary.oov_id, keep_first=keep_first, name=name)(token_ids)


def build_translator(source_vocab_size: int, target_vocab_size: int, config) -> keras.Model:
    """The teacher-forced training model from a `TranslatorModelConfig`."""
    rnn = settings_for_encoder(config.encoder)
    decoder_config = config.decoder
    source_ids = keras.Input((None,), dtype="int32", name="source_ids")
    target_in = keras.Input((None,), dtype="int32", name="target_in")
    # Word dropout sits outside the encoder and decoder layers, which the search model reuses: inference never
    # sees it. The decoder still gets the true source ids for its attention mask (padding is never dropped).
    encoder_ids = _word_dropout(source_ids, config.source_word_dropout, "source_word_dropout")
    decoder_ids = _word_dropout(target_in, config.target_word_dropout, "target_word_dropout", keep_first=True)
    memory, final = SourceEncoder(
        source_vocab_size, config.source_embedding_dim, config.embedding_dropout, rnn, name="encoder"
    )(encoder_ids)
    logits = AttentionDecoder(
        target_vocab_size,
        config.target_embedding_dim,
        decoder_config.units,
        decoder_config.layers,
        attention=decoder_config.attention,
        input_feeding=decoder_config.input_feeding,
        dropout=decoder_config.dropout,
        tie_embeddings=decoder_config.tie_embeddings,
        name="decoder",
    )(decoder_ids, memory, final, source_ids)
    return keras.Model({"source_ids": source_ids, "target_in": target_in}, logits, name="translator")

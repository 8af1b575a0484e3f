"""An LSTM language model: embedding -> forward recurrent encoder -> softmax over the vocabulary.

Regularised as in Merity et al. (2018, AWD-LSTM): embedding dropout (whole word types dropped for a
batch), locked ("variational") dropout on the embeddings and the top outputs (one mask for every time
step), dropout between layers, and input and output embeddings tied (Inan et al. 2017; Press & Wolf 2017;
a linear projection down to the embedding size when the top layer is wider). Over a large vocabulary the
output layer can be an adaptive softmax (`nlp_lstm.models.adaptive_softmax`): exact, a fraction of the cost.

Over running text it is trained by truncated backpropagation through time: with `carry_batch_size`, the
layer keeps each row's final recurrent state in variables and starts the next batch from it, so row i of
consecutive batches reads one contiguous stream (`StreamBatches`); `reset_carried_state` zeroes it at each
epoch's start. For scoring and generation, `build_step_model` exposes the states as inputs and outputs.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
from keras import layers, ops

from nlp_lstm.models.adaptive_softmax import AdaptiveSoftmax
from nlp_lstm.models.encoders import RecurrentEncoder
from nlp_lstm.models.losses import global_mean, token_weights


@keras.saving.register_keras_serializable(package="nlp_lstm")
class WordTypeDropout(layers.Layer):
    """During training, zeroes the embedding of whole word types (the same types everywhere in a batch) with
    probability `rate`, scaling the others by 1 / (1 - rate): embedding dropout (Gal & Ghahramani 2016)."""

    def __init__(self, rate: float, vocab_size: int, seed: int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.rate = rate
        self.vocab_size = vocab_size
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        token_ids, embedded = inputs
        if not training or self.rate <= 0:
            return embedded
        keep = keras.random.uniform((self.vocab_size,), seed=self.seed_generator) >= self.rate
        scale = ops.cast(keep, embedded.dtype) / ops.cast(1.0 - self.rate, embedded.dtype)
        return embedded * ops.expand_dims(ops.take(scale, token_ids, axis=0), -1)

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "vocab_size": self.vocab_size, "seed": self.seed}


@keras.saving.register_keras_serializable(package="nlp_lstm")
class RecurrentLanguageModel(layers.Layer):
    """Token ids (batch, time) -> next-token logits (batch, time, vocab), float32 (with an adaptive softmax,
    log-probabilities: logits whose softmax is themselves).

    Args:
        vocab_size: size of the vocabulary (id 0 is padding, never predicted as a target).
        embedding_dim: size of the word embeddings (and of the tied output embeddings).
        encoder: a forward `RecurrentEncoder` config (its `return_state` is set here).
        tie_embeddings: the output layer uses the embedding matrix (plus a bias).
        embedding_dropout: word types dropped per batch while training.
        input_dropout, output_dropout: locked dropout on the embeddings and on the top layer's outputs.
        carry_batch_size: keep the final states of this many rows between calls (truncated BPTT); None
            for independent sequences.
        adaptive_cutoffs: an adaptive softmax with tail clusters starting at these ids (ids are ranked by
            frequency); None for the full softmax.
        adaptive_factor: each adaptive cluster's projection is this many times narrower than the previous.
        seed: seed of the units `sampled_softmax_loss` draws.
        embedding_trainable: False keeps the embedding as initialised (pretrained vectors); tied, the output
            embedding is then fixed too.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 256,
        encoder: dict[str, Any] | None = None,
        tie_embeddings: bool = True,
        embedding_dropout: float = 0.0,
        input_dropout: float = 0.0,
        output_dropout: float = 0.0,
        carry_batch_size: int | None = None,
        adaptive_cutoffs: list[int] | None = None,
        adaptive_factor: float = 4.0,
        seed: int | None = None,
        embedding_trainable: bool = True,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.seed = seed
        self.embedding_trainable = embedding_trainable
        self.adaptive_cutoffs = None if adaptive_cutoffs is None else list(adaptive_cutoffs)
        self.adaptive_factor = adaptive_factor
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.encoder_config = {**(encoder or {}), "bidirectional": False, "return_final": False}
        self.tie_embeddings = tie_embeddings
        self.embedding_dropout = embedding_dropout
        self.input_dropout = input_dropout
        self.output_dropout = output_dropout
        self.carry_batch_size = carry_batch_size
        self.embedding = layers.Embedding(vocab_size, embedding_dim, trainable=embedding_trainable, name="embedding")
        self.type_dropout = WordTypeDropout(embedding_dropout, vocab_size, name="embedding_dropout")
        self.locked_input_dropout = layers.SpatialDropout1D(input_dropout, name="input_dropout")
        self.encoder = RecurrentEncoder(**self.encoder_config, return_state=True, name="encoder")
        self.locked_output_dropout = layers.SpatialDropout1D(output_dropout, name="output_dropout")
        width = self.encoder.output_dim
        self.projection = (
            layers.Dense(embedding_dim, use_bias=False, name="projection")
            if tie_embeddings and width != embedding_dim
            else None
        )
        self.adaptive = (
            None
            if adaptive_cutoffs is None
            else AdaptiveSoftmax(
                vocab_size, adaptive_cutoffs, adaptive_factor, tied=tie_embeddings, dtype="float32", name="adaptive"
            )
        )
        full_untied = self.adaptive is None and not tie_embeddings
        self.output_layer = layers.Dense(vocab_size, dtype="float32", name="output") if full_untied else None
        self.sampler = keras.random.SeedGenerator(seed)

    def build(self, input_shape):
        batch, time = tuple(input_shape)[:2]
        self.embedding.build((batch, time))
        self.encoder.build((batch, time, self.embedding_dim))
        top = (batch, time, self.encoder.output_dim)
        if self.projection is not None:
            self.projection.build(top)
            top = (batch, time, self.embedding_dim)
        if self.adaptive is not None:
            self.adaptive.build(top)
        elif self.output_layer is not None:
            self.output_layer.build(top)
        else:
            self.output_bias = self.add_weight(shape=(self.vocab_size,), initializer="zeros", name="output_bias")
        self.carried = []
        if self.carry_batch_size:
            self.carried = [
                self.add_weight(
                    shape=(self.carry_batch_size, size), initializer="zeros", trainable=False, name=f"carried_{i}"
                )
                for i, size in enumerate(self.encoder.state_sizes)
            ]

    @property
    def state_sizes(self) -> list[int]:
        return self.encoder.state_sizes

    def _features(self, outputs, training):
        """What the output layer multiplies: the top outputs, dropped out (and projected when tied), float32."""
        x = self.locked_output_dropout(outputs, training=training)
        if self.projection is not None:
            x = self.projection(x)
        return ops.cast(x, "float32")

    def _output_weights(self):
        """(vocab, features) matrix and (vocab,) bias of the output layer, float32."""
        if self.output_layer is not None:
            return ops.transpose(ops.cast(self.output_layer.kernel, "float32")), self.output_layer.bias
        return ops.cast(self.embedding.embeddings, "float32"), self.output_bias

    def _logits(self, outputs, training):
        features = self._features(outputs, training)
        if self.adaptive is not None:
            return self.adaptive(features, embeddings=self._tied_embeddings())
        matrix, bias = self._output_weights()
        return ops.matmul(features, ops.transpose(matrix)) + bias

    def _tied_embeddings(self):
        return self.embedding.embeddings if self.tie_embeddings else None

    def vocabulary_weights(self) -> list[tuple[keras.Variable, int]]:
        """The weights indexed by unit id, each with the axis that the id indexes (mapped unit by unit to
        another vocabulary). An untied adaptive softmax's cluster vectors are not among them."""
        weights = [(self.embedding.embeddings, 0)]
        if self.adaptive is not None:
            weights.append((self.adaptive.word_bias, 0))
        elif self.output_layer is not None:
            weights += [(self.output_layer.kernel, 1), (self.output_layer.bias, 0)]
        else:
            weights.append((self.output_bias, 0))
        return weights

    def training_loss(self, features, targets, num_sampled: int | None, weights=None):
        """The loss of `targets` from `call(..., return_features=True)`: the adaptive softmax's (exact), else
        the sampled softmax's over `num_sampled` draws; the mean over the real targets, or with `weights`
        (targets' shape) the weighted sum."""
        if self.adaptive is not None:
            return self.adaptive.loss(features, targets, embeddings=self._tied_embeddings(), weights=weights)
        return self.sampled_softmax_loss(features, targets, num_sampled, weights)

    def sampled_softmax_loss(self, features, targets, num_sampled: int, weights=None):
        """Mean NLL of `targets` (batch, time) under a sampled softmax over `features` (`call` with
        `return_features`): the true unit against `num_sampled` units drawn, with replacement, from the
        log-uniform (Zipfian) distribution over the frequency-ranked vocabulary, every logit corrected by
        its expected count (Jean et al. 2015; as TensorFlow's `sampled_softmax_loss` with
        `remove_accidental_hits`). Padding (id 0) is neither drawn nor a target."""
        candidates = self.vocab_size - 1  # ids 1.., by frequency after the specials
        log_range = math.log(candidates + 1.0)
        draws = keras.random.uniform((num_sampled,), seed=self.sampler)
        ranks = ops.clip(ops.cast(ops.floor(ops.exp(draws * log_range)), "int32") - 1, 0, candidates - 1)
        sampled = ranks + 1

        def log_expected_count(ids):
            rank = ops.cast(ids - 1, "float32")
            return math.log(num_sampled) + ops.log(ops.log((rank + 2.0) / (rank + 1.0)) / log_range)

        matrix, bias = self._output_weights()
        width = ops.shape(features)[-1]
        flat_features = ops.reshape(features, (-1, width))
        flat_targets = ops.reshape(ops.cast(targets, "int32"), (-1,))
        safe_targets = ops.maximum(flat_targets, 1)
        true_logits = ops.sum(flat_features * ops.take(matrix, safe_targets, axis=0), axis=-1)
        true_logits = true_logits + ops.take(bias, safe_targets) - log_expected_count(safe_targets)
        sampled_logits = ops.matmul(flat_features, ops.transpose(ops.take(matrix, sampled, axis=0)))
        sampled_logits = sampled_logits + ops.take(bias, sampled) - log_expected_count(sampled)
        hits = ops.equal(ops.expand_dims(safe_targets, 1), ops.expand_dims(sampled, 0))
        sampled_logits = ops.where(hits, ops.full_like(sampled_logits, -1e9), sampled_logits)
        logits = ops.concatenate([ops.expand_dims(true_logits, 1), sampled_logits], axis=1)
        nll = ops.logsumexp(logits, axis=1) - true_logits
        real = ops.cast(ops.not_equal(flat_targets, 0), "float32")
        if weights is not None:
            return ops.sum(nll * ops.reshape(ops.cast(weights, "float32"), (-1,)))
        return ops.sum(nll * real) / ops.maximum(ops.sum(real), 1.0)

    def call(self, token_ids, initial_state=None, return_state=False, return_features=False, training=None):
        x = self.embedding(token_ids)
        x = self.type_dropout([token_ids, x], training=training)
        x = self.locked_input_dropout(x, training=training)
        carry = self.carried and initial_state is None
        if carry:
            initial_state = [ops.cast(state, x.dtype) for state in self.carried]
        outputs, states = self.encoder(x, initial_state=initial_state, training=training)
        if carry:
            for variable, state in zip(self.carried, states):
                variable.assign(ops.cast(ops.stop_gradient(state), variable.dtype))
        if return_features:  # for `training_loss`: no logits over the whole vocabulary
            return self._features(outputs, training)
        logits = self._logits(outputs, training)
        return (logits, *states) if return_state else logits

    def reset_carried_state(self) -> None:
        """Start every row's stream afresh (the start of an epoch, or of another text)."""
        for variable in self.carried:
            variable.assign(ops.zeros(variable.shape, variable.dtype))

    def compute_output_spec(self, token_ids, initial_state=None, return_state=False, training=None):
        batch, time = token_ids.shape[:2]
        logits = keras.KerasTensor((batch, time, self.vocab_size), dtype="float32")
        if not return_state:
            return logits
        return (logits, *[keras.KerasTensor((batch, size), dtype=self.compute_dtype) for size in self.state_sizes])

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "encoder": {k: v for k, v in self.encoder_config.items() if k not in ("bidirectional", "return_final")},
            "tie_embeddings": self.tie_embeddings,
            "embedding_dropout": self.embedding_dropout,
            "input_dropout": self.input_dropout,
            "output_dropout": self.output_dropout,
            "carry_batch_size": self.carry_batch_size,
            "adaptive_cutoffs": self.adaptive_cutoffs,
            "adaptive_factor": self.adaptive_factor,
            "seed": self.seed,
            "embedding_trainable": self.embedding_trainable,
        }


def encoder_settings(rnn_config) -> dict[str, Any]:
    """`RecurrentEncoder` keyword arguments from a `RecurrentConfig` (the YAML `model.rnn` section)."""
    settings = rnn_config.model_dump()
    settings["num_layers"] = settings.pop("layers")
    settings.pop("bidirectional")
    return settings


def adaptive_cutoffs(vocab_size: int, config) -> list[int] | None:
    """The configured cutoffs that fall inside the vocabulary (a small vocabulary has fewer clusters), or
    None without `softmax: adaptive`."""
    if config.softmax != "adaptive":
        return None
    return [c for c in config.adaptive_cutoffs if c < vocab_size]


def build_language_model(
    vocab_size: int,
    config,
    *,
    carry_batch_size: int | None = None,
    seed: int | None = None,
    inference: bool = False,
    embedding_matrix: np.ndarray | None = None,
) -> keras.Model:
    """The model from a `LanguageModelNetworkConfig`: token ids -> next-token logits. With `softmax: sampled`
    or `adaptive` it is a `FeatureLossTraining` model (the same layer and weights) unless `inference`, else
    a functional one (a sampled-softmax model's is the full softmax over its weights). `embedding_matrix`
    (vocab_size, embedding_dim) initialises the embedding (pretrained vectors)."""
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    network = RecurrentLanguageModel(
        vocab_size,
        config.embedding_dim,
        encoder_settings(config.rnn),
        tie_embeddings=config.tie_embeddings,
        embedding_dropout=config.embedding_dropout,
        input_dropout=config.input_dropout,
        output_dropout=config.output_dropout,
        carry_batch_size=carry_batch_size,
        adaptive_cutoffs=adaptive_cutoffs(vocab_size, config),
        adaptive_factor=config.adaptive_factor,
        seed=seed,
        embedding_trainable=config.embeddings.trainable,
        name="language_model",
    )
    if config.softmax != "full" and not inference:
        num_sampled = min(config.num_sampled, vocab_size - 1) if config.softmax == "sampled" else None
        model = FeatureLossTraining(network, num_sampled, name="language_model")
        model(keras.ops.ones((carry_batch_size or 1, 2), dtype="int32"))  # built, carried states included
        network.reset_carried_state()
    else:
        model = keras.Model(token_ids, network(token_ids), name="language_model")
    if embedding_matrix is not None:
        network.embedding.embeddings.assign(np.asarray(embedding_matrix, dtype=network.embedding.embeddings.dtype))
    return model


class FeatureLossTraining(keras.Model):
    """A `RecurrentLanguageModel` trained with a sampled or adaptive softmax: in training `call` gives the
    output features and `compute_loss` the network's `training_loss`, never the logits over the whole
    vocabulary (most of a large vocabulary's cost); in inference (validation loss, prediction) it gives the
    logits and the compiled loss.

    Args:
        network: the language model layer.
        num_sampled: units drawn per training batch (sampled softmax); None with an adaptive softmax.
    """

    def __init__(self, network: RecurrentLanguageModel, num_sampled: int | None, **kwargs: Any):
        super().__init__(**kwargs)
        self.network = network
        self.num_sampled = num_sampled

    def call(self, token_ids, training=None):
        if training:
            return self.network(token_ids, return_features=True, training=True)
        return self.network(token_ids, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not training:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        if sample_weight is None:
            loss = self.network.training_loss(y_pred, y, self.num_sampled)
        else:  # data-parallel rows (see nlp_lstm.models.losses)
            weights = token_weights(y, ops.cast(sample_weight, "float32"))
            loss = global_mean(self.network.training_loss(y_pred, y, self.num_sampled, weights), ops.sum(weights))
        return loss + ops.sum(self.losses) if self.losses else loss


def language_model_layer(model: keras.Model) -> RecurrentLanguageModel:
    return model.get_layer("language_model")


def path_within(variable: keras.Variable, layer: keras.layers.Layer) -> str:
    """A variable's path below `layer` (which may sit at another depth in another model)."""
    return variable.path.rsplit(f"{layer.name}/", 1)[-1]


class LanguageModelStep(keras.Model):
    """[token ids, *states] -> [logits, *states after them]: the language model read on from given states
    (scoring a stream in segments, generating token by token). Shares the trained model's weights; built
    when needed, never saved."""

    def __init__(self, network: RecurrentLanguageModel, **kwargs: Any):
        super().__init__(**kwargs)
        self.network = network

    def call(self, inputs, training=None):
        token_ids, *states = inputs
        return list(self.network(token_ids, initial_state=list(states), return_state=True, training=False))


def build_step_model(model: keras.Model) -> LanguageModelStep:
    """The step model of a model `build_language_model` built (or loaded)."""
    return LanguageModelStep(language_model_layer(model), name="language_model_step")


class LanguageModelScorer(keras.Model):
    """[token ids, targets, *states] -> [per row, the summed NLL of its targets (padding, id 0, left out),
    *states after them]. The log-softmax and the pick happen in the compiled function, so only one number
    a row comes back instead of a row of logits over the whole vocabulary per unit. Shares the trained
    model's weights; never saved."""

    def __init__(self, network: RecurrentLanguageModel, **kwargs: Any):
        super().__init__(**kwargs)
        self.network = network

    def call(self, inputs, training=None):
        token_ids, targets, *states = inputs
        logits, *states = self.network(token_ids, initial_state=list(states), return_state=True, training=False)
        targets = ops.cast(targets, "int32")
        log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
        picked = ops.take_along_axis(log_probs, ops.expand_dims(targets, -1), axis=-1)[..., 0]
        return [-ops.sum(picked * ops.cast(ops.not_equal(targets, 0), "float32"), axis=-1), *states]


def build_scorer(model: keras.Model) -> LanguageModelScorer:
    """The scorer of a model `build_language_model` built (or loaded)."""
    return LanguageModelScorer(language_model_layer(model), name="language_model_scorer")

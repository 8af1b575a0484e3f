"""Small Keras layers shared by the pipelines, written with `keras.ops` so they run on every backend."""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers, ops


def scans_over_time(layer: layers.Layer) -> None:
    """Marks a layer whose `call` runs `ops.scan` over time as not XLA-compilable on TensorFlow.

    Keras's TensorFlow scan is a `tf.while_loop` without `maximum_iterations`, whose gradient XLA refuses
    ("requires a fixed tensor list size"). Keras's own cuDNN LSTM opts out the same way; `jit_compile`
    "auto" then stays off and `True` falls back to off with Keras's warning instead of failing in `fit`.
    """
    if keras.backend.backend() == "tensorflow":
        layer.supports_jit = False


def lengths_from_mask(mask, dtype: str = "int32"):
    """Number of valid positions per row of a right-padded (batch, time) mask."""
    return ops.sum(ops.cast(mask, dtype), axis=1)


def masked_fill_value(dtype):
    """A score low enough to lose every max/softmax, yet finite in float16 (where -1e9 overflows)."""
    return ops.cast(-1e9 if dtype == "float32" else -3e4, dtype)


def gather_time_step(sequences, positions):
    """sequences[b, positions[b], :] for each row b, as a one-hot weighted sum over time: its gradient is a
    product, where a gather's is a scatter (TensorFlow's unsorted segment sum: 10 ms of a 240 ms translator
    training step on a CPU, against well under 1 ms)."""
    pick = ops.one_hot(ops.cast(positions, "int32"), ops.shape(sequences)[1], dtype=sequences.dtype)
    return ops.einsum("bt,btd->bd", pick, sequences)


@keras.saving.register_keras_serializable(package="nlp_lstm")
class WordDropout(layers.Layer):
    """During training, replaces each real token id by the OOV id with probability `rate`.

    Teaches the OOV embedding and stops the model leaning on single words (Iyyer et al. 2015; Lample et
    al. 2016 replace singletons likewise). Padding (id 0) is left alone; inference is untouched.
    `keep_first` spares each row's first token (a decoder's BOS, which inference always feeds as is).
    """

    def __init__(self, rate: float, oov_id: int = 1, seed: int | None = None, keep_first: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate
        self.oov_id = oov_id
        self.seed = seed
        self.keep_first = keep_first
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, token_ids, training=None):
        if not training or self.rate <= 0:
            return token_ids
        drop = keras.random.uniform(ops.shape(token_ids), seed=self.seed_generator) < self.rate
        drop = ops.logical_and(drop, ops.not_equal(token_ids, 0))
        if self.keep_first:
            drop = ops.logical_and(drop, ops.expand_dims(ops.arange(ops.shape(token_ids)[1]) > 0, 0))
        return ops.where(drop, ops.cast(self.oov_id, token_ids.dtype), token_ids)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "oov_id": self.oov_id,
            "seed": self.seed,
            "keep_first": self.keep_first,
        }


@keras.saving.register_keras_serializable(package="nlp_lstm")
class CharCNN(layers.Layer):
    """Character-level word features (Ma & Hovy 2016): embed characters, convolve, max over each word.

    `kernel_size` may list several widths (Kim et al. 2016): each gets `filters` filters and their pooled
    outputs are concatenated, so longer affixes are seen whole. Input: (batch, words, chars) character ids,
    0 = padding. Output: (batch, words, filters * widths); all-padding words give zeros and are masked.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 32,
        filters: int = 64,
        kernel_size: int | Sequence[int] = 3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.filters = filters
        self.kernel_size = kernel_size if isinstance(kernel_size, int) else [int(k) for k in kernel_size]
        widths = [self.kernel_size] if isinstance(self.kernel_size, int) else self.kernel_size
        self.embedding = layers.Embedding(vocab_size, embedding_dim, name="char_embedding")
        # The first width keeps the name and attribute of the single-width layer, so saved models still load.
        self.conv = layers.Conv1D(filters, widths[0], padding="same", activation="tanh", name="char_conv")
        self.wider_convs = [
            layers.Conv1D(filters, width, padding="same", activation="tanh", name=f"char_conv_{width}")
            for width in widths[1:]
        ]
        self.output_dim = filters * len(widths)

    def build(self, input_shape):
        self.embedding.build((None, None))
        for conv in (self.conv, *self.wider_convs):
            conv.build((None, None, self.embedding_dim))

    def call(self, char_ids):
        batch, words, chars = ops.shape(char_ids)[0], ops.shape(char_ids)[1], ops.shape(char_ids)[2]
        flat = ops.reshape(char_ids, (-1, chars))
        embedded = self.embedding(flat)
        features = [conv(embedded) for conv in (self.conv, *self.wider_convs)]
        features = features[0] if len(features) == 1 else ops.concatenate(features, axis=-1)
        valid = ops.expand_dims(ops.not_equal(flat, 0), -1)
        pooled = ops.max(ops.where(valid, features, masked_fill_value(features.dtype)), axis=1)
        pooled = ops.where(ops.any(valid, axis=1), pooled, ops.zeros_like(pooled))
        return ops.reshape(pooled, (batch, words, self.output_dim))

    def compute_mask(self, char_ids, mask=None):
        # Keras merges masks with `any`: without its own mask this input would unmask the padding words.
        return ops.any(ops.not_equal(char_ids, 0), axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "filters": self.filters,
            "kernel_size": self.kernel_size,
        }


@keras.saving.register_keras_serializable(package="nlp_lstm")
class MaskedPooling(layers.Layer):
    """Max or mean over the valid time steps of a (batch, time, features) tensor."""

    def __init__(self, mode: str = "max", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "mean"):
            raise ValueError(f"mode must be 'max' or 'mean', got {mode!r}")
        self.mode = mode
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.max(inputs, axis=1) if self.mode == "max" else ops.mean(inputs, axis=1)
        valid = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        if self.mode == "max":
            return ops.max(ops.where(valid > 0, inputs, masked_fill_value(inputs.dtype)), axis=1)
        total = ops.sum(inputs * valid, axis=1)
        return total / ops.maximum(ops.sum(valid, axis=1), ops.cast(1.0, inputs.dtype))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="nlp_lstm")
class AttentionPooling(layers.Layer):
    """Additive self-attention pooling (Yang et al. 2016): a learned weighting of the valid time steps."""

    def __init__(self, units: int = 128, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.supports_masking = True
        self.projection = layers.Dense(units, activation="tanh", name="projection")
        self.score = layers.Dense(1, use_bias=False, name="score")

    def build(self, input_shape):
        self.projection.build(input_shape)
        self.score.build((*input_shape[:-1], self.units))

    def call(self, inputs, mask=None):
        scores = ops.squeeze(self.score(self.projection(inputs)), -1)
        if mask is not None:
            scores = ops.where(mask, scores, masked_fill_value(scores.dtype))
        weights = ops.softmax(scores, axis=-1)
        return ops.sum(inputs * ops.expand_dims(weights, -1), axis=1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "units": self.units}

"""Adaptive softmax (Grave et al. 2017): an exact softmax over a large vocabulary at a fraction of its cost.

The vocabulary is ranked by frequency (ids below `cutoffs[0]` are the frequent "head"; each further range
up to the next cutoff is a tail cluster). The head softmax scores the head's words plus one entry per
cluster; a word in cluster i gets P(cluster i) * P(word | cluster i), the second from a softmax over the
cluster alone, computed in a smaller space (the features projected to `dim / factor**(i+1)` dimensions).
Frequent words pay the head's cost only; the many rare words share the few cheap tail computations.

Output vectors can be tied to the input embeddings (`call(..., embeddings=E)`): head words use their rows of
E; cluster i's words use their rows projected down, E[cluster] @ Q_i (computed once per batch, not per
token). The per-word biases are one vector over the whole vocabulary, so every per-word weight is indexed by
the unit id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops


def _dynamic_shapes() -> bool:
    """Whether the backend takes tensors whose size depends on values (rows selected by a mask) in a
    compiled step: TensorFlow and PyTorch do; JAX's jit does not."""
    return keras.backend.backend() != "jax"


def _nll(features, targets, vectors, bias):
    """Per row, -log softmax(features @ vectors.T + bias)[target]: the target's logit taken from its own
    vector rather than picked out of the logits."""
    logits = ops.matmul(features, ops.transpose(vectors)) + bias
    true = ops.sum(features * ops.take(vectors, targets, axis=0), axis=-1) + ops.take(bias, targets)
    return ops.logsumexp(logits, axis=-1) - true


@keras.saving.register_keras_serializable(package="nlp_lstm")
class AdaptiveSoftmax(layers.Layer):
    """Features (..., dim) -> log-probabilities (..., vocab_size) over a frequency-ranked vocabulary.

    Args:
        vocab_size: number of output units (ids 0..vocab_size-1, most frequent first).
        cutoffs: ids at which the tail clusters begin, increasing, each in 2..vocab_size-1; empty for a
            plain softmax.
        factor: each cluster's projection has the previous one's dimensions divided by this.
        tied: the output vectors come from the embedding matrix passed to `call`/`loss` (its width must be
            the features' width).
    """

    def __init__(
        self, vocab_size: int, cutoffs: Sequence[int] = (), factor: float = 4.0, tied: bool = False, **kwargs: Any
    ):
        super().__init__(**kwargs)
        cutoffs = [int(c) for c in cutoffs]
        if any(b <= a for a, b in zip(cutoffs, cutoffs[1:])) or any(not 2 <= c < vocab_size for c in cutoffs):
            raise ValueError(f"cutoffs must increase within 2..{vocab_size - 1}, got {cutoffs}")
        if factor < 1:
            raise ValueError(f"factor must be >= 1, got {factor}")
        self.vocab_size = vocab_size
        self.cutoffs = cutoffs
        self.factor = factor
        self.tied = tied
        self.bounds = [*cutoffs, vocab_size]  # cluster i holds ids bounds[i]..bounds[i+1]-1
        if keras.backend.backend() == "tensorflow":
            # XLA cannot compile the rows a tail selects by value: `jit_compile` "auto" stays off, and
            # `True` falls back to off with Keras's warning.
            self.supports_jit = False

    @property
    def head_size(self) -> int:
        return self.bounds[0]

    def tail_dims(self, dim: int) -> list[int]:
        return [max(1, round(dim / self.factor ** (i + 1))) for i in range(len(self.cutoffs))]

    def build(self, input_shape):
        dim = int(input_shape[-1])
        clusters = len(self.cutoffs)
        self.word_bias = self.add_weight(shape=(self.vocab_size,), initializer="zeros", name="word_bias")
        if not self.tied:
            self.head_kernel = self.add_weight(shape=(dim, self.head_size), name="head_kernel")
        self.cluster_kernel = self.add_weight(shape=(dim, clusters), name="cluster_kernel") if clusters else None
        self.cluster_bias = (
            self.add_weight(shape=(clusters,), initializer="zeros", name="cluster_bias") if clusters else None
        )
        self.tail_projections, self.tail_kernels = [], []
        for i, width in enumerate(self.tail_dims(dim)):
            self.tail_projections.append(self.add_weight(shape=(dim, width), name=f"tail_{i}_projection"))
            # tied: projects the cluster's embedding rows down (dim, width); untied: the cluster's own vectors
            rows = dim if self.tied else self.bounds[i + 1] - self.bounds[i]
            self.tail_kernels.append(self.add_weight(shape=(rows, width), name=f"tail_{i}_kernel"))

    # ------------------------------------------------------------------------------ pieces
    def _head_weights(self, embeddings):
        """(head size + clusters, dim) output vectors of the head softmax and their biases."""
        if self.tied:
            words = ops.cast(embeddings[: self.head_size], "float32")
        else:
            words = ops.transpose(self.head_kernel)
        bias = self.word_bias[: self.head_size]
        if self.cluster_kernel is None:
            return words, bias
        return (
            ops.concatenate([words, ops.transpose(self.cluster_kernel)], axis=0),
            ops.concatenate([bias, self.cluster_bias], axis=0),
        )

    def _tail_weights(self, i: int, embeddings):
        """(cluster size, width) output vectors of cluster i and their biases."""
        bias = self.word_bias[self.bounds[i] : self.bounds[i + 1]]
        if not self.tied:
            return self.tail_kernels[i], bias
        rows = ops.cast(embeddings[self.bounds[i] : self.bounds[i + 1]], "float32")
        return ops.matmul(rows, self.tail_kernels[i]), bias

    # ------------------------------------------------------------------------------ API
    def call(self, features, embeddings=None):
        """Log-probabilities of every unit: the whole distribution (scoring, generation)."""
        self._check(embeddings)
        features = ops.cast(features, "float32")
        vectors, bias = self._head_weights(embeddings)
        head = ops.log_softmax(ops.matmul(features, ops.transpose(vectors)) + bias, axis=-1)
        parts = [head[..., : self.head_size]]
        for i in range(len(self.cutoffs)):
            vectors, bias = self._tail_weights(i, embeddings)
            logits = ops.matmul(ops.matmul(features, self.tail_projections[i]), ops.transpose(vectors)) + bias
            parts.append(head[..., self.head_size + i : self.head_size + i + 1] + ops.log_softmax(logits, axis=-1))
        return ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]

    def loss(self, features, targets, embeddings=None, weights=None):
        """Mean negative log-likelihood of `targets` (any shape; id 0, padding, is not a target) given
        `features` (targets' shape + (dim,)), computing each tail only for the targets in it (on JAX, whose
        compiled steps need fixed shapes, for all of them and masked: the same value). With `weights`
        (targets' shape), the weighted sum instead."""
        self._check(embeddings)
        width = ops.shape(features)[-1]
        features = ops.reshape(ops.cast(features, "float32"), (-1, width))
        targets = ops.reshape(ops.cast(targets, "int32"), (-1,))
        cluster = ops.zeros_like(targets)
        for cutoff in self.cutoffs:
            cluster = cluster + ops.cast(targets >= cutoff, "int32")
        real = ops.cast(ops.not_equal(targets, 0), "float32")
        scale = real if weights is None else ops.reshape(ops.cast(weights, "float32"), (-1,))
        head_index = ops.where(cluster == 0, targets, self.head_size + cluster - 1)
        total = ops.sum(_nll(features, head_index, *self._head_weights(embeddings)) * scale)
        for i in range(len(self.cutoffs)):
            vectors, bias = self._tail_weights(i, embeddings)
            in_cluster = ops.equal(cluster, i + 1)
            if _dynamic_shapes():
                rows = ops.nonzero(in_cluster)[0]
                projected = ops.matmul(ops.take(features, rows, axis=0), self.tail_projections[i])
                nll = _nll(projected, ops.take(targets, rows) - self.bounds[i], vectors, bias)
                total = total + ops.sum(nll if weights is None else nll * ops.take(scale, rows))
            else:
                projected = ops.matmul(features, self.tail_projections[i])
                local = ops.clip(targets - self.bounds[i], 0, self.bounds[i + 1] - self.bounds[i] - 1)
                total = total + ops.sum(_nll(projected, local, vectors, bias) * ops.cast(in_cluster, "float32") * scale)
        return total / ops.maximum(ops.sum(real), 1.0) if weights is None else total

    def _check(self, embeddings) -> None:
        if self.tied and embeddings is None:
            raise ValueError("a tied AdaptiveSoftmax needs the embedding matrix")

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.vocab_size)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "cutoffs": list(self.cutoffs),
            "factor": self.factor,
            "tied": self.tied,
        }

"""Linear-chain CRF for Keras 3 (which has none), written with `keras.ops` so it runs on every backend.

Masked forward algorithm for the log-likelihood, Viterbi for decoding, and optional transition
constraints (e.g. no I-X after O in IOB2) applied as a large negative score. Masks are right-padded
(batch, time) booleans with at least one valid step per row.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers, ops

from nlp_lstm.models.layers import lengths_from_mask, scans_over_time

_FORBIDDEN = -1e4  # added to forbidden transitions: exp(-1e4) underflows to exactly zero in float32


def _constraint_matrix(num_tags: int, allowed: Sequence[Sequence[int]] | None) -> np.ndarray:
    penalty = np.zeros((num_tags, num_tags), dtype="float32")
    if allowed is not None:
        penalty[:] = _FORBIDDEN
        for i, j in allowed:
            penalty[i, j] = 0.0
    return penalty


def _constraint_vector(num_tags: int, allowed: Sequence[int] | None) -> np.ndarray:
    penalty = np.zeros((num_tags,), dtype="float32")
    if allowed is not None:
        penalty[:] = _FORBIDDEN
        penalty[list(allowed)] = 0.0
    return penalty


@keras.saving.register_keras_serializable(package="nlp_lstm")
class CRF(layers.Layer):
    """Scores tag sequences as emissions + transitions (+ start/end scores).

    `call` returns the emissions unchanged (so a model's output is the per-tag scores the loss needs);
    `log_likelihood` trains it and `decode` gives the best tag sequence.

    Args:
        num_tags: number of tags.
        allowed_transitions: (from, to) pairs that may follow each other; None allows all.
        allowed_start / allowed_end: tags a sequence may start / end with; None allows all.
    """

    def __init__(
        self,
        num_tags: int,
        allowed_transitions: Sequence[Sequence[int]] | None = None,
        allowed_start: Sequence[int] | None = None,
        allowed_end: Sequence[int] | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_tags = num_tags
        self.allowed_transitions = None if allowed_transitions is None else [list(p) for p in allowed_transitions]
        self.allowed_start = None if allowed_start is None else list(allowed_start)
        self.allowed_end = None if allowed_end is None else list(allowed_end)
        self.supports_masking = True
        scans_over_time(self)
        self._transition_penalty = _constraint_matrix(num_tags, self.allowed_transitions)
        self._start_penalty = _constraint_vector(num_tags, self.allowed_start)
        self._end_penalty = _constraint_vector(num_tags, self.allowed_end)

    def build(self, input_shape):
        init = keras.initializers.RandomUniform(-0.1, 0.1)
        self.transitions = self.add_weight(shape=(self.num_tags, self.num_tags), initializer=init, name="transitions")
        self.start_scores = self.add_weight(shape=(self.num_tags,), initializer=init, name="start_scores")
        self.end_scores = self.add_weight(shape=(self.num_tags,), initializer=init, name="end_scores")

    def call(self, emissions, mask=None):
        # A new tensor: Keras keeps a mask already attached to a returned input, whatever compute_mask says.
        return ops.copy(emissions)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_mask(self, emissions, mask=None):
        # The loss takes its mask from the padded targets and returns one value per sentence; a Keras
        # mask on the output would be applied to those per-sentence values and fail to broadcast.
        return None

    # -------------------------------------------------------------------------------- scores
    def _score_tables(self):
        """Transition, start and end scores in float32 with the constraints applied."""
        # The penalties are NumPy arrays: converted explicitly, since `torch_tensor + ndarray` would turn
        # the (grad-tracking) tensor into NumPy.
        return (
            ops.cast(self.transitions, "float32") + ops.convert_to_tensor(self._transition_penalty),
            ops.cast(self.start_scores, "float32") + ops.convert_to_tensor(self._start_penalty),
            ops.cast(self.end_scores, "float32") + ops.convert_to_tensor(self._end_penalty),
        )

    @staticmethod
    def _prepare(emissions, mask):
        emissions = ops.cast(emissions, "float32")
        if mask is None:
            mask = ops.ones(ops.shape(emissions)[:2], dtype="bool")
        return emissions, ops.cast(mask, "bool")

    @staticmethod
    def _later_steps(emissions, mask):
        """Steps 1.. and one padded step, in time-major order, the sequence `ops.scan` walks:
        (time, batch, tags + 1), the emissions with the mask as a last channel.

        One tensor, because Keras's TensorFlow scan fails on several inputs whose time dimension is unknown
        (as in a compiled `fit`). The extra padded step changes nothing (padded steps carry the state
        through) but keeps the scan non-empty for one-word batches, which Keras's PyTorch scan rejects."""
        steps = ops.concatenate([emissions, ops.expand_dims(ops.cast(mask, emissions.dtype), -1)], axis=-1)
        steps = ops.concatenate([steps[:, 1:], ops.zeros_like(steps[:, :1])], axis=1)
        return ops.transpose(steps, (1, 0, 2))

    @staticmethod
    def _unpack_step(step):
        return step[:, :-1], step[:, -1] > 0.5

    def sequence_score(self, emissions, tags, mask=None):
        """Unnormalised score of the given tag sequences, (batch,)."""
        emissions, mask = self._prepare(emissions, mask)
        transitions, start, end = self._score_tables()
        tags = ops.cast(tags, "int32")
        valid = ops.cast(mask, "float32")
        emitted = ops.squeeze(ops.take_along_axis(emissions, ops.expand_dims(tags, -1), axis=2), -1)
        score = ops.sum(emitted * valid, axis=1) + ops.take(start, tags[:, 0])
        pair_scores = ops.take(ops.reshape(transitions, (-1,)), tags[:, :-1] * self.num_tags + tags[:, 1:])
        score = score + ops.sum(pair_scores * valid[:, 1:], axis=1)
        last = lengths_from_mask(mask) - 1
        last_tags = ops.squeeze(ops.take_along_axis(tags, ops.expand_dims(last, -1), axis=1), -1)
        return score + ops.take(end, last_tags)

    def log_partition(self, emissions, mask=None):
        """log Z: log-sum-exp of the scores of all tag sequences (masked forward algorithm), (batch,)."""
        emissions, mask = self._prepare(emissions, mask)
        transitions, start, end = self._score_tables()
        alpha = start[None, :] + emissions[:, 0]

        def step(alpha, inputs):
            emission, valid = self._unpack_step(inputs)
            scores = ops.logsumexp(ops.expand_dims(alpha, 2) + transitions[None], axis=1) + emission
            alpha = ops.where(ops.expand_dims(valid, -1), scores, alpha)
            return alpha, alpha  # TensorFlow's graph-mode scan needs a per-step output

        alpha, _ = ops.scan(step, alpha, self._later_steps(emissions, mask))
        return ops.logsumexp(alpha + end[None, :], axis=1)

    def log_likelihood(self, emissions, tags, mask=None):
        """log p(tags | emissions) per sequence, (batch,)."""
        return self.sequence_score(emissions, tags, mask) - self.log_partition(emissions, mask)

    def decode(self, emissions, mask=None):
        """Viterbi: the best tag sequence (batch, time), 0 at padded steps, and its score (batch,)."""
        emissions, mask = self._prepare(emissions, mask)
        transitions, start, end = self._score_tables()
        identity = ops.arange(self.num_tags, dtype="int32")
        score = start[None, :] + emissions[:, 0]

        def forward(score, inputs):
            emission, valid = self._unpack_step(inputs)
            candidates = ops.expand_dims(score, 2) + transitions[None]  # (batch, from, to)
            best_from = ops.cast(ops.argmax(candidates, axis=1), "int32")
            new_score = ops.max(candidates, axis=1) + emission
            keep = ops.expand_dims(valid, -1)
            # A padded step keeps the score and points each tag to itself, so backtracking passes through.
            pointers = ops.where(keep, best_from, identity[None, :])
            # TensorFlow's scan stacks outputs in the carry's dtype; small ints are exact in float32.
            return ops.where(keep, new_score, score), ops.cast(pointers, "float32")

        # backpointers: (time, batch, tags), the last for the extra padded step
        score, backpointers = ops.scan(forward, score, self._later_steps(emissions, mask))
        backpointers = ops.cast(backpointers, "int32")
        final = score + end[None, :]
        best_last = ops.cast(ops.argmax(final, axis=1), "int32")

        def backward(tag, pointers):
            previous = ops.squeeze(ops.take_along_axis(pointers, ops.expand_dims(tag, -1), axis=1), -1)
            return previous, tag

        first, later = ops.scan(backward, best_last, backpointers, reverse=True)
        path = ops.concatenate([ops.expand_dims(first, 0), later[:-1]], axis=0)  # (time, batch)
        path = ops.transpose(path, (1, 0))
        return ops.where(mask, path, ops.zeros_like(path)), ops.max(final, axis=1)

    def get_config(self):
        return {
            **super().get_config(),
            "num_tags": self.num_tags,
            "allowed_transitions": self.allowed_transitions,
            "allowed_start": self.allowed_start,
            "allowed_end": self.allowed_end,
        }

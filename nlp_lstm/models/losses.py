"""Losses that stay exact when data-parallel replicas each compute a slice of the batch.

Data-parallel batches (`nlp_lstm.preprocessing.batching.replica_batch`) weigh each row 1, or 0 for a row
added to fill the batch up. Given such weights, a `GlobalBatchLoss` divides its replica's weighted sum
by the count of the whole global batch (examples, or real target tokens for a loss averaged over tokens),
summed over the replicas: the replicas' losses, and so their gradients, add up to the loss of the whole
batch on one device, however the rows fall (Keras averages each replica's mean instead, which differs when
replicas hold different numbers of rows or tokens). Without weights it is the loss it always was.
"""

from __future__ import annotations

import keras
from keras import ops


def summed_over_replicas(value):
    """`value` summed over the data-parallel replicas running this step: TensorFlow runs the loss once
    per replica; JAX computes it once over the whole (sharded) global batch, as one device does."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            return context.all_reduce(tf.distribute.ReduceOp.SUM, value)
    return value


def global_mean(weighted_sum, count):
    """This replica's `weighted_sum` over the count of the whole global batch."""
    total = ops.stop_gradient(summed_over_replicas(count))
    return weighted_sum / ops.maximum(total, 1.0)


def token_weights(targets, weights):
    """Per-token weights (batch, time) from per-row ones: the row's weight at every real target (non-zero
    id), zero at padding."""
    real = ops.cast(ops.not_equal(ops.cast(targets, "int32"), 0), "float32")
    return real * ops.expand_dims(weights, -1)


def token_cross_entropy(targets, logits, label_smoothing: float = 0.0):
    """Per-position softmax cross-entropy of integer `targets` against `logits` (..., vocab), with label
    smoothing: (1 - e) * CE + e * (logsumexp(logits) - mean(logits)), the cross-entropy against the smoothed
    target distribution. Keras's sparse cross-entropy is TensorFlow's fused kernel there: picking the target's
    log-probability out of the logits instead (`take_along_axis`) backpropagates through an unsorted
    segment sum over the whole (batch, time, vocab) tensor, measured 50 ms of a 330 ms translator step."""
    logits = ops.cast(logits, "float32")
    nll = ops.sparse_categorical_crossentropy(ops.cast(targets, "int32"), logits, from_logits=True)
    if not label_smoothing:
        return nll
    uniform = ops.logsumexp(logits, axis=-1) - ops.mean(logits, axis=-1)
    return (1.0 - label_smoothing) * nll + label_smoothing * uniform


class GlobalBatchLoss(keras.losses.Loss):
    """Base class. Subclasses give `call` (their usual values, reduced by Keras) and, for a loss averaged
    over something other than the examples, `weighted_sum_and_count`."""

    def __call__(self, y_true, y_pred, sample_weight=None):
        if sample_weight is None:
            return super().__call__(y_true, y_pred)
        with keras.name_scope(self.name):
            weights = ops.cast(sample_weight, "float32")
            weighted_sum, count = self.weighted_sum_and_count(y_true, ops.cast(y_pred, "float32"), weights)
            return global_mean(weighted_sum, count)

    def weighted_sum_and_count(self, y_true, y_pred, weights):
        """This replica's weighted sum of the losses and the weight of what they average over. Default: `call`
        gives one value per example."""
        return ops.sum(self.call(y_true, y_pred) * weights), ops.sum(weights)


@keras.saving.register_keras_serializable(package="nlp_lstm")
class ClassLoss(GlobalBatchLoss):
    """Softmax cross-entropy of class ids against probabilities, averaged over the examples (Keras's
    `sparse_categorical_crossentropy`)."""

    def __init__(self, name: str = "sparse_categorical_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)

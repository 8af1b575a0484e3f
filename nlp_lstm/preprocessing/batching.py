"""Batches for Keras: `PaddedBatches` (the right-padded, length-bucketed batches of `padding.LengthBatches`
as a Keras `PyDataset`, and as a `tf.data` pipeline on TensorFlow) and their data-parallel form."""

from __future__ import annotations

from collections.abc import Iterator

import keras
import numpy as np

from nlp_lstm.preprocessing.padding import LengthBatches, pad_batch, restore_order

__all__ = ["PaddedBatches", "ReplicaBatches", "pad_batch", "replica_batch", "restore_order"]


class PaddedBatches(LengthBatches, keras.utils.PyDataset):
    """`LengthBatches` that Keras's `fit`, `evaluate` and `predict` read (see its arguments)."""

    def as_keras_input(self, replicas: int | None = None, share: tuple[int, int] | None = None):
        """What to pass to `fit`/`evaluate`.

        On TensorFlow, a `tf.data` pipeline with explicit variable-length signatures: Keras otherwise
        infers fixed sequence lengths from the first two batches and rejects later, longer ones.
        Other backends take the PyDataset as is.

        Args:
            replicas: for data-parallel training (`nlp_lstm.training.distribution`): every batch with as
                many rows as the replicas divide and a weight per row, zero for the rows added
                (`replica_batch`).
            share: (index, count): only the index-th of `count` equal parts of every such batch (a JAX
                process's rows in a multi-process run).
        """
        source = self if replicas is None else ReplicaBatches(self, replicas, share)
        if keras.backend.backend() != "tensorflow":
            return source
        import tensorflow as tf

        def spec(array: np.ndarray):
            return tf.TensorSpec(shape=(None,) * array.ndim, dtype=array.dtype)

        sample = source[0]
        signature = tuple(
            {k: spec(v) for k, v in part.items()} if isinstance(part, dict) else spec(part) for part in sample
        )
        dataset = tf.data.Dataset.from_generator(source.__iter__, output_signature=signature)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(2)
        if replicas is not None:
            # Every worker of a multi-worker strategy reads all the batches; each global batch is split into
            # one part per replica and each worker keeps its replicas' parts. (Files cannot be sharded here.)
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
            dataset = dataset.with_options(options)
        return dataset


class ReplicaBatches(keras.utils.PyDataset):
    """`batches`, each made ready for `replicas` data-parallel replicas (`replica_batch`), whole or the
    `share` (index, count) of it that one process passes."""

    def __init__(self, batches: PaddedBatches, replicas: int, share: tuple[int, int] | None = None):
        super().__init__()
        self.batches = batches
        self.replicas = replicas
        self.share = share

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        return self._part(replica_batch(self.batches[index], self.replicas))

    def __iter__(self) -> Iterator:
        for batch in self.batches:
            yield self._part(replica_batch(batch, self.replicas))

    def _part(self, batch: tuple) -> tuple:
        if self.share is None:
            return batch
        index, count = self.share
        size = len(batch[-1]) // count  # the replicas divide the rows, and every process holds as many
        rows = slice(index * size, (index + 1) * size)
        return tuple({k: v[rows] for k, v in part.items()} if isinstance(part, dict) else part[rows] for part in batch)

    def on_epoch_end(self) -> None:
        self.batches.on_epoch_end()


def replica_batch(batch: tuple, replicas: int) -> tuple:
    """`(x, y)` -> `(x, y, weights)` with as many rows as the replicas divide: the first rows repeated,
    weighing nothing, fill the batch up (the losses, `nlp_lstm.models.losses`, and Keras's metrics skip
    them; every real row weighs 1)."""
    x, y = batch
    rows = len(y)
    missing = -rows % replicas
    if missing:
        take = np.arange(missing) % rows

        def top_up(array: np.ndarray) -> np.ndarray:
            return np.concatenate([array, array[take]])

        x = {name: top_up(value) for name, value in x.items()} if isinstance(x, dict) else top_up(x)
        y = top_up(y)
    weights = np.zeros(len(y), dtype="float32")
    weights[:rows] = 1.0
    return x, y, weights

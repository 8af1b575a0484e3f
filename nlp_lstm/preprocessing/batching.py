"""Right-padded, optionally length-bucketed batches for every pipeline.

Right padding with no all-padding row is what the fused (cuDNN) recurrent kernels accept, so every
sequence must hold at least one real token: encoders map an empty text to a single OOV token.
Each example is a dict of fields; a field is a scalar (a class label), a 1-D sequence (token ids, tags)
or a 2-D ragged sequence (characters per token). Each is padded with 0 up to the batch's own maximum
(rounded up to `pad_to_multiple`, which keeps the number of distinct shapes, and so of compiled
functions, small).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import keras
import numpy as np


def _shape_of(value: Any) -> tuple[int, ...]:
    """Shape of a scalar, a sequence or a ragged sequence of sequences."""
    if np.isscalar(value) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return ()
    if len(value) and not np.isscalar(value[0]) and not (isinstance(value[0], np.ndarray) and value[0].ndim == 0):
        return (len(value), max((len(v) for v in value), default=0))
    return (len(value),)


def pad_batch(values: Sequence[Any], pad_to_multiple: int = 1, dtype: str = "int32") -> np.ndarray:
    """Stack scalars, or right-pad 1-D/2-D ragged sequences with zeros to a common shape."""
    shapes = [_shape_of(v) for v in values]
    rank = len(shapes[0])
    if rank == 0:
        return np.asarray(values, dtype=dtype)
    dims = [max(s[d] if len(s) > d else 0 for s in shapes) for d in range(rank)]
    dims = [
        max(1, math.ceil(d / pad_to_multiple) * pad_to_multiple) if pad_to_multiple > 1 else max(1, d) for d in dims
    ]
    out = np.zeros((len(values), *dims), dtype=dtype)
    for i, value in enumerate(values):
        if rank == 1:
            out[i, : len(value)] = value
        else:
            for j, inner in enumerate(value):
                out[i, j, : len(inner)] = inner
    return out


class PaddedBatches(keras.utils.PyDataset):
    """Batches of right-padded examples, shuffled per epoch (`set_epoch`), bucketed by length when asked.

    Args:
        inputs: field name -> per-example values (one field gives a plain array as model input).
        targets: per-example targets (class ids or tag sequences), or None for prediction.
        length_field: the field whose length drives bucketing (default: the first input field).
        bucket_pool: bucketing sorts by length within shuffled pools of this many batches, so batches
            are length-homogeneous yet still random.
    """

    def __init__(
        self,
        inputs: Mapping[str, Sequence[Any]],
        targets: Sequence[Any] | None = None,
        *,
        batch_size: int = 32,
        shuffle: bool = False,
        bucket_by_length: bool = True,
        pad_to_multiple: int = 8,
        seed: int = 0,
        length_field: str | None = None,
        bucket_pool: int = 50,
        target_dtype: str = "int32",
    ):
        super().__init__()
        self.inputs = dict(inputs)
        self.targets = targets
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.bucket_by_length = bucket_by_length
        self.pad_to_multiple = pad_to_multiple
        self.bucket_pool = bucket_pool
        self.target_dtype = target_dtype
        column = self.inputs[length_field or next(iter(self.inputs))]
        stored = getattr(column, "lengths", None)  # a stored column knows its lengths without reading examples
        self.lengths = (
            np.asarray(stored, dtype=np.int64)
            if stored is not None
            else np.fromiter((len(v) for v in column), dtype=np.int64, count=len(column))
        )
        if len(self.lengths) and self.lengths.min() == 0:
            row = int(np.argmin(self.lengths))
            raise ValueError(f"example {row} has no tokens; encode empty texts as one OOV token")
        self.seed = seed
        self.epoch = 0
        self._rng = np.random.default_rng(seed)
        self._plan = self._make_plan()

    @property
    def num_examples(self) -> int:
        return len(self.lengths)

    def _make_plan(self) -> list[np.ndarray]:
        n = self.num_examples
        order = self._rng.permutation(n) if self.shuffle else np.arange(n)
        if self.bucket_by_length:
            if self.shuffle:
                pool = self.batch_size * self.bucket_pool
                order = (
                    np.concatenate(
                        [
                            chunk[np.argsort(self.lengths[chunk], kind="stable")]
                            for chunk in np.array_split(order, max(1, math.ceil(n / pool)))
                        ]
                    )
                    if n
                    else order
                )
            else:
                order = np.argsort(self.lengths, kind="stable")
        batches = [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        if self.shuffle:
            batches = [batches[i] for i in self._rng.permutation(len(batches))]
        return batches

    def __len__(self) -> int:
        return len(self._plan)

    @property
    def batch_indices(self) -> list[np.ndarray]:
        """Example indices of each batch, in the order batches are served (to undo bucketing)."""
        return self._plan

    def __getitem__(self, index: int):
        return self._batch(self._plan[index])

    def _batch(self, rows: np.ndarray):
        x = {name: pad_batch([values[i] for i in rows], self.pad_to_multiple) for name, values in self.inputs.items()}
        x = next(iter(x.values())) if len(x) == 1 else x
        if self.targets is None:
            return (x,)
        return x, pad_batch([self.targets[i] for i in rows], self.pad_to_multiple, self.target_dtype)

    def set_epoch(self, epoch: int) -> None:
        """Serve the batch order of `epoch` (0-based): a function of the seed and the epoch alone, so a run
        resumed at epoch k sees the batches the uninterrupted run saw. `train_model` calls this at each
        epoch's start; Keras's own `on_epoch_end` calls, whose timing differs per backend, change nothing."""
        if not self.shuffle or epoch == self.epoch:
            return
        if epoch < self.epoch:
            self._rng, self.epoch = np.random.default_rng(self.seed), 0
            self._plan = self._make_plan()
        while self.epoch < epoch:  # each epoch's order is drawn after the previous one's
            self._plan = self._make_plan()
            self.epoch += 1

    def __iter__(self) -> Iterator:
        plan = self._plan  # one epoch's order, even if the next epoch is set while this one is read
        for rows in plan:
            yield self._batch(rows)

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


def restore_order(batch_outputs: Sequence[Sequence[Any]], batch_indices: Sequence[np.ndarray]) -> list[Any]:
    """Put per-example outputs computed batch by batch (bucketed) back in input order."""
    n = sum(len(idx) for idx in batch_indices)
    out: list[Any] = [None] * n
    for outputs, indices in zip(batch_outputs, batch_indices):
        for value, i in zip(outputs, indices):
            out[int(i)] = value
    return out

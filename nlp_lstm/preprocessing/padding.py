"""Right-padded, optionally length-bucketed batches for every pipeline, in plain NumPy (`batching.PaddedBatches`
serves them to Keras).

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


class LengthBatches:
    """Batches of right-padded examples, shuffled per epoch (`set_epoch`), bucketed by length when asked; plain
    NumPy (`PaddedBatches` is the same for Keras).

    Args:
        inputs: field name -> per-example values (one field gives a plain array as model input).
        targets: per-example targets (class ids or tag sequences), or None for prediction.
        length_field: the field whose length drives bucketing (default: the first input field).
        bucket_pool: bucketing sorts by length within shuffled pools of this many batches, so batches
            are length-homogeneous yet still random.
        max_tokens: with bucketing and without shuffling (prediction), a batch also stops before its padded
            size (rows x padded length) would pass this many tokens, so that long sequences come fewer per
            batch: a few long ones no longer pad a batch of `batch_size` rows to their length. None: rows only.
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
        max_tokens: int | None = None,
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
        self.max_tokens = max_tokens
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

    @classmethod
    def configured(
        cls,
        config,
        inputs: Mapping[str, Sequence[Any]],
        targets: Sequence[Any] | None = None,
        *,
        length_field: str,
        shuffle: bool = False,
        batch_size: int | None = None,
        seed: int = 0,
        max_tokens: int | None = None,
    ):
        """Batches with a pipeline config's batching settings (`preprocessing.bucket_by_length` and
        `pad_to_multiple`; `training.batch_size` unless `batch_size` is given)."""
        prep = config.preprocessing
        return cls(
            inputs,
            targets,
            batch_size=batch_size or config.training.batch_size,
            shuffle=shuffle,
            bucket_by_length=prep.bucket_by_length,
            pad_to_multiple=prep.pad_to_multiple,
            seed=seed,
            length_field=length_field,
            max_tokens=max_tokens,
        )

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
                if self.max_tokens is not None:
                    return self._token_budget_batches(order)
        batches = [order[i : i + self.batch_size] for i in range(0, n, self.batch_size)]
        if self.shuffle:
            batches = [batches[i] for i in self._rng.permutation(len(batches))]
        return batches

    def _token_budget_batches(self, order: np.ndarray) -> list[np.ndarray]:
        """`order` (ascending lengths) cut into batches of at most `batch_size` rows and `max_tokens` padded
        tokens (a longer sequence alone is a batch of its own)."""
        multiple = max(1, self.pad_to_multiple)
        padded = -(-self.lengths[order] // multiple) * multiple
        batches, start = [], 0
        for end in range(1, len(order) + 1):
            # the row just added is the batch's longest: the batch pads to its length
            if end - start > 1 and ((end - start) * padded[end - 1] > self.max_tokens or end - start > self.batch_size):
                batches.append(order[start : end - 1])
                start = end - 1
        if len(order):
            batches.append(order[start:])
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


def restore_order(batch_outputs: Sequence[Sequence[Any]], batch_indices: Sequence[np.ndarray]) -> list[Any]:
    """Put per-example outputs computed batch by batch (bucketed) back in input order."""
    n = sum(len(idx) for idx in batch_indices)
    out: list[Any] = [None] * n
    for outputs, indices in zip(batch_outputs, batch_indices):
        for value, i in zip(outputs, indices):
            out[int(i)] = value
    return out

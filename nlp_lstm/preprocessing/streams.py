"""Running text as batches for truncated backpropagation through time.

The text's unit ids form one stream (END after every line, and one before the first). It is cut into
`batch_size` rows of consecutive units, and each batch is the next `sequence_length` steps of every row:
row i of batch k+1 continues row i of batch k, so a model that carries its state from one batch to the
next reads every row as one text (Zaremba et al. 2014; Merity et al. 2018). The model reads units
0..n-2 and predicts 1..n-1: every unit but the first END is predicted exactly once per epoch; the end of
the last row is padded with 0, which the loss ignores.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import keras
import numpy as np


def unit_stream(id_lists: Sequence[Sequence[int]], end_id: int) -> np.ndarray:
    """END, then each line's ids followed by END, as one int32 array."""
    pieces = [np.asarray([end_id], dtype="int32")]
    for ids in id_lists:
        pieces.append(np.asarray([*ids, end_id], dtype="int32"))
    return np.concatenate(pieces)


class StreamBatches(keras.utils.PyDataset):
    """(inputs, targets) batches of shape (batch_size, <= sequence_length) over a unit stream.

    Args:
        stream: unit ids (`unit_stream`).
        batch_size: rows the stream is cut into (the model's carried states).
        sequence_length: steps per batch (the BPTT length); the last batch may be shorter.
    """

    def __init__(self, stream: np.ndarray, *, batch_size: int, sequence_length: int):
        super().__init__()
        stream = np.asarray(stream, dtype="int32")
        if len(stream) < 2:
            raise ValueError("a stream needs at least two units (one to read, one to predict)")
        self.batch_size = batch_size
        self.sequence_length = sequence_length
        predicted = len(stream) - 1
        self.row_length = math.ceil(predicted / batch_size)
        total = self.row_length * batch_size
        self.inputs = np.zeros(total, dtype="int32")
        self.targets = np.zeros(total, dtype="int32")
        self.inputs[:predicted], self.targets[:predicted] = stream[:-1], stream[1:]
        self.inputs = self.inputs.reshape(batch_size, self.row_length)
        self.targets = self.targets.reshape(batch_size, self.row_length)
        starts = range(0, self.row_length, sequence_length)
        self.lengths = np.asarray(
            [np.count_nonzero(self.targets[:, a : a + sequence_length]) for a in starts], dtype=np.int64
        )  # units predicted per batch (the runner's tokens/s counts them)

    @property
    def num_examples(self) -> int:
        return int(self.lengths.sum())

    def __len__(self) -> int:
        return math.ceil(self.row_length / self.sequence_length)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(index)
        window = slice(index * self.sequence_length, (index + 1) * self.sequence_length)
        return self.inputs[:, window], self.targets[:, window]

    def __iter__(self) -> Iterator:
        for index in range(len(self)):
            yield self[index]

    def as_keras_input(self):
        """What to pass to `fit`/`evaluate`: on TensorFlow a `tf.data` pipeline whose time dimension may vary
        (the last batch is shorter); other backends take the PyDataset as is."""
        if keras.backend.backend() != "tensorflow":
            return self
        import tensorflow as tf

        spec = tf.TensorSpec(shape=(self.batch_size, None), dtype=tf.int32)
        dataset = tf.data.Dataset.from_generator(self.__iter__, output_signature=(spec, spec))
        return dataset.apply(tf.data.experimental.assert_cardinality(len(self))).prefetch(2)

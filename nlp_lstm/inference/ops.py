"""The NumPy operations of a tagger's forward pass, each computing what its Keras layer computes (float32,
right-padded batches; `tests/test_inference.py` checks each against Keras)."""

from __future__ import annotations

import numpy as np

# What the Keras layers use for masked maxima and forbidden CRF moves (`nlp_lstm.models.layers`, `crf`).
MASKED_FILL = np.float32(-1e9)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.float32(0.5) * (np.tanh(np.float32(0.5) * x) + np.float32(1.0))


def reverse_within_length(sequences: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Each row's first `length` steps in reverse order, padding left in place (its own inverse)."""
    steps = np.arange(sequences.shape[1])[None, :]
    index = np.where(steps < lengths[:, None], lengths[:, None] - 1 - steps, steps)
    return np.take_along_axis(sequences, index[:, :, None], axis=1)


def recurrent(
    x: np.ndarray, lengths: np.ndarray, cell: str, kernel: np.ndarray, recurrent_kernel: np.ndarray, bias: np.ndarray
) -> np.ndarray:
    """A forward LSTM or GRU (Keras's gate order; GRU with `reset_after`) over right-padded rows: (batch,
    time, units) outputs, zeros after each row's length (the state stops there)."""
    batch, time = x.shape[:2]
    units = recurrent_kernel.shape[0]
    input_bias = bias if cell == "lstm" else bias[0]
    projected = (x.reshape(batch * time, -1) @ kernel + input_bias).reshape(batch, time, -1)
    h = np.zeros((batch, units), np.float32)
    c = np.zeros((batch, units), np.float32)
    outputs = np.zeros((batch, time, units), np.float32)
    for t in range(int(lengths.max(initial=0))):
        valid = (t < lengths)[:, None]
        if cell == "lstm":
            z = projected[:, t] + h @ recurrent_kernel
            i, f = sigmoid(z[:, :units]), sigmoid(z[:, units : 2 * units])
            g, o = np.tanh(z[:, 2 * units : 3 * units]), sigmoid(z[:, 3 * units :])
            c = np.where(valid, f * c + i * g, c)
            new_h = o * np.tanh(c)
        else:
            inner = h @ recurrent_kernel + bias[1]
            xz, xr, xh = np.split(projected[:, t], 3, axis=-1)
            rz, rr, rh = np.split(inner, 3, axis=-1)
            z, r = sigmoid(xz + rz), sigmoid(xr + rr)
            new_h = z * h + (1 - z) * np.tanh(xh + r * rh)
        h = np.where(valid, new_h, h)
        outputs[:, t] = np.where(valid, new_h, 0)
    return outputs


def bidirectional(x: np.ndarray, lengths: np.ndarray, cell: str, forward: list, backward: list | None) -> np.ndarray:
    """One encoder layer: the forward direction, and the backward one read in reverse within each row's
    length, concatenated; `forward`/`backward` are (kernel, recurrent kernel, bias)."""
    outputs = recurrent(x, lengths, cell, *forward)
    if backward is None:
        return outputs
    reversed_outputs = recurrent(reverse_within_length(x, lengths), lengths, cell, *backward)
    return np.concatenate([outputs, reverse_within_length(reversed_outputs, lengths)], axis=-1)


def conv1d_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Keras's `Conv1D(padding="same")`, stride 1: (rows, steps, in) -> (rows, steps, filters)."""
    width = kernel.shape[0]
    left = (width - 1) // 2
    padded = np.pad(x, ((0, 0), (left, width - 1 - left), (0, 0)))
    steps = x.shape[1]
    return sum(padded[:, j : j + steps] @ kernel[j] for j in range(width)) + bias


def viterbi(
    emissions: np.ndarray, lengths: np.ndarray, transitions: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """The best tag sequence of each row (batch, time), 0 at padding, as `CRF.decode` finds it (the same
    first-best tie-breaking)."""
    batch, time, tags = emissions.shape
    score = start[None, :] + emissions[:, 0]
    pointers = np.zeros((time, batch, tags), np.int64)
    identity = np.arange(tags)[None, :]
    for t in range(1, time):
        candidates = score[:, :, None] + transitions[None]
        valid = (t < lengths)[:, None]
        pointers[t] = np.where(valid, candidates.argmax(axis=1), identity)
        score = np.where(valid, candidates.max(axis=1) + emissions[:, t], score)
    path = np.zeros((batch, time), np.int64)
    tag = (score + end[None, :]).argmax(axis=1)
    for t in range(time - 1, -1, -1):
        path[:, t] = tag
        tag = np.take_along_axis(pointers[t], tag[:, None], axis=1)[:, 0]
    return np.where(np.arange(time)[None, :] < lengths[:, None], path, 0)

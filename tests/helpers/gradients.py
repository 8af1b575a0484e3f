"""The gradient of a scalar function of one array on whichever Keras backend the tests run."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np


def gradient(function: Callable, value: np.ndarray) -> np.ndarray:
    """d function(x) / dx at x = `value`, `function` written with keras.ops and returning a scalar."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        variable = tf.Variable(value)
        with tf.GradientTape() as tape:
            result = function(variable)
        return np.asarray(tape.gradient(result, variable))
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(function)(value))
    import torch

    tensor = torch.tensor(value, requires_grad=True)
    function(tensor).backward()
    return tensor.grad.numpy()

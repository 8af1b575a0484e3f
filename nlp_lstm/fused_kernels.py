"""Which recurrent settings let Keras run its fused (cuDNN) kernel, per backend. Plain Python, so that the
config can check `fused: require` without importing Keras (`nlp-lstm validate` stays fast)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

FUSABLE_CELLS = ("lstm", "gru")
VARIANT_CELLS = ("peephole_lstm", "cifg_lstm", "mlstm")  # nlp_lstm/models/cells.py implements them
CELLS = (*FUSABLE_CELLS, *VARIANT_CELLS)


def configured_backend() -> str:
    """The Keras backend a model would be built with, found as Keras finds it (`KERAS_BACKEND`, then
    `keras.json`, else TensorFlow), without importing Keras unless it already is."""
    if "keras" in sys.modules:
        return sys.modules["keras"].config.backend()
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = Path(os.environ.get("KERAS_HOME") or Path(os.path.expanduser("~")) / ".keras")
    try:
        return json.loads((home / "keras.json").read_text()).get("backend", "tensorflow")
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def length_aware_encoder(fused: str, bidirectional: bool, backend: str, gpu: bool) -> bool:
    """Whether an encoder runs length-aware (no mask reaches its recurrent layers) or as Keras's masked
    `Bidirectional`; both give the same outputs at every real token.

    `require` is length-aware and `off` masked. `auto` picks the faster. Forward-only layers stay length-aware:
    the two modes then differ only in the mask. For bidirectional layers, `benchmarks/rnn_throughput.py` on a
    2-core CPU measured length-aware against masked at 0.64x inference and 0.81-0.85x training speed on
    TensorFlow, and 0.74-0.95x inference and 0.97-1.00x training on JAX. TensorFlow's cuDNN kernel also takes
    the masks of right-padded batches on a GPU. JAX's fused LSTM and PyTorch's cuDNN path need no mask at all.
    So `auto` is masked on TensorFlow and on any CPU, and length-aware on a JAX or PyTorch GPU.
    """
    if fused != "auto":
        return fused == "require"
    if not bidirectional:
        return True
    return backend != "tensorflow" and gpu


def fused_kernel_blockers(settings, backend: str) -> list[str]:
    """Why Keras would run these recurrent layers in its generic loop rather than the fused cuDNN kernel
    on a GPU (empty when it can fuse). `settings` is a `RecurrentConfig` or anything with its fields."""
    blockers = []
    if settings.cell in VARIANT_CELLS:
        blockers.append(f"cell is {settings.cell}: only lstm and gru have a fused kernel")
    if settings.activation != "tanh":
        blockers.append(f"activation is {settings.activation!r} (the kernel needs 'tanh')")
    if settings.recurrent_activation != "sigmoid":
        blockers.append(f"recurrent_activation is {settings.recurrent_activation!r} (needs 'sigmoid')")
    if not settings.use_bias:
        blockers.append("use_bias is false")
    if settings.recurrent_dropout:
        blockers.append(f"recurrent_dropout is {settings.recurrent_dropout} (needs 0)")
    if settings.unroll:
        blockers.append("unroll is true")
    if settings.fused == "off" and backend != "tensorflow":
        blockers.append(f"fused is off: masked layers only fuse on TensorFlow, not on {backend}")
    if settings.cell == "gru" and backend == "jax":
        blockers.append("cell is gru: Keras's JAX backend has no fused GRU kernel")
    return blockers

"""Shared preprocessing: tokenizer, vocabulary, label encoding and padded/bucketed batching.

The names below load on first use: the config imports the vector-file helpers of this package, and
validating a config must not pay for Keras (batching) or spaCy (the tokenizer).
"""

from __future__ import annotations

import importlib

_HOMES = {
    "PaddedBatches": "batching", "pad_batch": "batching", "restore_order": "batching", "CharEncoder": "chars",
    "LabelEncoder": "labels", "TextEncoder": "text", "Token": "tokenizer", "Tokenizer": "tokenizer",
    "OOV": "vocab", "PAD": "vocab", "Vocabulary": "vocab",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)

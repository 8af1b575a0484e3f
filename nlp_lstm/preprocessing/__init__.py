"""Shared preprocessing: tokenizer, vocabulary, label encoding and padded/bucketed batching.

The names below load on first use: the config imports the vector-file helpers of this package, and
validating a config must not pay for Keras (batching) or spaCy (the tokenizer).
"""

from nlp_lstm.lazy import lazy_attributes

_HOMES = {
    "PaddedBatches": "batching",
    "pad_batch": "batching",
    "restore_order": "batching",
    "CharEncoder": "chars",
    "LabelEncoder": "labels",
    "TextEncoder": "text",
    "Token": "tokenizer",
    "Tokenizer": "tokenizer",
    "OOV": "vocab",
    "PAD": "vocab",
    "Vocabulary": "vocab",
}
__all__ = sorted(_HOMES)
__getattr__ = lazy_attributes(__name__, _HOMES)

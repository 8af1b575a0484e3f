"""Shared preprocessing: tokenizer, vocabulary, label encoding and padded/bucketed batching."""

from nlp_lstm.preprocessing.batching import PaddedBatches, pad_batch, restore_order
from nlp_lstm.preprocessing.chars import CharEncoder
from nlp_lstm.preprocessing.labels import LabelEncoder
from nlp_lstm.preprocessing.text import TextEncoder
from nlp_lstm.preprocessing.tokenizer import Token, Tokenizer
from nlp_lstm.preprocessing.vocab import OOV, PAD, Vocabulary

__all__ = [
    "CharEncoder", "PaddedBatches", "pad_batch", "restore_order", "LabelEncoder", "TextEncoder", "Token", "Tokenizer",
    "OOV", "PAD", "Vocabulary",
]

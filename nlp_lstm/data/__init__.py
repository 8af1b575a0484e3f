"""Readers for input files and the train/validation/test split logic."""

from nlp_lstm.data.readers import LabelledTexts, detect_format, open_text, read_labelled_texts, read_lines
from nlp_lstm.data.splits import split_off

__all__ = ["LabelledTexts", "detect_format", "open_text", "read_labelled_texts", "read_lines", "split_off"]

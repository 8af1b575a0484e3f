"""Model builders and the Keras layers, cells and losses they share.

Importing this package imports every module that registers a Keras object, so that a saved model of any
task loads (`import nlp_lstm` does it as soon as Keras is imported).
"""

from nlp_lstm.models import (  # noqa: F401  (register their objects)
    cells,
    crf,
    features,
    language_model,
    search,
    seq2seq,
    tagger,
)
from nlp_lstm.models.classifier import build_text_classifier
from nlp_lstm.models.encoders import RecurrentEncoder
from nlp_lstm.models.layers import AttentionPooling, CharCNN, MaskedPooling, WordDropout

__all__ = ["build_text_classifier", "RecurrentEncoder", "AttentionPooling", "CharCNN", "MaskedPooling", "WordDropout"]

"""Model builders and the Keras layers they share."""

from nlp_lstm.models.classifier import build_text_classifier
from nlp_lstm.models.encoders import RecurrentEncoder
from nlp_lstm.models.layers import AttentionPooling, CharCNN, MaskedPooling, WordDropout

__all__ = ["build_text_classifier", "RecurrentEncoder", "AttentionPooling", "CharCNN", "MaskedPooling", "WordDropout"]

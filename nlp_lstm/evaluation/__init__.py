"""Task metrics (scikit-learn for classification, seqeval for entities) and report figures."""

from nlp_lstm.evaluation.classification import ClassificationEvaluation, evaluate_classification, plot_confusion_matrix
from nlp_lstm.evaluation.tagging import TaggingEvaluation, evaluate_entities

__all__ = [
    "ClassificationEvaluation",
    "evaluate_classification",
    "plot_confusion_matrix",
    "TaggingEvaluation",
    "evaluate_entities",
]

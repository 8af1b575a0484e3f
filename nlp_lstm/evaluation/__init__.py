"""Task metrics (scikit-learn for classification) and report figures."""

from nlp_lstm.evaluation.classification import ClassificationEvaluation, evaluate_classification, plot_confusion_matrix

__all__ = ["ClassificationEvaluation", "evaluate_classification", "plot_confusion_matrix"]

"""Classification metrics: accuracy, macro-F1, per-class precision/recall/F1, confusion matrix."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score


@dataclass
class ClassificationEvaluation:
    metrics: dict[str, float]  # flat, MLflow-ready: accuracy, macro_f1, weighted_f1, <class>_precision...
    report: dict  # scikit-learn's classification_report(output_dict=True)
    report_text: str
    confusion: np.ndarray
    class_names: list[str]

    def save(self, directory: str | Path, prefix: str = "") -> dict[str, Path]:
        """Writes the text report and the confusion-matrix PNG; returns their paths."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        report_path = directory / f"{prefix}classification_report.txt"
        report_path.write_text(self.report_text, encoding="utf-8")
        figure_path = directory / f"{prefix}confusion_matrix.png"
        plot_confusion_matrix(self.confusion, self.class_names, figure_path)
        return {"report": report_path, "confusion_matrix": figure_path}


def _metric_name(label: str) -> str:
    """MLflow metric names allow letters, digits, _ - . / and spaces."""
    return re.sub(r"[^\w\-./ ]", "_", label)


def evaluate_classification(
    y_true: Sequence[str], y_pred: Sequence[str], class_names: Sequence[str]
) -> ClassificationEvaluation:
    """Accuracy, and per-class and macro/weighted precision, recall and F1 over the classes present in `y_true`:
    a class of the model that the evaluated data lacks has no recall or F1 to count (counting it as 0 would pull
    the macro average down for nothing the model got wrong). The report names the absent classes."""
    class_names = list(class_names)
    gold = set(y_true)
    present = [name for name in class_names if name in gold] or class_names
    absent = [name for name in class_names if name not in gold]
    report = classification_report(y_true, y_pred, labels=present, output_dict=True, zero_division=0)
    text = classification_report(y_true, y_pred, labels=present, digits=4, zero_division=0)
    if absent:
        predicted = {name: sum(p == name for p in y_pred) for name in absent}
        listed = ", ".join(f"{name} (predicted {count} times)" for name, count in predicted.items())
        text += f"\nnot in this data, so left out of the averages above: {listed}\n"
    metrics = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, labels=present, average="weighted", zero_division=0)),
    }
    for name in present:
        for stat in ("precision", "recall", "f1-score"):
            metrics[f"{_metric_name(name)}_{stat.replace('-score', '')}"] = float(report[name][stat])
    confusion = confusion_matrix(y_true, y_pred, labels=class_names)
    return ClassificationEvaluation(metrics, report, text, confusion, class_names)


def plot_confusion_matrix(confusion: np.ndarray, class_names: Sequence[str], path: str | Path) -> None:
    """Counts with row-normalised shading (rows = true class), saved as PNG."""
    from matplotlib.figure import Figure  # not pyplot: drawing a file must not change a notebook's backend

    n = len(class_names)
    rates = confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.6 * n + 2)
    fig = Figure(figsize=(size, size))
    ax = fig.subplots()
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels=class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), labels=class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            ax.text(
                j, i, str(confusion[i, j]), ha="center", va="center", color="white" if rates[i, j] > 0.5 else "black"
            )
    ax.set_title("Confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=100)

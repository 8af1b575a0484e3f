"""Entity-level precision/recall/F1 counted as the CoNLL `conlleval` script counts them (via seqeval).

Gold and predicted tags may be in any scheme: both are re-tagged in IOB2 through the conlleval chunking
of `preprocessing.tags`, then scored with seqeval's default (conlleval-compatible) mode. An entity counts
only when its type and both boundaries match.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nlp_lstm.preprocessing.tags import convert


@dataclass
class TaggingEvaluation:
    metrics: dict[str, float]  # f1, precision, recall, accuracy, and <TYPE>_f1/_precision/_recall/_support
    report: dict  # seqeval classification_report(output_dict=True)
    report_text: str

    def save(self, directory: str | Path, prefix: str = "") -> dict[str, Path]:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        text_path = directory / f"{prefix}entity_report.txt"
        text_path.write_text(self.report_text, encoding="utf-8")
        json_path = directory / f"{prefix}entity_report.json"
        json_path.write_text(json.dumps(self.report, indent=2, default=float), encoding="utf-8")
        return {"report": text_path, "report_json": json_path}


def evaluate_entities(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> TaggingEvaluation:
    """Micro-averaged entity scores overall and per type, plus token accuracy."""
    from seqeval.metrics import accuracy_score, classification_report, f1_score, precision_score, recall_score

    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    for i, (g, p) in enumerate(zip(gold, predicted)):
        if len(g) != len(p):
            raise ValueError(f"sentence {i}: {len(g)} gold tags but {len(p)} predicted")
    gold2 = [convert(tags, "iob2") for tags in gold]
    pred2 = [convert(tags, "iob2") for tags in predicted]
    metrics = {
        "f1": float(f1_score(gold2, pred2, zero_division=0)),
        "precision": float(precision_score(gold2, pred2, zero_division=0)),
        "recall": float(recall_score(gold2, pred2, zero_division=0)),
        "accuracy": float(accuracy_score(gold2, pred2)),
    }
    report = classification_report(gold2, pred2, output_dict=True, zero_division=0)
    if any(not name.endswith(" avg") for name in report):
        text = classification_report(gold2, pred2, digits=4, zero_division=0)
    else:  # seqeval's text report fails when no entity occurs at all
        text = "no entities in the gold or predicted tags\n"
    for name, row in report.items():
        if name.endswith(" avg"):
            continue
        metrics[f"{name}_f1"] = float(row["f1-score"])
        metrics[f"{name}_precision"] = float(row["precision"])
        metrics[f"{name}_recall"] = float(row["recall"])
        metrics[f"{name}_support"] = float(row["support"])
    return TaggingEvaluation(metrics, {k: {s: float(v) for s, v in row.items()} for k, row in report.items()}, text)

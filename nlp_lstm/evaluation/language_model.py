"""Language-model metrics from summed negative log-likelihoods: cross-entropy per unit, perplexity and bits
per character (which compares word, subword and character models on the same text)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path


@dataclass
class LanguageModelEvaluation:
    metrics: dict[str, float]  # cross_entropy (nats per unit), perplexity, bits_per_char, units, characters

    def save(self, directory: str | Path, prefix: str = "") -> dict[str, Path]:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{prefix}language_model.json"
        path.write_text(json.dumps(self.metrics, indent=2), encoding="utf-8")
        return {"report": path}


def language_model_metrics(total_nll: float, units: int, characters: int) -> LanguageModelEvaluation:
    """`total_nll`: natural-log loss summed over `units` predicted units of a text of `characters` characters
    (each line's end counted as one)."""
    if units <= 0:
        raise ValueError("no unit was predicted")
    cross_entropy = total_nll / units
    return LanguageModelEvaluation(
        {
            "cross_entropy": cross_entropy,
            "perplexity": math.exp(min(cross_entropy, 700.0)),  # exp overflows a float past ~709
            "bits_per_char": total_nll / math.log(2) / max(characters, 1),
            "units": float(units),
            "characters": float(characters),
        }
    )

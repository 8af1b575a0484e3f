"""Translation metrics with sacreBLEU (corpus BLEU and chrF on detokenized text, with their signatures),
sample translations and attention heatmaps."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class AttentionExample:
    source_tokens: list[str]
    target_tokens: list[str]
    weights: np.ndarray  # (target tokens incl. EOS, source tokens)


@dataclass
class TranslationEvaluation:
    metrics: dict[str, float]  # bleu, chrf, bleu_brevity_penalty, bleu_length_ratio
    signatures: dict[str, str]  # sacreBLEU signature of each metric: how to reproduce the number
    scores: dict[str, str]  # sacreBLEU's own one-line summaries
    samples: list[tuple[str, str, str]]  # (source, reference, hypothesis)
    attention: list[AttentionExample] = field(default_factory=list)

    def save(self, directory: str | Path, prefix: str = "") -> dict[str, Path]:
        """Writes the scores with signatures (JSON), sample translations (TSV) and attention heatmaps (PNG)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        paths = {"scores": directory / f"{prefix}sacrebleu.json", "samples": directory / f"{prefix}translations.tsv"}
        paths["scores"].write_text(
            json.dumps(
                {"metrics": self.metrics, "scores": self.scores, "signatures": self.signatures},
                indent=2,
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
        with open(paths["samples"], "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
            writer.writerow(["source", "reference", "hypothesis"])
            writer.writerows(self.samples)
        if self.attention:
            paths["attention"] = directory / f"{prefix}attention.png"
            plot_attention(self.attention, paths["attention"])
        return paths


def score_translations(hypotheses: Sequence[str], references: Sequence[str], *, lowercase: bool = False):
    """Corpus BLEU and chrF of detokenized hypotheses against raw references (one reference each).

    Returns (metrics, signatures, score lines). `lowercase` is for models trained on lowercased targets;
    it shows in the signature (`case:lc`).
    """
    from sacrebleu.metrics import BLEU, CHRF

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    bleu_metric, chrf_metric = BLEU(lowercase=lowercase), CHRF(lowercase=lowercase)
    bleu = bleu_metric.corpus_score(list(hypotheses), [list(references)])
    chrf = chrf_metric.corpus_score(list(hypotheses), [list(references)])
    metrics = {
        "bleu": float(bleu.score),
        "chrf": float(chrf.score),
        "bleu_brevity_penalty": float(bleu.bp),
        "bleu_length_ratio": float(bleu.ratio),
    }
    signatures = {"bleu": str(bleu_metric.get_signature()), "chrf": str(chrf_metric.get_signature())}
    return metrics, signatures, {"bleu": str(bleu), "chrf": str(chrf)}


def plot_attention(examples: Sequence[AttentionExample], path: str | Path) -> None:
    """One heatmap per sentence: target tokens (rows) against source tokens (columns)."""
    from matplotlib.figure import Figure  # not pyplot: drawing a file must not change a notebook's backend

    fig = Figure(figsize=(5.0 * len(examples), 5.0))
    axes = fig.subplots(1, len(examples), squeeze=False)
    for ax, example in zip(axes[0], examples):
        ax.imshow(example.weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(example.source_tokens)), labels=example.source_tokens, rotation=60, ha="right")
        ax.set_yticks(range(len(example.target_tokens)), labels=example.target_tokens)
        ax.set_xlabel("source")
        ax.set_ylabel("translation")
    fig.suptitle("Attention weights")
    fig.tight_layout()
    fig.savefig(path, dpi=100)

"""Which way a metric is better: one answer for model selection in sweeps and for sorting comparisons."""

from __future__ import annotations

# Metrics that are better smaller; anything else (accuracy, F1, BLEU, chrF, precision...) is better larger.
_SMALLER_IS_BETTER = ("loss", "perplexity", "bits_per_char", "cross_entropy", "error", "mae", "mse", "seconds")


def larger_is_better(metric: str, mode: str = "auto") -> bool:
    """As `training.early_stopping.mode` says; for "auto", smaller is better for losses, errors, perplexity
    and times, larger for everything else."""
    if mode != "auto":
        return mode == "max"
    return not any(word in metric for word in _SMALLER_IS_BETTER)

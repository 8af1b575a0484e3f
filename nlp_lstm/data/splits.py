"""Seeded (stratified where possible) hold-out splits, via scikit-learn."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence


def split_off(
    n_items: int, fraction: float, *, seed: int, stratify_by: Sequence[str] | None = None
) -> tuple[list[int], list[int]]:
    """Indices (kept, held_out) with `fraction` of the items held out.

    Stratifies by `stratify_by` when every class has at least two members, so tiny classes do not break
    the split; otherwise falls back to a plain shuffled split with a warning.
    """
    from sklearn.model_selection import train_test_split  # a second to import: not when validating a config

    indices = list(range(n_items))
    stratify = None
    if stratify_by is not None:
        counts = Counter(stratify_by)
        n_held = max(1, round(fraction * n_items))
        if min(counts.values()) >= 2 and n_held >= len(counts) and n_items - n_held >= len(counts):
            stratify = list(stratify_by)
        else:
            warnings.warn("some class is too small to stratify the split; using a plain random split", stacklevel=2)
    kept, held = train_test_split(indices, test_size=fraction, random_state=seed, shuffle=True, stratify=stratify)
    return sorted(kept), sorted(held)

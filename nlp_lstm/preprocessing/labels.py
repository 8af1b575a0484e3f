"""Label encoding: class names <-> contiguous ids, saved with the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from nlp_lstm.errors import DataError


class LabelEncoder:
    """Sorted class names mapped to 0..n-1 (numeric-looking labels sort numerically)."""

    def __init__(self, classes: Sequence[str]):
        self.classes = list(classes)
        self.index = {c: i for i, c in enumerate(self.classes)}

    @classmethod
    def fit(cls, labels: Iterable[str]) -> "LabelEncoder":
        unique = set(labels)
        numeric = all(_is_number(u) for u in unique)
        return cls(sorted(unique, key=(lambda u: (float(u), u)) if numeric else None))

    def __len__(self) -> int:
        return len(self.classes)

    def encode(self, labels: Sequence[str], source: str = "", lines: Sequence[int] | None = None) -> np.ndarray:
        ids = np.empty(len(labels), dtype=np.int32)
        for i, label in enumerate(labels):
            try:
                ids[i] = self.index[label]
            except KeyError:
                where = f"{source}:{lines[i]}: " if source and lines else (f"{source}: " if source else "")
                raise DataError(
                    f"{where}label {label!r} was not seen in training (known: {', '.join(self.classes)})"
                ) from None
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.classes[int(i)] for i in ids]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"classes": self.classes}, indent=2, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "LabelEncoder":
        return cls(json.loads(Path(path).read_text(encoding="utf-8"))["classes"])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True

"""Label encoding: class names <-> contiguous ids, saved with the model."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from nlp_lstm.errors import DataError, excerpt
from nlp_lstm.files import read_json
from nlp_lstm.preprocessing.tags import split_tag


class LabelEncoder:
    """Sorted class names mapped to 0..n-1 (numeric-looking labels sort numerically)."""

    def __init__(self, classes: Sequence[str]):
        self.classes = list(classes)
        self.index = {c: i for i, c in enumerate(self.classes)}

    @classmethod
    def fit(cls, labels: Iterable[str]) -> LabelEncoder:
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
                    f"{where}label {excerpt(label)} was not seen in training (known: {', '.join(self.classes)})"
                ) from None
        return ids

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.classes[int(i)] for i in ids]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"classes": self.classes}, indent=2, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> LabelEncoder:
        return cls(read_json(path)["classes"])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class TagEncoder:
    """Entity tags in one scheme <-> ids for a sequence labeller.

    Model tag indices run 0..n-1 ('O' first, then types alphabetically, each type's prefixes in scheme
    order). Encoded targets are index + 1 so that 0 marks padding: the loss masks where the target is 0.
    """

    def __init__(self, tags: Sequence[str], scheme: str):
        self.tags = list(tags)
        self.scheme = scheme
        self.index = {t: i for i, t in enumerate(self.tags)}

    @classmethod
    def fit(cls, tag_sequences: Iterable[Sequence[str]], scheme: str) -> TagEncoder:
        prefixes = {"iob1": "BI", "iob2": "BI", "iobes": "BIES"}[scheme]
        types = sorted({split_tag(t)[1] for tags in tag_sequences for t in tags} - {""})
        return cls(["O"] + [f"{p}-{kind}" for kind in types for p in prefixes], scheme)

    def __len__(self) -> int:
        return len(self.tags)

    @property
    def entity_types(self) -> list[str]:
        return sorted({t.partition("-")[2] for t in self.tags} - {""})

    def encode(
        self, tag_sequences: Sequence[Sequence[str]], source: str = "", lines: Sequence[int] | None = None
    ) -> list[np.ndarray]:
        """Targets (index + 1) per sequence; a tag not seen in training is an error naming its line."""
        encoded = []
        for i, tags in enumerate(tag_sequences):
            try:
                encoded.append(np.fromiter((self.index[t] + 1 for t in tags), dtype=np.int32, count=len(tags)))
            except KeyError:
                bad = next(j for j, t in enumerate(tags) if t not in self.index)
                where = f"{source}:{lines[i] + bad}: " if source and lines else ""
                raise DataError(
                    f"{where}tag {excerpt(tags[bad])} was not seen in training (known: {', '.join(self.tags)})"
                ) from None
        return encoded

    def decode(self, indices: Iterable[int]) -> list[str]:
        """Model tag indices (not targets) -> tags."""
        return [self.tags[int(i)] for i in indices]

    def save(self, path: str | Path) -> None:
        Path(path).write_text(
            json.dumps({"scheme": self.scheme, "tags": self.tags}, indent=2, ensure_ascii=False), encoding="utf-8"
        )

    @classmethod
    def load(cls, path: str | Path) -> TagEncoder:
        saved = read_json(path)
        return cls(saved["tags"], saved["scheme"])

"""Token vocabulary with reserved padding (id 0) and out-of-vocabulary (id 1) entries."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from nlp_lstm.errors import ModelDirError

PAD = "<pad>"
OOV = "<unk>"


class Vocabulary:
    """Maps tokens to ids. Ids 0 and 1 are always padding and OOV; extra specials (e.g. BOS/EOS) follow."""

    pad_id = 0
    oov_id = 1

    def __init__(self, tokens: Sequence[str]):
        if list(tokens[:2]) != [PAD, OOV]:
            raise ValueError(f"a vocabulary starts with {PAD!r} and {OOV!r}")
        self.tokens = list(tokens)
        self.index = {token: i for i, token in enumerate(self.tokens)}
        if len(self.index) != len(self.tokens):
            raise ValueError("duplicate tokens in vocabulary")

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        *,
        min_frequency: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (),
        always: Iterable[str] = (),
    ) -> Vocabulary:
        """`from_counts` of the tokens in `token_lists` (read once: a generator over a file will do)."""
        counts = Counter(token for tokens in token_lists for token in tokens)
        return cls.from_counts(counts, min_frequency=min_frequency, max_size=max_size, specials=specials, always=always)

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, int],
        *,
        min_frequency: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (),
        always: Iterable[str] = (),
    ) -> Vocabulary:
        """Most frequent tokens first (ties broken alphabetically, so builds are reproducible), then the
        `always` tokens that frequency left out."""
        reserved = [PAD, OOV, *specials]
        ranked = sorted(
            (t for t, c in counts.items() if c >= min_frequency and t not in reserved), key=lambda t: (-counts[t], t)
        )
        if max_size is not None:
            ranked = ranked[:max_size]
        known = set(reserved) | set(ranked)
        return cls(reserved + ranked + [t for t in dict.fromkeys(always) if t not in known])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self.index

    def encode(self, tokens: Sequence[str]) -> list[int]:
        oov = self.oov_id
        return [self.index.get(token, oov) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[i] for i in ids]

    def save(self, path: str | Path) -> None:
        """One token per line; the line number (from 0) is the id."""
        Path(path).write_text("\n".join(self.tokens) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        path = Path(path)
        if not path.exists():
            raise ModelDirError(f"{path}: missing (the vocabulary); the folder is incomplete")
        text = path.read_text(encoding="utf-8")
        return cls(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"))

"""Characters of each token -> ids, for character-level word features (char CNN / char BiLSTM)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from nlp_lstm.errors import ModelDirError
from nlp_lstm.files import read_json
from nlp_lstm.preprocessing.vocab import Vocabulary


class CharEncoder:
    """Maps each token to its character ids (0 = padding, 1 = unknown character), cut at `max_word_length`.

    A text with no tokens is encoded as one unknown-character token, matching `TextEncoder`, so word and
    character inputs always have the same length.
    """

    def __init__(self, vocab: Vocabulary, max_word_length: int = 20):
        self.vocab = vocab
        self.max_word_length = max_word_length

    @classmethod
    def fit(
        cls, token_lists: Iterable[Sequence[str]], *, min_frequency: int = 1, max_word_length: int = 20
    ) -> CharEncoder:
        """`fit_counts` over the characters of `token_lists`' tokens."""
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update("".join(tokens))
        return cls.fit_counts(counts, min_frequency=min_frequency, max_word_length=max_word_length)

    @classmethod
    def fit_counts(cls, counts: Mapping[str, int], *, min_frequency: int = 1, max_word_length: int = 20) -> CharEncoder:
        """The character vocabulary from character counts (counted over a corpus read a part at a time)."""
        return cls(Vocabulary.from_counts(counts, min_frequency=min_frequency), max_word_length)

    def encode(self, token_lists: Sequence[Sequence[str]]) -> list[list[list[int]]]:
        limit, oov = self.max_word_length, [self.vocab.oov_id]
        return [[self.vocab.encode(token[:limit]) or oov for token in tokens] or [oov] for tokens in token_lists]

    def save(self, directory: str | Path, prefix: str = "char_") -> None:
        directory = Path(directory)
        self.vocab.save(directory / f"{prefix}vocab.txt")
        (directory / f"{prefix}settings.json").write_text(json.dumps({"max_word_length": self.max_word_length}))

    @classmethod
    def load(cls, directory: str | Path, prefix: str = "char_") -> CharEncoder:
        directory = Path(directory)
        settings = directory / f"{prefix}settings.json"
        if not settings.exists():
            raise ModelDirError(f"{settings}: missing (the character settings); the folder is incomplete")
        return cls(Vocabulary.load(directory / f"{prefix}vocab.txt"), **read_json(settings))

"""Characters of each token -> ids, for character-level word features (char CNN / char BiLSTM)."""

from __future__ import annotations

import json
from collections.abc import Sequence
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
        cls, token_lists: Sequence[Sequence[str]], *, min_frequency: int = 1, max_word_length: int = 20
    ) -> CharEncoder:
        return cls(
            Vocabulary.build((token for tokens in token_lists for token in tokens), min_frequency=min_frequency),
            max_word_length,
        )

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

"""Text -> token ids: a tokenizer and a vocabulary saved together (one per language side)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from nlp_lstm.errors import ModelDirError
from nlp_lstm.preprocessing.tokenizer import Tokenizer
from nlp_lstm.preprocessing.vocab import Vocabulary


class TextEncoder:
    """Tokenizes raw texts and maps tokens to ids; an empty text becomes a single OOV token."""

    def __init__(self, tokenizer: Tokenizer, vocab: Vocabulary):
        self.tokenizer = tokenizer
        self.vocab = vocab

    @classmethod
    def fit(
        cls,
        token_lists: Sequence[Sequence[str]],
        tokenizer: Tokenizer,
        *,
        min_frequency: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (),
    ) -> "TextEncoder":
        vocab = Vocabulary.build(token_lists, min_frequency=min_frequency, max_size=max_size, specials=specials)
        return cls(tokenizer, vocab)

    def encode_tokens(self, token_lists: Sequence[Sequence[str]]) -> list[list[int]]:
        oov = [self.vocab.oov_id]
        return [self.vocab.encode(tokens) or oov for tokens in token_lists]

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return self.encode_tokens(self.tokenizer.tokenize(texts))

    def save(self, directory: str | Path, prefix: str = "") -> None:
        directory = Path(directory)
        self.vocab.save(directory / f"{prefix}vocab.txt")
        (directory / f"{prefix}tokenizer.json").write_text(json.dumps(self.tokenizer.get_config(), indent=2))

    @classmethod
    def load(cls, directory: str | Path, prefix: str = "") -> "TextEncoder":
        directory = Path(directory)
        settings = directory / f"{prefix}tokenizer.json"
        if not settings.exists():
            raise ModelDirError(f"tokenizer settings missing: {settings}")
        tokenizer = Tokenizer.from_config(json.loads(settings.read_text()))
        return cls(tokenizer, Vocabulary.load(directory / f"{prefix}vocab.txt"))

"""Tokenization with spaCy blank pipelines (rule-based, offline) plus token normalisation.

Texts are tokenized as written, then each token is normalised (Unicode form, case, digits). That keeps
the character offsets of every token valid in the original text, which entity extraction relies on.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from nlp_lstm.errors import NlpLstmError

_DIGIT = re.compile(r"\d")
JOINER = "\uffed"  # marks a token written without a space before it (OpenNMT's joiner, ￭)


@dataclass(frozen=True)
class Token:
    text: str  # as written in the input
    start: int  # character offsets into the input
    end: int


@dataclass
class Tokenizer:
    """spaCy blank-pipeline tokenizer with normalisation and truncation. Serialises as its settings."""

    language: str = "en"
    lowercase: bool = True
    unicode_normalization: str = "NFKC"
    replace_digits: bool = False
    max_length: int | None = None

    @cached_property
    def _nlp(self):
        import spacy

        try:
            return spacy.blank(self.language)
        except Exception as exc:
            raise NlpLstmError(f"cannot create a spaCy tokenizer for language {self.language!r}: {exc}") from None

    def normalize(self, token: str) -> str:
        if self.unicode_normalization != "none":
            token = unicodedata.normalize(self.unicode_normalization, token)
        if self.lowercase:
            token = token.lower()
        if self.replace_digits:
            token = _DIGIT.sub("0", token)
        return token

    def tokenize_with_offsets(self, texts: Iterable[str], batch_size: int = 1000) -> list[list[Token]]:
        """Tokens with their character spans in the raw text (whitespace tokens dropped, not truncated)."""
        return [
            [Token(t.text, t.idx, t.idx + len(t.text)) for t in doc if not t.is_space]
            for doc in self._nlp.tokenizer.pipe((str(t) for t in texts), batch_size=batch_size)
        ]

    def tokenize(self, texts: Sequence[str], batch_size: int = 1000, *, truncate: bool = True) -> list[list[str]]:
        """Normalised tokens for each text, cut to `max_length` unless `truncate` is false."""
        limit = self.max_length if truncate else None
        return [
            [self.normalize(t.text) for t in doc if not t.is_space][:limit]
            for doc in self._nlp.tokenizer.pipe((str(t) for t in texts), batch_size=batch_size)
        ]

    def tokenize_with_joiners(
        self, texts: Sequence[str], batch_size: int = 1000, *, truncate: bool = True
    ) -> list[list[str]]:
        """Normalised tokens, each prefixed with JOINER when the text had no space before it.

        Generated text is then detokenized exactly (`detokenize`), in any language, where rule-based
        detokenizers guess ("T - shirt", "do n't").
        """
        marked = []
        for tokens in self.tokenize_with_offsets(texts, batch_size):
            pieces = []
            for i, token in enumerate(tokens):
                attached = i > 0 and token.start == tokens[i - 1].end
                pieces.append((JOINER if attached else "") + self.normalize(token.text))
            marked.append(pieces[: self.max_length] if truncate else pieces)
        return marked

    def normalize_tokens(self, tokens: Sequence[str]) -> list[str]:
        """Normalise (and truncate) an already tokenized text."""
        return [self.normalize(t) for t in tokens][: self.max_length]

    def get_config(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Tokenizer:
        return cls(**config)


def detokenize(tokens: Iterable[str]) -> str:
    """Inverse of `Tokenizer.tokenize_with_joiners`: a space between tokens unless the next is joined."""
    out = []
    for i, token in enumerate(tokens):
        if token.startswith(JOINER):
            out.append(token[len(JOINER) :])
        else:
            out.append(token if i == 0 else " " + token)
    return "".join(out).strip()

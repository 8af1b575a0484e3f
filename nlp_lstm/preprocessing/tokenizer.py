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
        """The tokenizer saved settings describe; settings of another kind, or a language spaCy does not have,
        are a ValueError naming the setting (a damaged file, found when it is loaded, not at the first text)."""
        if not isinstance(config, dict):
            raise ValueError(f"expected an object of settings, got {type(config).__name__}")
        unknown = sorted(set(config) - set(cls.__dataclass_fields__))
        if unknown:
            raise ValueError(f"unknown settings {unknown}")
        tokenizer = cls(**config)
        if not isinstance(tokenizer.language, str):
            raise ValueError(f"language must be a spaCy language code, got {tokenizer.language!r}")
        for flag in ("lowercase", "replace_digits"):
            if not isinstance(getattr(tokenizer, flag), bool):
                raise ValueError(f"{flag} must be true or false, got {getattr(tokenizer, flag)!r}")
        if tokenizer.unicode_normalization not in ("NFC", "NFKC", "NFD", "NFKD", "none"):
            raise ValueError(f"unknown unicode_normalization {tokenizer.unicode_normalization!r}")
        length = tokenizer.max_length
        if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 1):
            raise ValueError(f"max_length must be a whole number >= 1 or null, got {length!r}")
        if not _spacy_has_language(tokenizer.language):
            raise ValueError(f"language {tokenizer.language!r} is not one spaCy has")
        return tokenizer


def _spacy_has_language(code: str) -> bool:
    """Whether spaCy knows the language `code`, without building its tokenizer (which for some languages needs
    another package, only wanted when raw text is tokenized)."""
    import importlib.util

    if code.isidentifier() and importlib.util.find_spec(f"spacy.lang.{code}") is not None:
        return True
    import spacy.util

    try:
        spacy.util.get_lang_class(code)  # a language another package registers
    except Exception:
        return False
    return True


def detokenize(tokens: Iterable[str]) -> str:
    """Inverse of `Tokenizer.tokenize_with_joiners`: a space between tokens unless the next is joined."""
    out = []
    for i, token in enumerate(tokens):
        if token.startswith(JOINER):
            out.append(token[len(JOINER) :])
        else:
            out.append(token if i == 0 else " " + token)
    return "".join(out).strip()

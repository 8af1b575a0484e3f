"""Text -> token ids: a tokenizer, optional subword pieces and a vocabulary saved together (one per
language side)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from nlp_lstm.errors import ModelDirError
from nlp_lstm.files import read_json
from nlp_lstm.preprocessing.subwords import SubwordSegmenter
from nlp_lstm.preprocessing.tokenizer import Tokenizer
from nlp_lstm.preprocessing.vocab import Vocabulary


class TextEncoder:
    """Tokenizes raw texts (into subword pieces when it has a segmenter) and maps them to ids; an empty
    text becomes a single OOV token. `tokenizer.max_length` counts what the model sees: pieces, if any."""

    def __init__(self, tokenizer: Tokenizer, vocab: Vocabulary, subwords: SubwordSegmenter | None = None):
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.subwords = subwords

    @classmethod
    def fit(cls, token_lists: Iterable[Sequence[str]], tokenizer: Tokenizer, **settings: Any) -> TextEncoder:
        """`fit_counts` over `token_lists`: what the model sees (already segmented when `subwords` is given)."""
        return cls.fit_counts(Counter(token for tokens in token_lists for token in tokens), tokenizer, **settings)

    @classmethod
    def fit_counts(
        cls,
        counts: Mapping[str, int],
        tokenizer: Tokenizer,
        *,
        min_frequency: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (),
        subwords: SubwordSegmenter | None = None,
        extra_tokens: Sequence[str] = (),
    ) -> TextEncoder:
        """The vocabulary from token counts (counted over a corpus read a part at a time). With subwords, every
        character piece is kept too, so no word written in known characters is ever unknown. `extra_tokens`
        join the vocabulary whatever their training frequency (pretrained words)."""
        always = [*(subwords.character_pieces() if subwords is not None else ()), *extra_tokens]
        vocab = Vocabulary.from_counts(
            counts, min_frequency=min_frequency, max_size=max_size, specials=specials, always=always
        )
        return cls(tokenizer, vocab, subwords)

    def segment(self, token_lists: Sequence[Sequence[str]]) -> list[list[str]]:
        """Tokens -> subword pieces (unchanged without a segmenter)."""
        if self.subwords is None:
            return [list(tokens) for tokens in token_lists]
        return self.subwords.segment(token_lists)

    def units(self, texts: Sequence[str], *, truncate: bool = True) -> list[list[str]]:
        """The tokens or pieces the model sees for each text, cut to max_length unless `truncate` is false."""
        if self.subwords is None:
            return self.tokenizer.tokenize(texts, truncate=truncate)
        limit = self.tokenizer.max_length if truncate else None
        return [pieces[:limit] for pieces in self.segment(self.tokenizer.tokenize(texts, truncate=False))]

    def encode_tokens(self, token_lists: Sequence[Sequence[str]]) -> list[list[int]]:
        oov = [self.vocab.oov_id]
        return [self.vocab.encode(tokens) or oov for tokens in token_lists]

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return self.encode_tokens(self.units(texts))

    def save(self, directory: str | Path, prefix: str = "") -> None:
        directory = Path(directory)
        self.vocab.save(directory / f"{prefix}vocab.txt")
        (directory / f"{prefix}tokenizer.json").write_text(json.dumps(self.tokenizer.get_config(), indent=2))
        if self.subwords is not None:
            self.subwords.save(directory / f"{prefix}subwords.model")

    @classmethod
    def load(cls, directory: str | Path, prefix: str = "") -> TextEncoder:
        directory = Path(directory)
        settings = directory / f"{prefix}tokenizer.json"
        if not settings.exists():
            raise ModelDirError(f"{settings}: missing (the tokenizer settings); the folder is incomplete")
        try:
            tokenizer = Tokenizer.from_config(read_json(settings))
        except (TypeError, ValueError) as exc:
            raise ModelDirError(f"{settings}: {exc}; the folder is damaged") from None
        pieces = directory / f"{prefix}subwords.model"
        subwords = SubwordSegmenter.load(pieces) if pieces.exists() else None
        return cls(tokenizer, Vocabulary.load(directory / f"{prefix}vocab.txt"), subwords)

"""Sentence pairs -> id sequences for an encoder-decoder, and generated ids -> readable text.

The source side is tokenized like every other pipeline's text. The target side keeps joiner marks
(`Tokenizer.tokenize_with_joiners`) so that hypotheses detokenize exactly, and gets BOS/EOS: the decoder
reads `BOS w1 .. wn` and predicts `w1 .. wn EOS`. With subwords enabled for a side, its words are split into
pieces learned from the training side (`SubwordSegmenter`), and lengths count pieces.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlp_lstm.data.streamed import SLICE_EXAMPLES, chunked, reiterable
from nlp_lstm.errors import ModelDirError
from nlp_lstm.files import read_json
from nlp_lstm.preprocessing.subwords import SubwordSegmenter
from nlp_lstm.preprocessing.text import TextEncoder
from nlp_lstm.preprocessing.tokenizer import Tokenizer, detokenize

BOS = "<s>"
EOS = "</s>"


@dataclass
class EncodedPairs:
    source_ids: list[list[int]]
    target_in: list[list[int]]  # BOS + target
    target_out: list[list[int]]  # target + EOS
    kept: list[int]  # indices of the pairs kept (long pairs may be filtered out)


def _tokenize_pairs(source_tok: Tokenizer, target_tok: Tokenizer, sources: Sequence[str], targets: Sequence[str]):
    """Untruncated words of both sides (the length policy decides what happens to long ones)."""
    return source_tok.tokenize(sources, truncate=False), target_tok.tokenize_with_joiners(targets, truncate=False)


def _words(tokenize, texts: Iterable[str]) -> Iterator[list[str]]:
    """Untruncated words of each text, tokenized a slice at a time as they are read."""
    for chunk in chunked(texts, SLICE_EXAMPLES):
        yield from tokenize(chunk, truncate=False)


def _train_subwords(token_lists, side, key: str) -> SubwordSegmenter | None:
    """The side's segmenter learned from its training words, or None when subwords are off."""
    if not side.subwords.enabled:
        return None
    return SubwordSegmenter.train(
        token_lists,
        method=side.subwords.method,
        vocab_size=side.subwords.vocab_size,
        setting=f"preprocessing.{key}.subwords.vocab_size",
    )


def _kept(source_tokens, target_tokens, source_max: int, target_max: int, policy: str) -> list[int]:
    """Indices of the pairs a length policy keeps: all ("truncate"), or those within both limits ("filter")."""
    if policy == "truncate":
        return list(range(len(source_tokens)))
    return [
        i for i, (s, t) in enumerate(zip(source_tokens, target_tokens)) if len(s) <= source_max and len(t) <= target_max
    ]


class PairEncoder:
    """Source and target tokenizers with their own vocabularies; saved with the model."""

    def __init__(self, source: TextEncoder, target: TextEncoder, long_pairs: str = "filter"):
        self.source = source
        self.target = target
        self.long_pairs = long_pairs

    # ------------------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls, sources: Iterable[str], targets: Iterable[str], source_lang: str, target_lang: str, preprocessing
    ) -> PairEncoder:
        """Build both vocabularies from the training pairs that survive the length policy. The pairs are read a
        slice at a time (`sources` and `targets` may be a streamed split's columns, which reread its file): for
        a side's subword pieces, when enabled, then for the vocabularies; only counts are kept."""
        sources, targets = reiterable(sources, "sources"), reiterable(targets, "targets")
        norm = preprocessing.unicode_normalization
        sides = (preprocessing.source, preprocessing.target)
        source_tok, target_tok = (
            Tokenizer(language=lang, lowercase=side.lowercase, unicode_normalization=norm, max_length=side.max_length)
            for lang, side in zip((source_lang, target_lang), sides)
        )
        source_subwords = _train_subwords(_words(source_tok.tokenize, sources), sides[0], "source")
        target_subwords = _train_subwords(_words(target_tok.tokenize_with_joiners, targets), sides[1], "target")
        source_max, target_max = source_tok.max_length, target_tok.max_length
        source_counts: Counter[str] = Counter()
        target_counts: Counter[str] = Counter()
        for chunk in chunked(zip(sources, targets), SLICE_EXAMPLES):
            source_words, target_words = _tokenize_pairs(
                source_tok, target_tok, [s for s, _ in chunk], [t for _, t in chunk]
            )
            source_tokens = source_subwords.segment(source_words) if source_subwords else source_words
            target_tokens = target_subwords.segment(target_words) if target_subwords else target_words
            for i in _kept(source_tokens, target_tokens, source_max, target_max, preprocessing.long_pairs):
                source_counts.update(source_tokens[i][:source_max])
                target_counts.update(target_tokens[i][:target_max])
        source = TextEncoder.fit_counts(
            source_counts,
            source_tok,
            min_frequency=sides[0].vocab.min_frequency,
            max_size=sides[0].vocab.max_size,
            subwords=source_subwords,
        )
        target = TextEncoder.fit_counts(
            target_counts,
            target_tok,
            specials=(BOS, EOS),
            min_frequency=sides[1].vocab.min_frequency,
            max_size=sides[1].vocab.max_size,
            subwords=target_subwords,
        )
        return cls(source, target, preprocessing.long_pairs)

    # ----------------------------------------------------------------------------- encoding
    @property
    def bos_id(self) -> int:
        return self.target.vocab.index[BOS]

    @property
    def eos_id(self) -> int:
        return self.target.vocab.index[EOS]

    def encode_sources(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids, cut at source.max_length; an empty text is one OOV token (never an empty row)."""
        return self.source.encode(texts)

    def source_truncated(self, texts: Sequence[str]) -> list[bool]:
        """Whether each source has more tokens (subword pieces, if any) than source.max_length."""
        return [len(units) > self.source.tokenizer.max_length for units in self.source.units(texts, truncate=False)]

    def encode_pairs(
        self, sources: Sequence[str], targets: Sequence[str], *, apply_length_policy: bool
    ) -> EncodedPairs:
        """Ids for teacher forcing. With `apply_length_policy`, long pairs are filtered or truncated as
        configured (training); otherwise every pair is kept, cut to the maximum lengths."""
        source_words, target_words = _tokenize_pairs(self.source.tokenizer, self.target.tokenizer, sources, targets)
        source_tokens, target_tokens = self.source.segment(source_words), self.target.segment(target_words)
        source_max, target_max = self.source.tokenizer.max_length, self.target.tokenizer.max_length
        policy = self.long_pairs if apply_length_policy else "truncate"
        kept = _kept(source_tokens, target_tokens, source_max, target_max, policy)
        source_ids = self.source.encode_tokens([source_tokens[i][:source_max] for i in kept])
        bos, eos = self.bos_id, self.eos_id
        target_ids = [self.target.vocab.encode(target_tokens[i][:target_max]) for i in kept]
        return EncodedPairs(
            source_ids=source_ids,
            target_in=[[bos, *ids] for ids in target_ids],
            target_out=[[*ids, eos] for ids in target_ids],
            kept=kept,
        )

    # ----------------------------------------------------------------------------- decoding
    def _steps(self, ids: Sequence[int] | np.ndarray) -> list[tuple[int, int]]:
        """(decoding step, id) of the generated tokens before EOS, padding and BOS dropped."""
        specials = {self.target.vocab.pad_id, self.bos_id}
        steps = []
        for step, i in enumerate(int(i) for i in ids):
            if i == self.eos_id:
                break
            if i not in specials:
                steps.append((step, i))
        return steps

    def target_tokens(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """Generated ids up to EOS (padding and BOS dropped) as target tokens, joiners included."""
        return [self.target.vocab.tokens[i] for _, i in self._steps(ids)]

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        """Generated ids -> detokenized text."""
        return detokenize(self.target_tokens(ids))

    def has_unknown(self, ids: Sequence[int] | np.ndarray) -> bool:
        """Whether the generated ids hold the OOV token before EOS."""
        return any(i == self.target.vocab.oov_id for _, i in self._steps(ids))

    def decode_replacing_unknown(self, ids: Sequence[int] | np.ndarray, attention: np.ndarray, source: str) -> str:
        """Generated ids -> text, each OOV token replaced by the source word it attends to most (Luong et al.
        2015's unknown-word replacement): names, numbers and rare words come out as written in the source
        instead of as "<unk>". `attention` is (output steps, source positions), as the search returns it."""
        words = self.source_words(source)
        tokens = []
        for step, i in self._steps(ids):
            if i != self.target.vocab.oov_id:
                tokens.append(self.target.vocab.tokens[i])
            elif words:  # an empty source has no word to copy
                position = int(np.argmax(np.asarray(attention)[step, : len(words)]))
                tokens.append(self.target.tokenizer.normalize(words[position]))
        return detokenize(tokens)

    def source_words(self, text: str) -> list[str]:
        """For each position the encoder sees in `text`, the source word as written that it belongs to
        (a word split into subword pieces fills several positions)."""
        words = [token.text for token in self.source.tokenizer.tokenize_with_offsets([text])[0]]
        if self.source.subwords is not None:
            normalized = [[self.source.tokenizer.normalize(word)] for word in words]
            words = [word for word, pieces in zip(words, self.source.segment(normalized)) for _ in pieces]
        return words[: self.source.tokenizer.max_length]

    def source_tokens(self, texts: Sequence[str]) -> list[list[str]]:
        """The source tokens (or subword pieces) the model sees (for attention plots)."""
        return self.source.units(texts)

    @property
    def vocab_sizes(self) -> dict[str, int]:
        return {"source_vocab_size": len(self.source.vocab), "target_vocab_size": len(self.target.vocab)}

    # --------------------------------------------------------------------------- persistence
    def save(self, directory: Path) -> None:
        self.source.save(directory, prefix="source_")
        self.target.save(directory, prefix="target_")
        (directory / "pairs.json").write_text(json.dumps({"long_pairs": self.long_pairs}), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> PairEncoder:
        settings = directory / "pairs.json"
        if not settings.exists():
            raise ModelDirError(f"{settings}: missing (the translation settings); the folder is incomplete")
        long_pairs = read_json(settings)["long_pairs"]
        return cls(TextEncoder.load(directory, "source_"), TextEncoder.load(directory, "target_"), long_pairs)

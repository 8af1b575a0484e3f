"""Subword segmentation of words (SentencePiece BPE or unigram), for an open vocabulary in translation.

It runs after the spaCy tokenizer and splits each word into pieces learned from the training side, so a
rare word ("Wakeboarder") is spelled from frequent pieces ("Wake" "￭boarder") instead of becoming one
unknown token. Pieces after a word's first carry JOINER, the same mark `Tokenizer.tokenize_with_joiners`
puts on a word written without a space before it: `detokenize` then rebuilds the text exactly, and no
piece ever spans two words.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from pathlib import Path

from nlp_lstm.errors import ModelDirError, NlpLstmError
from nlp_lstm.preprocessing.tokenizer import JOINER

_WORD_START = "\u2581"  # SentencePiece's word-boundary mark (▁)


class SubwordSegmenter:
    """Words -> subword pieces with a trained SentencePiece model; serialises as the model file."""

    def __init__(self, model_proto: bytes):
        import sentencepiece

        self.model_proto = model_proto
        self._processor = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
        self._cache: dict[str, tuple[str, ...]] = {}

    @classmethod
    def train(
        cls,
        token_lists: Iterable[Sequence[str]],
        *,
        method: str = "bpe",
        vocab_size: int = 8000,
        setting: str = "subwords.vocab_size",
    ) -> SubwordSegmenter:
        """Learn pieces from tokenized sentences (joiner marks ignored). `vocab_size` is a soft limit: a
        small corpus gets as many pieces as it has. `setting` names the config key in errors."""
        import sentencepiece

        lines = [" ".join(token.removeprefix(JOINER) for token in tokens) for tokens in token_lists]
        lines = [line for line in lines if line]
        if not lines:
            raise NlpLstmError(f"{setting}: no training text to learn subword pieces from")
        model = io.BytesIO()
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=iter(lines),
                model_writer=model,
                model_type=method,
                vocab_size=vocab_size,
                # Our tokenizer has normalised the text already; SentencePiece must not change a character,
                # or pieces would no longer join back into the word.
                normalization_rule_name="identity",
                character_coverage=1.0,
                hard_vocab_limit=False,
                unk_id=0,
                bos_id=-1,
                eos_id=-1,
                pad_id=-1,
                input_sentence_size=0,
                max_sentence_length=1 << 20,
                num_threads=1,
                minloglevel=2,
            )
        except RuntimeError as exc:
            reason = str(exc).split("] ")[-1]  # drop SentencePiece's source location and assertion text
            raise NlpLstmError(f"{setting}: cannot learn {vocab_size} subword pieces: {reason}") from None
        return cls(model.getvalue())

    def _pieces(self, words: Sequence[str]) -> None:
        """Fill the cache for words not segmented yet (one batched SentencePiece call)."""
        new = [word for word in dict.fromkeys(words) if word not in self._cache]
        if not new:
            return
        for word, pieces in zip(new, self._processor.encode(new, out_type=str)):
            pieces = [pieces[0].removeprefix(_WORD_START), *pieces[1:]] if pieces else []
            pieces = [piece for piece in pieces if piece]
            # A word holding SentencePiece's own boundary mark cannot be rebuilt from its pieces, and an empty
            # word (a token that is only a literal joiner) has none: keep either whole.
            self._cache[word] = tuple(pieces) if pieces and "".join(pieces) == word else (word,)

    def segment(self, token_lists: Sequence[Sequence[str]]) -> list[list[str]]:
        """Each token -> its pieces; a token's joiner stays on its first piece, later pieces get one."""
        self._pieces([token.removeprefix(JOINER) for tokens in token_lists for token in tokens])
        segmented = []
        for tokens in token_lists:
            pieces: list[str] = []
            for token in tokens:
                word = token.removeprefix(JOINER)
                first, *rest = self._cache[word]
                pieces.append(token[: len(token) - len(word)] + first)
                pieces.extend(JOINER + piece for piece in rest)
            segmented.append(pieces)
        return segmented

    def character_pieces(self) -> list[str]:
        """Every learned character, word-initial and as a continuation: a vocabulary holding these can spell
        any word written in the training side's characters, whatever pieces training happened to use."""
        chars = []
        for i in range(len(self)):
            if self._processor.is_unknown(i) or self._processor.is_control(i):
                continue
            piece = self._processor.id_to_piece(i).removeprefix(_WORD_START)
            if len(piece) == 1:
                chars.append(piece)
        return [form for char in dict.fromkeys(chars) for form in (char, JOINER + char)]

    def __len__(self) -> int:
        return self._processor.get_piece_size()

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.model_proto)

    @classmethod
    def load(cls, path: str | Path) -> SubwordSegmenter:
        path = Path(path)
        if not path.exists():
            raise ModelDirError(f"{path}: missing (the subword model); the folder is incomplete")
        return cls(path.read_bytes())

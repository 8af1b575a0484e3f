"""Text -> the units a language model predicts one after another (words, characters or subword pieces)
-> ids, and generated ids -> text again.

Words come from spaCy's rules with joiner marks (so generated text detokenizes exactly) or from splitting
at whitespace (pre-tokenized corpora); characters are the normalised text as written, spaces included;
subword pieces are SentencePiece pieces of the words. One special unit, END (`</s>`), ends every line and
starts every text the model reads, so a model trained on running text knows where lines begin.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from nlp_lstm.data.streamed import SLICE_EXAMPLES, chunked, reiterable
from nlp_lstm.errors import ModelDirError
from nlp_lstm.files import read_json
from nlp_lstm.preprocessing.subwords import SubwordSegmenter
from nlp_lstm.preprocessing.tokenizer import JOINER, Tokenizer, detokenize
from nlp_lstm.preprocessing.vocab import OOV, PAD, Vocabulary

END = "</s>"
LEVELS = ("word", "char", "subword")


class UnitEncoder:
    """A text's units and their ids; saved with the model.

    Args:
        level: "word", "char" or "subword".
        tokenizer: normalises every unit (and splits words with spaCy unless `whitespace`).
        vocab: the units' vocabulary (padding, unknown, END, then the units by frequency).
        subwords: the segmenter of `level: subword`.
        whitespace: words are split at whitespace instead of by spaCy's rules.
    """

    def __init__(
        self,
        level: str,
        tokenizer: Tokenizer,
        vocab: Vocabulary,
        subwords: SubwordSegmenter | None = None,
        whitespace: bool = False,
    ):
        if level not in LEVELS:
            raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
        self.level = level
        self.tokenizer = tokenizer
        self.vocab = vocab
        self.subwords = subwords
        self.whitespace = whitespace

    @classmethod
    def fit(cls, texts: Iterable[str], preprocessing) -> UnitEncoder:
        """Learn the vocabulary (and subword pieces) from the training texts with `preprocessing`'s settings
        (a `LanguageModelPreprocessingConfig`). `texts` is read a slice at a time, once for the vocabulary (and
        once before for subword pieces): a `StreamedSplit`'s column rereads its file each time."""
        texts = reiterable(texts, "texts")
        tokenizer = Tokenizer(
            language=preprocessing.language,
            lowercase=preprocessing.lowercase,
            unicode_normalization=preprocessing.unicode_normalization,
        )
        whitespace = preprocessing.tokenizer == "whitespace"
        encoder = cls(preprocessing.level, tokenizer, Vocabulary([PAD, OOV]), whitespace=whitespace)  # units first
        if preprocessing.level == "subword":
            encoder.subwords = SubwordSegmenter.train(
                (words for chunk in chunked(texts, SLICE_EXAMPLES) for words in encoder._words(chunk)),
                method=preprocessing.subwords.method,
                vocab_size=preprocessing.subwords.vocab_size,
                setting="preprocessing.subwords.vocab_size",
            )
        vocab = preprocessing.vocab
        always = encoder.subwords.character_pieces() if encoder.subwords is not None else ()
        encoder.vocab = Vocabulary.build(  # counted a slice of texts at a time
            (units for chunk in chunked(texts, SLICE_EXAMPLES) for units in encoder.units(chunk)),
            min_frequency=vocab.min_frequency,
            max_size=vocab.max_size,
            specials=(END,),
            always=always,
        )
        return encoder

    # ------------------------------------------------------------------------------ units
    def _words(self, texts: Sequence[str]) -> list[list[str]]:
        if self.whitespace:
            return [[self.tokenizer.normalize(word) for word in text.split()] for text in texts]
        return self.tokenizer.tokenize_with_joiners(texts)

    def units(self, texts: Sequence[str]) -> list[list[str]]:
        """The units of each text (none for an empty one)."""
        if self.level == "char":
            return [list(self.tokenizer.normalize(text)) for text in texts]
        words = self._words(texts)
        return self.subwords.segment(words) if self.subwords is not None else words

    @property
    def end_id(self) -> int:
        return self.vocab.index[END]

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Unit ids of each text, END not included."""
        return [self.vocab.encode(units) for units in self.units(texts)]

    def decode(self, ids: Sequence[int]) -> str:
        """Text from unit ids (END and padding left out)."""
        units = [self.vocab.tokens[i] for i in ids if i not in (Vocabulary.pad_id, self.end_id)]
        if self.level == "char":
            return "".join(units)
        return detokenize(units)  # whitespace words carry no joiner: joined by spaces

    def continuation(self, ids: Sequence[int], prompt: str) -> str:
        """The text of `ids` as it follows `prompt`: `prompt + continuation(...)` is the whole text (a space
        first unless the first unit is joined to what precedes it, or there is no prompt)."""
        text = self.decode(ids)
        if not text or not prompt or self.level == "char":
            return text
        units = [self.vocab.tokens[i] for i in ids if i not in (Vocabulary.pad_id, self.end_id)]
        attached = units[0].startswith(JOINER)
        return text if attached or prompt[-1].isspace() else " " + text

    # ------------------------------------------------------------------------------ persistence
    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        self.vocab.save(directory / "vocab.txt")
        (directory / "tokenizer.json").write_text(json.dumps(self.tokenizer.get_config(), indent=2))
        (directory / "units.json").write_text(json.dumps({"level": self.level, "whitespace": self.whitespace}))
        if self.subwords is not None:
            self.subwords.save(directory / "subwords.model")

    @classmethod
    def load(cls, directory: str | Path) -> UnitEncoder:
        directory = Path(directory)
        settings = directory / "units.json"
        if not settings.exists():
            raise ModelDirError(f"{settings}: missing (the language model's unit settings); the folder is incomplete")
        units = read_json(settings)
        try:
            tokenizer = Tokenizer.from_config(read_json(directory / "tokenizer.json"))
        except (TypeError, ValueError) as exc:
            raise ModelDirError(f"{directory / 'tokenizer.json'}: {exc}; the folder is damaged") from None
        subwords = SubwordSegmenter.load(directory / "subwords.model") if units["level"] == "subword" else None
        return cls(units["level"], tokenizer, Vocabulary.load(directory / "vocab.txt"), subwords, units["whitespace"])

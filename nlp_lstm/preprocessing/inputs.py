"""Tokens -> every per-word model input a pipeline uses: word ids, character ids, casing ids.

One class for all pipelines, so a saved model re-creates exactly the inputs it was trained on.
Word ids come from the normalised token (lowercase, digits...); characters and casing from the token as
written, which is where the capitalisation and spelling signals live.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain
from pathlib import Path

from nlp_lstm.config.schema import EmbeddingsConfig, PreprocessingConfig, WordFeaturesConfig
from nlp_lstm.data.streamed import SLICE_EXAMPLES, chunked
from nlp_lstm.errors import ModelDirError
from nlp_lstm.files import read_json
from nlp_lstm.preprocessing.casing import encode_casing
from nlp_lstm.preprocessing.chars import CharEncoder
from nlp_lstm.preprocessing.embeddings import most_frequent_words, open_vectors
from nlp_lstm.preprocessing.text import TextEncoder
from nlp_lstm.preprocessing.tokenizer import Token, Tokenizer


class WordInputs:
    """Builds the model's named inputs (`token_ids`, and `char_ids`/`casing_ids` when enabled)."""

    def __init__(self, text_encoder: TextEncoder, char_encoder: CharEncoder | None = None, casing: bool = False):
        self.text_encoder = text_encoder
        self.char_encoder = char_encoder
        self.casing = casing

    @property
    def tokenizer(self) -> Tokenizer:
        return self.text_encoder.tokenizer

    @staticmethod
    def make_tokenizer(preprocessing: PreprocessingConfig, truncate: bool = True) -> Tokenizer:
        return Tokenizer(
            language=preprocessing.language,
            lowercase=preprocessing.lowercase,
            unicode_normalization=preprocessing.unicode_normalization,
            replace_digits=preprocessing.replace_digits,
            max_length=preprocessing.max_length if truncate else None,
        )

    @classmethod
    def fit_texts(
        cls, texts: Iterable[str], preprocessing: PreprocessingConfig, features: WordFeaturesConfig
    ) -> WordInputs:
        """Tokenize raw texts and fit the vocabularies on them (truncated at `max_length`, as `fit` does);
        `texts` is read once, a slice at a time (a generator will do), so only the counts grow with the corpus."""
        tokenizer = cls.make_tokenizer(preprocessing)

        def token_lists() -> Iterator[list[str]]:
            for chunk in chunked(texts, SLICE_EXAMPLES):
                for doc in tokenizer.tokenize_with_offsets(chunk):
                    yield [t.text for t in doc]

        return cls.fit(token_lists(), preprocessing, features)

    @classmethod
    def fit(
        cls,
        token_lists: Iterable[Sequence[str]],
        preprocessing: PreprocessingConfig,
        features: WordFeaturesConfig,
        *,
        truncate: bool = True,
    ) -> WordInputs:
        """Fit vocabularies on tokens as written (already split into words), cut like `encode_tokens` cuts them.
        `token_lists` is read once (a generator will do): only word and character counts are kept."""
        tokenizer = cls.make_tokenizer(preprocessing, truncate)
        chars = features.char_features
        words: Counter[str] = Counter()
        characters: Counter[str] = Counter()
        for tokens in token_lists:
            tokens = list(tokens)[: tokenizer.max_length]
            words.update(tokenizer.normalize_tokens(tokens))
            if chars.enabled:
                characters.update("".join(tokens))
        vocab = preprocessing.vocab
        text_encoder = TextEncoder.fit_counts(
            words,
            tokenizer,
            min_frequency=vocab.min_frequency,
            max_size=vocab.max_size,
            extra_tokens=cls._pretrained_words(features.embeddings, tokenizer),
        )
        char_encoder = (
            CharEncoder.fit_counts(characters, min_frequency=chars.min_frequency, max_word_length=chars.max_word_length)
            if chars.enabled
            else None
        )
        return cls(text_encoder, char_encoder, features.casing.enabled)

    @staticmethod
    def _pretrained_words(embeddings: EmbeddingsConfig, tokenizer: Tokenizer) -> list[str]:
        """The `extend_vocab` most frequent pretrained words, normalised as inputs are (lowercase, digits)."""
        if not embeddings.extend_vocab:
            return []
        vectors = open_vectors(embeddings)
        return [tokenizer.normalize(word) for word in most_frequent_words(vectors, embeddings.extend_vocab)]

    def tokenize(self, texts: Sequence[str]) -> list[list[Token]]:
        """Raw texts -> tokens as written, with character offsets (truncated like the word ids)."""
        limit = self.tokenizer.max_length
        return [tokens[:limit] for tokens in self.tokenizer.tokenize_with_offsets(texts)]

    def encode_tokens(self, token_lists: Sequence[Sequence[str]]) -> dict[str, list]:
        """Inputs for tokens as written. Each field has one entry per token (one OOV entry for no tokens)."""
        token_lists, distinct, fields = self._encode_distinct(token_lists)
        return self._per_token(token_lists, distinct, fields, self._encode_empty())

    def encode_tokens_with_word_table(self, token_lists: Sequence[Sequence[str]]) -> tuple[dict[str, list], list]:
        """`encode_tokens` with `word_index` in place of `char_ids`: per token, 1 + the row of its characters
        in the returned table (one row per distinct token; 0 stays padding), so that character features are
        computed once per distinct word."""
        token_lists, distinct, fields = self._encode_distinct(token_lists)
        empty = self._encode_empty()
        table = fields.pop("char_ids")
        row_of = {token: row for row, token in enumerate(distinct, start=1)}
        empty["word_index"] = [len(table) + 1]  # a text without tokens reads one OOV token: its row comes last
        table = [*table, *empty["char_ids"]]
        fields["word_index"] = [row_of[t] for t in distinct]
        return self._per_token(token_lists, distinct, fields, empty), table

    def _encode_distinct(self, token_lists: Sequence[Sequence[str]]) -> tuple[list[list[str]], list[str], dict]:
        """The token lists cut at `max_length`, their distinct tokens, and each field's entry per distinct token."""
        limit = self.tokenizer.max_length
        token_lists = [list(tokens)[:limit] for tokens in token_lists]
        # Each distinct token is normalised, looked up and classified once (text repeats most of its words,
        # and this was a fifth of NER's prediction time); sentences then gather their tokens' entries.
        distinct = list(dict.fromkeys(chain.from_iterable(token_lists)))
        fields = {"token_ids": self.text_encoder.vocab.encode([self.tokenizer.normalize(t) for t in distinct])}
        if self.char_encoder is not None:
            fields["char_ids"] = self.char_encoder.encode([distinct])[0] if distinct else []
        if self.casing:
            fields["casing_ids"] = encode_casing([distinct])[0] if distinct else []
        return token_lists, distinct, fields

    @staticmethod
    def _per_token(token_lists: list[list[str]], distinct: list[str], fields: dict, empty: dict) -> dict[str, list]:
        """Each field per token list: its distinct tokens' entries gathered, `empty`'s for no tokens."""
        inputs: dict[str, list] = {}
        for name, entries in fields.items():
            of_token = dict(zip(distinct, entries))
            inputs[name] = [[of_token[t] for t in tokens] if tokens else empty[name] for tokens in token_lists]
        return inputs

    def _encode_empty(self) -> dict[str, list]:
        """Each field's entry for a text without tokens (one OOV token), as each encoder gives it."""
        empty = {"token_ids": self.text_encoder.encode_tokens([[]])[0]}
        if self.char_encoder is not None:
            empty["char_ids"] = self.char_encoder.encode([[]])[0]
        if self.casing:
            empty["casing_ids"] = encode_casing([[]])[0]
        return empty

    def encode_texts(self, texts: Sequence[str]) -> dict[str, list]:
        return self.encode_texts_noting_truncation(texts)[0]

    def encode_texts_noting_truncation(self, texts: Sequence[str]) -> tuple[dict[str, list], list[bool]]:
        """`encode_texts`, and whether each text had more than `max_length` tokens (only those were read)."""
        limit = self.tokenizer.max_length
        documents = self.tokenizer.tokenize_with_offsets(texts)
        truncated = [limit is not None and len(tokens) > limit for tokens in documents]
        return self.encode_tokens([[t.text for t in tokens[:limit]] for tokens in documents]), truncated

    @property
    def input_names(self) -> list[str]:
        """The model inputs `encode_tokens` fills."""
        return [
            "token_ids",
            *(["char_ids"] if self.char_encoder is not None else []),
            *(["casing_ids"] if self.casing else []),
        ]

    @property
    def vocab_sizes(self) -> dict[str, int]:
        sizes = {"vocab_size": len(self.text_encoder.vocab)}
        if self.char_encoder is not None:
            sizes["char_vocab_size"] = len(self.char_encoder.vocab)
        return sizes

    def save(self, directory: Path) -> None:
        self.text_encoder.save(directory)
        if self.char_encoder is not None:
            self.char_encoder.save(directory)
        (directory / "word_inputs.json").write_text(
            json.dumps({"casing": self.casing, "chars": self.char_encoder is not None})
        )

    @classmethod
    def load(cls, directory: Path) -> WordInputs:
        settings_path = directory / "word_inputs.json"
        if not settings_path.exists():
            raise ModelDirError(f"{settings_path}: missing (the input settings); the folder is incomplete")
        settings = read_json(settings_path)
        chars = CharEncoder.load(directory) if settings["chars"] else None
        return cls(TextEncoder.load(directory), chars, settings["casing"])

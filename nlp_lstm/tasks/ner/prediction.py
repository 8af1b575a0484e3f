"""NER prediction without Keras: raw text or tokens in, entities or tags out, around any tag decoder.

`NerPrediction` holds what every NER pipeline does around its model (tokenizing, packing sentences into the
sequences the tagger reads, encoding, batching, putting the decoded tags back per sentence, entity spans);
`NerPipeline` (`task.py`) decodes with its Keras model, `NumpyNerPipeline` with the NumPy tagger exported
beside it (`tagger.npz`), so that `nlp-lstm predict` answers without importing Keras.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nlp_lstm.errors import ModelDirError
from nlp_lstm.files import file_sha256, read_json
from nlp_lstm.inference.memory import collection_paused
from nlp_lstm.inference.tagger import NumpyTagger, TaggerArrays
from nlp_lstm.model_dir import is_finished, load_saved_config, load_saved_part, read_manifest
from nlp_lstm.preprocessing.cache import EncodedExamples
from nlp_lstm.preprocessing.inputs import WordInputs
from nlp_lstm.preprocessing.labels import TagEncoder
from nlp_lstm.preprocessing.padding import LengthBatches, restore_order
from nlp_lstm.preprocessing.tags import convert, to_spans
from nlp_lstm.tasks.ner.config import NerConfig

TAGGER_ARRAYS = "tagger.npz"  # the NumPy tagger's arrays, beside model.keras in a saved NER folder


Window = tuple[int, int, int]  # (sentence index, first token, end token)


def windows(lengths: Sequence[int], max_length: int) -> list[Window]:
    """Consecutive pieces of at most `max_length` tokens covering each sentence (one piece if it fits)."""
    return [
        (i, start, min(start + max_length, n))
        for i, n in enumerate(lengths)
        for start in range(0, max(n, 1), max_length)
    ]


def sequences(
    lengths: Sequence[int], max_length: int, documents: Sequence[int] | None = None, join_tokens: int = 0
) -> list[list[Window]]:
    """The token sequences the tagger reads, each a list of windows read one after the other.

    Without `documents` or `join_tokens`, each window is a sequence. Otherwise consecutive whole sentences
    of the same document are packed, in order, into sequences of at most `join_tokens` tokens, so that each
    is read with its neighbours; a sentence longer than that keeps its own windows.
    """
    pieces = windows(lengths, max_length)
    if not documents or not join_tokens:
        return [[piece] for piece in pieces]
    packed: list[list[Window]] = []
    size, open_document = 0, None  # the document the last sequence can still take sentences from
    for piece in pieces:
        i, a, b = piece
        whole = b - a == lengths[i] <= join_tokens
        if whole and open_document == documents[i] and size + b - a <= join_tokens:
            packed[-1].append(piece)
            size += b - a
        else:
            packed.append([piece])
            size, open_document = b - a, documents[i] if whole else None
    return packed


def sequence_tokens(token_lists: Sequence[Sequence[str]], packed: Sequence[list[Window]]) -> list[list[str]]:
    """The tokens of each sequence `sequences` packed, its windows read one after the other."""
    return [[token for i, a, b in sequence for token in token_lists[i][a:b]] for sequence in packed]


def per_sentence(packed: Sequence[list[Window]], outputs: Sequence[np.ndarray], count: int) -> list[np.ndarray]:
    """Per-word outputs of the sequences `sequences` packed, put back together per sentence (`count` of them)."""
    pieces: list[list[np.ndarray]] = [[] for _ in range(count)]
    for sequence, output in zip(packed, outputs):
        offset = 0
        for i, a, b in sequence:
            pieces[i].append(output[offset : offset + b - a])
            offset += b - a
    return [np.concatenate(p) for p in pieces]  # every sentence has a window, even an empty one


class NerPrediction:
    """Raw text in, entities with character offsets out; or tokens in, one tag per token out. A pipeline
    supplies `config`, `word_inputs`, `tags`, `input_scheme` and `decode_batches`."""

    config: NerConfig
    word_inputs: WordInputs
    tags: TagEncoder
    input_scheme: str  # scheme of the data files; tags per token are returned in it
    batches_class: type[LengthBatches] = LengthBatches

    def hold_preprocessing(self, word_inputs: WordInputs, tags: TagEncoder, input_scheme: str) -> None:
        """Keep the fitted preprocessing (each pipeline's constructor calls this with its own decoder)."""
        self.word_inputs = word_inputs
        self.tags = tags
        self.input_scheme = input_scheme

    # Words whose characters are embedded in one call (sorted by length, so little padding).
    char_table_batch = 2048

    def decode_batches(self, batches: LengthBatches, char_features: np.ndarray | None = None) -> list[np.ndarray]:
        """Best tag indices per sequence, in input order (batches may be bucketed by length). With
        `char_features` (`char_feature_table`), batches hold `word_index` in place of `char_ids`."""
        raise NotImplementedError

    @property
    def reads_word_table(self) -> bool:
        """Whether `decode_batches` takes character features per distinct word (`char_feature_table`)."""
        return False

    def word_char_features(self, char_ids: np.ndarray) -> np.ndarray:
        """(words, 1, chars) character ids -> (words, 1, features), the tagger's character features."""
        raise NotImplementedError

    def char_feature_table(self, char_rows: Sequence[Sequence[int]]) -> np.ndarray:
        """(1 + rows, features) character features of each row of character ids, row 0 zeros (padding words).

        Rows are embedded in batches sorted by length and padded one column past the longest: a character
        CNN then sees a padding character after every word's end, as it does after all but a batch's longest
        words in training, so a word's features never depend on the other words read with it."""
        lengths = np.array([len(row) for row in char_rows])
        order = np.argsort(lengths, kind="stable")
        table: np.ndarray | None = None
        for start in range(0, len(order), self.char_table_batch):
            rows = order[start : start + self.char_table_batch]
            ids = np.zeros((len(rows), 1, int(lengths[rows].max()) + 1), np.int32)
            for k, row in enumerate(rows):
                ids[k, 0, : lengths[row]] = char_rows[row]
            features = np.asarray(self.word_char_features(ids))[:, 0]
            if table is None:
                table = np.zeros((len(char_rows) + 1, features.shape[-1]), np.float32)
            table[rows + 1] = features
        return table

    # ------------------------------------------------------------------------------ batching
    def batches(
        self,
        token_lists: Sequence[Sequence[str]],
        tag_lists: Sequence[Sequence[str]] | None = None,
        *,
        shuffle: bool = False,
        batch_size: int | None = None,
        seed: int = 0,
        source: str = "",
        lines: Sequence[int] | None = None,
        documents: Sequence[int] | None = None,
    ) -> tuple[LengthBatches, list[list[Window]]]:
        """Batches of token sequences (`encode`), and the sentence windows each sequence holds."""
        encoded, packed = self.encode(token_lists, tag_lists, source=source, lines=lines, documents=documents)
        batches = self.batches_class.configured(
            self.config,
            encoded.inputs,
            encoded.targets,
            length_field="token_ids",
            shuffle=shuffle,
            batch_size=batch_size,
            seed=seed,
        )
        return batches, packed

    def encode(
        self,
        token_lists: Sequence[Sequence[str]],
        tag_lists: Sequence[Sequence[str]] | None = None,
        *,
        source: str = "",
        lines: Sequence[int] | None = None,
        documents: Sequence[int] | None = None,
    ) -> tuple[EncodedExamples, list[list[Window]]]:
        """The model's inputs (and tag ids) per sequence: sentence windows (long sentences split at
        `preprocessing.max_length`), packed with their neighbours when `documents` are known and
        `preprocessing.join_sentences` is set; and the windows of each sequence."""
        packed = self.sequences_of(token_lists, documents)
        return self.encode_sequences(token_lists, tag_lists, packed, source=source, lines=lines), packed

    def sequences_of(
        self, token_lists: Sequence[Sequence[str]], documents: Sequence[int] | None = None
    ) -> list[list[Window]]:
        """The sequences the tagger reads for these sentences (`sequences`, with the config's lengths)."""
        prep = self.config.preprocessing
        return sequences([len(t) for t in token_lists], prep.max_length, documents, prep.join_sentences)

    def encode_sequences(
        self,
        token_lists: Sequence[Sequence[str]],
        tag_lists: Sequence[Sequence[str]] | None,
        packed: Sequence[list[Window]],
        *,
        source: str = "",
        lines: Sequence[int] | None = None,
    ) -> EncodedExamples:
        """The model's inputs (and tag ids) of the sequences `packed` (some or all of `sequences_of`)."""
        inputs = self.word_inputs.encode_tokens(sequence_tokens(token_lists, packed))
        targets = None
        if tag_lists is not None:
            scheme = self.tags.scheme  # converted per sentence: a sentence's first entity tag stays a B-/S-
            targets = [
                np.concatenate(
                    self.tags.encode(
                        [convert(tag_lists[i][a:b], scheme) for i, a, b in sequence],
                        source,
                        [lines[i] + a for i, a, _ in sequence] if lines else None,
                    )
                )
                for sequence in packed
            ]
        return EncodedExamples(inputs, targets)

    # ------------------------------------------------------------------------------ prediction
    # Padded tokens per prediction batch at most: on eng.testb (2 CPU cores) the decoder took 0.78-0.87 s with
    # batches of at most 256 rows and 3,072-8,192 tokens, 1.04-1.12 s with 256 rows whatever their length.
    prediction_batch_tokens = 4096

    def prediction_batches(self, inputs: dict[str, list], batch_size: int) -> LengthBatches:
        """Length-sorted batches of at most `batch_size` sequences and `prediction_batch_tokens` padded tokens."""
        return self.batches_class.configured(
            self.config,
            inputs,
            length_field="token_ids",
            batch_size=batch_size,
            max_tokens=self.prediction_batch_tokens,
        )

    def tag(
        self, token_lists: Sequence[Sequence[str]], batch_size: int = 256, documents: Sequence[int] | None = None
    ) -> list[list[str]]:
        """Tags (in the model's training scheme) for tokenized sentences; with `documents` (one id per
        sentence), neighbouring sentences are read together as in training."""
        if not token_lists:
            return []
        packed = self.sequences_of(token_lists, documents)
        if not self.reads_word_table:
            inputs = self.encode_sequences(token_lists, None, packed).inputs
            decoded = self.decode_batches(self.prediction_batches(inputs, batch_size))
        else:  # character features once per distinct word, not per token
            inputs, char_rows = self.word_inputs.encode_tokens_with_word_table(sequence_tokens(token_lists, packed))
            decoded = self.decode_batches(
                self.prediction_batches(inputs, batch_size), self.char_feature_table(char_rows)
            )
        return [self.tags.decode(ids) for ids in per_sentence(packed, decoded, len(token_lists))]

    def predict(self, inputs: str | Sequence[str] | Sequence[Sequence[str]], batch_size: int = 256) -> list[Any]:
        """Raw texts -> per text, a list of `{'text', 'label', 'start', 'end'}` entities (character offsets).

        Pre-tokenized sentences (lists of tokens) -> per sentence, one tag per token in the data's scheme.
        """
        if isinstance(inputs, str):
            inputs = [inputs]
        inputs = list(inputs)
        with collection_paused():
            if all(isinstance(x, str) for x in inputs):
                return self.extract_entities(inputs, batch_size)
            if all(isinstance(x, (list, tuple)) and all(isinstance(t, str) for t in x) for x in inputs):
                return [convert(tags, self.input_scheme) for tags in self.tag(inputs, batch_size)]
        raise TypeError("predict() takes strings (raw texts) or lists of token strings (pre-tokenized sentences)")

    def extract_entities(self, texts: Sequence[str], batch_size: int = 256) -> list[list[dict[str, Any]]]:
        tokenized = self.word_inputs.tokenizer.tokenize_with_offsets(texts)
        tag_lists = self.tag([[t.text for t in tokens] for tokens in tokenized], batch_size)
        results = []
        for text, tokens, tags in zip(texts, tokenized, tag_lists):
            entities = []
            for kind, first, end in to_spans(tags):
                start, stop = tokens[first].start, tokens[end - 1].end
                entities.append({"text": text[start:stop], "label": kind, "start": start, "end": stop})
            results.append(entities)
        return results

    def save_preprocessing(self, directory: Path) -> None:
        self.word_inputs.save(directory)
        self.tags.save(directory / "tags.json")
        (directory / "ner.json").write_text(json.dumps({"input_scheme": self.input_scheme}), encoding="utf-8")

    @classmethod
    def load_preprocessing(cls, directory: Path, config: NerConfig) -> dict[str, Any]:
        settings = directory / "ner.json"
        if not settings.exists():
            raise ModelDirError(f"{settings}: missing (the NER settings); the folder is incomplete")
        return {
            "word_inputs": WordInputs.load(directory),
            "tags": TagEncoder.load(directory / "tags.json"),
            "input_scheme": read_json(settings)["input_scheme"],
        }


class NumpyNerPipeline(NerPrediction):
    """A saved NER pipeline decoded by its NumPy tagger (`tagger.npz`): the same predictions as
    `nlp_lstm.load`'s, without importing Keras (`load`)."""

    def __init__(
        self, tagger: NumpyTagger, config: NerConfig, word_inputs: WordInputs, tags: TagEncoder, input_scheme: str
    ):
        self.tagger = tagger
        self.config = config
        self.hold_preprocessing(word_inputs, tags, input_scheme)

    @staticmethod
    def unavailable(directory: str | Path) -> str | None:
        """Why the folder `directory` cannot be decoded by its NumPy tagger, or None when it can. A folder
        that is no saved pipeline raises `ModelDirError`."""
        directory = Path(directory)
        manifest = read_manifest(directory)
        if manifest.get("task") != "ner":
            return f"{directory} is a {manifest.get('task')} pipeline: the NumPy runtime decodes NER taggers only"
        if not is_finished(manifest):
            return f"{directory} is an unfinished run: its best epoch so far loads with Keras only"
        recorded = manifest.get("runtime_arrays", {}).get(TAGGER_ARRAYS)
        if recorded is None or not (directory / TAGGER_ARRAYS).is_file():
            return (
                f"{directory} has no NumPy tagger ({TAGGER_ARRAYS}): its model is not one the NumPy pass computes, "
                "or an nlp_lstm without it saved the folder"
            )
        if file_sha256(directory / TAGGER_ARRAYS) != recorded:
            return f"{directory / TAGGER_ARRAYS}: not the arrays of the saved model (pipeline.json records others)"
        return None

    @classmethod
    def load(cls, directory: str | Path) -> NumpyNerPipeline:
        """The folder's NumPy pipeline; `ModelDirError` naming the reason when there is none (`unavailable`)
        or its files do not fit together."""
        reason = cls.unavailable(directory)
        if reason is not None:
            raise ModelDirError(reason)
        return cls.read(directory)

    @classmethod
    def read(cls, directory: str | Path) -> NumpyNerPipeline:
        """`load` of a folder `unavailable` has already accepted (its arrays are not hashed again)."""
        directory = Path(directory)
        config = load_saved_config(directory, "ner")
        preprocessing = load_saved_part(
            directory, "preprocessing", lambda folder: cls.load_preprocessing(folder, config)
        )
        exported = load_saved_part(directory, TAGGER_ARRAYS, TaggerArrays.load)
        _check_fit(exported, preprocessing, directory / TAGGER_ARRAYS)
        return cls(NumpyTagger(exported), config, **preprocessing)

    @property
    def reads_word_table(self) -> bool:
        return self.tagger.spec["char"] is not None

    def word_char_features(self, char_ids: np.ndarray) -> np.ndarray:
        return self.tagger.char_features(char_ids)

    def decode_batches(self, batches: LengthBatches, char_features: np.ndarray | None = None) -> list[np.ndarray]:
        inputs = (batch[0] if isinstance(batch[0], dict) else {"token_ids": batch[0]} for batch in batches)
        return restore_order(
            [self.tagger.decode(with_char_features(x, char_features)) for x in inputs], batches.batch_indices
        )


def with_char_features(inputs: dict[str, np.ndarray], char_features: np.ndarray | None) -> dict[str, np.ndarray]:
    """A batch's inputs with `word_index` replaced by those words' rows of `char_features` (when given)."""
    if char_features is None:
        return inputs
    inputs = dict(inputs)
    inputs["char_features"] = char_features[inputs.pop("word_index")]
    return inputs


def _check_fit(exported: TaggerArrays, preprocessing: dict[str, Any], path: Path) -> None:
    """The arrays' sizes against the saved vocabularies and tags: a `ModelDirError` naming the first misfit."""
    word_inputs: WordInputs = preprocessing["word_inputs"]
    arrays, spec = exported.arrays, exported.spec
    char_vocab = len(word_inputs.char_encoder.vocab) if word_inputs.char_encoder is not None else None
    expected = {
        "words": (len(arrays["word_embedding"]), len(word_inputs.text_encoder.vocab)),
        "tags": (arrays["tag_scores_kernel"].shape[1], len(preprocessing["tags"])),
        "character features": (spec["char"] is not None, char_vocab is not None),
        "casing features": (bool(spec["casing"]), bool(word_inputs.casing)),
    }
    if char_vocab is not None and spec["char"] is not None:
        expected["characters"] = (len(arrays["char_embedding"]), char_vocab)
    for what, (found, saved) in expected.items():
        if found != saved:
            raise ModelDirError(f"{path}: {what} {found} where the saved preprocessing has {saved}")

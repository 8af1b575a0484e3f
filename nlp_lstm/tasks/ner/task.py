"""Named entity recognition: CoNLL-style tagged sentences -> BiLSTM-CRF tagger. A composition of shared parts."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import keras
import numpy as np

from nlp_lstm.data.conll import TaggedSentences, read_conll
from nlp_lstm.errors import DataError, ModelDirError
from nlp_lstm.evaluation.tagging import TaggingEvaluation, evaluate_entities
from nlp_lstm.files import read_json
from nlp_lstm.models.tagger import build_sequence_tagger, build_tag_decoder, tagging_loss
from nlp_lstm.preprocessing.batching import PaddedBatches
from nlp_lstm.preprocessing.cache import SLICE_EXAMPLES, EncodedExamples
from nlp_lstm.preprocessing.inputs import WordInputs
from nlp_lstm.preprocessing.labels import TagEncoder
from nlp_lstm.preprocessing.tags import (
    allowed_ends,
    allowed_starts,
    allowed_transitions,
    convert,
    detect_scheme,
    split_tag,
    to_spans,
)
from nlp_lstm.tasks.base import DataSplits, Task, TrainedPipeline
from nlp_lstm.tasks.ner.config import NerConfig

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


def per_sentence(packed: Sequence[list[Window]], outputs: Sequence[np.ndarray], count: int) -> list[np.ndarray]:
    """Per-word outputs of the sequences `sequences` packed, put back together per sentence (`count` of them)."""
    pieces: list[list[np.ndarray]] = [[] for _ in range(count)]
    for sequence, output in zip(packed, outputs):
        offset = 0
        for i, a, b in sequence:
            pieces[i].append(output[offset : offset + b - a])
            offset += b - a
    return [np.concatenate(p) for p in pieces]  # every sentence has a window, even an empty one


def read_tagged(config: NerConfig, path: str | Path) -> TaggedSentences:
    """Read a CoNLL-style file with the config's columns; every tag must be O or PREFIX-TYPE."""
    data = config.data
    sentences = read_conll(
        path,
        token_column=data.token_column,
        tag_column=data.tag_column,
        encoding=data.encoding,
        delimiter=data.delimiter,
    )
    for i, tags in enumerate(sentences.tags or []):
        for j, tag in enumerate(tags):
            try:
                split_tag(tag)
            except ValueError as exc:
                raise DataError(
                    f"{sentences.source}:{sentences.lines[i] + j}: {exc} (data.tag_column is {data.tag_column})"
                ) from None
    return sentences


class NerPipeline(TrainedPipeline):
    """Raw text in, entities with character offsets out; or tokens in, one tag per token out."""

    config: NerConfig
    dataset_type = TaggedSentences
    output_name = "tag_scores"
    read_file = staticmethod(read_tagged)

    def __init__(
        self, model: keras.Model, config: NerConfig, word_inputs: WordInputs, tags: TagEncoder, input_scheme: str
    ):
        super().__init__(model, config)
        self.word_inputs = word_inputs
        self.tags = tags
        self.input_scheme = input_scheme  # scheme of the data files; tags per token are returned in it

    @cached_property
    def decoder(self) -> keras.Model:
        """The model with Viterbi (or argmax) decoding appended, run in Keras's compiled predict."""
        return build_tag_decoder(self.model)

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
    ) -> tuple[PaddedBatches, list[list[Window]]]:
        """Batches of token sequences (`encode`), and the sentence windows each sequence holds."""
        encoded, packed = self.encode(token_lists, tag_lists, source=source, lines=lines, documents=documents)
        batches = self.padded_batches(
            encoded.inputs, encoded.targets, length_field="token_ids", shuffle=shuffle, batch_size=batch_size, seed=seed
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
        inputs = self.word_inputs.encode_tokens(
            [[token for i, a, b in sequence for token in token_lists[i][a:b]] for sequence in packed]
        )
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
    def tag(
        self, token_lists: Sequence[Sequence[str]], batch_size: int = 256, documents: Sequence[int] | None = None
    ) -> list[list[str]]:
        """Tags (in the model's training scheme) for tokenized sentences; with `documents` (one id per
        sentence), neighbouring sentences are read together as in training."""
        if not token_lists:
            return []
        batches, packed = self.batches(token_lists, batch_size=batch_size, documents=documents)
        decoded = self.run_batches(batches, self.decoder)
        return [self.tags.decode(ids) for ids in per_sentence(packed, decoded, len(token_lists))]

    def predict(self, inputs: str | Sequence[str] | Sequence[Sequence[str]], batch_size: int = 256) -> list[Any]:
        """Raw texts -> per text, a list of `{'text', 'label', 'start', 'end'}` entities (character offsets).

        Pre-tokenized sentences (lists of tokens) -> per sentence, one tag per token in the data's scheme.
        """
        if isinstance(inputs, str):
            inputs = [inputs]
        inputs = list(inputs)
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

    # ------------------------------------------------------------------------------ evaluation
    def evaluate(self, data: TaggedSentences | str | Path) -> TaggingEvaluation:
        data = self.as_dataset(data)
        if data.tags is None:
            raise DataError(f"{data.source}: no tag column to evaluate against")
        return evaluate_entities(data.tags, self.tag(data.tokens, documents=data.documents))

    def write_predictions(self, data: TaggedSentences | str | Path, path: Path) -> None:
        """conlleval input: `token gold predicted` per line (predicted in the data's scheme), blank between sentences."""
        data = self.as_dataset(data)
        predicted = [convert(tags, self.input_scheme) for tags in self.tag(data.tokens, documents=data.documents)]
        with open(path, "w", encoding="utf-8") as handle:
            for i, tokens in enumerate(data.tokens):
                gold = data.tags[i] if data.tags is not None else ["O"] * len(tokens)
                for token, g, p in zip(tokens, gold, predicted[i]):
                    handle.write(f"{token} {g} {p}\n")
                handle.write("\n")

    # ------------------------------------------------------------------------------ persistence
    def model_io(self) -> tuple[list[str], int]:
        return self.word_inputs.input_names, len(self.tags)

    def prediction_type(self):
        from mlflow.types.schema import Array, Object, Property

        return Array(
            Object(
                [
                    Property("text", "string"),
                    Property("label", "string"),
                    Property("start", "long"),
                    Property("end", "long"),
                ]
            )
        )

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


class NerTask(Task[TaggedSentences]):
    config_class = NerConfig
    pipeline_class = NerPipeline
    config: NerConfig
    preprocessing_model_keys = ("embeddings", "char_features", "casing")  # what WordInputs.fit reads

    def check_splits(self, splits: DataSplits[TaggedSentences]) -> None:
        known = {split_tag(tag)[1] for tags in splits.train.tags for tag in tags} - {""}
        if not known:
            raise DataError(
                f"{splits.train.source}: no entity in the training data (every tag is O); is "
                f"data.tag_column {self.config.data.tag_column} right?"
            )
        validation = splits.validation  # encoded as training targets: a tag of an unknown type cannot be
        for i, tags in enumerate(validation.tags or []):
            for j, tag in enumerate(tags):
                kind = split_tag(tag)[1]
                if kind and kind not in known:
                    where = f"{validation.source}:{validation.lines[i] + j}" if validation.lines else validation.source
                    raise DataError(
                        f"{where}: entity type {kind!r} (tag {tag!r}) was not seen in training (known: "
                        f"{', '.join(sorted(known))})"
                    )

    def fit_preprocessing(self, train: TaggedSentences) -> dict[str, Any]:
        config = self.config
        scheme = config.preprocessing.tag_scheme
        return {
            "word_inputs": WordInputs.fit(train.tokens, config.preprocessing, config.model, truncate=False),
            "tags": TagEncoder.fit([convert(t, scheme) for t in train.tags], scheme),
            "input_scheme": config.data.scheme if config.data.scheme != "auto" else detect_scheme(train.tags),
        }

    def build_model(self, preprocessing: dict[str, Any]) -> NerPipeline:
        config = self.config
        scheme = config.preprocessing.tag_scheme
        word_inputs, tags = preprocessing["word_inputs"], preprocessing["tags"]
        constrain = config.model.constrain_transitions
        model = build_sequence_tagger(
            num_tags=len(tags),
            config=config.model,
            **self.word_features(word_inputs),
            allowed_transitions=allowed_transitions(tags.tags, scheme) if constrain else None,
            allowed_start=allowed_starts(tags.tags, scheme) if constrain else None,
            allowed_end=allowed_ends(tags.tags, scheme) if constrain else None,
        )
        self.compile_word_model(model, word_inputs.text_encoder.vocab, loss=tagging_loss(model))
        return NerPipeline(model, config, word_inputs, tags, preprocessing["input_scheme"])

    def encode(self, pipeline: NerPipeline, data: TaggedSentences) -> EncodedExamples:
        encoded, _ = pipeline.encode(
            data.tokens, data.tags, source=data.source, lines=data.lines, documents=data.documents
        )
        return encoded

    def encode_parts(self, pipeline: NerPipeline, data: TaggedSentences) -> Iterator[EncodedExamples]:
        """Slices of the packed sequences (a sequence may join neighbouring sentences, never across a cut)."""
        packed = pipeline.sequences_of(data.tokens, data.documents)
        for start in range(0, max(len(packed), 1), SLICE_EXAMPLES):  # an empty split is one empty part
            yield pipeline.encode_sequences(
                data.tokens, data.tags, packed[start : start + SLICE_EXAMPLES], source=data.source, lines=data.lines
            )

    def batches_from(self, pipeline: NerPipeline, examples: EncodedExamples, *, shuffle: bool) -> PaddedBatches:
        return pipeline.padded_batches(
            examples.inputs, examples.targets, length_field="token_ids", shuffle=shuffle, seed=self.config.training.seed
        )

    def summary(self, pipeline: NerPipeline) -> dict[str, Any]:
        return {
            **super().summary(pipeline),
            **pipeline.word_inputs.vocab_sizes,
            "num_tags": len(pipeline.tags),
            "entity_types": ",".join(pipeline.tags.entity_types),
            "input_scheme": pipeline.input_scheme,
        }

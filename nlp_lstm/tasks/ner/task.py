"""Named entity recognition: CoNLL-style tagged sentences -> BiLSTM-CRF tagger. A composition of shared parts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any

import keras
import numpy as np

from nlp_lstm.data.conll import Sentence, TaggedSentences, conll_reader
from nlp_lstm.data.streamed import SLICE_EXAMPLES, RowReader, anywhere, column_of
from nlp_lstm.errors import DataError, excerpt
from nlp_lstm.evaluation.tagging import TaggingEvaluation, evaluate_entities
from nlp_lstm.files import atomic_path, file_sha256
from nlp_lstm.models.export import NotExportable, export_tagger
from nlp_lstm.models.tagger import build_sequence_tagger, build_tag_decoder, build_word_table_decoder, tagging_loss
from nlp_lstm.preprocessing.batching import PaddedBatches
from nlp_lstm.preprocessing.cache import EncodedExamples
from nlp_lstm.preprocessing.inputs import WordInputs
from nlp_lstm.preprocessing.labels import TagEncoder
from nlp_lstm.preprocessing.tags import (
    allowed_ends,
    allowed_starts,
    allowed_transitions,
    convert,
    detect_scheme,
    split_tag,
)
from nlp_lstm.tasks.base import DataSplits, Task, TrainedPipeline
from nlp_lstm.tasks.ner.config import NerConfig
from nlp_lstm.tasks.ner.prediction import TAGGER_ARRAYS, NerPrediction, with_char_features


def tagged_reader(config: NerConfig, path: str | Path) -> RowReader[Sentence, TaggedSentences]:
    """A CoNLL-style file with the config's columns, a sentence at a time; every tag must be O or PREFIX-TYPE."""
    data = config.data
    path = Path(path)
    reader = conll_reader(
        path,
        token_column=data.token_column,
        tag_column=data.tag_column,
        encoding=data.encoding,
        delimiter=data.delimiter,
    )

    def rows() -> Iterator[Sentence]:
        for sentence in reader.rows():
            line, _, _, tags = sentence
            for j, tag in enumerate(tags or []):
                try:
                    split_tag(tag)
                except ValueError as exc:
                    raise DataError(f"{path}:{line + j}: {exc} (data.tag_column is {data.tag_column})") from None
            yield sentence

    # Sentences packed together are of one document: without packing, a slice may end after any sentence.
    may_cut = reader.may_cut if config.preprocessing.join_sentences else anywhere
    return replace(reader, rows=rows, may_cut=may_cut)


class NerPipeline(NerPrediction, TrainedPipeline):
    """Raw text in, entities with character offsets out; or tokens in, one tag per token out (`NerPrediction`),
    decoded by the Keras model."""

    config: NerConfig
    batches_class = PaddedBatches
    dataset_type = TaggedSentences
    output_name = "tag_scores"
    takes_tokens = True
    file_reader = staticmethod(tagged_reader)

    def __init__(
        self, model: keras.Model, config: NerConfig, word_inputs: WordInputs, tags: TagEncoder, input_scheme: str
    ):
        super().__init__(model, config)
        self.hold_preprocessing(word_inputs, tags, input_scheme)

    @cached_property
    def decoder(self) -> keras.Model:
        """The model with Viterbi (or argmax) decoding appended, run in Keras's compiled predict."""
        return build_tag_decoder(self.model)

    @cached_property
    def word_table_decoder(self) -> tuple[keras.Model, keras.Model] | None:
        """The decoder reading character features per distinct word (`build_word_table_decoder`), if any."""
        return build_word_table_decoder(self.model)

    @property
    def reads_word_table(self) -> bool:
        return self.word_table_decoder is not None

    def word_char_features(self, char_ids: np.ndarray) -> np.ndarray:
        return self.word_table_decoder[0].predict_on_batch(char_ids)

    def decode_batches(self, batches: PaddedBatches, char_features: np.ndarray | None = None) -> list[np.ndarray]:
        if char_features is None:
            return self.run_batches(batches, self.decoder)
        return self.run_batches(
            batches, self.word_table_decoder[1], lambda inputs: with_char_features(inputs, char_features)
        )

    def save_runtime_arrays(self, directory: Path) -> dict[str, str]:
        """`tagger.npz`, the NumPy tagger's arrays, when the model is one it computes exactly (else none, and
        prediction from this folder runs the Keras model)."""
        (directory / TAGGER_ARRAYS).unlink(missing_ok=True)
        try:
            exported = export_tagger(self.model)
        except NotExportable:
            return {}
        with atomic_path(directory / TAGGER_ARRAYS, suffix=".npz") as temporary:
            exported.save(temporary)
        return {TAGGER_ARRAYS: file_sha256(directory / TAGGER_ARRAYS)}

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


class NerTask(Task[TaggedSentences]):
    config_class = NerConfig
    pipeline_class = NerPipeline
    config: NerConfig
    preprocessing_model_keys = ("embeddings", "char_features", "casing")  # what WordInputs.fit reads

    def check_splits(self, splits: DataSplits[TaggedSentences]) -> None:
        known = {split_tag(tag)[1] for tags in column_of(splits.train, "tags") for tag in tags} - {""}
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
                        f"{where}: entity type {excerpt(kind)} (tag {excerpt(tag)}) was not seen in training (known: "
                        f"{', '.join(sorted(known))})"
                    )

    def fit_preprocessing(self, train: TaggedSentences) -> dict[str, Any]:
        config = self.config
        scheme = config.preprocessing.tag_scheme
        return {
            "word_inputs": WordInputs.fit(
                column_of(train, "tokens"), config.preprocessing, config.model, truncate=False
            ),
            "tags": TagEncoder.fit((convert(t, scheme) for t in column_of(train, "tags")), scheme),
            "input_scheme": (
                config.data.scheme if config.data.scheme != "auto" else detect_scheme(column_of(train, "tags"))
            ),
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
        for part in self.slices(data):  # a streamed split's slices end between documents
            packed = pipeline.sequences_of(part.tokens, part.documents)
            for start in range(0, max(len(packed), 1), SLICE_EXAMPLES):  # an empty split is one empty part
                yield pipeline.encode_sequences(
                    part.tokens, part.tags, packed[start : start + SLICE_EXAMPLES], source=part.source, lines=part.lines
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

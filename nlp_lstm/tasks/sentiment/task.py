"""Sentiment analysis: labelled texts -> LSTM classifier. A composition of shared parts."""

from __future__ import annotations

import csv
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import keras
import numpy as np

from nlp_lstm.data.readers import LabelledTexts, labelled_text_reader
from nlp_lstm.data.streamed import RowReader, column_of
from nlp_lstm.errors import DataError, InputWarning, excerpt
from nlp_lstm.evaluation.classification import ClassificationEvaluation, evaluate_classification
from nlp_lstm.models.classifier import build_text_classifier
from nlp_lstm.models.losses import ClassLoss
from nlp_lstm.preprocessing.batching import PaddedBatches
from nlp_lstm.preprocessing.cache import EncodedExamples
from nlp_lstm.preprocessing.inputs import WordInputs
from nlp_lstm.preprocessing.labels import LabelEncoder
from nlp_lstm.tasks.base import DataSplits, Task, TrainedPipeline, non_blank, warn_truncated
from nlp_lstm.tasks.sentiment.config import SMALL_CLASS_EXAMPLES, SentimentConfig


def _as_texts(inputs: str | Sequence[str]) -> list[str]:
    if isinstance(inputs, str):
        return [inputs]
    texts = list(inputs)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"predict() takes strings; item {i} is {type(text).__name__}")
    return texts


def table_reader(config: SentimentConfig, path: str | Path) -> RowReader[tuple, LabelledTexts]:
    """A table of texts and labels with the config's columns, a row at a time (labels renamed by
    `data.label_names`)."""
    data = config.data
    reader = labelled_text_reader(
        path,
        format=data.format,
        text_column=data.text_column,
        label_column=data.label_column,
        header=data.header,
        delimiter=data.delimiter,
        encoding=data.encoding,
    )
    names = data.label_names
    if not names:
        return reader

    def assemble(rows: list[tuple]) -> LabelledTexts:
        table = reader.assemble(rows)
        if table.labels is not None:
            table.labels = [names.get(label, label) for label in table.labels]
        return table

    return replace(reader, assemble=assemble)


class SentimentPipeline(TrainedPipeline):
    """Raw text in, `{'label', 'score', 'probabilities'}` out."""

    config: SentimentConfig
    dataset_type = LabelledTexts
    output_name = "probabilities"
    file_reader = staticmethod(table_reader)

    def __init__(self, model: keras.Model, config: SentimentConfig, word_inputs: WordInputs, labels: LabelEncoder):
        super().__init__(model, config)
        self.word_inputs = word_inputs
        self.labels = labels

    def encode(self, data: LabelledTexts | Sequence[str]) -> EncodedExamples:
        """Word inputs per text, and class ids where the data has labels."""
        texts = data.texts if isinstance(data, LabelledTexts) else data
        targets = None
        if isinstance(data, LabelledTexts) and data.labels is not None:
            targets = self.labels.encode(data.labels, data.source, data.lines)
        return EncodedExamples(self.word_inputs.encode_texts(texts), targets)

    def batches(
        self,
        data: LabelledTexts | Sequence[str],
        *,
        shuffle: bool = False,
        batch_size: int | None = None,
        seed: int = 0,
    ) -> PaddedBatches:
        encoded = self.encode(data)
        return self.encoded_batches(encoded.inputs, encoded.targets, shuffle=shuffle, batch_size=batch_size, seed=seed)

    def encoded_batches(
        self,
        inputs: dict[str, list],
        targets=None,
        *,
        shuffle: bool = False,
        batch_size: int | None = None,
        seed: int = 0,
    ) -> PaddedBatches:
        return self.padded_batches(
            inputs, targets, length_field="token_ids", shuffle=shuffle, batch_size=batch_size, seed=seed
        )

    def predict_proba(self, texts: str | Sequence[str], batch_size: int = 256) -> np.ndarray:
        """Class probabilities per text, as the model gives them (an empty text reads as one unknown word)."""
        return self._probabilities(_as_texts(texts), batch_size)[0]

    def _probabilities(self, texts: list[str], batch_size: int) -> tuple[np.ndarray, list[bool]]:
        """Probabilities, and whether each text was cut to preprocessing.max_length."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype="float32"), []
        inputs, truncated = self.word_inputs.encode_texts_noting_truncation(texts)
        return np.stack(self.run_batches(self.encoded_batches(inputs, batch_size=batch_size))), truncated

    def predict(self, texts: str | Sequence[str], batch_size: int = 256) -> list[dict[str, Any]]:
        """Per text `{'label', 'score', 'probabilities'}`, plus `'truncated': True` when the text was longer
        than preprocessing.max_length and only its beginning was read (one warning counts them). An empty or
        whitespace-only text gets `{'label': None, 'score': None, 'probabilities': {}}`: no label is invented."""
        texts = _as_texts(texts)
        results: list[dict[str, Any]] = [{"label": None, "score": None, "probabilities": {}} for _ in texts]
        present = non_blank(texts)
        probabilities, truncated = self._probabilities([texts[i] for i in present], batch_size)
        for i, p, cut in zip(present, probabilities, truncated):
            k = int(p.argmax())
            results[i] = {
                "label": self.labels.classes[k],
                "score": float(p[k]),
                "probabilities": {c: float(v) for c, v in zip(self.labels.classes, p)},
            }
            if cut:
                results[i]["truncated"] = True
        warn_truncated(sum(truncated), len(texts), "preprocessing.max_length", self.word_inputs.tokenizer.max_length)
        return results

    def evaluate(self, data: LabelledTexts | str | Path) -> ClassificationEvaluation:
        data = self.as_dataset(data)
        self.labels.encode(data.labels, data.source, data.lines)  # an unseen gold label is a data error
        predicted = [p["label"] or "" for p in self.predict(data.texts)]  # an empty text has no label: wrong
        return evaluate_classification(data.labels, predicted, self.labels.classes)

    def write_predictions(self, data: LabelledTexts | str | Path, path: Path) -> None:
        """TSV: text, gold label (when known), predicted label, score."""
        data = self.as_dataset(data)
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
            writer.writerow(["text", "gold", "predicted", "score"])
            for i, prediction in enumerate(self.predict(data.texts)):
                gold = data.labels[i] if data.labels else ""
                score = "" if prediction["score"] is None else f"{prediction['score']:.6f}"
                writer.writerow([data.texts[i], gold, prediction["label"] or "", score])

    def model_io(self) -> tuple[list[str], int]:
        return self.word_inputs.input_names, len(self.labels)

    def prediction_type(self):
        from mlflow.types.schema import Object, Property

        probabilities = Object([Property(name, "double", required=False) for name in self.labels.classes])
        return Object(
            [
                Property("label", "string", required=False),
                Property("score", "double", required=False),
                Property("probabilities", probabilities, required=False),
                Property("truncated", "boolean", required=False),
            ]
        )

    def save_preprocessing(self, directory: Path) -> None:
        self.word_inputs.save(directory)
        self.labels.save(directory / "labels.json")

    @classmethod
    def load_preprocessing(cls, directory: Path, config: SentimentConfig) -> dict[str, Any]:
        return {"word_inputs": WordInputs.load(directory), "labels": LabelEncoder.load(directory / "labels.json")}


class SentimentTask(Task[LabelledTexts]):
    config_class = SentimentConfig
    pipeline_class = SentimentPipeline
    config: SentimentConfig
    preprocessing_model_keys = ("embeddings", "char_features", "casing")  # what WordInputs.fit reads
    encodes_examples_alone = True

    def stratify_key(self, data: LabelledTexts) -> Sequence[str]:
        return data.labels

    def check_splits(self, splits: DataSplits[LabelledTexts]) -> None:
        classes = LabelEncoder.fit(column_of(splits.train, "labels"))
        if len(classes) < 2:
            raise DataError(
                f"{splits.train.source}: every training example has the label {classes.classes[0]!r}; a classifier "
                f"needs at least two classes (is data.label_column {self.config.data.label_column!r} right?)"
            )
        for data in (splits.validation, splits.test):
            classes.encode(data.labels, data.source, data.lines)  # a label unseen in training names its line
        counts = Counter(column_of(splits.train, "labels"))
        small = sorted(name for name, count in counts.items() if count < SMALL_CLASS_EXAMPLES)
        if small:
            listed = ", ".join(f"{excerpt(name, 30)} ({counts[name]})" for name in small[:10])
            more = f" and {len(small) - 10} more" if len(small) > 10 else ""
            warnings.warn(
                InputWarning(
                    f"{len(small)} class(es) with fewer than {SMALL_CLASS_EXAMPLES} training examples: {listed}{more}; "
                    "the model can hardly learn them (add examples, or merge or drop those classes)"
                ),
                stacklevel=2,
            )

    def fit_preprocessing(self, train: LabelledTexts) -> dict[str, Any]:
        config = self.config
        return {
            "word_inputs": WordInputs.fit_texts(column_of(train, "texts"), config.preprocessing, config.model),
            "labels": LabelEncoder.fit(column_of(train, "labels")),
        }

    def build_model(self, preprocessing: dict[str, Any]) -> SentimentPipeline:
        word_inputs, labels = preprocessing["word_inputs"], preprocessing["labels"]
        model = build_text_classifier(
            num_classes=len(labels), config=self.config.model, **self.word_features(word_inputs)
        )
        self.compile_word_model(model, word_inputs.text_encoder.vocab, loss=ClassLoss(), metrics=["accuracy"])
        return SentimentPipeline(model, self.config, word_inputs, labels)

    def encode(self, pipeline: SentimentPipeline, data: LabelledTexts) -> EncodedExamples:
        return pipeline.encode(data)

    def batches_from(self, pipeline: SentimentPipeline, examples: EncodedExamples, *, shuffle: bool) -> PaddedBatches:
        return pipeline.encoded_batches(
            examples.inputs, examples.targets, shuffle=shuffle, seed=self.config.training.seed
        )

    def summary(self, pipeline: SentimentPipeline) -> dict[str, Any]:
        return {
            **super().summary(pipeline),
            **pipeline.word_inputs.vocab_sizes,
            "classes": ",".join(pipeline.labels.classes),
        }

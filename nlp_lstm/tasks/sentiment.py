"""Sentiment analysis: labelled texts -> LSTM classifier. A composition of shared parts."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np

from nlp_lstm.config.schema import SentimentConfig
from nlp_lstm.data.readers import LabelledTexts, read_labelled_texts
from nlp_lstm.evaluation.classification import ClassificationEvaluation, evaluate_classification
from nlp_lstm.models.classifier import build_text_classifier
from nlp_lstm.preprocessing.batching import PaddedBatches
from nlp_lstm.preprocessing.embeddings import configured_embedding_matrix
from nlp_lstm.preprocessing.inputs import WordInputs
from nlp_lstm.preprocessing.labels import LabelEncoder
from nlp_lstm.tasks.base import Task, TrainedPipeline, register_task
from nlp_lstm.training.trainer import compile_model


def _as_texts(inputs: str | Sequence[str]) -> list[str]:
    if isinstance(inputs, str):
        return [inputs]
    texts = list(inputs)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"predict() takes strings; item {i} is {type(text).__name__}")
    return texts


class SentimentPipeline(TrainedPipeline):
    """Raw text in, `{'label', 'score', 'probabilities'}` out."""

    task = "sentiment"
    config: SentimentConfig

    def __init__(self, model: keras.Model, config: SentimentConfig, word_inputs: WordInputs, labels: LabelEncoder):
        super().__init__(model, config)
        self.word_inputs = word_inputs
        self.labels = labels

    def batches(self, data: LabelledTexts | Sequence[str], *, shuffle: bool = False, batch_size: int | None = None,
                seed: int = 0) -> PaddedBatches:
        texts = data.texts if isinstance(data, LabelledTexts) else data
        targets = None
        if isinstance(data, LabelledTexts) and data.labels is not None:
            targets = self.labels.encode(data.labels, data.source, data.lines)
        prep = self.config.preprocessing
        return PaddedBatches(
            self.word_inputs.encode_texts(texts), targets,
            batch_size=batch_size or self.config.training.batch_size, shuffle=shuffle,
            bucket_by_length=prep.bucket_by_length, pad_to_multiple=prep.pad_to_multiple, seed=seed,
            length_field="token_ids",
        )

    def predict_proba(self, texts: str | Sequence[str], batch_size: int = 256) -> np.ndarray:
        texts = _as_texts(texts)
        if not texts:
            return np.zeros((0, len(self.labels)), dtype="float32")
        return np.stack(self.run_batches(self.batches(texts, batch_size=batch_size)))

    def predict(self, texts: str | Sequence[str], batch_size: int = 256) -> list[dict[str, Any]]:
        probabilities = self.predict_proba(texts, batch_size)
        best = probabilities.argmax(axis=1)
        return [
            {
                "label": self.labels.classes[k],
                "score": float(p[k]),
                "probabilities": {c: float(v) for c, v in zip(self.labels.classes, p)},
            }
            for k, p in zip(best, probabilities)
        ]

    def read_data(self, path: str | Path) -> LabelledTexts:
        return read_table(self.config, path)

    def evaluate(self, data: LabelledTexts | str | Path) -> ClassificationEvaluation:
        if not isinstance(data, LabelledTexts):
            data = self.read_data(data)
        self.labels.encode(data.labels, data.source, data.lines)  # an unseen gold label is a data error
        predicted = [p["label"] for p in self.predict(data.texts)]
        return evaluate_classification(data.labels, predicted, self.labels.classes)

    def write_predictions(self, data: LabelledTexts | str | Path, path: Path) -> None:
        """TSV: text, gold label (when known), predicted label, score."""
        if not isinstance(data, LabelledTexts):
            data = self.read_data(data)
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
            writer.writerow(["text", "gold", "predicted", "score"])
            for i, prediction in enumerate(self.predict(data.texts)):
                gold = data.labels[i] if data.labels else ""
                writer.writerow([data.texts[i], gold, prediction["label"], f"{prediction['score']:.6f}"])

    def save_preprocessing(self, directory: Path) -> None:
        self.word_inputs.save(directory)
        self.labels.save(directory / "labels.json")

    @classmethod
    def load_preprocessing(cls, directory: Path, config: SentimentConfig) -> dict[str, Any]:
        return {"word_inputs": WordInputs.load(directory), "labels": LabelEncoder.load(directory / "labels.json")}


def read_table(config: SentimentConfig, path: str | Path) -> LabelledTexts:
    data = config.data
    table = read_labelled_texts(
        path, format=data.format, text_column=data.text_column, label_column=data.label_column,
        header=data.header, delimiter=data.delimiter, encoding=data.encoding,
    )
    if data.label_names and table.labels is not None:
        table.labels = [data.label_names.get(label, label) for label in table.labels]
    return table


@register_task
class SentimentTask(Task[LabelledTexts]):
    name = "sentiment"
    pipeline_class = SentimentPipeline
    config: SentimentConfig

    def read_file(self, path: Path) -> LabelledTexts:
        return read_table(self.config, path)

    def subset(self, data: LabelledTexts, indices: list[int]) -> LabelledTexts:
        return data.subset(indices)

    def stratify_key(self, data: LabelledTexts) -> Sequence[str]:
        return data.labels

    def build_pipeline(self, train: LabelledTexts) -> SentimentPipeline:
        config = self.config
        word_inputs = WordInputs.fit_texts(train.texts, config.preprocessing, config.model)
        labels = LabelEncoder.fit(train.labels)
        matrix, self.pretrained_words_found = configured_embedding_matrix(
            config.model.embeddings, word_inputs.text_encoder.vocab, seed=config.training.seed
        )
        model = build_text_classifier(
            len(word_inputs.text_encoder.vocab), len(labels), config.model,
            char_vocab_size=word_inputs.vocab_sizes.get("char_vocab_size"), embedding_matrix=matrix,
        )
        compile_model(model, config.training, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return SentimentPipeline(model, self.config, word_inputs, labels)

    def batches(self, pipeline: SentimentPipeline, data: LabelledTexts, *, shuffle: bool) -> PaddedBatches:
        return pipeline.batches(data, shuffle=shuffle, seed=self.config.training.seed)

    def data_frame(self, data: LabelledTexts):
        import pandas as pd

        return pd.DataFrame({"text": data.texts, "label": data.labels})

    def summary(self, pipeline: SentimentPipeline) -> dict[str, Any]:
        return {**super().summary(pipeline), **pipeline.word_inputs.vocab_sizes,
                "classes": ",".join(pipeline.labels.classes)}

    def model_signature(self, pipeline: SentimentPipeline):
        from mlflow.models import ModelSignature
        from mlflow.types import Schema, TensorSpec

        return ModelSignature(
            inputs=pipeline.word_inputs.mlflow_schema(),
            outputs=Schema([TensorSpec(np.dtype("float32"), (-1, len(pipeline.labels)), "probabilities")]),
        )

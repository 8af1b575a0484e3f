"""The NER pipeline's config: CoNLL files, the BiLSTM-CRF tagger, epochs selected on entity F1."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nlp_lstm.config.registry import register_task
from nlp_lstm.config.schema import (
    ConllDataConfig,
    EarlyStoppingConfig,
    PipelineConfig,
    TaggerModelConfig,
    TaggingPreprocessingConfig,
    TrainingConfig,
)


class F1EarlyStoppingConfig(EarlyStoppingConfig):
    """Epoch selection and early stopping on validation entity F1."""

    monitor: str = Field(
        "val_f1",
        description="the validation metric that selects the kept epoch and drives early stopping and lr_schedule "
        "(val_f1, val_precision, val_recall or val_loss)",
    )
    mode: Literal["auto", "min", "max"] = Field(
        "max",
        description="whether the monitored metric is better lower (min) or higher (max); auto guesses from the metric "
        "(a loss: min, accuracy: max), so set it for any other",
    )
    patience: int = Field(
        5, ge=0, description="epochs without improvement of the monitored metric before training stops"
    )


class TaggerTrainingConfig(TrainingConfig):
    """Training for tasks scored by entity F1: select the epoch on validation F1."""

    epochs: int = Field(
        30,
        ge=1,
        description="most passes over the training data (early stopping or time_limit_minutes may end training sooner)",
    )
    batch_size: int = Field(
        32,
        ge=1,
        description="token sequences per training batch (sentence windows, or packed sentences with join_sentences); "
        "with distribution, the global batch",
    )
    early_stopping: F1EarlyStoppingConfig = Field(
        F1EarlyStoppingConfig(),
        description="which validation metric selects the kept epoch, and when training stops early",
    )


@register_task("ner", implementation=".task:NerTask", draft=".draft:draft")
class NerConfig(PipelineConfig):
    """Named entity recognition with a BiLSTM tagger (char features, CRF)."""

    metric = "f1"
    validation_metrics = ("f1", "precision", "recall")

    data: ConllDataConfig = Field(description="the CoNLL files: training, validation and test")
    preprocessing: TaggingPreprocessingConfig = Field(
        TaggingPreprocessingConfig(), description="normalisation, vocabulary, tag scheme and sequence lengths"
    )
    model: TaggerModelConfig = Field(
        TaggerModelConfig(), description="the BiLSTM tagger: word features, encoder and CRF or softmax output"
    )
    training: TaggerTrainingConfig = Field(
        TaggerTrainingConfig(), description="epochs, batches, optimizer, epoch selection (validation F1) and devices"
    )

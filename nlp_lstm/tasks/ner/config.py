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
    monitor: str = "val_f1"
    mode: Literal["auto", "min", "max"] = "max"
    patience: int = Field(5, ge=0)


class TaggerTrainingConfig(TrainingConfig):
    """Training for tasks scored by entity F1: select the epoch on validation F1."""

    epochs: int = Field(30, ge=1)
    batch_size: int = Field(32, ge=1)
    early_stopping: F1EarlyStoppingConfig = F1EarlyStoppingConfig()


@register_task("ner", implementation=".task:NerTask")
class NerConfig(PipelineConfig):
    """Named entity recognition with a BiLSTM tagger (char features, CRF)."""

    metric = "f1"
    validation_metrics = ("f1", "precision", "recall")

    data: ConllDataConfig
    preprocessing: TaggingPreprocessingConfig = TaggingPreprocessingConfig()
    model: TaggerModelConfig = TaggerModelConfig()
    training: TaggerTrainingConfig = TaggerTrainingConfig()

"""The translation pipeline's config: sentence pairs, the attentional encoder-decoder, beam search, BLEU."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from nlp_lstm.config.registry import register_task
from nlp_lstm.config.schema import (
    EarlyStoppingConfig,
    ParallelDataConfig,
    PipelineConfig,
    Section,
    TrainingConfig,
    TranslationPreprocessingConfig,
    TranslatorModelConfig,
)


class DecodingConfig(Section):
    """Inference: beam search (beam_size 1 is greedy) with a GNMT length penalty."""

    beam_size: int = Field(5, ge=1, description="1 = greedy decoding")
    length_penalty: float = Field(0.6, ge=0.0, description="alpha in ((5 + length) / 6) ** alpha; 0 = none")
    max_length: int = Field(100, ge=1, description="never more target tokens than this")
    max_length_ratio: float = Field(2.0, gt=0.0, description="at most ratio x source length + offset tokens")
    max_length_offset: int = Field(10, ge=0)
    validation_beam_size: int = Field(1, ge=1, description="beam for the per-epoch validation BLEU")
    replace_unknown: bool = Field(
        True,
        description="replace each <unk> in a translation by the source word it attends to most "
        "(names, numbers and rare words are copied as written)",
    )


class BleuEarlyStoppingConfig(EarlyStoppingConfig):
    monitor: str = "val_bleu"
    mode: Literal["auto", "min", "max"] = "max"
    patience: int = Field(5, ge=0)


class TranslatorTrainingConfig(TrainingConfig):
    """Teacher-forced training; the epoch is selected on validation BLEU."""

    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    label_smoothing: float = Field(0.1, ge=0.0, lt=1.0)
    early_stopping: BleuEarlyStoppingConfig = BleuEarlyStoppingConfig()


@register_task("translation", implementation=".task:TranslationTask")
class TranslationConfig(PipelineConfig):
    """Machine translation with an attentional LSTM encoder-decoder and beam search."""

    metric = "bleu"
    validation_metrics = ("bleu", "chrf")

    data: ParallelDataConfig
    preprocessing: TranslationPreprocessingConfig = TranslationPreprocessingConfig()
    model: TranslatorModelConfig = TranslatorModelConfig()
    decoding: DecodingConfig = DecodingConfig()
    training: TranslatorTrainingConfig = TranslatorTrainingConfig()

    @model_validator(mode="after")
    def _init_from_reads_words(self) -> TranslationConfig:
        if self.model.init_from is not None and self.preprocessing.source.subwords.enabled:
            raise ValueError(
                "model.init_from maps a word-level language model's words onto the source words; "
                "preprocessing.source.subwords splits them into pieces: turn one of them off"
            )
        return self

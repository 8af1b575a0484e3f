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
    max_length_offset: int = Field(
        10, ge=0, description="tokens added to max_length_ratio x source length in each sentence's length limit"
    )
    validation_beam_size: int = Field(1, ge=1, description="beam for the per-epoch validation BLEU")
    replace_unknown: bool = Field(
        True,
        description="replace each <unk> in a translation by the source word it attends to most "
        "(names, numbers and rare words are copied as written)",
    )


class BleuEarlyStoppingConfig(EarlyStoppingConfig):
    """Epoch selection and early stopping on validation BLEU."""

    monitor: str = Field(
        "val_bleu",
        description="the validation metric that selects the kept epoch and drives early stopping and lr_schedule "
        "(val_bleu, val_chrf or val_loss)",
    )
    mode: Literal["auto", "min", "max"] = Field(
        "max",
        description="whether the monitored metric is better lower (min) or higher (max); auto guesses from the metric "
        "(a loss: min, accuracy: max), so set it for any other",
    )
    patience: int = Field(
        5, ge=0, description="epochs without improvement of the monitored metric before training stops"
    )


class TranslatorTrainingConfig(TrainingConfig):
    """Teacher-forced training; the epoch is selected on validation BLEU."""

    epochs: int = Field(
        30,
        ge=1,
        description="most passes over the training pairs (early stopping or time_limit_minutes may end training "
        "sooner)",
    )
    batch_size: int = Field(
        64,
        ge=1,
        description="sentence pairs per training batch; with distribution, the global batch split over the devices",
    )
    label_smoothing: float = Field(
        0.1,
        ge=0.0,
        lt=1.0,
        description="share of each target token's probability spread evenly over the vocabulary in the training loss",
    )
    early_stopping: BleuEarlyStoppingConfig = Field(
        BleuEarlyStoppingConfig(),
        description="which validation metric selects the kept epoch, and when training stops early",
    )


@register_task("translation", implementation=".task:TranslationTask", draft=".draft:draft")
class TranslationConfig(PipelineConfig):
    """Machine translation with an attentional LSTM encoder-decoder and beam search."""

    metric = "bleu"
    validation_metrics = ("bleu", "chrf")

    data: ParallelDataConfig = Field(description="the sentence pairs: aligned files per language, or one table")
    preprocessing: TranslationPreprocessingConfig = Field(
        TranslationPreprocessingConfig(), description="tokenization and vocabulary of each side, long pairs, batching"
    )
    model: TranslatorModelConfig = Field(TranslatorModelConfig(), description="the attentional encoder-decoder")
    decoding: DecodingConfig = Field(
        DecodingConfig(), description="beam search settings of translation and of the per-epoch validation BLEU"
    )
    training: TranslatorTrainingConfig = Field(
        TranslatorTrainingConfig(),
        description="epochs, batches, loss, optimizer, epoch selection (validation BLEU) and devices",
    )

    @model_validator(mode="after")
    def _init_from_reads_words(self) -> TranslationConfig:
        if self.model.init_from is not None and self.preprocessing.source.subwords.enabled:
            raise ValueError(
                "model.init_from maps a word-level language model's words onto the source words; "
                "preprocessing.source.subwords splits them into pieces: turn one of them off"
            )
        return self

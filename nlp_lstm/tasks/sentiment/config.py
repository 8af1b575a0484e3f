"""The sentiment pipeline's config: a table of labelled texts, the LSTM classifier, accuracy."""

from __future__ import annotations

from nlp_lstm.config.registry import register_task
from nlp_lstm.config.schema import ClassifierModelConfig, PipelineConfig, TableDataConfig


@register_task("sentiment", implementation=".task:SentimentTask")
class SentimentConfig(PipelineConfig):
    """Text classification (sentiment analysis) with an LSTM classifier."""

    metric = "accuracy"

    data: TableDataConfig
    model: ClassifierModelConfig = ClassifierModelConfig()

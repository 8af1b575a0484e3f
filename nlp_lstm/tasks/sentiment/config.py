"""The sentiment pipeline's config: a table of labelled texts, the LSTM classifier, accuracy."""

from __future__ import annotations

from pydantic import Field

from nlp_lstm.config.registry import register_task
from nlp_lstm.config.schema import ClassifierModelConfig, PipelineConfig, TableDataConfig

# Training examples below which a class is too few to learn: `init` and `run` warn about such classes.
SMALL_CLASS_EXAMPLES = 10


@register_task("sentiment", implementation=".task:SentimentTask", draft=".draft:draft")
class SentimentConfig(PipelineConfig):
    """Text classification (sentiment analysis) with an LSTM classifier."""

    metric = "accuracy"

    data: TableDataConfig = Field(description="the table of labelled texts")
    model: ClassifierModelConfig = Field(ClassifierModelConfig(), description="the LSTM classifier")

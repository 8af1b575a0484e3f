"""The language model's config: plain text, words/characters/subword pieces, a forward LSTM with tied
embeddings and AWD-LSTM's dropouts, trained over running text by truncated BPTT, judged by perplexity."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from nlp_lstm.config.registry import register_task
from nlp_lstm.config.schema import (
    ColumnRef,
    DataConfig,
    EarlyStoppingConfig,
    LanguageModelFolder,
    PipelineConfig,
    PreprocessingCacheConfig,
    RecurrentConfig,
    Section,
    SpacyLanguage,
    TrainingConfig,
    VocabConfig,
    WordEmbeddingConfig,
    init_from_level_problem,
)


class TextDataConfig(DataConfig):
    """Plain text files (.txt, or .gz): one paragraph or sentence per line, or running text; or the text of
    another task's files, labels ignored (a classifier's table, a tagger's CoNLL file: one sentence a line,
    tokens joined by spaces, a blank line between documents), to fine-tune a language model on the corpus
    a sentiment or NER model will then learn from. Validation and test text not given are split off the
    training file by line."""

    format: Literal["text", "csv", "tsv", "jsonl", "conll"] = Field(
        "text",
        description="text: plain text, a paragraph or sentence a line (.txt or .gz); csv/tsv/jsonl: a table's "
        "text_column; conll: a CoNLL file's tokens, a sentence a line",
    )
    text_column: ColumnRef = Field("text", description="csv/tsv/jsonl: column (name or index) of the text")
    header: bool = Field(True, description="csv/tsv: first row holds column names")
    token_column: int = Field(0, description="conll: column of the token; negative counts from the end")
    delimiter: str | None = Field(
        None, min_length=1, description="csv/tsv: overrides the format's; conll: default any whitespace"
    )


class UnitSubwordConfig(Section):
    """SentencePiece pieces learned from the training text (`level: subword`)."""

    method: Literal["bpe", "unigram"] = Field(
        "bpe",
        description="SentencePiece model: bpe (byte-pair merges) or unigram (a unigram language model over pieces)",
    )
    vocab_size: int = Field(8000, ge=50, description="pieces to learn (fewer on a corpus that has fewer)")


class LanguageModelPreprocessingConfig(PreprocessingCacheConfig):
    """What the model predicts one after another, and how the text is cut into training sequences."""

    level: Literal["word", "char", "subword"] = Field(
        "word", description="word: tokens; char: characters (spaces included); subword: SentencePiece pieces"
    )
    tokenizer: Literal["spacy", "whitespace"] = Field(
        "spacy",
        description="word/subword: spaCy's rules, or split at whitespace (pre-tokenized corpora such as "
        "WikiText, whose <unk> then is the unknown word)",
    )
    language: SpacyLanguage = Field("en", description="spaCy language code of the tokenizer")
    lowercase: bool = Field(False, description="lowercase every unit (generated text is then lowercase too)")
    unicode_normalization: Literal["NFC", "NFKC", "none"] = Field(
        "NFC",
        description="Unicode normal form the units are put in: NFC (composed), NFKC (also folds compatibility forms), "
        "or none",
    )
    vocab: VocabConfig = Field(
        VocabConfig(), description="the units' vocabulary, learned from the training text; units left out map to <unk>"
    )
    subwords: UnitSubwordConfig = Field(
        UnitSubwordConfig(), description="level subword: the SentencePiece pieces learned from the training text"
    )
    mode: Literal["stream", "lines"] = Field(
        "stream",
        description="stream: the text as one sequence (an end-of-line unit after each line), read in "
        "segments with the state carried from one to the next (truncated BPTT); lines: each line on its own",
    )
    sequence_length: int = Field(70, ge=2, description="stream: units per training segment (the BPTT length)")
    max_length: int = Field(
        256,
        ge=1,
        description="lines: units per line read in training (longer lines are cut; "
        "evaluation and scoring read whole lines)",
    )
    evaluation_rows: int = Field(
        10,
        ge=1,
        description="stream: rows the validation and test text are read in for perplexity (each row "
        "from a fresh state; fewer rows, more context)",
    )
    bucket_by_length: bool = Field(True, description="lines: batch lines of similar length together")
    pad_to_multiple: int = Field(8, ge=1, description="lines: pad batch length up to a multiple (fewer shapes)")


class LanguageModelRecurrentConfig(RecurrentConfig):
    """The shared recurrent encoder with a language model's defaults: forward, two layers."""

    units: int = Field(512, ge=1, description="hidden units of each recurrent layer")
    layers: int = Field(2, ge=1, description="number of stacked recurrent layers")
    bidirectional: bool = Field(False, description="must stay false: a language model reads left to right")
    dropout: float = Field(0.2, ge=0.0, lt=1.0, description="dropout between stacked layers")


class LanguageModelNetworkConfig(WordEmbeddingConfig):
    """Embedding (optionally from pretrained word vectors: `embeddings`) -> forward recurrent encoder ->
    softmax over the vocabulary (tied to the embedding)."""

    init_from: LanguageModelFolder | None = Field(
        None,
        description="output folder of another language_model run to start from (fine-tuning it on this "
        "text: ULMFiT's second stage); same embedding_dim and rnn, units mapped by their text",
    )
    embedding_dim: int = Field(
        256, ge=1, description="size of each unit's embedding; when omitted with pretrained vectors, their dimension"
    )
    rnn: LanguageModelRecurrentConfig = Field(
        LanguageModelRecurrentConfig(), description="the forward recurrent encoder"
    )
    tie_embeddings: bool = Field(
        True,
        description="the output layer shares the embedding matrix (a projection to embedding_dim first "
        "when the top layer is wider)",
    )
    embedding_dropout: float = Field(0.1, ge=0.0, lt=1.0, description="training: word types dropped per batch")
    input_dropout: float = Field(0.3, ge=0.0, lt=1.0, description="locked dropout on the embeddings")
    output_dropout: float = Field(0.3, ge=0.0, lt=1.0, description="locked dropout on the top layer's outputs")
    softmax: Literal["full", "sampled", "adaptive"] = Field(
        "full",
        description="full: the softmax over the whole vocabulary; sampled: trained on the true unit against "
        "num_sampled units drawn by frequency rank (validation, test, scoring and generation use the full "
        "softmax); adaptive: an exact softmax in frequency clusters (Grave et al. 2017), the rare units' in "
        "fewer dimensions, in training and inference. Both are much faster than full for a large vocabulary",
    )
    num_sampled: int = Field(1024, ge=1, description="softmax: sampled: units drawn per training batch")
    adaptive_cutoffs: list[int] = Field(
        [2000, 10000],
        min_length=1,
        description="softmax: adaptive: the frequency ranks (unit ids) at which the tail clusters begin; "
        "cutoffs past a smaller vocabulary are dropped",
    )
    adaptive_factor: float = Field(
        4.0, ge=1.0, description="softmax: adaptive: each tail cluster has this many times fewer dimensions"
    )

    @field_validator("adaptive_cutoffs")
    @classmethod
    def _increasing(cls, cutoffs: list[int]) -> list[int]:
        if cutoffs[0] < 4 or any(b <= a for a, b in zip(cutoffs, cutoffs[1:])):
            raise ValueError(
                f"cutoffs must increase from at least 4 (the special units stay in the head), got {cutoffs}"
            )
        return cutoffs

    @model_validator(mode="after")
    def _vectors_for_the_training_words(self) -> LanguageModelNetworkConfig:
        if self.embeddings.extend_vocab:
            raise ValueError(
                "embeddings.extend_vocab: a language model predicts the units of its training text; words it "
                "never saw would only take probability from them (set extend_vocab: 0)"
            )
        if self.init_from is not None and self.embeddings.source is not None:
            raise ValueError(
                "embeddings and init_from: the embeddings come from init_from's language model (trained from "
                "its vectors, if it had any); remove embeddings"
            )
        return self

    @field_validator("rnn")
    @classmethod
    def _forward_only(cls, rnn: LanguageModelRecurrentConfig) -> LanguageModelRecurrentConfig:
        if rnn.bidirectional:
            raise ValueError("bidirectional: a language model reads left to right; set rnn.bidirectional: false")
        return rnn


class PerplexityEarlyStoppingConfig(EarlyStoppingConfig):
    """Epoch selection and early stopping on validation perplexity."""

    monitor: str = Field(
        "val_perplexity",
        description="the validation metric that selects the kept epoch and drives early stopping and lr_schedule "
        "(val_perplexity, val_bits_per_char or val_loss)",
    )
    mode: Literal["auto", "min", "max"] = Field(
        "min",
        description="whether the monitored metric is better lower (min) or higher (max); auto guesses from the metric "
        "(a loss: min, accuracy: max), so set it for any other",
    )
    patience: int = Field(
        3, ge=0, description="epochs without improvement of the monitored metric before training stops"
    )


class LanguageModelTrainingConfig(TrainingConfig):
    """Epochs selected on validation perplexity."""

    epochs: int = Field(
        20,
        ge=1,
        description="most passes over the training text (early stopping or time_limit_minutes may end training sooner)",
    )
    batch_size: int = Field(32, ge=1, description="stream: parallel streams the text is read in")
    early_stopping: PerplexityEarlyStoppingConfig = Field(
        PerplexityEarlyStoppingConfig(),
        description="which validation metric selects the kept epoch, and when training stops early",
    )


class GenerationConfig(Section):
    """Defaults of `generate` (each can be given per call)."""

    max_tokens: int = Field(50, ge=1, description="units generated after the prompt")
    temperature: float = Field(1.0, ge=0.0, description="0 = greedy (the most likely unit every step)")
    top_k: int = Field(0, ge=0, description="sample among the k most likely units; 0 = all")
    top_p: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="sample among the most likely units whose probabilities sum to p (nucleus sampling)",
    )


@register_task("language_model", implementation=".task:LanguageModelTask", draft=".draft:draft")
class LanguageModelConfig(PipelineConfig):
    """Language modelling with a forward LSTM over plain text, and text generation."""

    metric = "perplexity"
    validation_metrics = ("perplexity", "bits_per_char")

    data: TextDataConfig = Field(description="the text to learn from: plain text, or the text of another task's files")
    preprocessing: LanguageModelPreprocessingConfig = Field(
        LanguageModelPreprocessingConfig(),
        description="the units predicted, their vocabulary, and how the text is cut into training sequences",
    )
    model: LanguageModelNetworkConfig = Field(
        LanguageModelNetworkConfig(), description="the LSTM language model: embedding, forward encoder, softmax"
    )
    training: LanguageModelTrainingConfig = Field(
        LanguageModelTrainingConfig(),
        description="epochs, batches, optimizer, epoch selection (validation perplexity) and devices",
    )
    generation: GenerationConfig = Field(
        GenerationConfig(), description="defaults of generate (each can be given per call)"
    )

    @model_validator(mode="after")
    def _init_from_the_same_units(self) -> LanguageModelConfig:
        problem = init_from_level_problem(self.model.init_from, self.preprocessing.level)
        if problem:
            raise ValueError(f"model.init_from: {problem} (preprocessing.level)")
        return self

    @model_validator(mode="after")
    def _word_vectors_for_words(self) -> LanguageModelConfig:
        if self.model.embeddings.source is not None and self.preprocessing.level != "word":
            raise ValueError(
                f"model.embeddings: pretrained word vectors need preprocessing.level: word "
                f"(not {self.preprocessing.level})"
            )
        if self.training.distribution != "none" and self.preprocessing.mode == "stream":
            raise ValueError(
                f"training.distribution {self.training.distribution!r} with preprocessing.mode: stream: each batch "
                "row carries its state into the next batch, which data-parallel replicas do not share; use "
                "mode: lines, or distribution: none"
            )
        return self

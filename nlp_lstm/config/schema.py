"""Configuration schemas. Shared sections live here once; each task composes them into its pipeline config.

Every model forbids unknown keys, so a typo is an error that names the key (the loader adds the closest
valid key). Relative paths are resolved against the current working directory, like any command-line path.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Iterator, Literal, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


_CHECK_FILES: ContextVar[bool] = ContextVar("check_files", default=True)


@contextmanager
def skip_file_checks() -> Iterator[None]:
    """Validate without requiring data files to exist (a saved model's config, after the data moved)."""
    token = _CHECK_FILES.set(False)
    try:
        yield
    finally:
        _CHECK_FILES.reset(token)


def _existing_file(path: Path) -> Path:
    path = Path(path).expanduser()
    if not _CHECK_FILES.get():
        return path
    if not path.exists():
        raise ValueError(f"file not found: {path.resolve()}")
    if not path.is_file():
        raise ValueError(f"not a file: {path.resolve()}")
    return path


def _spacy_language(code: str) -> str:
    import spacy.util

    try:
        spacy.util.get_lang_class(code)
    except Exception:
        raise ValueError(f"spaCy has no language {code!r} (e.g. en, de, fr, es; xx for multi-language)") from None
    return code


SpacyLanguage = Annotated[str, AfterValidator(_spacy_language)]
ExistingFile = Annotated[Path, AfterValidator(_existing_file)]
ColumnRef = Union[int, str]


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ----------------------------------------------------------------------------------------------- data
class SplitConfig(Section):
    """How validation/test splits are taken off the training file when they are not given."""

    validation_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    test_fraction: float = Field(0.1, gt=0.0, lt=1.0)
    stratify: bool = True
    seed: int | None = Field(None, description="defaults to training.seed")


class DataConfig(Section):
    """Input files shared by every task. Task configs extend it with their columns."""

    train: ExistingFile
    validation: ExistingFile | None = None
    test: ExistingFile | None = None
    encoding: str = "utf-8"
    split: SplitConfig = SplitConfig()

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> "DataConfig":
        taken = (self.split.validation_fraction if self.validation is None else 0.0) + (
            self.split.test_fraction if self.test is None else 0.0
        )
        if taken >= 0.9:
            raise ValueError(
                f"split.validation_fraction + split.test_fraction = {taken:.2f} leaves almost no training data"
            )
        return self


class ConllDataConfig(DataConfig):
    """Token-per-line files (CoNLL-2003, WNUT, WikiANN...): a blank line between sentences."""

    format: Literal["conll"] = "conll"
    token_column: int = Field(0, description="column of the token; negative counts from the end")
    tag_column: int = Field(-1, description="column of the entity tag; negative counts from the end")
    delimiter: str | None = Field(None, min_length=1, description="column separator; default any whitespace")
    scheme: Literal["auto", "iob1", "iob2", "iobes"] = Field("auto", description="tag scheme of the files")


class TableDataConfig(DataConfig):
    """A CSV/TSV/JSONL file with a text column and a label column."""

    format: Literal["auto", "csv", "tsv", "jsonl"] = "auto"
    text_column: ColumnRef = "text"
    label_column: ColumnRef = "label"
    header: bool = Field(True, description="first row holds column names (csv/tsv)")
    delimiter: str | None = Field(None, min_length=1, max_length=1, description="overrides the format's")
    label_names: dict[str, str] | None = Field(None, description="renames raw labels, e.g. {'0': negative}")


# ------------------------------------------------------------------------------------- preprocessing
class VocabConfig(Section):
    min_frequency: int = Field(1, ge=1)
    max_size: int | None = Field(None, ge=1, description="most frequent tokens kept, specials excluded")


class PreprocessingConfig(Section):
    """Tokenization, normalisation, vocabulary and batching, shared by every pipeline."""

    language: SpacyLanguage = Field("en", description="spaCy language code for spacy.blank()")
    lowercase: bool = True
    unicode_normalization: Literal["NFC", "NFKC", "none"] = "NFKC"
    replace_digits: bool = Field(False, description="map every digit to 0")
    max_length: int = Field(128, ge=1, description="tokens kept per text; longer texts are truncated")
    vocab: VocabConfig = VocabConfig()
    bucket_by_length: bool = Field(True, description="batch texts of similar length together")
    pad_to_multiple: int = Field(8, ge=1, description="pad batch length up to a multiple (fewer shapes)")


class TaggingPreprocessingConfig(PreprocessingConfig):
    """Sequence labelling: words are given, so tokenization only applies to raw text at prediction time."""

    replace_digits: bool = Field(True, description="map every digit to 0 (word ids only; chars see the digits)")
    max_length: int = Field(128, ge=1, description="longer sentences are tagged in consecutive windows")
    tag_scheme: Literal["iob1", "iob2", "iobes"] = Field("iobes", description="scheme the model is trained in")


# --------------------------------------------------------------------------------------------- model
class RecurrentConfig(Section):
    """A stacked (bi)directional recurrent encoder. Defaults keep the layers eligible for cuDNN."""

    cell: Literal["lstm", "gru"] = "lstm"
    units: int = Field(128, ge=1)
    layers: int = Field(1, ge=1)
    bidirectional: bool = True
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout between stacked layers")
    recurrent_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="> 0 disables cuDNN")
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    use_bias: bool = True
    unroll: bool = False


class CharFeaturesConfig(Section):
    """Character-level word features from each token as written, concatenated to the word embeddings."""

    enabled: bool = False
    encoder: Literal["cnn", "lstm"] = Field("cnn", description="char CNN (Ma & Hovy) or char BiLSTM (Lample et al.)")
    embedding_dim: int = Field(32, ge=1)
    filters: int = Field(64, ge=1, description="cnn: number of filters")
    kernel_size: int = Field(3, ge=1, description="cnn: window width")
    lstm_units: int = Field(25, ge=1, description="lstm: units per direction")
    max_word_length: int = Field(20, ge=1, description="characters kept per token")
    min_frequency: int = Field(1, ge=1, description="rarer characters map to the unknown character")


class CasingFeaturesConfig(Section):
    """A learned embedding of each token's shape class (lower, Title, UPPER, numeric, punctuation...)."""

    enabled: bool = False
    embedding_dim: int = Field(8, ge=1)


class EmbeddingsConfig(Section):
    """Pretrained word vectors from a GloVe or word2vec text file, used to initialise the embedding."""

    path: ExistingFile | None = Field(None, description="GloVe/word2vec .txt(.gz); its dimension sets embedding_dim")
    trainable: bool = True
    lowercase_fallback: bool = Field(True, description="look up the lowercased word when the word is missing")


class WordFeaturesConfig(Section):
    """How each token becomes a vector: word embedding (+ pretrained vectors, chars, casing)."""

    embeddings: EmbeddingsConfig = EmbeddingsConfig()  # before embedding_dim, whose check reads it
    embedding_dim: int = Field(128, ge=1)
    word_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="training: replace tokens by OOV at this rate")
    char_features: CharFeaturesConfig = CharFeaturesConfig()
    casing: CasingFeaturesConfig = CasingFeaturesConfig()

    @field_validator("embedding_dim")
    @classmethod
    def _matches_vectors(cls, value: int, info: ValidationInfo) -> int:
        """An explicit embedding_dim must equal the pretrained vectors' dimension."""
        embeddings = info.data.get("embeddings")
        if embeddings is None or embeddings.path is None or not _CHECK_FILES.get():
            return value
        from nlp_lstm.preprocessing.embeddings import vector_dimension

        dimension = vector_dimension(embeddings.path)
        if value != dimension:
            raise ValueError(
                f"{value}, but the vectors in {embeddings.path} have {dimension} dimensions; "
                "remove embedding_dim or make them equal"
            )
        return value

    @model_validator(mode="after")
    def _dimension_from_vectors(self) -> "WordFeaturesConfig":
        if self.embeddings.path is None or not _CHECK_FILES.get() or "embedding_dim" in self.model_fields_set:
            return self
        from nlp_lstm.preprocessing.embeddings import vector_dimension

        self.__dict__["embedding_dim"] = vector_dimension(self.embeddings.path)  # no re-validation loop
        return self


class ClassifierModelConfig(WordFeaturesConfig):
    """Embedding -> recurrent encoder -> pooling -> dense head -> softmax."""

    embedding_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="drops whole embedding channels")
    rnn: RecurrentConfig = RecurrentConfig()
    pooling: Literal["max", "mean", "last", "attention"] = "max"
    hidden_units: list[Annotated[int, Field(ge=1)]] = Field(default_factory=list)
    dropout: float = Field(0.3, ge=0.0, lt=1.0, description="dropout before each dense layer")


class TaggerCharFeaturesConfig(CharFeaturesConfig):
    enabled: bool = True


class TaggerCasingFeaturesConfig(CasingFeaturesConfig):
    enabled: bool = True


class TaggerModelConfig(WordFeaturesConfig):
    """Word features -> dropout -> stacked BiLSTM -> dropout -> per-tag scores -> CRF (or softmax)."""

    embedding_dim: int = Field(100, ge=1)
    char_features: TaggerCharFeaturesConfig = TaggerCharFeaturesConfig()
    casing: TaggerCasingFeaturesConfig = TaggerCasingFeaturesConfig()
    input_dropout: float = Field(0.5, ge=0.0, lt=1.0, description="dropout on the word features")
    rnn: RecurrentConfig = RecurrentConfig(units=128)
    output_dropout: float = Field(0.5, ge=0.0, lt=1.0, description="dropout on the BiLSTM outputs")
    decoder: Literal["crf", "softmax"] = "crf"
    constrain_transitions: bool = Field(True, description="crf: forbid transitions invalid in the tag scheme")


# ------------------------------------------------------------------------------------------ training
class OptimizerConfig(Section):
    name: Literal["adam", "adamw", "nadam", "rmsprop", "sgd"] = "adam"
    learning_rate: float = Field(1e-3, gt=0.0)
    weight_decay: float | None = Field(None, ge=0.0)
    clipnorm: float | None = Field(5.0, gt=0.0, description="gradient clipping by norm")
    momentum: float | None = Field(None, ge=0.0, lt=1.0, description="sgd only")


class EarlyStoppingConfig(Section):
    enabled: bool = True
    monitor: str = "val_loss"
    mode: Literal["auto", "min", "max"] = "auto"
    patience: int = Field(3, ge=0)
    min_delta: float = Field(0.0, ge=0.0)


class LRScheduleConfig(Section):
    """Reduce the learning rate when the monitored validation metric stops improving."""

    reduce_on_plateau: bool = False
    factor: float = Field(0.5, gt=0.0, lt=1.0)
    patience: int = Field(1, ge=0)
    min_learning_rate: float = Field(1e-6, ge=0.0)


class TrainingConfig(Section):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    seed: int = 42
    optimizer: OptimizerConfig = OptimizerConfig()
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    lr_schedule: LRScheduleConfig = LRScheduleConfig()
    verbose: Literal["auto", 0, 1, 2] = Field("auto", description="Keras progress: 1 bar, 2 line/epoch")


class F1EarlyStoppingConfig(EarlyStoppingConfig):
    monitor: str = "val_f1"
    mode: Literal["auto", "min", "max"] = "max"
    patience: int = Field(5, ge=0)


class TaggerTrainingConfig(TrainingConfig):
    """Training for tasks scored by entity F1: select the epoch on validation F1."""

    epochs: int = Field(30, ge=1)
    batch_size: int = Field(32, ge=1)
    early_stopping: F1EarlyStoppingConfig = F1EarlyStoppingConfig()


# ------------------------------------------------------------------------------------------ tracking
class TrackingConfig(Section):
    enabled: bool = True
    uri: str | None = Field(None, description="MLflow tracking URI; default MLFLOW_TRACKING_URI or sqlite")
    experiment: str | None = Field(None, description="defaults to 'nlp_lstm-<task>'")
    run_name: str | None = Field(None, description="defaults to '<pipeline name>-<timestamp>'")
    log_model: bool = True
    log_datasets: bool = True
    tags: dict[str, str] = Field(default_factory=dict)


# --------------------------------------------------------------------------------------- pipelines
class PipelineConfig(Section):
    """Sections every task has. A task's config narrows `data` and `model`."""

    task: str
    name: str | None = Field(None, description="defaults to the YAML file's stem")
    data: DataConfig
    preprocessing: PreprocessingConfig = PreprocessingConfig()
    model: Section
    training: TrainingConfig = TrainingConfig()
    tracking: TrackingConfig = TrackingConfig()
    output_dir: Path = Path("outputs")


class SentimentConfig(PipelineConfig):
    """Text classification (sentiment analysis) with an LSTM classifier."""

    task: Literal["sentiment"]
    data: TableDataConfig
    model: ClassifierModelConfig = ClassifierModelConfig()


class NerConfig(PipelineConfig):
    """Named entity recognition with a BiLSTM tagger (char features, CRF)."""

    task: Literal["ner"]
    data: ConllDataConfig
    preprocessing: TaggingPreprocessingConfig = TaggingPreprocessingConfig()
    model: TaggerModelConfig = TaggerModelConfig()
    training: TaggerTrainingConfig = TaggerTrainingConfig()


TASK_CONFIGS: dict[str, type[PipelineConfig]] = {"sentiment": SentimentConfig, "ner": NerConfig}

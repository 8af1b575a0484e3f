"""What a task provides to the shared runner, and the trained-pipeline base class `nlp_lstm.load` returns.

A task is a thin composition: how to read its files, how to fit its preprocessing and build its model
from shared parts, and how to evaluate. Everything else (splits, batching, training, saving, tracking,
CLI) is shared. A `Task` subclass names its registered config class (`config_class`); its name and its
pipeline's come from that registration.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import keras
import numpy as np

from nlp_lstm.config.loader import config_to_yaml
from nlp_lstm.config.schema import PipelineConfig
from nlp_lstm.data.splits import split_off
from nlp_lstm.data.streamed import SLICE_EXAMPLES, RowReader, StreamedSplit
from nlp_lstm.errors import InputWarning, ModelDirError, UsageError, excerpt
from nlp_lstm.files import atomic_path, atomic_write_text, file_fingerprint
from nlp_lstm.model_dir import (
    CONFIG,
    FINISHED,
    MODEL,
    PIPELINE_FORMAT,
    is_finished,
    load_best_weights,
    load_keras_model,
    load_saved_config,
    load_saved_part,
    read_manifest,
    write_manifest,
)
from nlp_lstm.preprocessing.batching import PaddedBatches, restore_order
from nlp_lstm.preprocessing.cache import (
    EncodedExamples,
    PreprocessingCache,
    cache_key,
    source_digest,
)
from nlp_lstm.preprocessing.embeddings import configured_embedding_matrix
from nlp_lstm.preprocessing.inputs import WordInputs
from nlp_lstm.preprocessing.vocab import Vocabulary
from nlp_lstm.tasks.transfer import Transfer, TransferSite, fine_tuning
from nlp_lstm.training.callbacks import ValidationMetrics
from nlp_lstm.training.checkpoints import weights_bytes
from nlp_lstm.training.layer_rates import LayerRates, LayerRateSchedule
from nlp_lstm.training.trainer import compile_model
from nlp_lstm.version import __version__

Dataset = TypeVar("Dataset")

# The code that reads, fits and encodes (with each task's own module): part of the preprocessing cache's key.
PREPROCESSING_CODE = Path(__file__).resolve().parents[1] / "preprocessing"
DATA_CODE = Path(__file__).resolve().parents[1] / "data"


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries whose rules tokenize and segment text (another spaCy may split otherwise)."""
    versions: dict[str, str | None] = {}
    for name in ("spacy", "sentencepiece"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@dataclass
class DataSplits(Generic[Dataset]):
    train: Dataset
    validation: Dataset
    test: Dataset
    files: dict[str, Path]  # split name -> the file it was read from
    origin: dict[str, str]  # split name -> how it was obtained, e.g. "0.1 of data/train.csv"


@dataclass
class CachedSplit:
    """A training split left unread because the preprocessing cache holds it fitted and encoded (an entry
    for the same files and settings: a rerun, a sweep's next trial), so parsing it would only cost time.
    The same files passed `check_splits` when the entry was built.

    Args:
        examples: how many examples the file gave then.
        source: the file.
    """

    examples: int
    source: str

    def __len__(self) -> int:
        return self.examples


class Evaluation(Protocol):
    """What a task's evaluation gives the runner: flat, MLflow-ready metrics and report files."""

    metrics: dict[str, float]

    def save(self, directory: Path, prefix: str = "") -> dict[str, Path]: ...


# The most a request may ask of a count, so that one request cannot hold a server (a billion generated units,
# a model compiled per beam width, a batch that does not fit in memory).
OPTION_LIMITS = {"batch_size": 4096, "beam_size": 64, "max_tokens": 4096}


def _finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


class TrainedPipeline(ABC):
    """A Keras model together with its preprocessing and config: raw inputs in, predictions out."""

    task: ClassVar[str]  # set from the task's registration (see `Task`)
    dataset_type: ClassVar[type]  # what `read_file` returns
    output_name: ClassVar[str]  # what the Keras model's output is called in its logged signature
    # Whether `predict` also takes pre-tokenized inputs (a list of token strings per input; NER tags them).
    takes_tokens: ClassVar[bool] = False

    def __init__(self, model: keras.Model, config: PipelineConfig):
        self.model = model
        self.config = config
        self.manifest: dict[str, Any] = {"task": self.task, "status": FINISHED}
        self.runtime_arrays: dict[str, str] = {}  # file -> sha256 of what `save_runtime_arrays` last wrote

    # --------------------------------------------------------------------------- task specifics
    @abstractmethod
    def predict(self, inputs: Sequence[Any], batch_size: int = 256) -> list[Any]: ...

    @abstractmethod
    def evaluate(self, data: Any) -> Evaluation:
        """`data` is a dataset read by the task, or a path read with the pipeline's data settings."""

    @staticmethod
    @abstractmethod
    def file_reader(config: PipelineConfig, path: str | Path) -> RowReader:
        """A labelled file read with `config`'s data settings, one example at a time (a training split is
        streamed from it, a slice at a time)."""

    @classmethod
    def read_file(cls, config: PipelineConfig, path: str | Path) -> Any:
        """A labelled file read whole with `config`'s data settings."""
        return cls.file_reader(config, path).read()

    @abstractmethod
    def save_preprocessing(self, directory: Path) -> None: ...

    @classmethod
    @abstractmethod
    def load_preprocessing(cls, directory: Path, config: PipelineConfig) -> dict[str, Any]:
        """Keyword arguments for the constructor, besides model and config."""

    def write_predictions(self, data: Any, path: Path) -> None:
        """Write predictions for `data` in the task's conventional text format."""
        raise UsageError(f"--predictions-out is not supported for the {self.task} task")

    @property
    def writes_predictions(self) -> bool:
        return type(self).write_predictions is not TrainedPipeline.write_predictions

    def export_model(self) -> keras.Model:
        """The Keras model saved in the folder and logged to MLflow: the trained model itself, unless training
        needs state of its own (a language model's carried states)."""
        return self.model

    @property
    def num_parameters(self) -> int:
        return self.export_model().count_params()

    # ------------------------------------------------------------------------------ shared parts
    def read_data(self, path: str | Path) -> Any:
        """Read a labelled file with the same settings as the training data."""
        return self.read_file(self.config, path)

    def as_dataset(self, data: Any) -> Any:
        """`data` if it is already a dataset of this task, else the file it names, read."""
        return data if isinstance(data, self.dataset_type) else self.read_data(data)

    def padded_batches(
        self,
        inputs: dict[str, list],
        targets: Any = None,
        *,
        length_field: str,
        shuffle: bool = False,
        batch_size: int | None = None,
        seed: int = 0,
    ) -> PaddedBatches:
        """Batches of encoded examples with the config's batching settings (bucketing, padding multiple)."""
        return PaddedBatches.configured(
            self.config,
            inputs,
            targets,
            length_field=length_field,
            shuffle=shuffle,
            batch_size=batch_size,
            seed=seed,
        )

    def run_batches(
        self, batches: PaddedBatches, model: keras.Model | None = None, prepare: Callable[[Any], Any] | None = None
    ) -> list[np.ndarray]:
        """Outputs of `model` (default: the trained model) per example, in input order (batches may be
        bucketed by length); `prepare` turns each batch's inputs into the model's, if given."""
        model = model or self.model
        prepare = prepare or (lambda inputs: inputs)
        outputs = [model.predict_on_batch(prepare(batches[i][0])) for i in range(len(batches))]
        return restore_order([np.asarray(o) for o in outputs], batches.batch_indices)

    def save(
        self,
        directory: str | Path,
        *,
        status: str = FINISHED,
        run: dict[str, Any] | None = None,
        preprocessing: bool = True,
    ) -> Path:
        """Write the folder `nlp_lstm.load` reads: model, preprocessing, config and manifest (last, so a folder
        with a manifest is complete). `status` "training" marks the folder of a run still in progress."""
        directory = Path(directory)
        if preprocessing:
            (directory / "preprocessing").mkdir(parents=True, exist_ok=True)
            self.save_preprocessing(directory / "preprocessing")
        atomic_write_text(directory / CONFIG, config_to_yaml(self.config, directory))  # a resumed run may train longer
        model = self.export_model()
        with atomic_path(directory / MODEL, suffix=".keras", needed=weights_bytes(model)) as temporary:
            model.save(temporary)
        self.runtime_arrays = self.save_runtime_arrays(directory)
        self.manifest = self.manifest_for(status, run)
        write_manifest(directory, self.manifest)
        return directory

    def save_runtime_arrays(self, directory: Path) -> dict[str, str]:
        """Write the files that let the pipeline predict without Keras (none by default; NER's NumPy tagger);
        file name -> SHA-256, recorded in the manifest, so that files the model no longer matches (a folder
        rewritten by another version) are never used."""
        return {}

    def manifest_for(self, status: str, run: dict[str, Any] | None) -> dict[str, Any]:
        """The `pipeline.json` of this pipeline saved with `status` by the run `run` describes."""
        manifest = {
            "format": PIPELINE_FORMAT,
            "task": self.task,
            "status": status,
            "nlp_lstm_version": __version__,
            "keras_version": keras.__version__,
            "keras_backend": keras.backend.backend(),
        }
        if run:
            manifest["run"] = run
        if self.runtime_arrays:
            manifest["runtime_arrays"] = dict(self.runtime_arrays)
        return manifest

    @property
    def unfinished(self) -> bool:
        """Loaded from the folder of a run that has not finished (its best epoch so far)."""
        return not is_finished(self.manifest)

    def check_model(self, directory: Path) -> None:
        """A `model.keras` that does not fit this folder's preprocessing (copied from another run or task) is
        an error here rather than wrong predictions later."""
        expected_inputs, expected_outputs = self.model_io()
        inputs = sorted(tensor.name.split(":")[0] for tensor in self.model.inputs)
        outputs = self.model.outputs[0].shape[-1] if self.model.outputs else None
        if inputs != sorted(expected_inputs) or outputs != expected_outputs:
            raise ModelDirError(
                f"{directory / MODEL}: not the {self.task} model this folder's preprocessing feeds (its inputs: "
                f"{', '.join(inputs)}, {outputs} outputs; expected: {', '.join(sorted(expected_inputs))}, "
                f"{expected_outputs} outputs); was it copied from another run?"
            )

    def predict_options(self) -> dict[str, Any]:
        """The keyword options of `predict` a served model takes (as MLflow params), with their defaults."""
        return {"batch_size": 256}

    def least_option_value(self, name: str) -> int:
        """The least value the whole-number option `name` takes: 1 for a count (batch_size, beam_size), 0 for
        an option off by default (a seed)."""
        return 1 if self.predict_options()[name] else 0

    def checked_options(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        """A request's prediction options, checked against `predict_options`: an unknown name, or a value of
        another kind than the option's default (a whole number below its least value, a fraction where a
        count goes, a text where a flag goes) is a UsageError naming it. A None value keeps the default."""
        options = self.predict_options()
        unknown = sorted(set(params or {}) - set(options))
        if unknown:
            raise UsageError(f"unknown params {unknown}; this {self.task} model takes {sorted(options)}")
        chosen = {name: value for name, value in (params or {}).items() if value is not None}
        for name, value in chosen.items():
            default = options[name]
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise UsageError(f"param {name} must be true or false, got {excerpt(value)}")
            elif default is None or isinstance(default, int):
                least = self.least_option_value(name)
                if isinstance(value, bool) or not isinstance(value, int) or value < least:
                    raise UsageError(f"param {name} must be a whole number >= {least}, got {excerpt(value)}")
                greatest = OPTION_LIMITS.get(name)
                if greatest is not None and value > greatest:
                    raise UsageError(f"param {name} must be at most {greatest}, got {excerpt(value)}")
            elif isinstance(default, float) and not _finite_number(value):
                raise UsageError(f"param {name} must be a number, got {excerpt(value)}")
        return chosen

    @abstractmethod
    def prediction_type(self):
        """The MLflow type of one answer of `predict` (a model signature's output)."""

    @abstractmethod
    def model_io(self) -> tuple[list[str], int]:
        """The model's input names and output size that this pipeline's preprocessing implies."""

    @classmethod
    def load(cls, directory: str | Path) -> TrainedPipeline:
        directory = Path(directory)
        manifest = read_manifest(directory, (cls.task,))
        config = load_saved_config(directory, cls.task)
        kwargs = load_saved_part(directory, "preprocessing", lambda folder: cls.load_preprocessing(folder, config))
        model = load_keras_model(directory)
        pipeline = cls(model=model, config=config, **kwargs)
        pipeline.manifest = manifest
        pipeline.check_model(directory)
        if not is_finished(manifest):
            pipeline.load_unfinished_weights(directory)
        return pipeline

    def load_unfinished_weights(self, directory: Path) -> None:
        """The best epoch so far of the unfinished run in `directory` (its checkpoint holds the trained model's
        weights)."""
        load_best_weights(self.model, directory)


class Task(ABC, Generic[Dataset]):
    """A pipeline type: reads its data, builds an untrained pipeline, turns data into batches."""

    config_class: ClassVar[type[PipelineConfig]]  # registered with `register_task`, which names the task
    pipeline_class: ClassVar[type[TrainedPipeline]]
    name: ClassVar[str]  # from the config's registration
    # The task's validation metrics include `loss` (logged as `val_loss`), so Keras' own validation pass,
    # a second reading of the validation data, is left out.
    validates_loss: ClassVar[bool] = False
    # The `model` config keys the fitted preprocessing depends on (part of the preprocessing cache's key).
    preprocessing_model_keys: ClassVar[tuple[str, ...]] = ()
    # Whether `encode` reads each example alone (no packing or joining across examples): a split is then
    # encoded for training a slice of `SLICE_EXAMPLES` examples at a time (`encode_parts`).
    encodes_examples_alone: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        config_class = cls.__dict__.get("config_class")
        if config_class is not None:
            if not config_class.task_name:
                raise TypeError(
                    f"{cls.__name__}.config_class {config_class.__name__} is not registered "
                    "(decorate it with nlp_lstm.config.registry.register_task)"
                )
            pipeline_class = cls.__dict__.get("pipeline_class")
            if pipeline_class is None:
                raise TypeError(f"{cls.__name__} sets config_class but no pipeline_class of its own")
            existing = pipeline_class.__dict__.get("task")
            if existing not in (None, config_class.task_name):
                raise TypeError(f"{pipeline_class.__name__} is the {existing} task's pipeline already")
            cls.name = pipeline_class.task = config_class.task_name

    def __init__(self, config: PipelineConfig):
        self.config = config
        self.pretrained_words_found: int | None = None  # set by build_pipeline when vectors are loaded
        self.layer_rates: LayerRates | None = None  # set by `compile_word_model`
        self.transfer: Transfer | None = None
        self.cache_status = "off"  # how `prepare` got the preprocessing: off, built or reused
        self._cache_key: str | None = None
        self._fingerprints: list[dict[str, Any]] | None = None
        self.cache_writable = True  # False: read an entry, never store one (a multi_worker run's other workers)

    # --------------------------------------------------------------------------- task specifics
    @abstractmethod
    def fit_preprocessing(self, train: Dataset) -> dict[str, Any]:
        """Fit the preprocessing on the training data: the pipeline's constructor arguments besides the model
        and the config (what `pipeline_class.load_preprocessing` reads back)."""

    @abstractmethod
    def build_model(self, preprocessing: dict[str, Any]) -> TrainedPipeline:
        """The untrained pipeline over fitted preprocessing, its model built and compiled."""

    @abstractmethod
    def encode(self, pipeline: TrainedPipeline, data: Dataset) -> EncodedExamples:
        """A split as training reads it: the model's inputs and targets per example, as ids."""

    @abstractmethod
    def batches_from(self, pipeline: TrainedPipeline, examples: EncodedExamples, *, shuffle: bool):
        """Training (`shuffle`) or validation batches over encoded examples."""

    def encode_parts(self, pipeline: TrainedPipeline, data: Dataset) -> Iterator[EncodedExamples]:
        """`encode` of consecutive parts of `data` whose encodings, one after another, are the whole's
        (`slices`; a task that joins examples, such as NER's packed sentences, cuts where no packed sequence
        spans the cut)."""
        for part in self.slices(data):
            yield self.encode(pipeline, part)

    def slices(self, data: Dataset | StreamedSplit[Dataset]) -> Iterator[Dataset]:
        """Consecutive parts of a split, each of about `SLICE_EXAMPLES` examples: a streamed split's as its
        file is read (ending where its reader may cut); else subsets when the task `encodes_examples_alone`,
        or the whole (an empty split is one empty part)."""
        if isinstance(data, StreamedSplit):
            yield from data.slices(SLICE_EXAMPLES)
        elif not self.encodes_examples_alone:
            yield data
        else:
            for start in range(0, max(len(data), 1), SLICE_EXAMPLES):
                yield self.subset(data, list(range(start, min(start + SLICE_EXAMPLES, len(data)))))

    def check_encoded(self, train: EncodedExamples, source: Path) -> None:
        """Raise `DataError` for encoded training examples that cannot train (a task may drop examples)."""

    def encoded(self, pipeline: TrainedPipeline, data: Dataset) -> EncodedExamples:
        """A split as training reads it, packed into arrays (`EncodedExamples.packed`) part by part, so that
        a large corpus is never held as one Python list per example and one int object per id."""
        return EncodedExamples.concatenate(self.encode_parts(pipeline, data))

    def build_pipeline(self, train: Dataset) -> TrainedPipeline:
        """Fit preprocessing on the training data and build (and compile) the untrained model."""
        return self.build_model(self.fit_preprocessing(train))

    def batches(self, pipeline: TrainedPipeline, data: Dataset, *, shuffle: bool):
        return self.batches_from(pipeline, self.encoded(pipeline, data), shuffle=shuffle)

    def read_file(self, path: Path) -> Dataset:
        """A training, validation or test file, read with the config's data settings."""
        return self.pipeline_class.read_file(self.config, path)

    def read_training_file(self) -> StreamedSplit[Dataset]:
        """The training file as a `StreamedSplit`: read through once now, to count and check its rows, then
        again a slice at a time whenever it is needed."""
        path = Path(self.config.data.train)
        reader = self.pipeline_class.file_reader(self.config, path)
        return StreamedSplit.counted(reader, str(path), files=self.files_of_split("train"))

    def subset(self, data: Dataset, indices: list[int]) -> Dataset:
        return data.subset(indices)

    def stratify_key(self, data: Dataset) -> Sequence[str] | None:
        """Per-example labels to stratify splits by, or None."""
        return None

    def data_frame(self, data: Dataset):
        """A pandas DataFrame view of a dataset, for MLflow's dataset tracking."""
        return data.to_frame()

    def validation_scores(self, pipeline: TrainedPipeline, data: Dataset) -> dict[str, float]:
        """The config's `validation_metrics` of `pipeline` on the validation data, after each epoch."""
        return pipeline.evaluate(data).metrics

    def summary(self, pipeline: TrainedPipeline) -> dict[str, Any]:
        """Extra facts logged as params (vocabulary sizes, classes...); tasks extend this."""
        facts: dict[str, Any] = {"preprocessing_cache": self.cache_status}
        if self.pretrained_words_found is not None:
            facts["pretrained_words_found"] = self.pretrained_words_found
        if self.transfer is not None and self.transfer.words_found is not None:
            facts["init_from_words_found"] = self.transfer.words_found
        return facts

    def split_files(self) -> dict[str, Path]:
        """Split name -> the file it is read from (the training file for a split taken off it)."""
        data = self.config.data
        return {name: Path(getattr(data, name) or data.train) for name in ("train", "validation", "test")}

    def files_of_split(self, name: str) -> list[Path]:
        """The files split `name` is read from (one, unless the task reads a split from several)."""
        return [self.split_files()[name]]

    def input_files(self) -> list[Path]:
        """The files a run reads: its splits' files and a pretrained vectors file (a resumed run checks that
        none changed; they key the preprocessing cache)."""
        files = {path for name in ("train", "validation", "test") for path in self.files_of_split(name)}
        vectors = getattr(getattr(self.config.model, "embeddings", None), "path", None)
        return sorted(files | ({Path(vectors)} if vectors else set()), key=str)

    def file_fingerprints(self) -> list[dict[str, Any]]:
        """`file_fingerprint` of each of `input_files`, taken once per run: the tracked data fingerprints and the
        preprocessing cache key hash the files once between them."""
        if self._fingerprints is None:
            self._fingerprints = [file_fingerprint(path) for path in self.input_files()]
        return [dict(fingerprint) for fingerprint in self._fingerprints]

    def check_splits(self, splits: DataSplits[Dataset]) -> None:
        """Raise `DataError` for data that would fail or mislead only after training started (one class, a
        validation label never seen in training), so that a bad file leaves no folder and no MLflow run."""

    def check(self, splits: DataSplits[Dataset]) -> None:
        """`check_splits`, unless the training split was left to the preprocessing cache (`CachedSplit`)."""
        if not isinstance(splits.train, CachedSplit):
            self.check_splits(splits)

    def callbacks(self, pipeline: TrainedPipeline, splits: DataSplits) -> list[keras.callbacks.Callback]:
        """Callbacks of the task's own (first: the per-epoch `validation_metrics`, which the monitor may name)."""
        keys = (*self.config_class.validation_metrics, *(("loss",) if self.validates_loss else ()))
        task_callbacks: list[keras.callbacks.Callback] = []
        if keys:
            task_callbacks.append(ValidationMetrics(lambda: self.validation_scores(pipeline, splits.validation), keys))
        if self.layer_rates is not None and self.layer_rates.active:
            task_callbacks.append(LayerRateSchedule())
        return task_callbacks

    def word_features(self, word_inputs: WordInputs) -> dict[str, Any]:
        """Model-builder arguments for a model over `word_inputs`: the vocabulary sizes and the embedding
        matrix of the configured pretrained vectors (None without any)."""
        matrix, self.pretrained_words_found = configured_embedding_matrix(
            self.config.model.embeddings, word_inputs.text_encoder.vocab, seed=self.config.training.seed
        )
        return {
            "vocab_size": len(word_inputs.text_encoder.vocab),
            "char_vocab_size": word_inputs.vocab_sizes.get("char_vocab_size"),
            "embedding_matrix": matrix,
        }

    def compile_word_model(
        self, model: keras.Model, vocab: Vocabulary, loss: Any, metrics=None, site: TransferSite | None = None
    ) -> None:
        """Compile a model over words (`vocab`), first initialised from `model.init_from` when set, with the
        layer rates of `model.freeze_epochs` and `model.discriminative_lr`. `site`: where the model keeps
        the embedding and encoder a language model initialises (default: the classifier's and tagger's)."""
        site = site or TransferSite.of_word_model(model, self.config.model)
        self.layer_rates, self.transfer = fine_tuning(site, vocab, self.config.model)
        compile_model(model, self.config.training, loss=loss, metrics=metrics, layer_rates=self.layer_rates)

    # ------------------------------------------------------------------------------ shared parts
    def prepare(self, splits: DataSplits[Dataset], log=print) -> tuple[TrainedPipeline, Any, Any]:
        """The untrained pipeline, the training batches and the batches of Keras' validation pass after each
        epoch (its `val_loss`; None when the task's own validation metrics give the loss). The fitted
        preprocessing and the encoded examples come from the preprocessing cache when it holds an entry for
        these files and settings; else they are made here and stored there (a cache that cannot be written
        is said and skipped: it only saves time)."""
        cache = self.preprocessing_cache()
        key = self.preprocessing_key() if cache is not None else ""
        entry = cache.find(key) if cache is not None else None
        keras_validation = not self.validates_loss
        pipeline = None
        if entry is not None:
            try:
                preprocessing = self.pipeline_class.load_preprocessing(entry / "preprocessing", self.config)
                train = EncodedExamples.load(entry / "train")
                validation = EncodedExamples.load(entry / "validation") if keras_validation else None
            except Exception as exc:  # noqa: BLE001 (whatever a damaged entry raises, it is rebuilt, not trusted)
                log(f"preprocessing: the cache entry {entry} is unreadable ({type(exc).__name__}); rebuilding it")
                cache.discard(key)
            else:
                pipeline = self.build_model(preprocessing)
                self.cache_status = "reused"
                log(f"preprocessing: reused {entry} (same files, same preprocessing settings)")
        if pipeline is None and isinstance(splits.train, CachedSplit):  # its entry went since the splits were read
            splits.train = self.read_training_file()
            self.check_splits(splits)
        if pipeline is None:
            pipeline = self.build_pipeline(splits.train)
            stored = None
            if cache is not None and self.cache_writable:
                # The examples are written into the entry as they are encoded and read back from it, memory-mapped.

                def write(folder: Path) -> None:
                    (folder / "preprocessing").mkdir()
                    pipeline.save_preprocessing(folder / "preprocessing")
                    EncodedExamples.write(self.encode_parts(pipeline, splits.train), folder / "train")
                    if keras_validation:
                        EncodedExamples.write(self.encode_parts(pipeline, splits.validation), folder / "validation")

                try:
                    described = {"task": self.name, "files": splits.files, "train_examples": len(splits.train)}
                    stored = cache.store(key, write, described)
                except OSError as exc:
                    log(f"preprocessing: not cached ({cache.root}: {exc.strerror or exc})")
                else:
                    self.cache_status = "built"
                    log(f"preprocessing: cached in {stored}")
            if stored is not None:
                train = EncodedExamples.load(stored / "train")
                validation = EncodedExamples.load(stored / "validation") if keras_validation else None
            else:
                train = self.encoded(pipeline, splits.train)
                validation = self.encoded(pipeline, splits.validation) if keras_validation else None
        self.check_encoded(train, splits.files["train"])
        train_batches = self.batches_from(pipeline, train, shuffle=True)
        validation_batches = None if validation is None else self.batches_from(pipeline, validation, shuffle=False)
        return pipeline, train_batches, validation_batches

    def preprocessing_cache(self) -> PreprocessingCache | None:
        """The cache `preprocessing.cache` asks for, or None."""
        settings = self.config.preprocessing
        if not settings.cache:
            return None
        return PreprocessingCache(settings.cache_dir or Path(self.config.output_dir).parent / ".preprocessing_cache")

    def preprocessing_key(self) -> str:
        """This run's preprocessing cache key (its files hashed once: reading the splits and preparing them
        look up the same entry)."""
        if self._cache_key is None:
            self._cache_key = cache_key(
                self.input_files(), self.preprocessing_settings(), fingerprints=self.file_fingerprints()
            )
        return self._cache_key

    def cached_training_split(self) -> CachedSplit | None:
        """The training split as a `CachedSplit` when the preprocessing cache holds it, else None."""
        cache = self.preprocessing_cache()
        described = cache.description(self.preprocessing_key()) if cache is not None else None
        examples = described.get("train_examples") if described else None
        if not isinstance(examples, int):  # no entry, or one written before entries counted their examples
            return None
        return CachedSplit(examples, str(self.config.data.train))

    def preprocessing_settings(self) -> dict[str, Any]:
        """Every setting the fitted preprocessing and the encoded examples depend on (with the input files,
        the preprocessing cache's key)."""
        config = self.config
        data = config.data
        splits_taken = data.validation is None or data.test is None
        split_seed = data.split.seed if data.split.seed is not None else config.training.seed
        preprocessing = config.preprocessing
        code = [*PREPROCESSING_CODE.glob("*.py"), *DATA_CODE.glob("*.py"), Path(inspect.getfile(type(self)))]
        return {
            "task": self.name,
            "code": {"nlp_lstm": __version__, "sources": source_digest(code), **library_versions()},
            "data": data.model_dump(mode="json"),
            "split_seed": split_seed if splits_taken else None,  # only a split taken off the training file
            "preprocessing": preprocessing.model_dump(mode="json", exclude=set(preprocessing.batching_keys)),
            "model": config.model.model_dump(mode="json", include=set(self.preprocessing_model_keys)),
        }

    def hold_out(self, data: Dataset, fraction: float, *, seed: int, stratify: bool) -> tuple[list[int], list[int]]:
        """Indices kept for training and taken for a held-out split: a seeded random `fraction`, stratified by
        `stratify_key` when asked."""
        return split_off(len(data), fraction, seed=seed, stratify_by=self.stratify_key(data) if stratify else None)

    def read_splits(self) -> DataSplits[Dataset]:
        """Train/validation/test, splitting missing ones off the training file (seeded, stratified)."""
        data = self.config.data
        split = data.split
        seed = split.seed if split.seed is not None else self.config.training.seed
        # With its own validation and test files, a training split the cache holds need not be read at all,
        # and one it does not is streamed from its file; else it is read whole, to take the held-out rows off.
        held_out = data.validation is None or data.test is None
        cached = None if held_out else self.cached_training_split()
        if cached is not None:
            train = cached
        elif held_out:
            train = self.read_file(data.train)
        else:
            train = self.read_training_file()
        origin = {"train": str(data.train) + (" (not read: held in the preprocessing cache)" if cached else "")}
        held: dict[str, Dataset] = {}
        taken = 0.0  # fraction of the original training file already held out
        for name, fraction in (("test", split.test_fraction), ("validation", split.validation_fraction)):
            path = getattr(data, name)
            if path is not None:
                held[name] = self.read_file(path)
                origin[name] = str(path)
                continue
            keep, take = self.hold_out(train, fraction / (1.0 - taken), seed=seed, stratify=split.stratify)
            held[name] = self.subset(train, take)
            train = self.subset(train, keep)
            taken += fraction
            origin[name] = f"{fraction:g} of {data.train}"
        return DataSplits(
            train=train, validation=held["validation"], test=held["test"], files=self.split_files(), origin=origin
        )


def non_blank(texts: Sequence[str]) -> list[int]:
    """Indices of the texts with something to predict from (empty and whitespace-only texts get an explicit
    empty answer instead of the model's guess for an empty input)."""
    return [i for i, text in enumerate(texts) if text.strip()]


def warn_truncated(count: int, total: int, setting: str, limit: int | None) -> None:
    """One warning for the inputs of a `predict` call that were cut to the model's maximum length."""
    if count:
        warnings.warn(
            InputWarning(
                f"{count} of {total} input{'s' if total != 1 else ''} had more than {setting} "
                f"({limit}) tokens; only the first {limit} were read"
            ),
            stacklevel=3,
        )

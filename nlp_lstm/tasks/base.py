"""What a task provides to the shared runner, and the trained-pipeline base class `nlp_lstm.load` returns.

A task is a thin composition: how to read its files, how to fit its preprocessing and build its model
from shared parts, and how to evaluate. Everything else (splits, batching, training, saving, tracking,
CLI) is shared.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, Sequence, TypeVar

import keras
import numpy as np

from nlp_lstm.config.loader import config_to_yaml
from nlp_lstm.config.schema import PipelineConfig
from nlp_lstm.data.splits import split_off
from nlp_lstm.errors import ModelDirError
from nlp_lstm.preprocessing.batching import PaddedBatches, restore_order

PIPELINE_FORMAT = 1
Dataset = TypeVar("Dataset")


@dataclass
class DataSplits(Generic[Dataset]):
    train: Dataset
    validation: Dataset
    test: Dataset
    files: dict[str, Path]  # split name -> the file it was read from
    origin: dict[str, str]  # split name -> how it was obtained, e.g. "0.1 of data/train.csv"


class Evaluation(Protocol):
    """What a task's evaluation gives the runner: flat, MLflow-ready metrics and report files."""

    metrics: dict[str, float]

    def save(self, directory: Path, prefix: str = "") -> dict[str, Path]: ...


class TrainedPipeline(ABC):
    """A Keras model together with its preprocessing and config: raw inputs in, predictions out."""

    task: ClassVar[str]

    def __init__(self, model: keras.Model, config: PipelineConfig):
        self.model = model
        self.config = config

    # --------------------------------------------------------------------------- task specifics
    @abstractmethod
    def predict(self, inputs: Sequence[Any], batch_size: int = 256) -> list[Any]: ...

    @abstractmethod
    def evaluate(self, data: Any) -> Evaluation:
        """`data` is a dataset read by the task, or a path read with the pipeline's data settings."""

    @abstractmethod
    def read_data(self, path: str | Path) -> Any:
        """Read a labelled file with the same settings as the training data."""

    @abstractmethod
    def save_preprocessing(self, directory: Path) -> None: ...

    @classmethod
    @abstractmethod
    def load_preprocessing(cls, directory: Path, config: PipelineConfig) -> dict[str, Any]:
        """Keyword arguments for the constructor, besides model and config."""

    def write_predictions(self, data: Any, path: Path) -> None:
        """Write predictions for `data` in the task's conventional text format."""
        raise NotImplementedError(f"--predictions-out is not supported for the {self.task} task")

    # ------------------------------------------------------------------------------ shared parts
    def run_batches(self, batches: PaddedBatches, model: keras.Model | None = None) -> list[np.ndarray]:
        """Outputs of `model` (default: the trained model) per example, in input order (batches may be
        bucketed by length)."""
        model = model or self.model
        outputs = [model.predict_on_batch(batches[i][0]) for i in range(len(batches))]
        return restore_order([np.asarray(o) for o in outputs], batches.batch_indices)

    def save(self, directory: str | Path) -> Path:
        import nlp_lstm

        directory = Path(directory)
        (directory / "preprocessing").mkdir(parents=True, exist_ok=True)
        self.model.save(directory / "model.keras")
        self.save_preprocessing(directory / "preprocessing")
        (directory / "config.yaml").write_text(config_to_yaml(self.config), encoding="utf-8")
        manifest = {
            "format": PIPELINE_FORMAT,
            "task": self.task,
            "nlp_lstm_version": nlp_lstm.__version__,
            "keras_version": keras.__version__,
            "keras_backend": keras.backend.backend(),
        }
        (directory / "pipeline.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> "TrainedPipeline":
        directory = Path(directory)
        if not (directory / "pipeline.json").exists():
            raise ModelDirError(f"{directory}: not a saved nlp_lstm pipeline (pipeline.json missing)")
        config = load_saved_config(directory)
        kwargs = cls.load_preprocessing(directory / "preprocessing", config)
        model = keras.saving.load_model(directory / "model.keras", compile=False)
        return cls(model=model, config=config, **kwargs)


def load_saved_config(directory: Path) -> PipelineConfig:
    """The config saved with a pipeline, validated without checking that its data files still exist."""
    import yaml

    from nlp_lstm.config.schema import TASK_CONFIGS, skip_file_checks

    raw = yaml.safe_load((directory / "config.yaml").read_text(encoding="utf-8"))
    with skip_file_checks():
        return TASK_CONFIGS[raw["task"]].model_validate(raw)


class Task(ABC, Generic[Dataset]):
    """A pipeline type: reads its data, builds an untrained pipeline, turns data into batches."""

    name: ClassVar[str]
    pipeline_class: ClassVar[type[TrainedPipeline]]

    def __init__(self, config: PipelineConfig):
        self.config = config
        self.pretrained_words_found: int | None = None  # set by build_pipeline when vectors are loaded

    # --------------------------------------------------------------------------- task specifics
    @abstractmethod
    def read_file(self, path: Path) -> Dataset: ...

    @abstractmethod
    def subset(self, data: Dataset, indices: list[int]) -> Dataset: ...

    @abstractmethod
    def stratify_key(self, data: Dataset) -> Sequence[str] | None:
        """Per-example labels to stratify splits by, or None."""

    @abstractmethod
    def build_pipeline(self, train: Dataset) -> TrainedPipeline:
        """Fit preprocessing on the training data and build (and compile) the untrained model."""

    @abstractmethod
    def batches(self, pipeline: TrainedPipeline, data: Dataset, *, shuffle: bool) -> PaddedBatches: ...

    @abstractmethod
    def data_frame(self, data: Dataset):
        """A pandas DataFrame view of a dataset, for MLflow's dataset tracking."""

    def summary(self, pipeline: TrainedPipeline) -> dict[str, Any]:
        """Extra facts logged as params (vocabulary sizes, classes...); tasks extend this."""
        if self.pretrained_words_found is None:
            return {}
        return {"pretrained_words_found": self.pretrained_words_found}

    def model_signature(self, pipeline: TrainedPipeline):
        return None

    def callbacks(self, pipeline: TrainedPipeline, splits: DataSplits) -> list[keras.callbacks.Callback]:
        return []

    # ------------------------------------------------------------------------------ shared parts
    def read_splits(self) -> DataSplits[Dataset]:
        """Train/validation/test, splitting missing ones off the training file (seeded, stratified)."""
        data = self.config.data
        split = data.split
        seed = split.seed if split.seed is not None else self.config.training.seed
        train = self.read_file(data.train)
        origin = {"train": str(data.train)}
        held: dict[str, Dataset] = {}
        taken = 0.0  # fraction of the original training file already held out
        for name, fraction in (("test", split.test_fraction), ("validation", split.validation_fraction)):
            path = getattr(data, name)
            if path is not None:
                held[name] = self.read_file(path)
                origin[name] = str(path)
                continue
            keep, take = split_off(
                len(train), fraction / (1.0 - taken), seed=seed,
                stratify_by=self.stratify_key(train) if split.stratify else None,
            )
            held[name] = self.subset(train, take)
            train = self.subset(train, keep)
            taken += fraction
            origin[name] = f"{fraction:g} of {data.train}"
        files = {name: getattr(data, name) or data.train for name in ("train", "validation", "test")}
        return DataSplits(train=train, validation=held["validation"], test=held["test"], files=files, origin=origin)


TASKS: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    TASKS[cls.name] = cls
    return cls


def get_task(name: str) -> type[Task]:
    import nlp_lstm.tasks  # noqa: F401  (registers the built-in tasks)

    return TASKS[name]

"""Tasks: each a package (`<task>/config.py` registers its config, `<task>/task.py` implements it from the
shared parts). Importing this package is cheap: the implementations (and Keras) load on first use."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nlp_lstm.config.registry import task_entry, task_names
from nlp_lstm.lazy import lazy_attributes

if TYPE_CHECKING:
    from nlp_lstm.tasks.base import Task, TrainedPipeline


def get_task(name: str) -> type[Task]:
    """The `Task` subclass of the registered task `name`."""
    return task_entry(name).load()


def load_folder(directory: str | Path) -> TrainedPipeline:
    """The pipeline saved in `directory`, by the task its `pipeline.json` names."""
    from nlp_lstm.model_dir import read_manifest

    manifest = read_manifest(Path(directory), task_names())
    return get_task(manifest["task"]).pipeline_class.load(directory)


__getattr__ = lazy_attributes(__name__, {"DataSplits": "base", "Task": "base", "TrainedPipeline": "base"})
__all__ = ["DataSplits", "Task", "TrainedPipeline", "get_task", "load_folder", "task_names"]

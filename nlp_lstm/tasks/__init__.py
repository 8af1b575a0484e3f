"""Tasks: each a thin composition of the shared parts, registered by name."""

from nlp_lstm.tasks.base import TASKS, DataSplits, Task, TrainedPipeline, get_task, register_task
from nlp_lstm.tasks import ner, sentiment, translation  # noqa: F401  (registers the tasks)

__all__ = ["TASKS", "DataSplits", "Task", "TrainedPipeline", "get_task", "register_task"]

"""The task registry: a task's name is written once, in its config's registration, and both the config
loader and the runner find the task there."""

from __future__ import annotations

from pathlib import Path

import pytest

from nlp_lstm.config import load_config, registry
from nlp_lstm.config.registry import register_task, task_entry, task_names
from nlp_lstm.config.schema import ClassifierModelConfig, PipelineConfig, TableDataConfig
from nlp_lstm.errors import ConfigError

BUILT_IN = ("language_model", "ner", "sentiment", "translation")


@pytest.mark.parametrize("name", BUILT_IN)
def test_each_built_in_task_takes_its_name_from_its_registration(name: str):
    from nlp_lstm.tasks import get_task

    entry = task_entry(name)
    task = get_task(name)
    assert entry.config_class.task_name == task.name == task.pipeline_class.task == name
    assert task.config_class is entry.config_class
    assert entry.implementation == f"nlp_lstm.tasks.{name}.task:{task.__name__}"


def test_the_registry_finds_every_task_package():
    tasks_dir = Path(registry.importlib.import_module("nlp_lstm.tasks").__file__).parent
    packages = sorted(p.name for p in tasks_dir.iterdir() if (p / "config.py").is_file())
    assert task_names() == tuple(packages) == BUILT_IN


@pytest.fixture
def scratch_registry(monkeypatch):
    """The registry as it is, restored after the test (a test's own tasks do not leak)."""
    task_names()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_a_new_task_is_one_registration_away(tmp_path, scratch_registry):
    @register_task("toy_classifier", implementation=".task:ToyTask")
    class ToyConfig(PipelineConfig):
        metric = "accuracy"
        data: TableDataConfig
        model: ClassifierModelConfig = ClassifierModelConfig()

    train = tmp_path / "train.csv"
    train.write_text("text,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    config = load_config(data={"task": "toy_classifier", "data": {"train": str(train)}})
    assert isinstance(config, ToyConfig) and config.task_name == "toy_classifier"
    assert "toy_classifier" in task_names()
    assert task_entry("toy_classifier").implementation == "tests.task:ToyTask"  # relative to its package
    with pytest.raises(ConfigError) as exc:
        load_config(data={"task": "toy_clasifier", "data": {"train": str(train)}})
    assert "did you mean 'toy_classifier'?" in exc.value.problems[0]


def test_a_name_is_registered_once(scratch_registry):
    with pytest.raises(ValueError, match="registered twice"):

        @register_task("sentiment", implementation="somewhere:Else")
        class AnotherSentimentConfig(PipelineConfig):
            data: TableDataConfig

    with pytest.raises(ValueError, match="module:Class"):
        register_task("new_task", implementation="no_class_given")(type("X", (), {}))


def test_a_task_class_must_name_a_registered_config():
    from nlp_lstm.tasks.base import Task

    class Unregistered(PipelineConfig):
        data: TableDataConfig

    with pytest.raises(TypeError, match="not registered"):
        type("OrphanTask", (Task,), {"config_class": Unregistered, "pipeline_class": type("P", (), {})})

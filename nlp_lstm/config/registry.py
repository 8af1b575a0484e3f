"""The task registry: the one place that maps a task name to its config class and its implementation.

A task is a package (`nlp_lstm/tasks/<name>/`, or any installed package named by an `nlp_lstm.tasks` entry
point) whose `config` module declares the task's config and registers it:

    @register_task("sentiment", implementation=".task:SentimentTask", draft=".draft:draft")
    class SentimentConfig(PipelineConfig): ...

The config loader reads the config class from here without importing Keras (validating a config stays
cheap); the runner imports the implementation (the `Task` subclass) only when it trains or loads a model.
Both take the task name from this registration, nowhere else.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import pkgutil
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from nlp_lstm.config.schema import PipelineConfig

ENTRY_POINT_GROUP = "nlp_lstm.tasks"  # value: a module that registers a task (its config module)
BUILT_IN_TASKS = "nlp_lstm.tasks"  # each subpackage with a `config` module is a task

ConfigClass = TypeVar("ConfigClass", bound=type)


@dataclass(frozen=True)
class TaskEntry:
    """A registered task: its name, config class, where its `Task` subclass lives ("module:Class") and, when
    it can draft a config from a user's files (`nlp-lstm init`), where its drafter lives."""

    name: str
    config_class: type[PipelineConfig]
    implementation: str
    draft: str | None = None

    def load(self) -> type:
        """The task's `Task` subclass (imports its module, and with it Keras)."""
        return _attribute(self.implementation)

    def drafter(self) -> Callable | None:
        """The task's config drafter (a function from a DraftRequest to a Draft), or None."""
        return None if self.draft is None else _attribute(self.draft)


def _attribute(reference: str):
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _absolute(reference: str, config_class: type) -> str:
    """ "module:attribute", a module starting with "." taken relative to the config class's package."""
    module, _, attribute = reference.partition(":")
    if not attribute:
        raise ValueError(f"{reference!r}: expected 'module:Class' (or 'module:function')")
    if module.startswith("."):
        package = getattr(sys.modules.get(config_class.__module__), "__package__", None)
        if not package:
            raise ValueError(f"{reference!r} is relative, but {config_class.__module__} is not in a package")
        module = importlib.util.resolve_name(module, package)
    return f"{module}:{attribute}"


_REGISTRY: dict[str, TaskEntry] = {}
_discovered = False
_discovery_lock = threading.RLock()  # RLock: a config module imported during discovery may ask for names


def register_task(name: str, *, implementation: str, draft: str | None = None) -> Callable[[ConfigClass], ConfigClass]:
    """Class decorator registering a task's config class under `name`.

    Args:
        name: the value of `task:` in a pipeline YAML and in a saved folder's `pipeline.json`.
        implementation: "module:Class" of the task's `Task` subclass; a module starting with "." is relative
            to the config class's package (".task:SentimentTask").
        draft: "module:function" of the task's config drafter for `nlp-lstm init` (".draft:draft"), if any.
    """
    if not name.isidentifier():
        raise ValueError(f"task name {name!r}: use letters, digits and '_'")

    def decorate(config_class: ConfigClass) -> ConfigClass:
        task_class = _absolute(implementation, config_class)
        drafter = None if draft is None else _absolute(draft, config_class)
        existing = _REGISTRY.get(name)
        if existing is not None and _where(existing.config_class) != _where(config_class):  # not a re-import
            raise ValueError(f"task {name!r} is registered twice: {existing.config_class} and {config_class}")
        config_class.task_name = name
        _REGISTRY[name] = TaskEntry(name, config_class, task_class, drafter)
        return config_class

    return decorate


def _where(config_class: type) -> tuple[str, str]:
    return config_class.__module__, config_class.__qualname__


def _discover() -> None:
    """Import every task's config module once: the built-in task packages, then entry points (a package
    whose task fails to import is left out with a warning; the other tasks still work)."""
    global _discovered
    with _discovery_lock:
        if _discovered:
            return
        package = importlib.import_module(BUILT_IN_TASKS)
        for module in pkgutil.iter_modules(package.__path__):
            if module.ispkg and importlib.util.find_spec(f"{BUILT_IN_TASKS}.{module.name}.config") is not None:
                importlib.import_module(f"{BUILT_IN_TASKS}.{module.name}.config")
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                importlib.import_module(entry_point.module)
            except Exception as exc:  # another package's bug must not break every command
                warnings.warn(
                    f"entry point {entry_point.name} = {entry_point.value} ({ENTRY_POINT_GROUP}) failed "
                    f"to import: {type(exc).__name__}: {exc}",
                    stacklevel=2,
                )
        _discovered = True


def task_names() -> tuple[str, ...]:
    """Every registered task name, sorted."""
    _discover()
    return tuple(sorted(_REGISTRY))


def task_entry(name: str) -> TaskEntry:
    """The registration of task `name` (KeyError if there is none)."""
    _discover()
    return _REGISTRY[name]

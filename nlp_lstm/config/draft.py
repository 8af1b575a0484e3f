"""A pipeline config drafted from a user's data files (`nlp-lstm init`): what each task's drafter returns.

A task that can draft its config registers a drafter (`register_task(..., draft=".draft:draft")`): a function
from a `DraftRequest` to a `Draft`, which looks at the files (never trains) and says out loud what it inferred.
What it cannot infer it refuses with a `UsageError` naming the option to pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DraftRequest:
    """The files and the options a user gave `nlp-lstm init` (options: flag name -> value, None if not given)."""

    train: Path
    validation: Path | None = None
    test: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def option(self, name: str) -> Any:
        return self.options.get(name)


@dataclass
class Draft:
    """Dotted config keys -> values (everything else keeps its default), with why each was chosen."""

    settings: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # dotted key -> how its value was inferred
    said: list[str] = field(default_factory=list)  # facts about the data, printed and written at the top
    warnings: list[str] = field(default_factory=list)

    def set(self, key: str, value: Any, because: str | None = None) -> None:
        """Set `key` (dotted); `because` says how it was inferred (a comment beside it, and a printed line)."""
        self.settings[key] = value
        if because:
            self.notes[key] = because


def nested(settings: dict[str, Any]) -> dict[str, Any]:
    """{'data.train': x} -> {'data': {'train': x}}."""
    tree: dict[str, Any] = {}
    for dotted, value in settings.items():
        node = tree
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return tree

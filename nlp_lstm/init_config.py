"""`nlp-lstm init`: a complete, commented pipeline YAML for a user's own files, ready for `nlp-lstm run`.

The task's drafter looks at the files (format, columns, labels, tag scheme, languages...) and says what it
inferred; every other key keeps its default. The YAML lists every key under its description, the inferred ones
with how they were inferred, and its paths relative to its own folder (as the loader reads them). It is read
back before it is written: what `run` will see is what was drafted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nlp_lstm.config.describe import commented_yaml
from nlp_lstm.config.draft import Draft, DraftRequest, nested
from nlp_lstm.config.loader import config_to_yaml, load_config, path_keys, relative_to_yaml, written_paths
from nlp_lstm.config.registry import task_entry, task_names
from nlp_lstm.config.schema import PipelineConfig
from nlp_lstm.errors import UsageError
from nlp_lstm.files import atomic_write_text


@dataclass
class Drafted:
    """What `init` made: the YAML text, the config it holds, and what the drafter found."""

    text: str
    config: PipelineConfig
    draft: Draft


def draft_config(task: str, request: DraftRequest, yaml_folder: Path) -> Drafted:
    """Draft the config of `task` for the files in `request`, as a YAML to be saved in `yaml_folder`."""
    if task not in task_names():
        raise UsageError(f"init: unknown task {task!r}; one of: {', '.join(task_names())}")
    entry = task_entry(task)
    drafter = entry.drafter()
    if drafter is None:
        raise UsageError(f"init: the {task} task cannot draft a config from files; write its YAML by hand")
    for path in (request.train, request.validation, request.test):
        if path is not None and not path.exists() and not path.parent.is_dir():
            raise UsageError(f"init: folder not found: {path.parent}")
    draft = drafter(request)
    keys = {".".join(key) for key in path_keys(entry.config_class)}
    settings = {
        key: os.path.normpath(value) if key in keys and isinstance(value, str) else value
        for key, value in draft.settings.items()
    }
    # Trained pipelines go beside the YAML, as `output_dir: outputs` written in it means.
    settings.setdefault("output_dir", relative_to_yaml("outputs", yaml_folder))
    config = load_config(data={"task": task, **nested(settings)})
    written = {".".join(key): value for key, value in written_paths(config, yaml_folder).items()}
    header = [
        f"A {task} pipeline drafted by `nlp-lstm init` from the files below. Train it with:",
        "  nlp-lstm run THIS_FILE",
        "Every key is listed with its description; keys marked 'inferred' were set from the data, the others",
        "hold their defaults. Relative paths are relative to this file's folder.",
        "",
        *[f"- {line}" for line in draft.said],
        *[f"- warning: {line}" for line in draft.warnings],
    ]
    text = commented_yaml(config, notes=draft.notes, header=header, values=written)
    return Drafted(text, config, draft)


def check_output(output: Path, force: bool = False) -> None:
    """A UsageError when `output` exists and `force` was not given: init never replaces a file unasked."""
    if output.exists() and not force:
        raise UsageError(f"init: {output} exists; choose another -o or pass --force to replace it")


def write_drafted(drafted: Drafted, output: Path, force: bool = False) -> None:
    """Save the YAML at `output` (never over an existing file unless `force`), after reading it back as `run`
    will: it must give the config that was drafted."""
    check_output(output, force)
    if not output.parent.is_dir():
        raise UsageError(f"init: folder not found: {output.parent}")
    probe = output.with_name(f".{output.name}.draft")
    probe.write_text(drafted.text, encoding="utf-8")
    try:
        reread = load_config(probe)
    finally:
        probe.unlink()
    expected = drafted.config.model_copy(update={"name": reread.name})
    if config_to_yaml(reread) != config_to_yaml(expected):
        raise RuntimeError(f"init: the YAML drafted for {output} does not read back as drafted")  # a bug of ours
    atomic_write_text(output, drafted.text)


def inferred_lines(drafted: Drafted) -> list[str]:
    """What `init` prints: the facts found, each inferred key with its value and why, the warnings."""
    lines = list(drafted.draft.said)
    for key, why in drafted.draft.notes.items():
        lines.append(f"{key}: {drafted.draft.settings[key]!r} ({why})")
    lines += [f"warning: {warning}" for warning in drafted.draft.warnings]
    return lines

"""Load a pipeline YAML, apply dotted `--set` overrides, validate, and report every problem at once.

Each problem names its key path, the YAML file and line (or `--set` when the value came from the command
line), and for an unknown key the closest valid one.

A relative path written in the YAML is relative to the YAML file's folder, so a pipeline means the same files
from any working directory; a path given with `--set` (like any command-line path) and the defaults are
relative to the working directory.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from nlp_lstm.config.describe import section_class
from nlp_lstm.config.registry import task_entry, task_names
from nlp_lstm.config.schema import PipelineConfig
from nlp_lstm.errors import ConfigError

KeyPath = tuple[str, ...]


# ------------------------------------------------------------------------------------ YAML reading
def read_yaml_with_lines(path: Path) -> tuple[dict[str, Any], dict[KeyPath, int]]:
    """Parse YAML into plain data plus a map from each key path to its 1-based line number."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM is not part of the first key
    except FileNotFoundError:
        raise ConfigError([f"configuration file not found: {path.resolve()}"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read {path}: {exc}"]) from None
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{where}: YAML syntax error: {problem}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a mapping of sections, got {type(data).__name__}"])
    lines: dict[KeyPath, int] = {}
    duplicates: list[str] = []

    def walk(n: yaml.Node, prefix: KeyPath) -> None:
        if isinstance(n, yaml.MappingNode):
            for key_node, value_node in n.value:
                key = (*prefix, str(key_node.value))
                line = key_node.start_mark.line + 1
                if key in lines:  # PyYAML keeps the last silently; a repeated section would reset the first
                    duplicates.append(
                        f"{path}:{line}: {'.'.join(key)}: repeats the key at line {lines[key]} "
                        "(YAML would keep only the last one; merge them)"
                    )
                lines[key] = line
                walk(value_node, key)
        elif isinstance(n, yaml.SequenceNode):
            for index, item in enumerate(n.value):
                walk(item, (*prefix, str(index)))

    if node is not None:
        walk(node, ())
    if duplicates:
        raise ConfigError(duplicates, str(path))
    return data, lines


# ------------------------------------------------------------------------------------- overrides
def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """Parse `KEY=VALUE` strings; values are YAML scalars (`3` is an int, `null` is None, `a,b` a string)."""
    overrides: dict[str, Any] = {}
    problems = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not part for part in key.split(".")):
            problems.append(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. training.epochs=3")
            continue
        try:
            overrides[key] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            overrides[key] = raw
    if problems:
        raise ConfigError(problems)
    return overrides


def _apply_override(data: dict[str, Any], dotted: str, value: Any) -> str | None:
    """Set a dotted key in nested dicts; returns a problem message if a parent is not a mapping."""
    parts = dotted.split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            return f"--set {dotted}: '{'.'.join(parts[: i + 1])}' is a value, not a section"
        node = child
    node[parts[-1]] = value
    return None


# ------------------------------------------------------------------------------------ validation
def _fields_at(model: type[BaseModel], loc: KeyPath) -> list[str] | None:
    """Field names of the nested config section found by walking `loc` from `model`."""
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return None
        annotation = fields[part].annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if current is None:
            return None
    return list(current.model_fields)


def _config_loc(loc: tuple[Any, ...], config_cls: type[BaseModel]) -> KeyPath:
    """The config key path of an error: drops the type tags pydantic appends for unions ('int', 'str')."""
    kept: list[str] = []
    for part in map(str, loc):
        fields = _fields_at(config_cls, tuple(kept))
        if fields is None:  # below a leaf: only list indices belong to the key path
            if part.isdigit():
                kept.append(part)
            continue
        kept.append(part)  # a known field, or the unknown key itself
    return tuple(kept)


def _where(loc: KeyPath, source: str, lines: Mapping[KeyPath, int], from_cli: set[KeyPath]) -> str:
    for depth in range(len(loc), 0, -1):  # the key's own line, else its section's (or --set of either)
        if loc[:depth] in from_cli:
            return "--set "
        if loc[:depth] in lines:
            return f"{source}:{lines[loc[:depth]]}: "
    return f"{source}: "


def _describe(error: Mapping[str, Any], loc: KeyPath, config_cls: type[BaseModel]) -> str:
    key = ".".join(loc) or "(top level)"
    kind = error["type"]
    if kind == "extra_forbidden":
        valid = _fields_at(config_cls, loc[:-1]) or []
        close = difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.5)
        if close:
            return f"{key}: unknown key (did you mean '{'.'.join((*loc[:-1], close[0]))}'?)"
        return f"{key}: unknown key; valid keys here: {', '.join(valid)}"
    if kind == "missing":
        return f"{key}: required key is missing"
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if kind != "value_error" and not isinstance(value, (dict, list)):
        message += f" (got {value!r})"
    return f"{key}: {message}"


def _format_errors(
    exc: ValidationError,
    config_cls: type[BaseModel],
    source: str,
    lines: Mapping[KeyPath, int],
    from_cli: set[KeyPath],
) -> list[str]:
    """One line per offending key; the alternatives of a union are merged into one line."""
    by_key: dict[KeyPath, list[str]] = {}
    for error in exc.errors():
        loc = _config_loc(error["loc"], config_cls)
        by_key.setdefault(loc, []).append(_describe(error, loc, config_cls))
    problems = []
    for loc, messages in by_key.items():
        messages = list(dict.fromkeys(messages))
        if len(messages) > 1:
            key = ".".join(loc)
            messages = [key + ": " + " or ".join(m.removeprefix(key + ": ") for m in messages)]
        problems.append(_where(loc, source, lines, from_cli) + messages[0])
    return problems


# ------------------------------------------------------------------------------------------ paths
def _holds_path(annotation: Any) -> bool:
    """Whether a field's type is a Path (possibly Annotated, or in a union with None)."""
    if annotation is Path:
        return True
    if typing.get_origin(annotation) is typing.Annotated:
        return _holds_path(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_holds_path(arg) for arg in typing.get_args(annotation))
    return False


def path_keys(config_cls: type[BaseModel], prefix: KeyPath = ()) -> Iterator[KeyPath]:
    """The key paths of every path-valued setting of a config class (data files, vectors, folders)."""
    for name, field in config_cls.model_fields.items():
        if _holds_path(field.annotation):
            yield (*prefix, name)
            continue
        section = section_class(field.annotation)
        if section is not None:
            yield from path_keys(section, (*prefix, name))


def _lookup(data: Mapping[str, Any], key: KeyPath) -> Any:
    node: Any = data
    for part in key:
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _assign(data: dict[str, Any], key: KeyPath, value: Any) -> None:
    node = data
    for part in key[:-1]:
        node = node[part]
    node[key[-1]] = value


def relative_to_yaml(value: str, yaml_folder: Path) -> str:
    """A path as written in a YAML file in `yaml_folder`, as a path from the working directory."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    joined = yaml_folder / path
    try:
        return os.path.normpath(os.path.relpath(joined))
    except ValueError:  # another drive (Windows): no relative path exists
        return os.path.normpath(os.path.abspath(joined))


def _paths_from_the_yaml(
    raw: dict[str, Any], config_cls: type[BaseModel], yaml_folder: Path, from_cli: set[KeyPath]
) -> None:
    """Rewrite the relative paths the YAML wrote (not those given with --set) to start at its folder."""
    for key in path_keys(config_cls):
        value = _lookup(raw, key)
        if isinstance(value, str) and value and key not in from_cli:
            _assign(raw, key, relative_to_yaml(value, yaml_folder))


_EVALUATION_FILES = (("data", "validation"), ("data", "test"))


def _same_file(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and os.path.abspath(a) == os.path.abspath(b)


def _evaluation_files_of_another_training_file(
    raw: dict[str, Any], yaml_train: Any, from_cli: set[KeyPath], source: str
) -> list[str]:
    """When --set replaces the YAML's training file, the YAML's validation and test files belong to the file
    it replaced (the shipped sample data, say), not to the user's: they are left out, so those splits are taken
    off the new training file. Returns the notes that say so."""
    train = _lookup(raw, ("data", "train"))
    if ("data", "train") not in from_cli or yaml_train is None or _same_file(train, yaml_train):
        return []
    dropped = [key for key in _EVALUATION_FILES if key not in from_cli and _lookup(raw, key) not in (None, "")]
    if not dropped:
        return []
    names = " and ".join(".".join(key) for key in dropped)
    files = ", ".join(str(_lookup(raw, key)) for key in dropped)
    for key in dropped:
        _assign(raw, key, None)
    return [
        f"{names} of {source} ({files}) not used: they go with the training file that --set data.train "
        f"replaced; {'they are' if len(dropped) > 1 else 'it is'} split off {train} instead (give "
        + " ".join(f"--set {'.'.join(key)}=FILE" for key in dropped)
        + " to use a file)"
    ]


def load_config(
    path: str | Path | None = None,
    overrides: Mapping[str, Any] | Iterable[str] | None = None,
    data: Mapping[str, Any] | None = None,
) -> PipelineConfig:
    """Read, override and validate a pipeline configuration.

    Args:
        path: the YAML file (or None when `data` is given).
        overrides: `{"training.epochs": 2}` or `["training.epochs=2"]`.
        data: an already parsed configuration mapping, instead of a file.

    Relative paths written in the YAML are taken from the YAML file's folder; those in `overrides`, from the
    working directory. When `overrides` replace `data.train` but not the YAML's `data.validation` or
    `data.test`, those are left out (split off the new training file) and `config.notes` says so.

    Raises:
        ConfigError: listing every problem found, each with its key path and file line.
    """
    if path is not None:
        path = Path(path)
        raw, lines = read_yaml_with_lines(path)
        source = str(path)
    else:
        raw, lines, source = dict(data or {}), {}, "<config>"
    raw = _deep_copy(raw)
    yaml_train = _lookup(raw, ("data", "train"))
    if overrides is not None and not isinstance(overrides, Mapping):
        overrides = parse_overrides(overrides)
    from_cli: set[KeyPath] = set()
    problems: list[str] = []
    for dotted, value in (overrides or {}).items():
        problem = _apply_override(raw, dotted, value)
        if problem:
            problems.append(problem)
        from_cli.add(tuple(dotted.split(".")))
    if problems:
        raise ConfigError(problems, source)

    task, known = raw.get("task"), task_names()
    if task not in known:
        where = _where(("task",), source, lines, from_cli)
        if task is None:
            raise ConfigError([f"{where}task: required key is missing; one of: {', '.join(known)}"], source)
        close = difflib.get_close_matches(str(task), list(known), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ConfigError([f"{where}task: unknown task {task!r}{hint}; one of: {', '.join(known)}"], source)
    if path is not None and not raw.get("name"):
        raw["name"] = path.stem
    config_cls = task_entry(task).config_class
    notes: list[str] = []
    if path is not None:
        if isinstance(yaml_train, str):
            yaml_train = relative_to_yaml(yaml_train, path.parent)
        _paths_from_the_yaml(raw, config_cls, path.parent, from_cli)
        notes = _evaluation_files_of_another_training_file(raw, yaml_train, from_cli, source)
    try:
        config = config_cls.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(exc, config_cls, source, lines, from_cli), source) from None
    config._overrides = dict(overrides or {})
    config._notes = notes
    return config


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


# ------------------------------------------------------------------------------------- exporting
# The first line of a config nlp_lstm saves beside files (a run's config.yaml, a sweep's best_config.yaml): its
# relative paths are written from its folder, like those of any YAML the loader reads. Saved configs without it
# (nlp_lstm 0.1) hold paths from the run's working directory.
PATHS_FROM_FILE = "# nlp_lstm pipeline config: relative paths are relative to this file's folder"


def path_written_from(value: str, folder: str | Path) -> str:
    """A path (from the working directory) as a YAML in `folder` writes it: an absolute path as it is, a relative
    one from that folder (absolute where no relative path exists: another drive)."""
    if Path(value).expanduser().is_absolute():
        return value
    try:
        return os.path.relpath(os.path.abspath(value), os.path.abspath(folder))
    except ValueError:
        return os.path.abspath(value)


def written_paths(config: PipelineConfig, folder: str | Path | None = None) -> dict[KeyPath, str]:
    """Every path set in `config`, as written in a YAML saved in `folder` (absolute without one)."""
    data = config.model_dump(mode="json")
    written = {}
    for key in path_keys(type(config)):
        value = _lookup(data, key)
        if isinstance(value, str) and value:
            written[key] = os.path.abspath(value) if folder is None else path_written_from(value, folder)
    return written


def config_to_yaml(config: PipelineConfig, folder: str | Path | None = None, absolute: bool = False) -> str:
    """The fully resolved configuration (defaults included) as YAML. With `folder` (where the YAML will be
    saved), its relative paths are written from there, or with `absolute` as absolute paths (a file that travels,
    an MLflow artifact), under a first line saying so: the file means the same files read from anywhere."""
    data = config.model_dump(mode="json")
    if folder is None and not absolute:
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    for key, value in written_paths(config, None if absolute else folder).items():
        _assign(data, key, value)
    return PATHS_FROM_FILE + "\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def flatten_config(config: PipelineConfig | Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys -> leaf values, e.g. {'training.optimizer.learning_rate': 0.001} (for MLflow params)."""
    data = config.model_dump(mode="json") if isinstance(config, BaseModel) else config
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(flatten_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat

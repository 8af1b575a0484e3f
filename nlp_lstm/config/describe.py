"""What every configuration key is, read from the pydantic models themselves: its type, default, bounds,
allowed values and description. The configuration reference and the commented YAML `nlp-lstm init` writes are
both made from here, so neither can drift from the code.
"""

from __future__ import annotations

import textwrap
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo


@dataclass(frozen=True)
class SettingDoc:
    """One configuration key, as the reference documents it."""

    key: str  # dotted, e.g. "training.optimizer.learning_rate"
    type: str  # "int", "list of int", "path or null", "section"...
    default: Any  # JSON-like value; None for null; REQUIRED when the key must be given
    bounds: str  # ">= 1, < 1"; empty when unbounded
    choices: tuple[Any, ...]  # the allowed values of a Literal; empty otherwise
    description: str
    section: bool  # a nested section (its keys follow it)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


class _Required:
    def __repr__(self) -> str:
        return "required"


REQUIRED: Any = _Required()


def section_class(annotation: Any) -> type[BaseModel] | None:
    """The config section class a field holds (also inside `X | None`), or None for a plain value."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if _is_union(annotation):
        return next((c for c in map(section_class, typing.get_args(annotation)) if c is not None), None)
    return None


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _unwrap(annotation: Any) -> Any:
    return typing.get_args(annotation)[0] if typing.get_origin(annotation) is typing.Annotated else annotation


def type_name(annotation: Any) -> str:
    """A reader's name for a field type: `int`, `list of int`, `path or null`, `one of ...` for Literals."""
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        values = typing.get_args(annotation)
        kinds = {type(v).__name__ for v in values}
        return "string" if kinds == {"str"} else " or ".join(sorted(kinds))
    if _is_union(annotation):
        parts = [type_name(arg) for arg in typing.get_args(annotation) if arg is not type(None)]
        nullable = type(None) in typing.get_args(annotation)
        return " or ".join(dict.fromkeys(parts)) + (" or null" if nullable else "")
    if origin in (list, tuple, set):
        (item,) = typing.get_args(annotation)[:1] or (Any,)
        return f"list of {type_name(item)}"
    if origin in (dict, Mapping):
        key, value = typing.get_args(annotation) or (Any, Any)
        return f"mapping of {type_name(key)} to {type_name(value)}"
    if annotation is Path:
        return "path"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    names = {str: "string", int: "int", float: "float", bool: "bool", Any: "any"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def choices(annotation: Any) -> tuple[Any, ...]:
    """The values a Literal (or a union holding Literals) allows; empty for any other type."""
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    if _is_union(annotation):
        return tuple(value for arg in typing.get_args(annotation) for value in choices(arg))
    return ()


# The constraint objects pydantic keeps in a field's metadata (annotated-types' Ge, Gt, ..., MinLen, MaxLen),
# each holding its bound under one of these names.
_BOUND_SYMBOLS = (
    ("ge", ">="),
    ("gt", ">"),
    ("le", "<="),
    ("lt", "<"),
    ("min_length", "length >="),
    ("max_length", "length <="),
)


def _bounds_of(metadata: list[Any], what: str = "") -> list[str]:
    found = {}
    for item in metadata:
        for attribute, symbol in _BOUND_SYMBOLS:
            bound = getattr(item, attribute, None)
            if bound is not None and not isinstance(item, FieldInfo):
                found[attribute] = f"{what}{symbol} {bound}"
    if (
        "min_length" in found
        and found.get("max_length", "").rsplit(" ", 1)[-1] == found["min_length"].rsplit(" ", 1)[-1]
    ):
        found = {"length": f"{what}length {found.pop('min_length').rsplit(' ', 1)[-1]}"} | {
            k: v for k, v in found.items() if k != "max_length"
        }
    return list(found.values())


def bounds(field: FieldInfo) -> str:
    """The field's numeric and length bounds, and those of its list items (`items >= 1`)."""
    found = _bounds_of(field.metadata)
    annotation = field.annotation
    if typing.get_origin(annotation) in (list, tuple, set):
        item = typing.get_args(annotation)[0]
        if typing.get_origin(item) is typing.Annotated:
            metadata = [m for arg in typing.get_args(item)[1:] for m in getattr(arg, "metadata", [arg])]
            found += _bounds_of(metadata, "items ")
    return ", ".join(found)


def _plain(value: Any) -> Any:
    """A default as it would be written in YAML."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def field_default(field: FieldInfo) -> Any:
    """A field's default, or REQUIRED."""
    if field.is_required():
        return REQUIRED
    return _plain(field.get_default(call_default_factory=True))


def _class_summary(cls: type[BaseModel]) -> str:
    doc = (cls.__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


def settings(config_class: type[BaseModel], prefix: str = "") -> Iterator[SettingDoc]:
    """Every key of a config class, depth first in declaration order: a section, then its keys."""
    for name, field in config_class.model_fields.items():
        key = f"{prefix}{name}"
        nested = section_class(field.annotation)
        if nested is not None:
            nullable = _is_union(field.annotation) and type(None) in typing.get_args(field.annotation)
            yield SettingDoc(
                key=key,
                type="section or null" if nullable else "section",
                default=None if nullable and field.default is None else REQUIRED if field.is_required() else "",
                bounds="",
                choices=(),
                description=field.description or _class_summary(nested),
                section=True,
            )
            yield from settings(nested, f"{key}.")
            continue
        yield SettingDoc(
            key=key,
            type=type_name(field.annotation),
            default=field_default(field),
            bounds=bounds(field),
            choices=choices(field.annotation),
            description=field.description or "",
            section=False,
        )


def undescribed(config_class: type[BaseModel]) -> list[str]:
    """The keys of a config class that have no description."""
    return [doc.key for doc in settings(config_class) if not doc.description.strip()]


# ------------------------------------------------------------------------------- commented YAML
def yaml_value(value: Any) -> str:
    """One value as YAML on one line (flow style for lists and mappings)."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _comment(text: str, indent: str, width: int = 100) -> list[str]:
    lines = textwrap.wrap(" ".join(text.split()), width=max(40, width - len(indent) - 2))
    return [f"{indent}# {line}" for line in lines]


def commented_yaml(
    config: BaseModel,
    notes: Mapping[str, str] | None = None,
    header: list[str] | None = None,
    values: Mapping[str, Any] | None = None,
) -> str:
    """A config as YAML with every key under a comment that says what it is (its description), and for the
    keys in `notes` what was inferred. `values` replaces dotted keys' values as written (e.g. paths relative to
    the YAML's folder)."""
    notes = notes or {}
    values = values or {}
    lines = [f"# {line}" if line else "#" for line in header or []]
    if lines:
        lines.append("")

    def write(section: BaseModel, prefix: str, depth: int) -> None:
        indent = "  " * depth
        for name, field in type(section).model_fields.items():
            key = f"{prefix}{name}"
            value = getattr(section, name)
            description = field.description or ""
            if isinstance(value, BaseModel):
                if depth == 0:
                    lines.append("")
                lines.extend(_comment(description or _class_summary(type(value)), indent))
                lines.append(f"{indent}{name}:")
                write(value, f"{key}.", depth + 1)
                continue
            lines.extend(_comment(description, indent))
            nested = section_class(field.annotation)
            if value is None and nested is not None:
                lines.extend(_comment(f"a section when set: {', '.join(nested.model_fields)}", indent))
            if key in notes:
                lines.extend(_comment(f"inferred: {notes[key]}", indent))
            written = values[key] if key in values else _plain(value)
            lines.append(f"{indent}{name}: {yaml_value(written)}")

    write(config, "", 0)
    return "\n".join(lines).strip("\n") + "\n"

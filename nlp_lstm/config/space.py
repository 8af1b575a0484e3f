"""Search spaces for `nlp-lstm sweep`: a YAML mapping of dotted config keys to distributions, validated like a
pipeline config (every problem at once, each with its file line; an unknown key names the closest valid one).

    model.rnn.units: {choice: [64, 128, 256]}
    model.rnn.layers: {int: [1, 3]}
    training.optimizer.learning_rate: {float: [0.0003, 0.01], log: true}

Plain Python and pydantic: sampling is the sweep's (Optuna's) business; this only says what may be sampled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nlp_lstm.config.loader import load_config, read_yaml_with_lines
from nlp_lstm.errors import ConfigError


class _Distribution(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Choice(_Distribution):
    """One of the listed values (any YAML scalars)."""

    choice: list[Any] = Field(min_length=1)

    def bounds(self) -> list[Any]:
        return list(self.choice)

    def grid(self) -> list[Any]:
        return list(self.choice)

    def coerce(self, value: Any) -> Any:
        for option in self.choice:
            if value == option or str(value) == str(option):
                return option
        raise ValueError(f"{value!r} is not one of {self.choice}")


class IntRange(_Distribution):
    """A whole number in [low, high], every `step`-th, on a log scale if `log`."""

    int_range: tuple[int, int] = Field(alias="int")
    step: int = Field(1, ge=1)
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        low, high = self.int_range
        if low > high:
            raise ValueError(f"[{low}, {high}]: the low bound is above the high one")
        if self.log and (low < 1 or self.step != 1):
            raise ValueError("log needs a low bound >= 1 and step 1")
        return self

    def bounds(self) -> list[Any]:
        return list(self.int_range)

    def grid(self) -> list[Any]:
        return list(range(self.int_range[0], self.int_range[1] + 1, self.step))

    def coerce(self, value: Any) -> Any:
        low, high = self.int_range
        try:
            number = int(str(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a whole number") from None
        if not low <= number <= high or (number - low) % self.step:
            raise ValueError(f"{number} is outside int: [{low}, {high}] (step {self.step})")
        return number


class FloatRange(_Distribution):
    """A number in [low, high], on a log scale if `log`, in steps of `step` if given."""

    float_range: tuple[float, float] = Field(alias="float")
    step: float | None = Field(None, gt=0)
    log: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        low, high = self.float_range
        if low > high:
            raise ValueError(f"[{low}, {high}]: the low bound is above the high one")
        if self.log and (low <= 0 or self.step is not None):
            raise ValueError("log needs a low bound > 0 and no step")
        return self

    def bounds(self) -> list[Any]:
        return list(self.float_range)

    def coerce(self, value: Any) -> Any:
        low, high = self.float_range
        try:
            number = float(str(value))  # YAML 1.1 reads 1e-3 as a string
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
        if not low <= number <= high:
            raise ValueError(f"{number} is outside float: [{low}, {high}]")
        return number

    def grid(self) -> list[Any] | None:
        if self.step is None:
            return None  # a continuous range has no grid
        low, high = self.float_range
        count = int(round((high - low) / self.step)) + 1
        return [round(low + i * self.step, 12) for i in range(count)]


Distribution = Choice | IntRange | FloatRange
_KINDS = {"choice": Choice, "int": IntRange, "float": FloatRange}


@dataclass
class SearchSpace:
    """Dotted config key -> distribution, in the order of the file."""

    distributions: dict[str, Distribution]
    source: str

    def grid(self) -> dict[str, list[Any]]:
        """Every key's values for a grid search; a continuous float range is an error naming its key."""
        grid, problems = {}, []
        for key, distribution in self.distributions.items():
            values = distribution.grid()
            if values is None:
                problems.append(
                    f"{self.source}: {key}: a float range without step has no grid; give a choice list, "
                    "a step, or another sampler"
                )
            grid[key] = values
        if problems:
            raise ConfigError(problems, self.source)
        return grid


def grid_size(space: SearchSpace) -> int:
    """How many points a grid search over the space visits."""
    size = 1
    for values in space.grid().values():
        size *= len(values)
    return size


def load_space(
    path: str | Path, config_path: str | Path, overrides: Mapping[str, Any] | Iterable[str] = ()
) -> SearchSpace:
    """Read and check a search space against the pipeline it searches: each key must be a config key and each
    bound or choice a valid value for it (checked by validating the config with it)."""
    from nlp_lstm.config.loader import parse_overrides

    path = Path(path)
    raw, lines = read_yaml_with_lines(path)
    base = dict(overrides) if isinstance(overrides, Mapping) else parse_overrides(overrides)
    distributions: dict[str, Distribution] = {}
    problems: list[str] = []
    for key, spec in raw.items():
        where = f"{path}:{lines.get((key,), '?')}: {key}"
        kinds = [key for key in spec if key in _KINDS] if isinstance(spec, dict) else []
        kind = kinds[0] if len(kinds) == 1 else None
        if kind is None:
            problems.append(
                f"{where}: expected one of {{choice: [...]}}, {{int: [low, high]}}, "
                f"{{float: [low, high]}} (with log: true, step: ...), got {spec!r}"
            )
            continue
        try:
            distribution = _KINDS[kind].model_validate(spec)
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or kind}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            problems.append(f"{where}: {details}")
            continue
        for value in distribution.bounds():
            try:
                load_config(config_path, {**base, key: value})
            except ConfigError as exc:
                problems.extend(
                    f"{where}: {p.split(': ', 2)[-1] if p.startswith('--set ') else p}" for p in exc.problems
                )
                break
        else:
            distributions[key] = distribution
    if not raw:
        problems.append(f"{path}: no keys to search")
    if problems:
        raise ConfigError(list(dict.fromkeys(problems)), str(path))
    return SearchSpace(distributions, str(path))

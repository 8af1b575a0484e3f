"""Pipeline configuration: schemas (validated with pydantic) and the YAML loader with `--set` overrides."""

from nlp_lstm.config.loader import config_to_yaml, flatten_config, load_config, parse_overrides
from nlp_lstm.config.registry import register_task, task_entry, task_names
from nlp_lstm.config.schema import PipelineConfig

__all__ = [
    "load_config",
    "parse_overrides",
    "config_to_yaml",
    "flatten_config",
    "PipelineConfig",
    "register_task",
    "task_entry",
    "task_names",
]

"""Pipeline configuration: schemas (validated with pydantic) and the YAML loader with `--set` overrides."""

from nlp_lstm.config.loader import load_config, parse_overrides, config_to_yaml, flatten_config
from nlp_lstm.config.schema import PipelineConfig, TASK_CONFIGS

__all__ = ["load_config", "parse_overrides", "config_to_yaml", "flatten_config", "PipelineConfig", "TASK_CONFIGS"]

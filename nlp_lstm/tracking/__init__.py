"""MLflow tracking of pipeline runs. The names load on first use (MLflow and Keras are heavy imports)."""

from __future__ import annotations

import importlib

_HOMES = {"EpochMetricsLogger": "mlflow_run", "RunTracker": "mlflow_run", "git_commit": "mlflow_run",
          "mark_dead_runs_killed": "mlflow_run"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)

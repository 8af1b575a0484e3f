"""MLflow tracking of pipeline runs. The names load on first use (MLflow and Keras are heavy imports)."""

from nlp_lstm.lazy import lazy_attributes

_HOMES = {
    "EpochMetricsLogger": "mlflow_run",
    "RunTracker": "mlflow_run",
    "git_commit": "mlflow_run",
    "mark_dead_runs_killed": "mlflow_run",
}
__all__ = sorted(_HOMES)
__getattr__ = lazy_attributes(__name__, _HOMES)

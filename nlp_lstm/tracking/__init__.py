"""MLflow tracking of pipeline runs."""

from nlp_lstm.tracking.mlflow_run import EpochMetricsLogger, RunTracker, git_commit

__all__ = ["EpochMetricsLogger", "RunTracker", "git_commit"]

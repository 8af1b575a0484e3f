"""One MLflow run per pipeline run: params, per-epoch metrics, artifacts, datasets, tags and models.

The store is MLflow's own default (`sqlite:///mlflow.db`, artifacts in `./mlruns`) unless `tracking.uri`
or `MLFLOW_TRACKING_URI` says otherwise. A run that raises is ended FAILED, an interrupted one KILLED.
"""

from __future__ import annotations

import os
import signal
import subprocess
import warnings
from pathlib import Path
from typing import Any, Mapping

import keras

from nlp_lstm.config.loader import config_to_yaml, flatten_config
from nlp_lstm.config.schema import PipelineConfig
from nlp_lstm.errors import Terminated

_MAX_PARAM_LENGTH = 6000
# Logging a model downloads nothing a user needs to watch; the bars flood logs and notebooks.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def git_commit(directory: Path) -> str | None:
    """The commit checked out in `directory`'s repository, with '-dirty' if it has changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=directory, capture_output=True, text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit


class RunTracker:
    """Context manager around an MLflow run; a disabled tracker accepts the same calls and does nothing."""

    def __init__(self, config: PipelineConfig, config_path: str | Path | None = None):
        self.config = config
        self.config_path = Path(config_path) if config_path else None
        self.enabled = config.tracking.enabled
        self.run_id: str | None = None
        self.experiment_id: str | None = None
        self._previous_sigterm = None

    # ------------------------------------------------------------------------------ lifecycle
    def __enter__(self) -> "RunTracker":
        if not self.enabled:
            return self
        import mlflow

        tracking = self.config.tracking
        if tracking.uri:
            mlflow.set_tracking_uri(tracking.uri)
        experiment = mlflow.set_experiment(tracking.experiment or f"nlp_lstm-{self.config.task}")
        self.experiment_id = experiment.experiment_id
        run = mlflow.start_run(run_name=tracking.run_name, tags=self._tags())
        self.run_id = run.info.run_id
        self.run_name = run.info.run_name
        self._log_params()
        mlflow.log_text(config_to_yaml(self.config), "config.yaml")
        if threading_main():
            self._previous_sigterm = signal.signal(signal.SIGTERM, _raise_terminated)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        if not self.enabled or self.run_id is None:
            return
        import mlflow

        if exc_type is None:
            status = "FINISHED"
        elif issubclass(exc_type, (KeyboardInterrupt, Terminated)):
            status = "KILLED"
        else:
            status = "FAILED"
        mlflow.end_run(status=status)

    @property
    def tracking_uri(self) -> str | None:
        if not self.enabled:
            return None
        import mlflow

        return mlflow.get_tracking_uri()

    def _tags(self) -> dict[str, str]:
        import nlp_lstm

        tags = {
            "task": self.config.task,
            "pipeline": self.config.name or "",
            "nlp_lstm.version": nlp_lstm.__version__,
            "keras.backend": keras.backend.backend(),
            "keras.version": keras.__version__,
            **self.config.tracking.tags,
        }
        if self.config_path is not None:
            tags["pipeline_file"] = str(self.config_path)
            commit = git_commit(self.config_path.resolve().parent)
        else:
            commit = git_commit(Path.cwd())
        if commit:
            tags["mlflow.source.git.commit"] = commit
            tags["git_commit"] = commit
        return tags

    def _log_params(self) -> None:
        import mlflow

        params = {k: _param_value(v) for k, v in flatten_config(self.config).items()}
        items = list(params.items())
        for start in range(0, len(items), 100):  # MLflow accepts at most 100 params per call
            mlflow.log_params(dict(items[start : start + 100]))

    # ------------------------------------------------------------------------------- logging
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self.enabled:
            import mlflow

            mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_params(self, params: Mapping[str, Any]) -> None:
        if self.enabled:
            import mlflow

            mlflow.log_params({k: _param_value(v) for k, v in params.items()})

    def log_artifact(self, path: str | Path, artifact_dir: str | None = None) -> None:
        if self.enabled:
            import mlflow

            if Path(path).is_dir():
                mlflow.log_artifacts(str(path), artifact_dir)
            else:
                mlflow.log_artifact(str(path), artifact_dir)

    def log_dataset(self, frame, source: str | Path, name: str, context: str, targets: str | None = None) -> None:
        """Record an input file as an MLflow dataset (shown under the run's Datasets)."""
        if not (self.enabled and self.config.tracking.log_datasets):
            return
        import mlflow

        with warnings.catch_warnings():
            # MLflow registers its local-file source class twice and warns that the path is ambiguous.
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
            dataset = mlflow.data.from_pandas(frame, source=str(Path(source).resolve()), name=name, targets=targets)
        mlflow.log_input(dataset, context=context)

    def log_keras_model(self, model: keras.Model, signature) -> None:
        """The bare Keras model (token ids in, scores out) with an explicit integer-input signature."""
        if not (self.enabled and self.config.tracking.log_model):
            return
        import mlflow

        mlflow.keras.log_model(model, name="model", signature=signature, pip_requirements=_requirements())

    def log_pipeline_model(self, model_dir: Path, signature, input_example=None) -> None:
        """The whole saved pipeline as a pyfunc model: raw text in, predictions out."""
        if not (self.enabled and self.config.tracking.log_model):
            return
        import mlflow

        with warnings.catch_warnings():
            # The signature is explicit (a `text` column); type-hint inference and input examples are not needed.
            warnings.filterwarnings("ignore", message=".*type hints to the `predict` method")
            warnings.filterwarnings("ignore", message=".*input example was not provided")
            self._log_pyfunc(mlflow, model_dir, signature, input_example)

    def _log_pyfunc(self, mlflow, model_dir: Path, signature, input_example) -> None:
        mlflow.pyfunc.log_model(
            name="pipeline",
            python_model=str(Path(__file__).with_name("pyfunc.py")),  # MLflow "models from code"
            artifacts={"pipeline": str(model_dir)},
            signature=signature,
            input_example=input_example,
            pip_requirements=_requirements(),
            code_paths=[str(Path(__file__).resolve().parents[1])],
        )

    def epoch_logger(self) -> keras.callbacks.Callback:
        return EpochMetricsLogger(self)


class EpochMetricsLogger(keras.callbacks.Callback):
    """Logs Keras's per-epoch logs to MLflow: `loss` -> `train_loss`, `val_loss` stays `val_loss`."""

    def __init__(self, tracker: RunTracker):
        super().__init__()
        self.tracker = tracker

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        metrics = {}
        for name, value in (logs or {}).items():
            key = name if name.startswith("val_") or name == "learning_rate" else f"train_{name}"
            try:
                metrics[key] = float(value)
            except (TypeError, ValueError):
                continue
        self.tracker.log_metrics(metrics, step=epoch + 1)


def _param_value(value: Any) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= _MAX_PARAM_LENGTH else text[: _MAX_PARAM_LENGTH - 3] + "..."


def _requirements() -> list[str]:
    from importlib.metadata import version

    def pinned(name: str) -> str:
        try:
            return f"{name}=={version(name)}"
        except Exception:
            return name

    return [pinned(n) for n in ("keras", "spacy", "numpy", "scikit-learn", "pydantic", "PyYAML", "matplotlib")] + [
        pinned("tensorflow-cpu") if keras.backend.backend() == "tensorflow" else pinned(keras.backend.backend())
    ]


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()

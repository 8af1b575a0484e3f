"""One MLflow run per pipeline run: params, per-epoch metrics, artifacts, datasets, tags and models.

The store is MLflow's own default (`sqlite:///mlflow.db`, artifacts in `./mlruns`) unless `tracking.uri`
or `MLFLOW_TRACKING_URI` says otherwise. A run that raises is ended FAILED, an interrupted one KILLED; one
killed outright (SIGKILL) is found RUNNING by a later command on its host and marked KILLED then
(`mark_dead_runs_killed`). A resumed run reopens its MLflow run and logs only what is not there yet.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import keras

from nlp_lstm.config.loader import config_to_yaml, flatten_config
from nlp_lstm.config.schema import PipelineConfig
from nlp_lstm.errors import Terminated, UsageError
from nlp_lstm.files import exclusive_lock
from nlp_lstm.tracking.liveness import process_alive, process_tags
from nlp_lstm.tracking.tags import (
    EXPERIMENT_KIND_TAG,
    MODEL_DIR_TAG,
    NOTE_TAG,
    OVERRIDES_TAG,
    RESUMED_TAG,
    STUDY_TAG,
    SWEEP_PARENT_TAG,
    VIEW_PREFIX,
    VIEW_TAG,
)
from nlp_lstm.tracking.ui import runs_table_view, sweep_view_key, trials_view
from nlp_lstm.version import __version__

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
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit


class RunTracker:
    """Context manager around an MLflow run; a disabled tracker accepts the same calls and does nothing.

    Args:
        config: the pipeline config (its `tracking` section decides where and whether to log).
        config_path: the YAML file, recorded as a tag.
        run_id: reopen this run (resuming) instead of starting one: its status goes back to RUNNING and
            only params, datasets, epochs, metrics and models it does not have yet are logged.
        model_dir: the run's output folder, recorded as a tag (`nlp-lstm run --resume RUN_ID` finds it).
        tracking_uri: the store, instead of the config's (a resumed run's own store).
        parent_run_id: the run this one is nested under (a sweep's).
        tags: extra tags of the run.
        enabled: False to log nothing whatever the config says (a multi_worker run's other workers).
    """

    def __init__(
        self,
        config: PipelineConfig,
        config_path: str | Path | None = None,
        *,
        run_id: str | None = None,
        model_dir: Path | None = None,
        tracking_uri: str | None = None,
        parent_run_id: str | None = None,
        tags: Mapping[str, str] | None = None,
        enabled: bool = True,
    ):
        self.config = config
        self.config_path = Path(config_path) if config_path else None
        self.enabled = config.tracking.enabled and enabled
        self.run_id: str | None = run_id
        self.resumed = run_id is not None
        self.model_dir = model_dir
        self.store = tracking_uri or config.tracking.uri
        self.parent_run_id = parent_run_id
        self.extra_tags = dict(tags or {})
        self.experiment_id: str | None = None
        self._previous_sigterm = None
        self._logged_params: dict[str, str] = {}
        self._logged_metrics: set[str] = set()
        self._logged_models: set[str] = set()
        self._logged_datasets: set[tuple[str, str | None]] = set()
        self.pipeline_model_uri: str | None = None
        self.pipeline_model_id: str | None = None
        self._datasets: dict[str, Any] = {}  # context -> the MLflow dataset, to link metrics to

    # ------------------------------------------------------------------------------ lifecycle
    def __enter__(self) -> RunTracker:
        if not self.enabled:
            return self
        import mlflow

        tracking = self.config.tracking
        if self.store:
            mlflow.set_tracking_uri(self.store)
        tags = {**process_tags(), **self.extra_tags}
        if self.model_dir is not None:
            tags[MODEL_DIR_TAG] = str(Path(self.model_dir).resolve())
        if self.resumed:
            previous = self._previous_run()
            tags[RESUMED_TAG] = str(int(previous.data.tags.get(RESUMED_TAG, "0")) + 1)
            run = mlflow.start_run(run_id=self.run_id, tags=tags)  # RUNNING again, with this process's tags
        else:
            experiment = open_experiment(self.config)
            run = mlflow.start_run(
                experiment_id=experiment.experiment_id,
                run_name=tracking.run_name,
                tags={**self._tags(), **tags},
                description=self._description(),
                nested=self.parent_run_id is not None,
                parent_run_id=self.parent_run_id,
            )
        self.run_id = run.info.run_id
        self.run_name = run.info.run_name
        self.experiment_id = run.info.experiment_id
        self._log_params()
        mlflow.log_text(config_to_yaml(self.config), "config.yaml")
        if threading_main():
            self._previous_sigterm = signal.signal(signal.SIGTERM, raise_terminated)
        return self

    def _description(self) -> str:
        """What the run is: its pipeline, and what its `--set` values changed."""
        where = f" from {self.config_path}" if self.config_path else ""
        changes = ", ".join(f"{key}={value}" for key, value in self.config.overrides.items())
        return f"{self.config.name or self.config.task} ({self.config.task} pipeline{where}); " + (
            f"--set {changes}" if changes else "as its YAML says, no --set"
        )

    def _previous_run(self):
        """The run being resumed, with what it already holds."""
        import mlflow

        client = mlflow.MlflowClient()
        try:
            run = client.get_run(self.run_id)
        except mlflow.exceptions.MlflowException:
            raise UsageError(f"--resume: no MLflow run {self.run_id} in {mlflow.get_tracking_uri()}") from None
        if run.info.lifecycle_stage == "deleted":
            raise UsageError(f"--resume: MLflow run {self.run_id} is deleted; restore it first (mlflow runs restore)")
        from mlflow.entities import LoggedModelStatus

        self._logged_params = dict(run.data.params)
        self._logged_metrics = set(run.data.metrics)
        self._logged_datasets = {
            (item.dataset.name, next((t.value for t in item.tags if t.key == "mlflow.data.context"), None))
            for item in (run.inputs.dataset_inputs if run.inputs else [])
        }
        ready = {
            m.name: m
            for m in mlflow.search_logged_models(  # a kill mid-upload leaves PENDING
                experiment_ids=[run.info.experiment_id],
                filter_string=f"source_run_id = '{self.run_id}'",
                output_format="list",
            )
            if m.status == LoggedModelStatus.READY
        }
        self._logged_models = set(ready)
        if "pipeline" in ready:  # logged before the interruption: metrics link to it, registration finds it
            self.pipeline_model_id = ready["pipeline"].model_id
            self.pipeline_model_uri = f"models:/{self.pipeline_model_id}"
        return run

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        if not self.enabled or self.run_id is None:
            return

        end_active_run(exc_type, exc)

    @property
    def tracking_uri(self) -> str | None:
        if not self.enabled:
            return None
        import mlflow

        return mlflow.get_tracking_uri()

    def _tags(self) -> dict[str, str]:
        tags = {
            "task": self.config.task,
            "pipeline": self.config.name or "",
            "nlp_lstm.version": __version__,
            "keras.backend": keras.backend.backend(),
            "keras.version": keras.__version__,
            **self.config.tracking.tags,
        }
        if self.config.overrides:
            tags[OVERRIDES_TAG] = " ".join(f"{key}={value}" for key, value in self.config.overrides.items())
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
        params = flatten_config(self.config)
        params.pop("tracking.run_name", None)  # the run's name already; as a param it differs between all runs
        self.log_params(params)

    # ------------------------------------------------------------------------------- logging
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if self.enabled:
            import mlflow

            mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_final_metrics(self, metrics: Mapping[str, float], dataset: str | None = None) -> None:
        """End-of-run metrics. With `dataset` ("test") they are linked to that input and to the logged pipeline
        model, so that MLflow shows them per dataset (on the model's page and in comparisons); a resumed run
        that already logged one keeps it (same value, no second entry)."""
        new = {k: float(v) for k, v in metrics.items() if k not in self._logged_metrics}
        if self.enabled and new:
            import mlflow

            linked = self._datasets.get(dataset) if dataset else None
            mlflow.log_metrics(new, dataset=linked, model_id=self.pipeline_model_id if linked is not None else None)

    def log_missing_epochs(self, history: Iterable[Mapping[str, Any]]) -> None:
        """Log the per-epoch metrics of finished epochs the run does not have (a resumed run whose process
        was killed between writing its resume checkpoint and logging that epoch)."""
        if not self.enabled:
            return
        import mlflow

        client = mlflow.MlflowClient()
        logged: dict[str, set[int]] = {}
        for epoch, logs in enumerate(history, start=1):
            metrics = epoch_metrics(logs)
            if not metrics:
                continue
            key = next(iter(metrics))  # a batch of one epoch's metrics is logged whole or not at all
            if key not in logged:
                logged[key] = {m.step for m in client.get_metric_history(self.run_id, key)}
            if epoch not in logged[key]:
                self.log_metrics(metrics, step=epoch)

    def log_params(self, params: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        import mlflow

        values = {k: _param_value(v) for k, v in params.items()}
        changed = {k: v for k, v in values.items() if k in self._logged_params and self._logged_params[k] != v}
        new = list((k, v) for k, v in values.items() if k not in self._logged_params)
        for start in range(0, len(new), 100):  # MLflow accepts at most 100 params per call
            mlflow.log_params(dict(new[start : start + 100]))
        if changed:  # params cannot change: a resumed run that extends training.epochs says so in a tag
            mlflow.set_tags({f"nlp_lstm.resumed_with.{k}": v for k, v in changed.items()})
        self._logged_params.update(dict(new))

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
        self._log_input(dataset, name, context)

    def log_file_dataset(self, source: str | Path, name: str, context: str, digest: str, rows: int) -> None:
        """Record a split by its file and size, with no frame of its rows (a training file may be large, or
        left unread when the preprocessing cache holds it): `digest` names its content and the part taken,
        so that runs over the same data show the same dataset."""
        if not (self.enabled and self.config.tracking.log_datasets):
            return
        import mlflow
        from mlflow.data.meta_dataset import MetaDataset

        class FileDataset(MetaDataset):
            @property
            def profile(self) -> dict[str, int]:
                return {"num_rows": rows}

            def to_dict(self) -> dict[str, str]:
                return {**super().to_dict(), "profile": json.dumps(self.profile)}

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
            located = mlflow.data.dataset_source_registry.resolve_dataset_source(str(Path(source).resolve()))
        self._log_input(FileDataset(located, name=name, digest=digest), name, context)

    def _log_input(self, dataset, name: str, context: str) -> None:
        import mlflow

        self._datasets[context] = dataset
        if (name, context) in self._logged_datasets:  # a resumed run logged it already
            return
        with store_lock(mlflow.get_tracking_uri()):  # concurrent runs on one file would insert it twice
            mlflow.log_input(dataset, context=context)

    def log_keras_model(self, model: keras.Model, input_names: list[str], output_name: str) -> None:
        """The bare Keras model (token ids in, scores out) with an explicit signature of its integer inputs
        (autologging would declare them float32)."""
        if not (self.enabled and self.config.tracking.log_model) or "model" in self._logged_models:
            return
        import mlflow

        mlflow.keras.log_model(
            model,
            name="model",
            signature=keras_signature(model, input_names, output_name),
            pip_requirements=_requirements(),
        )

    def log_pipeline_model(self, model_dir: Path, pipeline, manifest: Mapping[str, Any] | None = None) -> None:
        """The whole saved pipeline as a pyfunc model: raw text in, `predict`'s answers out. The training
        checkpoints stay out of it (`model.keras` holds the kept weights); `manifest` replaces its
        `pipeline.json` (the folder itself is marked finished only after everything is logged)."""
        if not (self.enabled and self.config.tracking.log_model) or "pipeline" in self._logged_models:
            return
        import mlflow

        with staged_pipeline(model_dir, manifest) as staged, quiet_pyfunc_warnings():
            info = mlflow.pyfunc.log_model(name="pipeline", **pyfunc_arguments(staged, pipeline))
        self.pipeline_model_uri, self.pipeline_model_id = info.model_uri, info.model_id

    def register_pipeline(self, name: str) -> Any | None:
        """Register the logged pipeline model as a version of `name` in the model registry, tagged with the
        task, the test metrics and the git commit. A resumed run that registered it already keeps that one."""
        if not self.enabled:
            return None
        return register_run_pipeline(self.run_id, name)

    def epoch_logger(self) -> keras.callbacks.Callback:
        return EpochMetricsLogger(self)


def open_experiment(config: PipelineConfig):
    """The config's experiment (created if new, and described), as the active one."""
    import mlflow

    with store_lock(mlflow.get_tracking_uri()):  # concurrent first runs would create it twice
        experiment = mlflow.set_experiment(config.tracking.experiment or f"nlp_lstm-{config.task}")
        describe_experiment(experiment, config.task)
    return experiment


def end_active_run(exc_type, exc) -> None:
    """End the active run as the exception (if any) that leaves it says: KILLED for Ctrl-C and SIGTERM, the
    exception's own `run_status` (and `run_tags`) for one that ends a run on purpose (a pruned sweep trial),
    else FAILED."""
    import mlflow

    if mlflow.active_run() is None:
        return
    if exc_type is None:
        status = "FINISHED"
    elif issubclass(exc_type, (KeyboardInterrupt, Terminated)):
        status = "KILLED"
    else:
        status = getattr(exc, "run_status", "FAILED")
    if getattr(exc, "run_tags", None):
        mlflow.set_tags(exc.run_tags)
    mlflow.end_run(status=status)


def describe_experiment(experiment, task: str) -> None:
    """Set up an experiment for its user (what the user set is kept): a description; the kind MLflow 3's UI
    showed it as (3.18 reads the browser's workflow type instead: see `ui_link`); and a shared view of its runs
    table whose columns are the task's main metrics, which MLflow's default view leaves to be picked by hand."""
    import mlflow

    from nlp_lstm.config.registry import task_entry

    client = mlflow.MlflowClient()
    if EXPERIMENT_KIND_TAG not in experiment.tags:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, "custom_model_development")
    if VIEW_TAG not in experiment.tags:
        client.set_experiment_tag(
            experiment.experiment_id, VIEW_TAG, runs_table_view(task_entry(task).config_class.metric)
        )
    if NOTE_TAG not in experiment.tags:
        client.set_experiment_tag(
            experiment.experiment_id,
            NOTE_TAG,
            f"nlp_lstm {task} runs (`nlp-lstm run`, `nlp-lstm sweep`): each run holds the resolved config as params, "
            "per-epoch curves, test metrics per dataset, reports, learning curves, and two models: `pipeline` "
            "(raw text in, predictions out; serve it with `nlp-lstm serve`) and `model` (the Keras model). "
            "`nlp-lstm compare` tabulates the runs by a metric with the params that differ.",
        )


def register_run_pipeline(run_id: str, name: str) -> Any:
    """Register the `pipeline` model logged by run `run_id` as a version of `name`, tagged with the run's task,
    test metrics and git commit; a version of that run already registered under `name` is returned instead."""
    import mlflow

    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    model = next(
        (
            m
            for m in client.search_logged_models(
                experiment_ids=[run.info.experiment_id], filter_string=f"source_run_id = '{run_id}'"
            )
            if m.name == "pipeline"
        ),
        None,
    )
    if model is None:
        raise UsageError(f"--register {name}: run {run_id} logged no pipeline model (tracking.log_model is false)")
    tags = {key: run.data.tags[key] for key in ("task", "pipeline", "git_commit") if key in run.data.tags}
    tags.update({key: f"{value:.6g}" for key, value in run.data.metrics.items() if key.startswith("test_")})
    with store_lock(mlflow.get_tracking_uri()):  # two runs may register the first versions of one name
        for version in client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'"):
            return version
        return mlflow.register_model(f"models:/{model.model_id}", name, tags=tags)


class SweepParent:
    """The parent MLflow run of a sweep, found again by its study's name, so that running the sweep again
    continues in it. Its trials are runs nested under it."""

    def __init__(self, config: PipelineConfig, config_path: str | Path, study_name: str, tracking_uri: str):
        self.config = config
        self.config_path = Path(config_path)
        self.study_name = study_name
        self.tracking_uri = tracking_uri
        self.run_id: str | None = None
        self.experiment_id: str | None = None

    def __enter__(self) -> SweepParent:
        import mlflow

        mlflow.set_tracking_uri(self.tracking_uri)
        experiment = open_experiment(self.config)
        client = mlflow.MlflowClient()
        existing = client.search_runs(
            [experiment.experiment_id],
            max_results=1,
            filter_string=(f"tags.`{STUDY_TAG}` = '{self.study_name}' and tags.`{SWEEP_PARENT_TAG}` = 'true'"),
        )
        tags = {**process_tags()}
        if existing:
            run = mlflow.start_run(run_id=existing[0].info.run_id, tags=tags)
        else:
            run = mlflow.start_run(
                experiment_id=experiment.experiment_id,
                run_name=f"sweep-{self.study_name}",
                tags={
                    **tags,
                    STUDY_TAG: self.study_name,
                    SWEEP_PARENT_TAG: "true",
                    "task": self.config.task,
                    "pipeline": self.config.name or "",
                    "pipeline_file": str(self.config_path),
                },
                description=f"Sweep of {self.config.name} ({self.config.task}, {self.config_path}): study "
                f"{self.study_name}; each nested run is one trial",
            )
        self.run_id = run.info.run_id
        self.experiment_id = experiment.experiment_id
        view = f"{VIEW_PREFIX}{sweep_view_key(self.run_id)}"
        if view not in experiment.tags:  # the trials in the UI, with the task's metrics
            client.set_experiment_tag(experiment.experiment_id, view, trials_view(self.config.metric, self.run_id))
        self._logged = dict(client.get_run(self.run_id).data.params)
        self._previous_sigterm = signal.signal(signal.SIGTERM, raise_terminated) if threading_main() else None
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        end_active_run(exc_type, exc)

    def log_settings(self, settings: Mapping[str, Any]) -> None:
        """The sweep's settings as params (those of a first run of the command; later runs add new ones only)."""
        import mlflow

        new = {f"sweep.{k}": _param_value(v) for k, v in settings.items() if f"sweep.{k}" not in self._logged}
        if new:
            mlflow.log_params(new)
            self._logged.update(new)

    def log_counts(self, counts: Mapping[str, int]) -> None:
        import mlflow

        mlflow.log_metrics(
            {f"trials_{state}": float(count) for state, count in counts.items()}, step=sum(counts.values())
        )

    def log_best(
        self,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        best_run_id: str | None,
        artifacts: Iterable[Path],
    ) -> None:
        """The best trial so far: its params as `best.<key>` tags (a continued sweep may find a better one, and
        params cannot change), its metric, its run, the plots and the best config."""
        import mlflow

        mlflow.set_tags(
            {f"best.{key}": str(value) for key, value in params.items()}
            | ({"best_run_id": best_run_id} if best_run_id else {})
        )
        mlflow.log_metrics(dict(metrics))
        for path in artifacts:
            mlflow.log_artifact(str(path))

    def register_best(self, run_id: str, name: str) -> Any:
        return register_run_pipeline(run_id, name)


@contextmanager
def staged_pipeline(model_dir: Path, manifest: Mapping[str, Any] | None = None) -> Iterator[Path]:
    """A copy of the pipeline folder without what only training needs (checkpoints, lock, temporaries), with
    `manifest` as its `pipeline.json` if given."""
    with tempfile.TemporaryDirectory() as staging:
        staged = Path(staging) / model_dir.name
        shutil.copytree(model_dir, staged, ignore=shutil.ignore_patterns("checkpoints", ".lock", ".*.tmp*"))
        if manifest is not None:
            (staged / "pipeline.json").write_text(json.dumps(dict(manifest), indent=2), encoding="utf-8")
        yield staged


def pyfunc_arguments(model_dir: Path, pipeline) -> dict[str, Any]:
    """What `mlflow.pyfunc.log_model`/`save_model` take to package a pipeline folder: the model from code,
    the folder as its artifact, this package as code, pinned requirements and the signature."""
    return {
        "python_model": str(Path(__file__).with_name("pyfunc.py")),  # MLflow "models from code"
        "artifacts": {"pipeline": str(model_dir)},
        "signature": pipeline_signature(pipeline),
        "pip_requirements": _requirements(),
        "code_paths": [str(Path(__file__).resolve().parents[1])],
    }


def pipeline_signature(pipeline):
    """The served pipeline's signature: texts in (any one string column, a list or a Series), one answer of
    `predict` out per text, and `predict`'s options as params with their defaults."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    # an option whose default is None is an optional whole number (the language model's seed)
    kinds = {bool: "boolean", int: "long", float: "double", str: "string", type(None): "long"}
    params = ParamSchema(
        [ParamSpec(name, kinds[type(default)], default) for name, default in pipeline.predict_options().items()]
    )
    return ModelSignature(
        inputs=Schema([ColSpec("string")]), outputs=Schema([ColSpec(pipeline.prediction_type())]), params=params
    )


@contextmanager
def quiet_pyfunc_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        # The signature is explicit; type-hint inference and input examples are not needed.
        warnings.filterwarnings("ignore", message=".*type hints to the `predict` method")
        warnings.filterwarnings("ignore", message=".*input example was not provided")
        yield


def epoch_metrics(logs: Mapping[str, Any]) -> dict[str, float]:
    """Keras's epoch logs as MLflow metrics: `loss` -> `train_loss`, `val_loss` stays `val_loss`."""
    metrics = {}
    for name, value in logs.items():
        key = name if name.startswith("val_") or name == "learning_rate" else f"train_{name}"
        try:
            metrics[key] = float(value)
        except (TypeError, ValueError):
            continue
    return metrics


class EpochMetricsLogger(keras.callbacks.Callback):
    """Logs each epoch's metrics to MLflow at step = epoch number (1-based)."""

    def __init__(self, tracker: RunTracker):
        super().__init__()
        self.tracker = tracker

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.tracker.log_metrics(epoch_metrics(logs or {}), step=epoch + 1)


@contextmanager
def store_lock(tracking_uri: str) -> Iterator[None]:
    """Serialise what concurrent runs on one local sqlite store would race on: MLflow creating and migrating
    the database (two processes at once fail with "table _alembic_tmp_experiments already exists"), creating
    the same experiment, recording the same dataset. Other stores handle their own concurrency."""
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    database = Path(tracking_uri.removeprefix("sqlite:///"))
    with exclusive_lock(database.with_name(database.name + ".lock")):
        import mlflow

        mlflow.MlflowClient(tracking_uri=tracking_uri).search_experiments(max_results=1)  # creates/migrates it
        yield


def running_runs(tracking_uri: str | None = None) -> list[tuple[Any, str]]:
    """(run, experiment name) of every run the store marks RUNNING."""
    import mlflow
    from mlflow.entities import ViewType

    uri = tracking_uri or mlflow.get_tracking_uri()
    with store_lock(uri):
        client = mlflow.MlflowClient(tracking_uri=uri)
    names = {e.experiment_id: e.name for e in client.search_experiments(view_type=ViewType.ALL)}
    experiments = list(names)
    found = []
    for start in range(0, len(experiments), 100):  # MLflow searches at most 100 experiments at once
        for run in client.search_runs(
            experiments[start : start + 100],
            filter_string="attributes.status = 'RUNNING'",
            run_view_type=ViewType.ALL,
            max_results=50_000,
        ):
            found.append((run, names[run.info.experiment_id]))
    return found


def mark_dead_runs_killed(tracking_uri: str | None = None) -> list[tuple[str, str]]:
    """Mark KILLED the RUNNING runs of this host whose process is gone (killed with SIGKILL, lost in a
    crash or a reboot). Returns (run id, run name) of each run marked."""
    import mlflow

    marked = []
    runs = running_runs(tracking_uri)  # first: it creates the store (under the lock) if it is new
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    for run, _ in runs:
        if process_alive(run.data.tags) is False:
            client.set_terminated(run.info.run_id, status="KILLED")
            marked.append((run.info.run_id, run.info.run_name))
    return marked


def _param_value(value: Any) -> str:
    text = "null" if value is None else str(value)
    return text if len(text) <= _MAX_PARAM_LENGTH else text[: _MAX_PARAM_LENGTH - 3] + "..."


def keras_signature(model: keras.Model, input_names: list[str], output_name: str):
    """The MLflow signature of a Keras model's tensors: its inputs (in `input_names`' order) and its output
    (named `output_name`), each by dtype and shape. Outputs are float32 under every precision policy (the
    models compute their scores in float32), whatever a layer's symbolic output says."""
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    def spec(tensor, name: str, dtype: str | None = None) -> TensorSpec:
        dtype = np.dtype(dtype or keras.backend.standardize_dtype(tensor.dtype))
        return TensorSpec(dtype, tuple(-1 if size is None else size for size in tensor.shape), name)

    by_name = {tensor.name.split(":")[0]: tensor for tensor in model.inputs}
    return ModelSignature(
        inputs=Schema([spec(by_name[name], name) for name in input_names]),
        outputs=Schema([spec(model.outputs[0], output_name, "float32")]),
    )


def _requirements() -> list[str]:
    """Every runtime dependency of the installed nlp_lstm (what `pip install nlp-lstm` pulls in on this
    platform), pinned to the installed version, and the backend the model was built with; so that `mlflow
    models serve --env-manager virtualenv` rebuilds the environment the run had."""
    from importlib.metadata import PackageNotFoundError, requires, version

    from packaging.requirements import Requirement

    try:
        declared = [Requirement(line) for line in requires("nlp-lstm") or []]
    except PackageNotFoundError:  # running from a source tree that was never installed
        declared = [Requirement(name) for name in ("keras", "numpy", "spacy", "scikit-learn", "pydantic", "PyYAML")]
    names = [r.name for r in declared if r.marker is None or r.marker.evaluate({"extra": ""})]
    backend = keras.backend.backend()
    if backend != "tensorflow":
        names += {"jax": ["jax", "jaxlib"], "torch": ["torch"]}.get(backend, [])
    pinned = []
    for name in dict.fromkeys(names):
        try:
            pinned.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pinned.append(name)
    return pinned


def raise_terminated(signum, frame) -> None:
    raise Terminated()


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()

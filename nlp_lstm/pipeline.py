"""The shared runner: validate -> read -> preprocess -> train -> evaluate -> save -> track, for any task.

A run survives being stopped at any moment: its folder is written when training starts (`status: training`)
and a resume state after every epoch, so `nlp-lstm run --resume FOLDER_OR_RUN_ID` continues it in the same
folder and the same MLflow run, ending exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlp_lstm.config.loader import flatten_config, load_config
from nlp_lstm.config.schema import PipelineConfig
from nlp_lstm.errors import ChiefFailed, DataError, InputWarning, ModelDirError, StorageError, Terminated, UsageError
from nlp_lstm.files import (
    atomic_write_text,
    create_unique_directory,
    exclusive_lock,
    remove_temporaries,
    storage_error,
)
from nlp_lstm.model_dir import (
    CHECKPOINTS,
    FINISHED,
    LOCK,
    MANIFEST,
    RESUME_STATE,
    TRAINING,
    is_finished,
    load_saved_config,
    read_manifest,
    write_manifest,
)
from nlp_lstm.tracking.liveness import process_alive, process_tags

if TYPE_CHECKING:  # Keras loads with the tasks: only when a run or a model needs them
    from nlp_lstm.tasks.base import DataSplits, Task, TrainedPipeline
    from nlp_lstm.training.distribution import Replication

# What may differ between a run and its resumption: more epochs extend it; the run keeps its name and store;
# the preprocessing cache only saves time.
RESUMABLE_CHANGES = (
    "training.distribution_options",  # where a multi_worker run's processes met (and its subkeys)
    "training.epochs",
    "tracking.run_name",
    "tracking.uri",
    "preprocessing.cache",
    "preprocessing.cache_dir",
    "training.distribution",  # the same global batches on other devices
    "training.cpu_devices",
)


@dataclass
class RunResult:
    run_id: str | None
    run_name: str
    model_dir: Path
    metrics: dict[str, float]
    tracking_uri: str | None
    timings: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    best_value: float | None = None  # the monitored validation metric at the kept epoch
    worker: int = 0  # a multi_worker run's other workers return after training; the chief (0) has the rest
    experiment_id: str | None = None


@dataclass
class ResumePoint:
    """Where an interrupted run stopped: its folder, MLflow run and last resume state (None before epoch 1)."""

    model_dir: Path
    run_id: str | None
    state: Any | None  # training.checkpoints.TrainingState
    tracking_uri: str | None = None  # the store the run lives in


def _safe_name(text: str) -> str:
    return re.sub(r"[^\w.,=+-]+", "_", text).strip("_") or "run"


# Overrides that say where data and results go rather than what the model is: left out of run names.
_NOT_IN_NAMES = ("data.", "tracking.", "output_dir", "name", "training.verbose")


def _short_value(value: Any) -> str:
    """0.000348780251 -> 0.000349 (three significant digits tell runs apart); others as written, cut at 16."""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value).replace(" ", "")[:16]


# What the most often swept keys are called in run names, where every character shown counts.
_SHORT_NAMES = {"learning_rate": "lr"}


def changes_in_short(overrides: Mapping[str, Any], limit: int = 48) -> str:
    """The hyperparameters a run's `--set` values change, for its name: `units=64,lr=0.003`. Keys are cut to
    their last part (two parts where that is ambiguous); past `limit` characters the rest is counted (`+2`)."""
    keys = [key for key in overrides if not key.startswith(_NOT_IN_NAMES)]
    last = [_SHORT_NAMES.get(key.rsplit(".", 1)[-1], key.rsplit(".", 1)[-1]) for key in keys]
    short = [".".join(key.split(".")[-2:]) if last.count(tail) > 1 else tail for key, tail in zip(keys, last)]
    parts = [f"{name}={_short_value(overrides[key])}" for key, name in zip(keys, short)]
    text = ""
    for count, part in enumerate(parts):
        candidate = f"{text},{part}" if text else part
        if len(candidate) > limit and text:
            return f"{text},+{len(parts) - count}"
        text = candidate
    return text


def run_pipeline(
    config: PipelineConfig,
    config_path: str | Path | None = None,
    log: Callable[[str], None] = print,
    *,
    resume: ResumePoint | None = None,
    parent_run_id: str | None = None,
    epoch_callbacks: Sequence[Any] = (),
    run_tags: Mapping[str, str] | None = None,
) -> RunResult:
    """Train, evaluate, save and track one pipeline run (or continue `resume`). Returns where everything went.

    Args:
        parent_run_id: the MLflow run this one is nested under (a sweep's).
        epoch_callbacks: Keras callbacks run at each epoch's end after the checkpoints, with the epoch's
            validation metrics in their logs (a sweep's pruning).
        run_tags: extra MLflow tags of the run (a sweep's trial number).
    """
    from nlp_lstm.tasks import get_task
    from nlp_lstm.training.trainer import set_seed

    for note in config.notes:
        log(f"note: {note}")
    task = get_task(config.task)(config)
    set_seed(config.training.seed)
    # Every data error surfaces before a folder or an MLflow run exists, so a typo in a file leaves nothing behind.
    splits = task.read_splits()
    task.check(splits)
    log(
        f"data: {len(splits.train)} train, {len(splits.validation)} validation, {len(splits.test)} test "
        f"({', '.join(f'{k}: {v}' for k, v in splits.origin.items())})"
    )
    fingerprints = task.file_fingerprints()
    if resume is not None:
        _check_same_data(resume.model_dir, fingerprints)
    from nlp_lstm.training.distribution import replication_for

    replication = replication_for(config.training)  # multi_worker: once every worker has joined
    if not replication.is_chief:
        return _follow_the_chief(task, splits, config, fingerprints, log, replication, resume)
    if config.tracking.enabled:
        _mark_dead_runs(resume.tracking_uri if resume else config.tracking.uri, log)
    model_dir = resume.model_dir if resume is not None else _new_run_folder(config)
    try:
        with _training_in(model_dir):
            return _run(
                task,
                splits,
                config,
                config_path,
                model_dir,
                fingerprints,
                resume,
                log,
                parent_run_id,
                epoch_callbacks,
                run_tags or {},
                replication,
            )
    except (KeyboardInterrupt, Terminated):
        if (model_dir / MANIFEST).exists():
            every_worker = " (on every worker)" if config.training.distribution == "multi_worker" else ""
            log(f"\ninterrupted; continue with: nlp-lstm run --resume {model_dir}{every_worker}")
        raise
    except Exception as exc:
        error = storage_error(exc)
        if error is None or not (model_dir / MANIFEST).exists():
            raise
        remedy = "free some space" if error.full else "make it writable"
        raise StorageError(
            f"{error}; the last checkpoint is intact: {remedy}, then continue with: nlp-lstm run --resume {model_dir}",
            full=error.full,
        ) from None
    finally:
        if resume is None and not (model_dir / MANIFEST).exists():
            shutil.rmtree(model_dir, ignore_errors=True)  # stopped before training started: nothing to keep


def _follow_the_chief(
    task: Task,
    splits: DataSplits,
    config: PipelineConfig,
    fingerprints,
    log,
    replication,
    resume: ResumePoint | None,
) -> RunResult:
    """A multi_worker run's other workers: they train beside the chief and leave no trace (no MLflow run;
    their checkpoints and saves go to a scratch folder), then exit with the chief's status. Resumed, each
    starts from the resume state the chief wrote (read from the run's folder, which every worker reaches)."""
    from nlp_lstm.tracking.mlflow_run import raise_terminated, threading_main

    scratch = Path(tempfile.mkdtemp(prefix=f"nlp_lstm-worker{replication.worker_index}-"))
    task.cache_writable = False
    # SIGTERM as an exception (the chief's tracker does the same), so that the scratch folder goes too.
    previous = signal.signal(signal.SIGTERM, raise_terminated) if threading_main() else None
    try:
        return _run(task, splits, config, None, scratch, fingerprints, resume, log, None, (), {}, replication)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _training_in(model_dir: Path):
    """Hold the folder's lock while training in it: a second `--resume` of the same run is refused, not run
    beside the first (the kernel drops the lock when its process dies, so a killed run does not keep it)."""
    try:
        with exclusive_lock(model_dir / LOCK, wait=False):
            remove_temporaries(model_dir)  # what a kill while writing the model or the manifest left
            if (model_dir / CHECKPOINTS).exists():
                remove_temporaries(model_dir / CHECKPOINTS)
            yield
    except BlockingIOError:
        raise UsageError(f"{model_dir}: another process is training in this folder (its lock {LOCK} is held)") from None


def _new_run_folder(config: PipelineConfig) -> Path:
    """A folder of its own for this run (exclusive creation: concurrent runs with one name get `-2`, `-3`...);
    the run name follows the folder's."""
    # What the run changed comes first: the MLflow UI's runs table shows only the start of a name.
    changes = changes_in_short(config.overrides)
    stem = f"{changes}-{config.name or config.task}" if changes else (config.name or config.task)
    requested = config.tracking.run_name or f"{stem}-{datetime.now():%Y%m%d-%H%M%S}"
    base = _safe_name(requested)
    model_dir = create_unique_directory(config.output_dir, base)
    config.tracking.run_name = requested + model_dir.name[len(base) :]
    return model_dir


def _training_digest(task: Task, splits: DataSplits, fingerprints: list[dict[str, Any]]) -> str:
    """The training split's MLflow digest: its files' content and the part of them taken (validation and test
    split off with a seed), the same whether the split was read or left to the preprocessing cache."""
    files = {str(path.resolve()) for path in task.files_of_split("train")}
    data = task.config.data
    taken = data.validation is None or data.test is None
    described = {
        "files": [f["sha256"] for f in fingerprints if f["path"] in files],
        "split": data.split.model_dump(mode="json") if taken else None,
        "seed": (data.split.seed if data.split.seed is not None else task.config.training.seed) if taken else None,
        "examples": len(splits.train),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode("utf-8")).hexdigest()[:8]


def _run(
    task: Task,
    splits: DataSplits,
    config: PipelineConfig,
    config_path,
    model_dir: Path,
    fingerprints: list[dict[str, Any]],
    resume: ResumePoint | None,
    log: Callable[[str], None],
    parent_run_id: str | None,
    epoch_callbacks: Sequence[Any],
    run_tags: Mapping[str, str],
    replication: Replication,
) -> RunResult:
    from nlp_lstm.evaluation.curves import plot_learning_curves
    from nlp_lstm.tracking.mlflow_run import RunTracker
    from nlp_lstm.training.trainer import dtype_policy, train_model

    state = resume.state if resume is not None else None
    with (
        contextlib.ExitStack() as after_training,
        RunTracker(
            config,
            config_path,
            run_id=resume.run_id if resume else None,
            model_dir=model_dir,
            tracking_uri=resume.tracking_uri if resume else None,
            parent_run_id=parent_run_id,
            tags=run_tags,
            enabled=replication.is_chief,
        ) as tracker,
    ):
        tracker.log_file_dataset(
            splits.files["train"],
            name=f"{config.name}-train",
            context="training",
            digest=_training_digest(task, splits, fingerprints),
            rows=len(splits.train),
        )
        for name in ("validation", "test"):
            tracker.log_dataset(
                task.data_frame(getattr(splits, name)),
                source=splits.files[name],
                name=f"{config.name}-{name}",
                context={"validation": "eval"}.get(name, name),
            )
        with dtype_policy(config.training.mixed_precision), replication.scope():
            pipeline, train_batches, val_batches = task.prepare(splits, log)
        if replication.engine is not None:
            log(f"training: data-parallel over {replication.describe()}")
        tracker.log_params(
            {
                **task.summary(pipeline),
                **replication.params,
                "num_parameters": pipeline.num_parameters,
                "train_examples": len(splits.train),
                "validation_examples": len(splits.validation),
                "test_examples": len(splits.test),
            }
        )
        run_info = {
            "mlflow_run_id": tracker.run_id,
            "tracking_uri": _absolute_uri(tracker.tracking_uri),
            "working_directory": os.getcwd(),
            "process": process_tags(),
            "data": fingerprints,
        }
        # The folder is usable from now on: `predict` loads its best epoch so far, `--resume` continues it.
        pipeline.save(model_dir, status=TRAINING, run=run_info, preprocessing=resume is None)
        checkpoints = model_dir / CHECKPOINTS
        if state is not None:
            tracker.log_missing_epochs(state.history)
            log(
                f"resuming {model_dir} after epoch {state.epochs_done}"
                + (" (training had ended; evaluating)" if state.complete(config.training.epochs) else "")
            )
        else:
            log(f"model: {pipeline.num_parameters:,} parameters; saving to {model_dir}")
        with replication.training():
            outcome = train_model(
                pipeline.model,
                train_batches,
                val_batches,
                config.training,
                checkpoint_dir=checkpoints,
                # Task callbacks add validation metrics to the logs, so they run before the checkpoints (and early
                # stopping); the logger runs after the resume state is written.
                callbacks=task.callbacks(pipeline, splits),
                after_checkpoint=[tracker.epoch_logger(), *epoch_callbacks],
                resume=state,
                metadata={"mlflow_run_id": tracker.run_id},
                replication=replication,
            )
        replication.release([pipeline.model])  # evaluation and prediction from here on run on one device
        if not replication.is_chief:
            log(f"worker {replication.worker_index}: training done; waiting for the chief to evaluate and save")
            status = replication.outcome(0)
            if status:
                raise ChiefFailed(status)
            return RunResult(None, config.tracking.run_name or "", model_dir, {}, None, worker=replication.worker_index)
        after_training.enter_context(replication.announcing_outcome())  # once the MLflow run is closed
        train_tokens = int(train_batches.lengths.sum()) * outcome.epochs_run
        pipeline.save(model_dir, status=TRAINING, run=run_info, preprocessing=False)  # the kept weights

        started = time.perf_counter()
        evaluation = pipeline.evaluate(splits.test)
        eval_seconds = time.perf_counter() - started
        metrics = {f"test_{k}": v for k, v in evaluation.metrics.items()}
        monitor = config.training.early_stopping.monitor
        best_value = outcome.history[outcome.best_epoch - 1].get(monitor) if outcome.best_epoch else None
        timings = {
            **({"best_epoch": outcome.best_epoch, f"best_{monitor}": best_value} if best_value is not None else {}),
            "train_seconds": outcome.train_seconds,
            "epochs_run": outcome.epochs_run,
            "train_tokens_per_second": train_tokens / outcome.train_seconds if outcome.train_seconds else 0.0,
            "test_examples_per_second": len(splits.test) / eval_seconds if eval_seconds else 0.0,
        }
        atomic_write_text(model_dir / "metrics.json", json.dumps(metrics, indent=2))
        reports = evaluation.save(model_dir / "evaluation", prefix="test_")
        reports["learning_curves"] = plot_learning_curves(
            outcome.history,
            config.training.early_stopping.monitor,
            outcome.best_epoch,
            model_dir / "evaluation" / "learning_curves.png",
        )

        for path in reports.values():
            tracker.log_artifact(path, "evaluation")
        tracker.log_artifact(model_dir / "preprocessing", "preprocessing")
        tracker.log_keras_model(pipeline.export_model(), pipeline.model_io()[0], pipeline.output_name)
        finished = {
            **pipeline.manifest_for(FINISHED, run_info),
            "epochs_run": outcome.epochs_run,
            "best_epoch": outcome.best_epoch,
        }
        tracker.log_pipeline_model(model_dir, pipeline, manifest=finished)
        tracker.log_final_metrics(metrics, dataset="test")  # after the models: linked to the pipeline model
        tracker.log_final_metrics(timings)
        if config.tracking.register_model:
            version = tracker.register_pipeline(config.tracking.register_model)
            log(f"registered:  models:/{version.name}/{version.version}")
        write_manifest(model_dir, finished)  # last: a finished folder has everything
        (checkpoints / RESUME_STATE).unlink(missing_ok=True)  # only unfinished runs resume
        return RunResult(
            run_id=tracker.run_id,
            run_name=config.tracking.run_name,
            model_dir=model_dir,
            metrics=metrics,
            tracking_uri=tracker.tracking_uri,
            timings=timings,
            history=outcome.history,
            best_value=best_value,
            experiment_id=tracker.experiment_id,
        )


def _check_same_data(model_dir: Path, fingerprints: list[dict[str, Any]]) -> None:
    recorded = read_manifest(model_dir).get("run", {}).get("data")
    if recorded is None:
        return
    before = {f["path"]: f for f in recorded}
    for now in fingerprints:
        then = before.get(now["path"])
        if then is not None and then != now:
            raise DataError(
                f"{now['path']}: changed since the run in {model_dir} started (size {then['size']} -> "
                f"{now['size']} bytes, content differs); resuming would train on other data. Start a "
                "new run instead"
            )


def _absolute_uri(uri: str | None) -> str | None:
    """`sqlite:///mlflow.db` (relative to the working directory) as an absolute sqlite URI."""
    if uri and uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{Path(uri.removeprefix('sqlite:///')).resolve()}"
    return uri


def _mark_dead_runs(tracking_uri: str | None, log: Callable[[str], None]) -> None:
    from nlp_lstm.tracking.mlflow_run import mark_dead_runs_killed

    for run_id, name in mark_dead_runs_killed(tracking_uri):
        log(f"marked run {name} ({run_id}) KILLED: its process on this host is gone")


# ----------------------------------------------------------------------------------------------- resume
def resume_pipeline(
    target: str | Path,
    overrides: Iterable[str] = (),
    config_path: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> RunResult:
    """Continue the interrupted run in folder `target` (or the MLflow run with that id) where it stopped.

    Args:
        target: the run's folder, or its MLflow run id (found in the store `tracking.uri` names).
        overrides: `--set` values; only `training.epochs` may differ from the run's config.
        config_path: the pipeline YAML to compare with the run's saved config (default: the saved one).
    """
    from nlp_lstm.config.loader import parse_overrides

    overrides = parse_overrides(list(overrides))
    if overrides.get("training.distribution", "multi_worker") != "multi_worker":
        overrides.setdefault("training.distribution_options", None)  # a multi_worker run resumed on one host
    model_dir = _locate_run(target, overrides.get("tracking.uri")).resolve()
    config_path = Path(config_path).resolve() if config_path is not None else None
    if model_dir.is_dir() and not (model_dir / MANIFEST).exists():
        raise UsageError(
            f"--resume {target}: the run stopped before its training started (no {MANIFEST} in "
            f"{model_dir}); start it again"
        )
    manifest = read_manifest(model_dir)
    if is_finished(manifest):
        raise UsageError(
            f"--resume {target}: the run in {model_dir} finished; there is nothing to resume (start a "
            "new run to train more)"
        )
    run = manifest.get("run", {})
    _refuse_if_running(model_dir, run)
    saved = load_saved_config(model_dir, manifest["task"])
    working_directory = Path(run.get("working_directory") or os.getcwd())
    if not working_directory.is_dir():
        raise UsageError(
            f"--resume {target}: the run's working directory {working_directory} is gone (its relative "
            "paths are resolved there)"
        )
    with contextlib.chdir(working_directory):  # relative paths mean what they meant
        if config_path is not None:
            requested = load_config(config_path, overrides)
        else:
            requested = load_config(data=saved.model_dump(mode="json"), overrides=overrides)
        _refuse_changes(saved, requested, target)
        requested.tracking.run_name = saved.tracking.run_name
        requested.tracking.uri = saved.tracking.uri

        from nlp_lstm.training.checkpoints import describe_state, read_training_state

        state_path = model_dir / CHECKPOINTS / RESUME_STATE
        state = read_training_state(state_path) if state_path.exists() else None
        run_id = run.get("mlflow_run_id") if saved.tracking.enabled else None
        if state is not None and state.metadata.get("mlflow_run_id") != run_id:
            raise ModelDirError(
                f"{state_path}: written by MLflow run {state.metadata.get('mlflow_run_id')}, but "
                f"{MANIFEST} names {run_id}; the folder mixes two runs"
            )
        log(f"resume state: {describe_state(state)}" if state else "no epoch had finished: training starts over")
        return run_pipeline(
            requested, config_path, log, resume=ResumePoint(model_dir, run_id, state, run.get("tracking_uri"))
        )


def _locate_run(target: str | Path, tracking_uri: str | None) -> Path:
    path = Path(target)
    if path.exists():
        return path
    if not re.fullmatch(r"[0-9a-f]{32}", str(target)):
        raise UsageError(f"--resume {target}: neither a run folder nor an MLflow run id")
    import mlflow

    from nlp_lstm.tracking.tags import MODEL_DIR_TAG

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    try:
        run = client.get_run(str(target))
    except mlflow.exceptions.MlflowException:
        raise UsageError(
            f"--resume {target}: no such run in {client.tracking_uri} (set tracking.uri or "
            "MLFLOW_TRACKING_URI to its store)"
        ) from None
    folder = run.data.tags.get(MODEL_DIR_TAG)
    if folder is None:
        raise UsageError(f"--resume {target}: the run records no model folder (not started by this nlp_lstm)")
    if run.info.status == "FINISHED":
        raise UsageError(f"--resume {target}: the run finished; there is nothing to resume")
    if not Path(folder).exists():
        raise ModelDirError(f"{folder}: the folder of run {target} is gone")
    return Path(folder)


def _refuse_if_running(model_dir: Path, run: Mapping[str, Any]) -> None:
    from nlp_lstm.tracking.liveness import PID_TAG, process_of

    process = process_of(run.get("process", {}))
    if process[PID_TAG] != str(os.getpid()) and process_alive(process):
        raise UsageError(
            f"--resume {model_dir}: its run is still going (process {process[PID_TAG]} on this host); stop it first"
        )


def _refuse_changes(saved: PipelineConfig, requested: PipelineConfig, target) -> None:
    before, after = flatten_config(saved), flatten_config(requested)
    changed = [
        key
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key) and not key.startswith(RESUMABLE_CHANGES)
    ]
    if changed:
        shown = ", ".join(f"{key} ({before.get(key)!r} -> {after.get(key)!r})" for key in changed[:5])
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        raise UsageError(
            f"--resume {target}: the config differs from the run's in {shown}{more}; only training.epochs "
            "may change when resuming (start a new run for the rest)"
        )


# ------------------------------------------------------------------------------------------ saved folders
def load_pipeline(model_dir: str | Path) -> TrainedPipeline:
    """Load a pipeline saved by `run_pipeline` (what `nlp_lstm.load` returns): its folder, or the pipeline
    model a run logged to MLflow (`runs:/RUN_ID/pipeline`, `models:/NAME/VERSION`, `models:/NAME/latest`,
    `models:/NAME@alias`, from the store MLFLOW_TRACKING_URI names). An unfinished run's folder loads with its
    best epoch so far, with a warning (`pipeline.unfinished` is then true)."""
    from nlp_lstm.tasks import load_folder
    from nlp_lstm.tracking.models import download_pipeline, is_mlflow_uri

    model_dir = download_pipeline(str(model_dir)) if is_mlflow_uri(model_dir) else Path(model_dir)
    pipeline = load_folder(model_dir)
    if pipeline.unfinished:
        warnings.warn(
            InputWarning(
                f"{model_dir} is the folder of an unfinished run: using its best epoch so far "
                f"(continue it with: nlp-lstm run --resume {model_dir})"
            ),
            stacklevel=2,
        )
    return pipeline


def evaluate_saved(
    model_dir: str | Path, data_path: str | Path, predictions_out: str | Path | None = None
) -> dict[str, Any]:
    """Metrics of a saved pipeline on a labelled file (read with the pipeline's own data settings); with
    `predictions_out`, also its predictions there (the folder is created first, so a bad path costs nothing)."""
    out = Path(predictions_out) if predictions_out is not None else None
    if out is not None:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--predictions-out {out}: cannot create its folder ({exc.strerror or exc})") from None
    pipeline = load_pipeline(model_dir)
    if out is not None and not pipeline.writes_predictions:
        raise UsageError(f"--predictions-out is not supported for the {pipeline.task} task")
    data = pipeline.read_data(data_path)
    metrics = pipeline.evaluate(data).metrics
    if out is not None:
        try:
            pipeline.write_predictions(data, out)
        except OSError as exc:
            raise UsageError(
                f"--predictions-out {out}: cannot write ({exc.strerror or exc}); the metrics were {json.dumps(metrics)}"
            ) from None
    return metrics


__all__ = ["RunResult", "run_pipeline", "resume_pipeline", "load_pipeline", "evaluate_saved", "load_saved_config"]

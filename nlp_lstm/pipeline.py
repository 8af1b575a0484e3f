"""The shared runner: validate -> read -> preprocess -> train -> evaluate -> save -> track, for any task."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from nlp_lstm.config.schema import PipelineConfig
from nlp_lstm.errors import ModelDirError
from nlp_lstm.tasks.base import TrainedPipeline, get_task, load_saved_config
from nlp_lstm.tracking.mlflow_run import RunTracker
from nlp_lstm.training.trainer import dtype_policy, set_seed, train_model


@dataclass
class RunResult:
    run_id: str | None
    run_name: str
    model_dir: Path
    metrics: dict[str, float]
    tracking_uri: str | None
    timings: dict[str, float] = field(default_factory=dict)


def _safe_name(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("_") or "run"


def run_pipeline(
    config: PipelineConfig, config_path: str | Path | None = None, log: Callable[[str], None] = print
) -> RunResult:
    """Train, evaluate, save and track one pipeline run. Returns where everything went."""
    task = get_task(config.task)(config)
    set_seed(config.training.seed)
    # Data errors surface before an MLflow run is opened, so a typo in a file leaves no failed run behind.
    splits = task.read_splits()
    log(
        f"data: {len(splits.train)} train, {len(splits.validation)} validation, {len(splits.test)} test "
        f"({', '.join(f'{k}: {v}' for k, v in splits.origin.items())})"
    )
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    if config.tracking.run_name is None:
        config.tracking.run_name = f"{config.name or config.task}-{stamp}"
    model_dir = Path(config.output_dir) / _safe_name(config.tracking.run_name)
    if model_dir.exists():
        model_dir = model_dir.with_name(f"{model_dir.name}-{stamp}")

    with RunTracker(config, config_path) as tracker:
        for name in ("train", "validation", "test"):
            data = getattr(splits, name)
            tracker.log_dataset(
                task.data_frame(data), source=splits.files[name], name=f"{config.name}-{name}",
                context={"validation": "eval"}.get(name, name if name != "train" else "training"),
            )
        started = time.perf_counter()
        with dtype_policy(config.training.mixed_precision):
            pipeline = task.build_pipeline(splits.train)
        train_batches = task.batches(pipeline, splits.train, shuffle=True)
        val_batches = task.batches(pipeline, splits.validation, shuffle=False)
        tracker.log_params(
            {
                **task.summary(pipeline),
                "num_parameters": pipeline.model.count_params(),
                "train_examples": len(splits.train),
                "validation_examples": len(splits.validation),
                "test_examples": len(splits.test),
            }
        )
        log(f"model: {pipeline.model.count_params():,} parameters; saving to {model_dir}")
        history = train_model(
            pipeline.model,
            train_batches.as_keras_input(),
            val_batches.as_keras_input(),
            config.training,
            checkpoint_path=model_dir / "checkpoints" / "best.weights.h5",
            # Task callbacks add validation metrics to the logs, so they run before the logger (and early stopping).
            callbacks=[*task.callbacks(pipeline, splits), tracker.epoch_logger()],
        )
        train_seconds = time.perf_counter() - started
        epochs_run = len(history.history.get("loss", []))
        train_tokens = int(train_batches.lengths.sum()) * epochs_run
        pipeline.save(model_dir)

        started = time.perf_counter()
        evaluation = pipeline.evaluate(splits.test)
        eval_seconds = time.perf_counter() - started
        metrics = {f"test_{k}": v for k, v in evaluation.metrics.items()}
        timings = {
            "train_seconds": train_seconds,
            "epochs_run": epochs_run,
            "train_tokens_per_second": train_tokens / train_seconds if train_seconds else 0.0,
            "test_examples_per_second": len(splits.test) / eval_seconds if eval_seconds else 0.0,
        }
        tracker.log_metrics({**metrics, **timings})
        (model_dir / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")

        reports = evaluation.save(model_dir / "evaluation", prefix="test_")
        for path in reports.values():
            tracker.log_artifact(path, "evaluation")
        tracker.log_artifact(model_dir / "preprocessing", "preprocessing")
        tracker.log_keras_model(pipeline.model, task.model_signature(pipeline))
        tracker.log_pipeline_model(model_dir, signature=_text_signature())
        return RunResult(
            run_id=tracker.run_id,
            run_name=config.tracking.run_name,
            model_dir=model_dir,
            metrics=metrics,
            tracking_uri=tracker.tracking_uri,
            timings=timings,
        )


def _text_signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    return ModelSignature(inputs=Schema([ColSpec("string", "text")]))


def load_pipeline(model_dir: str | Path) -> TrainedPipeline:
    """Load a pipeline saved by `run_pipeline` (what `nlp_lstm.load` returns)."""
    model_dir = Path(model_dir)
    manifest_path = model_dir / "pipeline.json"
    if not model_dir.is_dir():
        raise ModelDirError(f"{model_dir}: no such model directory")
    if not manifest_path.exists():
        raise ModelDirError(f"{model_dir}: not a saved nlp_lstm pipeline (pipeline.json missing)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    task_cls = get_task(manifest["task"])
    return task_cls.pipeline_class.load(model_dir)


def evaluate_saved(model_dir: str | Path, data_path: str | Path, predictions_out: str | Path | None = None) -> dict[str, Any]:
    """Metrics of a saved pipeline on a labelled file (read with the pipeline's own data settings)."""
    pipeline = load_pipeline(model_dir)
    data = pipeline.read_data(data_path)
    evaluation = pipeline.evaluate(data)
    if predictions_out is not None:
        pipeline.write_predictions(data, Path(predictions_out))
    return evaluation.metrics


__all__ = ["RunResult", "run_pipeline", "load_pipeline", "evaluate_saved", "load_saved_config"]

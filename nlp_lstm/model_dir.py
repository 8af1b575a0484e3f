"""The saved pipeline folder: its manifest (`pipeline.json`), saved config and Keras model, read with checks.

Every way a folder can be broken (a file missing, truncated or invalid, a model of another task or a newer
format, an unsafe model) is a `ModelDirError` naming the folder and the file, never a traceback.

A folder is written when training starts (`status: training`: preprocessing, config, untrained model) and
completed at the end (`status: finished`). An unfinished folder loads with the best epoch's weights so far
(`checkpoints/best.weights.h5`).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from nlp_lstm.errors import ConfigError, ModelDirError
from nlp_lstm.files import CONFIG, MANIFEST, atomic_write_text, read_json, read_saved_text

PIPELINE_FORMAT = 1
MODEL = "model.keras"
CHECKPOINTS = "checkpoints"
BEST_WEIGHTS = "best.weights.h5"  # in CHECKPOINTS: the best epoch so far
RESUME_STATE = "resume.npz"  # in CHECKPOINTS: what `--resume` continues from
LOCK = ".lock"  # held by the process that trains in the folder
TRAINING, FINISHED = "training", "finished"


def read_manifest(directory: Path, known_tasks: tuple[str, ...] | None = None) -> dict[str, Any]:
    """`pipeline.json`, checked: a JSON object naming a known task, in a format this version reads."""
    if not directory.exists():
        raise ModelDirError(f"{directory}: no such model directory")
    if not directory.is_dir():
        raise ModelDirError(f"{directory}: not a directory (give the folder `nlp-lstm run` printed)")
    path = directory / MANIFEST
    if not path.exists():
        raise ModelDirError(f"{directory}: not a saved nlp_lstm pipeline ({MANIFEST} missing)")
    manifest = read_json(path)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("task"), str):
        raise ModelDirError(f"{path}: not an nlp_lstm manifest (no task); the folder is damaged")
    version = manifest.get("format", 1)
    if not isinstance(version, int) or version > PIPELINE_FORMAT:
        raise ModelDirError(
            f"{path}: format {version!r}, written by nlp_lstm {manifest.get('nlp_lstm_version', '?')}; this version "
            f"reads format {PIPELINE_FORMAT} and older: upgrade nlp_lstm to load it"
        )
    if known_tasks is not None and manifest["task"] not in known_tasks:
        raise ModelDirError(
            f"{path}: task {manifest['task']!r} is not one this nlp_lstm knows ({', '.join(known_tasks)})"
        )
    return manifest


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    atomic_write_text(directory / MANIFEST, json.dumps(manifest, indent=2))


def is_finished(manifest: dict[str, Any]) -> bool:
    return manifest.get("status", FINISHED) == FINISHED  # folders saved before statuses existed are finished


def load_saved_config(directory: Path, task: str | None = None):
    """The config saved with a pipeline, validated without checking that its data files still exist."""
    import yaml

    from nlp_lstm.config.registry import task_names
    from nlp_lstm.config.schema import skip_file_checks

    path = directory / CONFIG
    try:
        raw = yaml.safe_load(read_saved_text(path))
    except yaml.YAMLError as exc:
        raise ModelDirError(f"{path}: not valid YAML ({getattr(exc, 'problem', exc)}); the folder is damaged") from None
    if not isinstance(raw, dict) or raw.get("task") not in task_names():
        found = raw.get("task") if isinstance(raw, dict) else None
        raise ModelDirError(f"{path}: not a pipeline config (task {found!r})")
    if task is not None and raw["task"] != task:
        raise ModelDirError(f"{path}: a {raw['task']} config, but {MANIFEST} says {task}; the folder mixes two runs")
    from nlp_lstm.config.loader import PATHS_FROM_FILE, load_config

    try:
        with skip_file_checks():
            if read_saved_text(path).startswith(PATHS_FROM_FILE):
                return load_config(path)  # its paths from its folder, as the working directory sees them
            return load_config(data=raw)
    except ConfigError as exc:
        raise ModelDirError(f"{path}: invalid saved config: {exc.problems[0].removeprefix('<config>: ')}") from None


Loaded = TypeVar("Loaded")


def load_saved_part(directory: Path, part: str, load: Callable[[Path], Loaded]) -> Loaded:
    """`load(directory / part)` (a file or folder of a saved pipeline); a missing or damaged one is a
    `ModelDirError` naming it."""
    try:
        return load(directory / part)
    except ModelDirError:
        raise
    except FileNotFoundError as exc:
        missing = Path(exc.filename).name if exc.filename else "a file"
        where = part if missing == part else f"{part}/{missing}"
        raise ModelDirError(f"{directory}: {where} missing; the folder is incomplete") from None
    except (OSError, ValueError, KeyError, TypeError, IndexError, RuntimeError, EOFError, zipfile.BadZipFile) as exc:
        raise ModelDirError(f"{directory / part}: damaged ({type(exc).__name__}: {exc})") from None


def load_keras_model(directory: Path):
    """`model.keras`, loaded in Keras's safe mode (a Lambda layer's code is refused, not run)."""
    import keras

    path = directory / MODEL
    if not path.exists():
        raise ModelDirError(f"{directory}: {MODEL} missing; the folder is incomplete")
    if not zipfile.is_zipfile(path):
        raise ModelDirError(f"{path}: damaged or truncated (not a complete .keras archive)")
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (KeyError, ValueError, zipfile.BadZipFile, OSError) as exc:
        raise ModelDirError(f"{path}: damaged (no readable config.json: {exc})") from None
    if _holds_lambda(config):
        raise ModelDirError(
            f"{path}: holds a Lambda layer (arbitrary Python code), which nlp_lstm never writes; "
            "refused (Keras safe mode)"
        )
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many kinds for a damaged or foreign archive
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelDirError(f"{path}: cannot be loaded ({type(exc).__name__}: {reason[:300]})") from None


def _holds_lambda(config: Any) -> bool:
    if isinstance(config, dict):
        if config.get("class_name") == "Lambda":
            return True
        return any(_holds_lambda(v) for v in config.values())
    if isinstance(config, list):
        return any(_holds_lambda(v) for v in config)
    return False


def load_best_weights(model, directory: Path) -> None:
    """The best epoch so far of an unfinished run, from its checkpoint."""
    path = directory / CHECKPOINTS / BEST_WEIGHTS
    if not path.exists():
        raise ModelDirError(
            f"{directory}: an unfinished run that has not finished an epoch yet "
            f"({CHECKPOINTS}/{BEST_WEIGHTS} missing): nothing to predict with"
        )
    try:
        model.load_weights(path)
    except Exception as exc:
        raise ModelDirError(f"{path}: cannot be loaded ({type(exc).__name__}: {str(exc)[:300]})") from None

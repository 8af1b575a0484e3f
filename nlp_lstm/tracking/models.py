"""Pipelines as MLflow models: found by URI (`runs:/ID/pipeline`, `models:/NAME/VERSION`, `models:/NAME/latest`,
`models:/NAME@alias`) and served by MLflow's scoring server."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from nlp_lstm.errors import ModelDirError

_MLFLOW_URI = re.compile(r"^(models|runs):/")


def is_mlflow_uri(source: str | Path) -> bool:
    return bool(_MLFLOW_URI.match(str(source)))


def check_pipeline_uri(uri: str) -> None:
    """A `ModelDirError` naming the URI when it names no pipeline model in the store (without downloading it)."""
    import mlflow

    try:
        info = mlflow.models.get_model_info(uri)
    except Exception as exc:  # MLflow raises several kinds for a missing model, version or alias
        raise ModelDirError(f"{uri}: cannot be fetched from {mlflow.get_tracking_uri()} ({_first_line(exc)})") from None
    if "python_function" not in info.flavors or "pipeline" not in str(info.flavors["python_function"].get("artifacts")):
        raise ModelDirError(
            f"{uri}: not an nlp_lstm pipeline model (the Keras `model` of a run loads with mlflow.keras.load_model)"
        )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def download_pipeline(uri: str, destination: Path | None = None) -> Path:
    """The pipeline folder inside the logged pyfunc model at `uri`, downloaded to `destination` (default: a
    temporary folder removed when the process exits; loading reads everything it needs)."""
    import mlflow
    import yaml

    if destination is None:
        destination = Path(tempfile.mkdtemp(prefix="nlp-lstm-model-"))
        atexit.register(shutil.rmtree, destination, ignore_errors=True)
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(destination)))
    except Exception as exc:  # MLflow raises several kinds for a missing model, version or alias
        raise ModelDirError(f"{uri}: cannot be fetched from {mlflow.get_tracking_uri()} ({_first_line(exc)})") from None
    try:
        flavor = yaml.safe_load((local / "MLmodel").read_text(encoding="utf-8"))["flavors"]["python_function"]
        return local / flavor["artifacts"]["pipeline"]["path"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        raise ModelDirError(
            f"{uri}: not an nlp_lstm pipeline model (log it with nlp-lstm run; the Keras `model` "
            "of a run loads with mlflow.keras.load_model)"
        ) from None


def save_pipeline_pyfunc(folder: Path, pipeline, target: Path) -> Path:
    """Save the pipeline in `folder` (loaded as `pipeline`) as a pyfunc model at `target`, as a run logs it."""
    import mlflow

    from nlp_lstm.tracking.mlflow_run import pyfunc_arguments, quiet_pyfunc_warnings, staged_pipeline

    with staged_pipeline(folder) as staged, quiet_pyfunc_warnings():
        mlflow.pyfunc.save_model(str(target), **pyfunc_arguments(staged, pipeline))
    return target


def serve(model_uri: str, host: str = "127.0.0.1", port: int = 5000, workers: int = 1) -> int:
    """Run MLflow's scoring server (`mlflow models serve`, in this environment) for an MLflow model URI or a
    saved pyfunc folder until it is stopped; returns its exit status.

    MLflow starts `uvicorn` from PATH: this interpreter's folder goes first, so the server starts from
    `.venv/bin/nlp-lstm` without activating the virtual environment.
    """
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "models",
        "serve",
        "-m",
        model_uri,
        "--env-manager",
        "local",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    server = subprocess.Popen(command, env=env)
    previous = signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    try:
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        return server.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)

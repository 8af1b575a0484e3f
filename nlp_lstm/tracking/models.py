"""Pipelines as MLflow models: found by URI (`runs:/ID/pipeline`, `models:/NAME/VERSION`, `models:/NAME/latest`,
`models:/NAME@alias`) and downloaded (their pipeline folder only) to be loaded or served."""

from __future__ import annotations

import atexit
import re
import shutil
import tempfile
from pathlib import Path

from nlp_lstm.errors import ModelDirError

_MLFLOW_URI = re.compile(r"^(models|runs):/")


def is_mlflow_uri(source: str | Path) -> bool:
    return bool(_MLFLOW_URI.match(str(source)))


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

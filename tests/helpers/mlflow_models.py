"""Checks shared by each task's tests of its logged MLflow models: they load in a fresh process, carry complete
requirements, and serve over HTTP what `predict` answers."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import requires
from pathlib import Path
from typing import Any

import numpy as np


def logged_models(uri: str, run_id: str) -> dict[str, Any]:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=uri)
    experiment = client.get_run(run_id).info.experiment_id
    return {
        m.name: m
        for m in client.search_logged_models(experiment_ids=[experiment], filter_string=f"source_run_id = '{run_id}'")
    }


def assert_keras_model_loads_in_a_fresh_process(
    uri: str, run_id: str, inputs: dict[str, np.ndarray], expected: np.ndarray, tmp_path: Path
) -> None:
    """`import nlp_lstm`, then the run's Keras `model` through mlflow.keras and mlflow.pyfunc, in a new process:
    both give the pipeline model's outputs."""
    model_id = logged_models(uri, run_id)["model"].model_id
    np.savez(tmp_path / "inputs.npz", **inputs)
    script = textwrap.dedent(f"""
        import numpy as np, mlflow, nlp_lstm
        mlflow.set_tracking_uri({uri!r})
        inputs = dict(np.load({str(tmp_path / "inputs.npz")!r}))
        x = inputs if len(inputs) > 1 else next(iter(inputs.values()))
        keras_model = mlflow.keras.load_model("models:/{model_id}")
        pyfunc_model = mlflow.pyfunc.load_model("models:/{model_id}")
        np.savez({str(tmp_path / "outputs.npz")!r}, keras=keras_model.predict(x, verbose=0), pyfunc=pyfunc_model.predict(x))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = np.load(tmp_path / "outputs.npz")
    np.testing.assert_allclose(outputs["keras"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outputs["pyfunc"], expected, rtol=1e-5, atol=1e-6)


def assert_requirements_are_complete(uri: str, run_id: str) -> None:
    """Both models pin every runtime dependency of nlp_lstm (what a virtualenv rebuild installs)."""
    import mlflow

    declared = {
        re.split(r"[<>=!;\[ ]", line, maxsplit=1)[0].lower()
        for line in requires("nlp-lstm")
        if "extra ==" not in line and "platform_machine !=" not in line
    }
    for name, model in logged_models(uri, run_id).items():
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{model.artifact_location}/requirements.txt", tracking_uri=uri
        )
        pins = {line.split("==")[0].lower(): line for line in Path(path).read_text().split() if "==" in line}
        assert declared <= set(pins), (name, sorted(declared - set(pins)))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def scoring_server(model: str, tracking_uri: str, cwd: Path) -> Iterator[str]:
    """`nlp-lstm serve MODEL` on a free loopback port with a PATH that does not hold the venv (as when it is
    run as .venv/bin/nlp-lstm without activating the venv); yields its base URL once /ping answers."""
    port = _free_port()
    env = {**os.environ, "PATH": "/usr/bin:/bin", "MLFLOW_TRACKING_URI": tracking_uri, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "nlp_lstm.cli", "serve", model, "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            assert server.poll() is None, server.stdout.read()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            assert time.time() < deadline, "the scoring server did not start"
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def post(url: str, payload: Any) -> tuple[int, Any]:
    """POST JSON to /invocations: (status, decoded answer)."""
    request = urllib.request.Request(
        f"{url}/invocations", data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def assert_serves_like_predict(url: str, texts: list[str], expected: list[Any], params: dict | None = None) -> None:
    """MLflow's request formats give `predict`'s answers; a malformed request is a 400 with a one-line reason."""
    extra = {"params": params} if params else {}
    for payload in (
        {"inputs": texts, **extra},
        {"instances": texts, **extra},
        {"dataframe_split": {"columns": ["id", "text"], "data": [[i, t] for i, t in enumerate(texts)]}, **extra},
        {"dataframe_records": [{"text": t} for t in texts], **extra},
    ):
        status, answer = post(url, payload)
        assert status == 200, answer
        assert answer == {"predictions": json.loads(json.dumps(expected))}
    for bad, reason in (
        ({"inputs": texts, "params": {"batch_size": 0}}, "param batch_size must be a whole number >= 1, got 0"),
        ({"dataframe_split": {"columns": ["text"], "data": [[{"a": 1}]]}}, "input 0 is an object ({'a': 1}), not"),
        ({"texts": texts}, "unknown field(s) 'texts'; expected one of inputs, instances, dataframe_split"),
        ({"inputs": texts, "params": {"nonsense": 1}}, "unknown params ['nonsense']"),
    ):
        status, answer = post(url, bad)
        assert status == 400 and answer["message"].startswith(reason) and "\n" not in answer["message"], answer


__all__ = [
    "assert_keras_model_loads_in_a_fresh_process",
    "assert_requirements_are_complete",
    "assert_serves_like_predict",
    "logged_models",
    "post",
    "scoring_server",
]

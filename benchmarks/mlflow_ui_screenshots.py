"""Look at a sweep in the MLflow UI as a user would: start `mlflow ui` on loopback over a store, open the
experiment as MLflow opens it, its runs table in nlp_lstm's view with the sweep expanded, a trial's run page,
the compare view of the sweep's trials and a trial's learning-curve artifact in headless Chromium (Debian's
`chromium` package), and save a screenshot of each.

    .venv/bin/python benchmarks/mlflow_ui_screenshots.py --tracking-uri sqlite:///mlflow.db --experiment NAME \\
        [--out screenshots] [--port 5055]

The experiment must hold a sweep (`nlp-lstm sweep`). Prints the URL and the PNG of each view.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


def _wait_for(url: str, server: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"mlflow ui exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    raise SystemExit(f"mlflow ui did not answer at {url}")


def _screenshot(browser: str, url: str, path: Path) -> None:
    import tempfile

    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}",  # a new browser: no choice remembered
            "--hide-scrollbars",
            "--window-size=1600,1000",
            "--virtual-time-budget=40000",
            f"--screenshot={path}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("no chromium: apt-get install chromium")
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=args.tracking_uri)
    experiment = client.get_experiment_by_name(args.experiment)
    if experiment is None:
        raise SystemExit(f"no experiment {args.experiment!r} in {args.tracking_uri}")
    parents = client.search_runs([experiment.experiment_id], "tags.`nlp_lstm.sweep.parent` = 'true'")
    if not parents:
        raise SystemExit(f"experiment {args.experiment!r} holds no sweep")
    parent = parents[0]
    trials = client.search_runs([experiment.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    finished = [t for t in trials if "nlp_lstm.sweep.pruned" not in t.data.tags and t.info.status == "FINISHED"]
    shown = finished[0] if finished else trials[0]

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "ui",
            "--backend-store-uri",
            args.tracking_uri,
            "--host",
            "127.0.0.1",
            "--port",
            str(args.port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        _wait_for(f"{base}/health", server)
        runs = json.dumps([t.info.run_id for t in trials])
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from nlp_lstm.tracking.ui import ui_link

        views = {
            "experiment_as_opened": f"{base}/#/experiments/{experiment.experiment_id}",
            "runs_table": ui_link(experiment.experiment_id, server=base),
            "trial_run_page": ui_link(experiment.experiment_id, shown.info.run_id, server=base),
            "compare_trials": f"{base}/#/compare-runs?runs={urllib.parse.quote(runs)}"
            f"&experiments={urllib.parse.quote(json.dumps([experiment.experiment_id]))}",
            "learning_curves": f"{base}/#/experiments/{experiment.experiment_id}/runs/{shown.info.run_id}"
            "/artifacts/evaluation/learning_curves.png",
            "sweep_parent": f"{base}/#/experiments/{experiment.experiment_id}/runs/{parent.info.run_id}",
        }
        args.out.mkdir(parents=True, exist_ok=True)
        for name, url in views.items():
            path = args.out / f"{name}.png"
            _screenshot(browser, url, path)
            print(f"{name:<16} {path}  {url}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

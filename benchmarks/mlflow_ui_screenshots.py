"""Look at a sweep in the MLflow UI as a user would: start `mlflow ui` on loopback over a store, open the
experiment as MLflow opens it, its runs table in nlp_lstm's view, the sweep's trials, a trial's run page,
the compare view of the sweep's trials and a trial's learning-curve artifact in headless Chromium (Debian's
`chromium` package), and save a screenshot of each.

    .venv/bin/python benchmarks/mlflow_ui_screenshots.py --tracking-uri sqlite:///mlflow.db --experiment NAME \\
        [--out screenshots] [--port 5055]

The experiment must hold a sweep (`nlp-lstm sweep`). Prints the URL and the PNG of each view. MLflow's UI shows
a sweep's trials folded under its parent run; with `websocket-client` installed (`pip install websocket-client`)
the runs table is also taken with the sweep unfolded, by clicking its expander over the DevTools protocol.
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


def _screenshot_after_click(browser: str, url: str, selector: str, path: Path, port: int = 9333) -> bool:
    """Open `url`, click the element `selector` finds, and save a screenshot; False without websocket-client."""
    try:
        import websocket
    except ImportError:
        return False
    import base64
    import tempfile

    chrome = subprocess.Popen(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}",
            "--hide-scrollbars",
            "--window-size=1600,1000",
            f"--remote-debugging-port={port}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2) as response:
                    page = next(t for t in json.load(response) if t["type"] == "page")
                    break
            except (urllib.error.URLError, ConnectionError, StopIteration):
                if time.time() > deadline:
                    raise SystemExit("chromium's DevTools did not answer") from None
                time.sleep(0.3)
        socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
        counter = iter(range(1, 10**6))

        def call(method: str, **params):
            number = next(counter)
            socket.send(json.dumps({"id": number, "method": method, "params": params}))
            while True:
                message = json.loads(socket.recv())
                if message.get("id") == number:
                    return message.get("result", {})

        call("Page.navigate", url=url)
        for _ in range(60):  # until the table has rendered its rows
            time.sleep(1)
            found = call("Runtime.evaluate", expression=f"!!document.querySelector({json.dumps(selector)})")
            if found.get("result", {}).get("value"):
                break
        call("Runtime.evaluate", expression=f"document.querySelector({json.dumps(selector)}).click()")
        time.sleep(4)
        shot = call("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        socket.close()
        return True
    finally:
        chrome.terminate()
        chrome.wait(timeout=30)


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
        from nlp_lstm.tracking.ui import sweep_view_key, ui_link

        views = {
            "experiment_as_opened": f"{base}/#/experiments/{experiment.experiment_id}",
            "runs_table": ui_link(experiment.experiment_id, server=base),
            "sweep_trials": ui_link(experiment.experiment_id, server=base, view=sweep_view_key(parent.info.run_id)),
            "trial_run_page": ui_link(experiment.experiment_id, shown.info.run_id, server=base),
            "compare_trials": f"{base}/#/compare-runs?workflowType=machine_learning&runs={urllib.parse.quote(runs)}"
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
        # The expander MLflow draws before a parent run's name.
        unfolded = args.out / "runs_table_sweep_unfolded.png"
        if _screenshot_after_click(browser, views["runs_table"], "[data-testid*='expand'], .ag-row button", unfolded):
            print(f"{'sweep unfolded':<16} {unfolded}  {views['runs_table']}")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

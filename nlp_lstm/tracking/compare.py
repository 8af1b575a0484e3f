"""`nlp-lstm compare`: the finished runs of experiments as one table, best first by a metric, with only the params
that differ between them (the rest is the same everywhere and only hides the differences)."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any

from nlp_lstm.config.registry import task_entry, task_names
from nlp_lstm.errors import UsageError
from nlp_lstm.tracking.tags import SWEEP_PARENT_TAG
from nlp_lstm.training.monitors import larger_is_better

# Params that differ between any two runs without saying anything about the model.
_NOISE = ("tracking.run_name", "tracking.register_model")


def compare_runs(
    experiments: Sequence[str] = (), metric: str | None = None, top: int | None = None, tracking_uri: str | None = None
):
    """A pandas DataFrame: run name, run id, the metric, then each param that differs; best run first.

    Args:
        experiments: experiment names (default: every experiment with nlp_lstm runs).
        metric: what to sort by (default: the task's usual test metric, when all runs are of one task).
        top: keep this many runs.
    """
    import mlflow
    import pandas as pd

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    if experiments:
        found = {name: client.get_experiment_by_name(name) for name in experiments}
        missing = [name for name, experiment in found.items() if experiment is None]
        if missing:
            known = ", ".join(e.name for e in client.search_experiments()) or "none"
            raise UsageError(
                f"compare: no experiment {', '.join(map(repr, missing))} in {client.tracking_uri} "
                f"(experiments: {known})"
            )
        ids = [experiment.experiment_id for experiment in found.values()]
    else:
        ids = [e.experiment_id for e in client.search_experiments()]
    runs = [
        run
        for start in range(0, len(ids), 100)
        for run in client.search_runs(
            ids[start : start + 100], filter_string="attributes.status = 'FINISHED'", max_results=50_000
        )
        if "task" in run.data.tags and SWEEP_PARENT_TAG not in run.data.tags
    ]  # trials, not their sweep
    if not runs:
        raise UsageError(f"compare: no finished nlp_lstm run in {client.tracking_uri}")
    if metric is None:
        tasks = {run.data.tags["task"] for run in runs}
        if len(tasks) > 1:
            raise UsageError(
                f"compare: the runs are of several tasks ({', '.join(sorted(tasks))}); name a --metric "
                "(or an experiment)"
            )
        metric = default_metric(tasks.pop())
    available = {key for run in runs for key in run.data.metrics}
    if metric not in available:
        raise UsageError(f"compare: no run has the metric {metric!r} (they have: {', '.join(sorted(available))})")
    params = sorted({key for run in runs for key in run.data.params} - set(_NOISE))
    differing = [key for key in params if len({run.data.params.get(key) for run in runs}) > 1]
    rows = [
        {
            "run": run.info.run_name,
            "run_id": run.info.run_id,
            metric: run.data.metrics.get(metric),
            **{key: _value(run.data.params.get(key)) for key in differing},
        }
        for run in runs
    ]
    frame = pd.DataFrame(rows, columns=["run", "run_id", metric, *differing])
    ascending = not larger_is_better(metric)
    frame = frame.sort_values(metric, ascending=ascending, na_position="last", kind="stable").reset_index(drop=True)
    return frame.head(top) if top else frame


def default_metric(task: str) -> str:
    """The metric a task's runs are usually compared by: its headline test metric."""
    return f"test_{task_entry(task).config_class.metric}" if task in task_names() else "test_loss"


def _value(text: str | None) -> Any:
    """A param as the number it is, so that columns sort and align as numbers."""
    if text is None:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def format_table(frame, fmt: str = "table") -> str:
    """The comparison as an aligned text table, CSV, JSON records or a Markdown table."""
    if fmt == "csv":
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False)
        return buffer.getvalue()
    if fmt == "json":
        return json.dumps(json.loads(frame.to_json(orient="records")), indent=2) + "\n"
    shown = frame.assign(run_id=frame["run_id"].str[:8])
    text = shown.astype(object).map(
        lambda v: "" if v is None or v != v else f"{v:.6g}" if isinstance(v, float) else str(v)
    )
    if fmt == "markdown":
        lines = ["| " + " | ".join(text.columns) + " |", "|" + "|".join(" --- " for _ in text.columns) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in text.itertuples(index=False)]
        return "\n".join(lines) + "\n"
    widths = [max(len(str(column)), *(len(v) for v in text[column])) for column in text.columns]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(text.columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in text.itertuples(index=False)]
    return "\n".join(lines) + "\n"

"""What a user sees of runs in the MLflow UI: the runs table's shared view, and links that open it as model
training. Plain functions: the CLI prints the links without loading MLflow."""

from __future__ import annotations

import json

from nlp_lstm.tracking.tags import VIEW_KEY


def runs_table_view(metric: str) -> str:
    """The runs table as the MLflow UI's shared view state (JSON): newest first, beside each run's name, start
    and duration its test and validation metric, its kept epoch and its training time (the datasets and models,
    wide columns, are left to the run's page and the column picker)."""
    columns = [f"test_{metric}", f"val_{metric}", "best_epoch", "train_seconds"]
    selected = [f"metrics.`{name}`" for name in columns]
    return json.dumps({"selectedColumns": selected, "orderByKey": "attributes.start_time", "orderByAsc": False})


def with_run_expanded(view: str, run_id: str) -> str | None:
    """A shared view (as `runs_table_view` wrote it) with the nested runs of `run_id` shown; None for a view of
    another making."""
    try:
        state = json.loads(view)
    except json.JSONDecodeError:
        return None
    if not isinstance(state, dict) or not isinstance(state.get("selectedColumns"), list):
        return None
    expanded = state.get("runsExpanded") if isinstance(state.get("runsExpanded"), dict) else {}
    return json.dumps({**state, "runsExpanded": {**expanded, run_id: True}})


def ui_link(experiment_id: str, run_id: str | None = None, server: str = "http://127.0.0.1:5000") -> str:
    """Where `mlflow ui` shows an experiment's runs (or one run) as model training. MLflow 3.18 opens every
    experiment in its GenAI view unless the browser chose otherwise once; `workflowType` in the link chooses."""
    if run_id is not None:
        return f"{server}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"
    return f"{server}/#/experiments/{experiment_id}/runs?viewStateShareKey={VIEW_KEY}&workflowType=machine_learning"

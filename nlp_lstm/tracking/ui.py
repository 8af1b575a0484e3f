"""What a user sees of runs in the MLflow UI: the runs table's shared view, and links that open it as model
training. Plain functions: the CLI prints the links without loading MLflow."""

from __future__ import annotations

import json

from nlp_lstm.tracking.tags import VIEW_KEY


def _view_state(metric: str) -> dict:
    """Newest first, beside each run's name, start and duration its test and validation metric, its kept epoch
    and its training time (the datasets and models, wide columns, are left to the run's page and the picker)."""
    columns = [f"test_{metric}", f"val_{metric}", "best_epoch", "train_seconds"]
    selected = [f"metrics.`{name}`" for name in columns]
    return {"selectedColumns": selected, "orderByKey": "attributes.start_time", "orderByAsc": False}


def runs_table_view(metric: str) -> str:
    """The runs table as the MLflow UI's shared view state (JSON)."""
    return json.dumps(_view_state(metric))


def trials_view(metric: str, parent_run_id: str) -> str:
    """A sweep's trials as the runs table's shared view: the task's metrics, only the runs nested under the
    sweep's parent run (MLflow's UI shows nested runs folded under their parent, and a shared view cannot
    unfold them)."""
    return json.dumps({**_view_state(metric), "searchFilter": f"tags.`mlflow.parentRunId` = '{parent_run_id}'"})


def sweep_view_key(parent_run_id: str) -> str:
    return f"sweep-{parent_run_id}"


def ui_link(
    experiment_id: str, run_id: str | None = None, server: str = "http://127.0.0.1:5000", view: str = VIEW_KEY
) -> str:
    """Where `mlflow ui` shows an experiment's runs in a shared view (or one run) as model training. MLflow 3.18
    opens every experiment in its GenAI view unless the browser chose otherwise once; `workflowType` chooses."""
    if run_id is not None:
        return f"{server}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"
    return f"{server}/#/experiments/{experiment_id}/runs?viewStateShareKey={view}&workflowType=machine_learning"

"""`nlp-lstm sweep`: hyperparameter search with Optuna over a pipeline, each trial a full, normal run.

One parent MLflow run per sweep holds the trials as nested child runs (params, curves, models), then the best
trial's params and metric, Optuna's optimisation-history and parameter-importance plots, and the best config as
YAML. Trials report the monitored validation metric after every epoch, and Optuna's median pruner stops the
unpromising ones (their runs end FINISHED with the tag `nlp_lstm.sweep.pruned`). The study lives in an Optuna
storage beside the MLflow store, so the same command run again continues it, and several processes (`--jobs`)
or machines (`--storage` on a shared database) work on one study. A trial that fails is recorded as failed
and the sweep goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import optuna

from nlp_lstm.config.loader import config_to_yaml, flatten_config, load_config, parse_overrides
from nlp_lstm.config.space import SearchSpace, grid_size, load_space
from nlp_lstm.errors import ConfigError, NlpLstmError, Terminated, UsageError
from nlp_lstm.tracking.mlflow_run import SweepParent, raise_terminated
from nlp_lstm.tracking.tags import PRUNED_TAG, STUDY_TAG, TRIAL_TAG
from nlp_lstm.training.monitors import larger_is_better

SAMPLERS = ("tpe", "random", "grid")
FAILED_ATTR = "failed"  # a trial's own failure: an interrupted trial (Ctrl-C, a kill) is FAIL without it


def finished_trials(study) -> int:
    """Trials that count toward `--trials`: completed, pruned, or failed by themselves (not interrupted)."""
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return len(
        [
            t
            for t in study.get_trials(deepcopy=False)
            if t.state in done or (t.state == optuna.trial.TrialState.FAIL and FAILED_ATTR in t.user_attrs)
        ]
    )


@dataclass
class SweepSettings:
    """Everything a sweep (and each of its worker processes) needs; JSON-able."""

    config_path: str
    space_path: str
    overrides: list[str] = field(default_factory=list)
    trials: int = 20
    jobs: int = 1
    timeout: float | None = None
    sampler: str = "tpe"
    seed: int | None = None
    storage: str | None = None
    study_name: str | None = None
    first: list[str] = field(default_factory=list)  # "key=value,key=value" trials to run before sampling
    pruner_startup_trials: int = 5
    pruner_warmup_epochs: int = 1
    register: str | None = None


class _Sweep:
    """The study, the parent MLflow run and the objective, as one sweep (or one of its workers) sees them."""

    def __init__(self, settings: SweepSettings, log: Callable[[str], None]):
        self.settings = settings
        self.log = log
        # every trial is one model: the sweep registers the best (--register), not each trial
        self.base = {**parse_overrides(settings.overrides), "tracking.register_model": None}
        self.config = load_config(settings.config_path, self.base)
        if not self.config.tracking.enabled:
            raise UsageError("sweep: tracking.enabled is false; a sweep records its trials in MLflow")
        if settings.register and not self.config.tracking.log_model:
            raise UsageError(f"--register {settings.register}: tracking.log_model is false, so trials log no model")
        self.space: SearchSpace = load_space(settings.space_path, settings.config_path, self.base)
        if self.config.training.distribution == "multi_worker" or "training.distribution" in self.space.distributions:
            # Every worker would draw its own trials and prune on its own: their collectives would not line up.
            raise UsageError(
                "sweep: training.distribution multi_worker (or searched) is not supported; sweep with none or "
                "mirrored, then train the best trial on several hosts"
            )
        if settings.first and settings.sampler == "grid":
            raise UsageError("--first: a grid search visits every point anyway; use --sampler tpe or random")
        self.first = [self._first_trial(text) for text in settings.first]
        stopping = self.config.training.early_stopping
        self.monitor = stopping.monitor
        self.direction = "maximize" if larger_is_better(stopping.monitor, stopping.mode) else "minimize"
        self.study_name = settings.study_name or self._default_study_name()

    def _first_trial(self, text: str) -> dict[str, Any]:
        """A `--first` setting, each value checked against its distribution and the config."""
        try:
            values = parse_overrides(part for part in text.split(",") if part.strip())
        except ConfigError:
            raise UsageError(f"--first {text}: expected KEY=VALUE,KEY=VALUE,... with the searched keys") from None
        unknown = sorted(set(values) - set(self.space.distributions))
        if unknown:
            raise UsageError(
                f"--first {text}: {', '.join(unknown)} not in the search space ({', '.join(self.space.distributions)})"
            )
        missing = sorted(set(self.space.distributions) - set(values))
        if missing:
            raise UsageError(f"--first {text}: give every searched key; missing {', '.join(missing)}")
        try:
            values = {key: self.space.distributions[key].coerce(value) for key, value in values.items()}
        except ValueError as exc:
            raise UsageError(f"--first {text}: {exc}") from None
        load_config(self.settings.config_path, {**self.base, **values})  # a ConfigError names the key
        return values

    def _default_study_name(self) -> str:
        """The same sweep (the same resolved config, where the results go aside, and the same space) names the
        same study: running the command again continues it; editing the YAML or the space starts another."""
        config = {
            key: value
            for key, value in flatten_config(self.config).items()
            if not key.startswith(("tracking.", "output_dir"))
        }
        space = Path(self.settings.space_path).read_bytes()
        digest = hashlib.sha256(space + json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:8]
        return f"{self.config.name}-{Path(self.settings.space_path).stem}-{digest}"

    # --------------------------------------------------------------------------------------- study
    def storage(self):
        url = self.settings.storage or _storage_beside(self.tracking_uri())
        if url.startswith("sqlite:"):  # several processes write to one file: wait for the lock, not fail
            return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 120}})
        return url

    def tracking_uri(self) -> str:
        import mlflow

        return self.config.tracking.uri or mlflow.get_tracking_uri()

    def study(self, stream: int = 0):
        """The study, its sampler seeded with `settings.seed` + `stream`: each worker and each later run of the
        command draws its own values (with one seed they would all repeat the same first draws)."""
        seed = None if self.settings.seed is None else self.settings.seed + stream
        sampler = {
            "tpe": lambda: optuna.samplers.TPESampler(seed=seed),
            "random": lambda: optuna.samplers.RandomSampler(seed=seed),
            "grid": lambda: optuna.samplers.GridSampler(self.space.grid(), seed=seed),
        }[self.settings.sampler]()
        pruner = optuna.pruners.MedianPruner(
            n_startup_trials=self.settings.pruner_startup_trials, n_warmup_steps=self.settings.pruner_warmup_epochs
        )
        return optuna.create_study(
            study_name=self.study_name,
            storage=self.storage(),
            sampler=sampler,
            pruner=pruner,
            direction=self.direction,
            load_if_exists=True,
        )

    def suggest(self, trial) -> dict[str, Any]:
        from nlp_lstm.config.space import Choice, IntRange

        values = {}
        for key, distribution in self.space.distributions.items():
            if isinstance(distribution, Choice):
                values[key] = trial.suggest_categorical(key, distribution.choice)
            elif isinstance(distribution, IntRange):
                low, high = distribution.int_range
                values[key] = trial.suggest_int(key, low, high, step=distribution.step, log=distribution.log)
            else:
                low, high = distribution.float_range
                values[key] = trial.suggest_float(key, low, high, step=distribution.step, log=distribution.log)
        return values

    # ----------------------------------------------------------------------------------- objective
    def objective(self, parent_run_id: str) -> Callable[[Any], float]:
        from nlp_lstm.pipeline import run_pipeline

        def run_trial(trial) -> float:
            values = self.suggest(trial)
            # The trial's own values first: run names start with what tells the trials apart.
            config = load_config(
                self.settings.config_path, {**values, **{k: v for k, v in self.base.items() if k not in values}}
            )
            self.log(f"trial {trial.number}: {', '.join(f'{k}={v}' for k, v in values.items())}")
            try:
                result = run_pipeline(
                    config,
                    self.settings.config_path,
                    log=lambda msg: self.log(f"  [{trial.number}] {msg}"),
                    parent_run_id=parent_run_id,
                    epoch_callbacks=[PruningCallback(trial, self.monitor, config.training.epochs)],
                    run_tags={TRIAL_TAG: str(trial.number), STUDY_TAG: self.study_name},
                )
            except optuna.TrialPruned:
                raise
            except Exception as exc:  # recorded (the trial FAIL, its run FAILED) and the sweep goes on
                reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                trial.set_user_attr(FAILED_ATTR, reason[:500])
                self.log(f"trial {trial.number} failed: {reason}")
                if not isinstance(exc, NlpLstmError):  # a bug, not a user's mistake: keep its traceback
                    self.log(traceback.format_exc().rstrip())
                return float("nan")  # Optuna records a NaN objective as a failed trial, without a traceback
            trial.set_user_attr("mlflow_run_id", result.run_id)
            trial.set_user_attr("model_dir", str(result.model_dir))
            return result.best_value

        return run_trial

    def remaining(self, study) -> int:
        """Trials still to run for the study to hold `settings.trials` finished ones (those of earlier runs of the
        command and of the other workers count; a grid has no more points than it has)."""
        remaining = self.settings.trials - finished_trials(study)
        if self.settings.sampler == "grid":
            started = len([t for t in study.get_trials(deepcopy=False) if t.state != optuna.trial.TrialState.WAITING])
            remaining = min(remaining, grid_size(self.space) - started)
        return max(0, remaining)

    def optimize(self, study, parent_run_id: str, count: int) -> None:
        """Run `count` trials at most, and none once the study has enough."""
        if count <= 0:
            return

        def enough(study, trial) -> None:
            if finished_trials(study) >= self.settings.trials:
                study.stop()

        study.optimize(
            self.objective(parent_run_id),
            n_trials=count,
            timeout=self.settings.timeout,
            callbacks=[enough],
            gc_after_trial=True,
        )


class PrunedTrial(optuna.TrialPruned):
    """Optuna pruned the trial: its MLflow run ends FINISHED with a tag saying where, not FAILED."""

    run_status = "FINISHED"

    def __init__(self, epoch: int, monitor: str, value: float):
        super().__init__(f"pruned after epoch {epoch}: {monitor} {value:.4g}")
        self.run_tags = {PRUNED_TAG: f"after epoch {epoch} ({monitor} {value:.4g})"}


class PruningCallback(keras.callbacks.Callback):
    """Reports the monitored validation metric after every epoch; stops the trial when Optuna prunes it,
    except after its last epoch (`epochs`): a trial that has trained to the end is evaluated and kept."""

    def __init__(self, trial: optuna.Trial, monitor: str, epochs: int):
        super().__init__()
        self.trial = trial
        self.monitor = monitor
        self.epochs = epochs

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        self.trial.report(float(value), epoch + 1)
        if epoch + 1 < self.epochs and self.trial.should_prune():
            raise PrunedTrial(epoch + 1, self.monitor, float(value))


def _storage_beside(tracking_uri: str) -> str:
    """`sqlite:///dir/mlflow.db` -> `sqlite:///dir/optuna.db`; other stores: optuna.db here."""
    if tracking_uri.startswith("sqlite:///"):
        return f"sqlite:///{Path(tracking_uri.removeprefix('sqlite:///')).with_name('optuna.db')}"
    return "sqlite:///optuna.db"


# -------------------------------------------------------------------------------------------- sweep
def run_sweep(settings: SweepSettings, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run (or continue) a sweep; returns its summary (study, parent run, best trial, trial counts)."""
    sweep = _Sweep(settings, log)
    study = sweep.study()
    stream = len(study.trials)  # 0 for a new study
    study = sweep.study(stream) if stream else study
    for values in sweep.first:  # once: running the command again does not queue them again
        study.enqueue_trial(values, skip_if_exists=True)
    with SweepParent(sweep.config, settings.config_path, sweep.study_name, sweep.tracking_uri()) as parent:
        parent.log_settings(
            {
                **asdict(settings),
                "direction": sweep.direction,
                "monitor": sweep.monitor,
                "storage": settings.storage or _storage_beside(sweep.tracking_uri()),
            }
        )
        remaining = sweep.remaining(study)
        log(
            f"study {sweep.study_name} ({sweep.direction} {sweep.monitor}): {finished_trials(study)} trials finished, "
            f"{remaining} to run; parent run {parent.run_id}"
        )
        workers_failed = 0
        if settings.jobs > 1 and remaining > 1:
            workers_failed = _run_workers(settings, sweep.study_name, parent.run_id, remaining, stream, log)
        else:
            sweep.optimize(study, parent.run_id, remaining)
        summary = _summarize(sweep, study, parent, log)
    summary["workers_failed"] = workers_failed
    return summary


def _run_workers(
    settings: SweepSettings,
    study_name: str,
    parent_run_id: str,
    remaining: int,
    stream: int,
    log: Callable[[str], None],
) -> int:
    """`jobs` processes working on one study (Optuna shares it through its storage), `remaining` trials between
    them; stopped with this one. Returns how many exited with an error."""
    jobs = min(settings.jobs, remaining)
    shares = [remaining // jobs + (1 if i < remaining % jobs else 0) for i in range(jobs)]
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "nlp_lstm.sweep",
                json.dumps(
                    {
                        **asdict(settings),
                        "study_name": study_name,
                        "parent_run_id": parent_run_id,
                        "count": share,
                        "stream": stream + 1 + worker,
                    }
                ),
            ],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        for worker, share in enumerate(shares)
    ]
    try:
        codes = [worker.wait() for worker in workers]
    finally:
        for worker in workers:  # Ctrl-C or SIGTERM here: the workers stop too (their trials end KILLED)
            if worker.poll() is None:
                worker.terminate()
        for worker in workers:
            worker.wait()
    failed = sum(1 for code in codes if code)
    if failed:
        log(f"warning: {failed} of {len(codes)} sweep workers exited with an error")
    return failed


def _summarize(sweep: _Sweep, study, parent, log: Callable[[str], None]) -> dict[str, Any]:
    study = optuna.load_study(study_name=sweep.study_name, storage=sweep.storage())  # workers' trials too
    states = [trial.state.name.lower() for trial in study.trials]
    counts = {state: states.count(state) for state in ("complete", "pruned", "fail")}
    summary: dict[str, Any] = {
        "study": sweep.study_name,
        "parent_run_id": parent.run_id,
        "experiment_id": parent.experiment_id,
        "trials": counts,
    }
    completed = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    parent.log_counts(counts)
    if not completed:
        log("no trial completed")
        return summary
    best = study.best_trial
    best_config = load_config(sweep.settings.config_path, {**sweep.base, **best.params})
    summary.update(
        best_trial=best.number,
        best_value=best.value,
        best_params=best.params,
        best_run_id=best.user_attrs.get("mlflow_run_id"),
    )
    with tempfile.TemporaryDirectory() as scratch:
        plots = _plots(study, Path(scratch))
        best_yaml = Path(scratch) / "best_config.yaml"
        best_yaml.write_text(config_to_yaml(best_config, absolute=True), encoding="utf-8")
        parent.log_best(
            best.params,
            {f"best_{sweep.monitor}": best.value},
            best.user_attrs.get("mlflow_run_id"),
            [*plots, best_yaml],
        )
    log(
        f"best: trial {best.number}, {sweep.monitor} {best.value:.4f}: "
        + ", ".join(f"{k}={v}" for k, v in best.params.items())
    )
    if sweep.settings.register and summary["best_run_id"]:
        version = parent.register_best(summary["best_run_id"], sweep.settings.register)
        summary["registered"] = f"models:/{version.name}/{version.version}"
        log(f"registered:  {summary['registered']} (trial {best.number})")
    return summary


def _plots(study, directory: Path) -> list[Path]:
    """Optuna's optimisation history and (with two finished trials or more) parameter importances, as PNG."""
    from optuna.visualization import matplotlib as plots

    made = []
    drawers = [("optimization_history.png", plots.plot_optimization_history)]
    if len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]) >= 2:
        drawers.append(("param_importances.png", plots.plot_param_importances))
    for name, draw in drawers:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "experimental" warnings of Optuna's matplotlib plots
            try:
                axes = draw(study)
            except (ValueError, RuntimeError, ZeroDivisionError):  # e.g. importances of a constant objective
                continue
        figure = axes.figure if hasattr(axes, "figure") else axes[0].figure
        figure.tight_layout()
        figure.savefig(directory / name, dpi=100)
        made.append(directory / name)
    return made


def _worker(payload: str) -> int:
    """One `--jobs` process: trials of the study the parent process set up, until the study has enough."""
    data = json.loads(payload)
    parent_run_id, count, stream = data.pop("parent_run_id"), data.pop("count"), data.pop("stream")
    settings = SweepSettings(**data)
    signal.signal(signal.SIGTERM, raise_terminated)  # the parent process stops its workers with SIGTERM
    try:
        sweep = _Sweep(settings, log=lambda msg: print(msg, flush=True))
        sweep.optimize(sweep.study(stream), parent_run_id, count)
    except (KeyboardInterrupt, Terminated):
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1]))

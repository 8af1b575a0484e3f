"""The MLflow tag names nlp_lstm writes and searches by (plain constants: reading them loads nothing)."""

MODEL_DIR_TAG = "nlp_lstm.model_dir"  # a run's output folder (`--resume RUN_ID` finds it)
RESUMED_TAG = "nlp_lstm.resumed"  # how often a run was resumed
OVERRIDES_TAG = "nlp_lstm.overrides"  # the run's --set values
SWEEP_PARENT_TAG = "nlp_lstm.sweep.parent"  # "true" on a sweep's parent run
STUDY_TAG = "nlp_lstm.sweep.study"  # on a sweep's parent run and on each of its trials' runs
TRIAL_TAG = "nlp_lstm.sweep.trial"  # a trial's number in its study
PRUNED_TAG = "nlp_lstm.sweep.pruned"  # where Optuna stopped a trial
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
NOTE_TAG = "mlflow.note.content"  # the description the MLflow UI shows
VIEW_PREFIX = "mlflow.sharedViewState."  # a shared view of the UI's runs table: ?viewStateShareKey=KEY
VIEW_KEY = "nlp_lstm"  # the experiment's view: its runs with the task's metrics
VIEW_TAG = f"{VIEW_PREFIX}{VIEW_KEY}"

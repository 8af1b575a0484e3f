"""`nlp-lstm` command line: init, run (and resume), validate, predict, evaluate, generate, serve, sweep, compare,
info, runs.

User mistakes (bad YAML, unknown key, missing or malformed file, bad model directory) print one clear
message and exit non-zero, without a traceback. Exit codes: 0 ok, 1 unexpected error, 2 invalid
configuration or usage, 3 data or model-directory error, 130 interrupted, 143 terminated.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from nlp_lstm.errors import (
    EXIT_CONFIG,
    EXIT_DATA,
    EXIT_ERROR,
    EXIT_OK,
    ChiefFailed,
    ConfigError,
    DataError,
    InputWarning,
    ModelDirError,
    NlpLstmError,
    StorageError,
    Terminated,
    UsageError,
)


def _add_config_arguments(parser: argparse.ArgumentParser, optional: bool = False) -> None:
    parser.add_argument(
        "config", type=Path, nargs="?" if optional else None, help="pipeline YAML file, e.g. pipelines/sentiment.yaml"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value by its dotted key (repeatable), e.g. --set training.epochs=3 "
        "--set data.train=path/train.tsv; values are parsed as YAML scalars",
    )


_MODEL_HELP = (
    "the folder `nlp-lstm run` printed, or a logged pipeline: runs:/RUN_ID/pipeline, "
    "models:/NAME/VERSION, models:/NAME/latest, models:/NAME@ALIAS (store: MLFLOW_TRACKING_URI)"
)


def _number(convert: Callable[[str], float], accept: Callable[[float], bool], expected: str):
    """An argparse type: `convert(text)`, refused with one line unless `accept` takes it."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    return parse


_positive_int = _number(int, lambda v: v >= 1, "a whole number >= 1")
_port = _number(int, lambda v: 1 <= v <= 65535, "a port number from 1 to 65535")
_non_negative_int = _number(int, lambda v: v >= 0, "a whole number >= 0")
_non_negative_float = _number(float, lambda v: math.isfinite(v) and v >= 0, "a finite number >= 0")
_probability = _number(float, lambda v: 0 < v <= 1, "a number in (0, 1]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nlp-lstm", description="Declarative LSTM pipelines for NLP: train, evaluate, predict, tracked in MLflow."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser(
        "init",
        help="draft a complete, commented pipeline YAML for your own data files",
        description="Look at your data files (format, delimiter, header, which column holds the text and which "
        "the labels, the label set, a CoNLL file's columns and tag scheme, the two sides of a parallel corpus, "
        "the language) and write a complete pipeline YAML, every key under its description and the inferred "
        "ones with how they were inferred, ready for `nlp-lstm run`. What cannot be inferred is refused with "
        "the option to pass.",
    )
    init.add_argument("task", metavar="TASK", help="sentiment, ner, translation or language_model")
    init.add_argument(
        "--train",
        type=Path,
        required=True,
        help="training file (translation: PREFIX of PREFIX.de + PREFIX.en, or one of those files, or a table)",
        metavar="FILE",
    )
    init.add_argument(
        "--validation", type=Path, default=None, help="validation file (default: split off --train)", metavar="FILE"
    )
    init.add_argument("--test", type=Path, default=None, help="test file (default: split off --train)", metavar="FILE")
    init.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="the YAML to write (default: TASK.yaml here; - for stdout)",
        metavar="FILE",
    )
    init.add_argument("--force", action="store_true", help="replace the output file if it exists")
    told = init.add_argument_group("what to use instead of what init would infer")
    told.add_argument(
        "--format",
        default=None,
        help="csv, tsv or jsonl (translation also parallel; language model text)",
        metavar="FORMAT",
    )
    told.add_argument("--delimiter", default=None, help="column separator of a csv file, e.g. ';'", metavar="CHAR")
    told.add_argument(
        "--header", action=argparse.BooleanOptionalAction, default=None, help="whether the first row holds names"
    )
    told.add_argument("--encoding", default=None, help="the files' encoding (default utf-8)", metavar="CODEC")
    told.add_argument(
        "--text-column", default=None, help="sentiment, language model: name or 0-based index", metavar="COLUMN"
    )
    told.add_argument("--label-column", default=None, help="sentiment: name or 0-based index", metavar="COLUMN")
    told.add_argument("--token-column", type=int, default=None, help="ner: 0-based column of the tokens", metavar="N")
    told.add_argument(
        "--tag-column", type=int, default=None, help="ner: 0-based column of the tags (-1: the last)", metavar="N"
    )
    told.add_argument("--scheme", choices=("iob1", "iob2", "iobes"), default=None, help="ner: tag scheme of the files")
    told.add_argument(
        "--source-lang", default=None, help="translation: language translated from (spaCy code)", metavar="CODE"
    )
    told.add_argument("--target-lang", default=None, help="translation: language translated into", metavar="CODE")
    told.add_argument(
        "--source-column", default=None, help="translation tables: column of the source sentences", metavar="COLUMN"
    )
    told.add_argument(
        "--target-column", default=None, help="translation tables: column of the target sentences", metavar="COLUMN"
    )
    told.add_argument(
        "--language", default=None, help="spaCy language code of the texts (default: told from them)", metavar="CODE"
    )

    run = commands.add_parser(
        "run",
        help="validate, train, evaluate, save and log a pipeline to MLflow (or resume one)",
        description="Validate the config, preprocess, train, evaluate on the test split, save the trained "
        "pipeline and log the run to MLflow. Prints the run id, the saved model's path and the test metrics. "
        "A run writes a resume checkpoint after every epoch: if it is stopped (Ctrl-C, kill, crash, reboot), "
        "`--resume` continues it in the same folder and MLflow run.",
    )
    _add_config_arguments(run, optional=True)
    run.add_argument(
        "--register",
        metavar="NAME",
        default=None,
        help="register the run's pipeline model under NAME in the MLflow registry (tracking.register_model)",
    )
    run.add_argument(
        "--resume",
        metavar="FOLDER|RUN_ID",
        default=None,
        help="continue an interrupted run: its folder (as `run` printed) or its MLflow run id. CONFIG is then "
        "optional (default: the run's saved config); only training.epochs may change",
    )

    validate = commands.add_parser(
        "validate",
        help="check a pipeline config (and its data files) without training",
        description="Validate a pipeline config. Exit 0 if valid, non-zero with every problem listed.",
    )
    _add_config_arguments(validate)
    validate.add_argument(
        "--print",
        dest="print_config",
        action="store_true",
        help="print the resolved config as YAML, every key under a comment saying what it is (paths as seen "
        "from the current folder)",
    )

    predict = commands.add_parser(
        "predict",
        help="predict with a saved pipeline: one text per line in, one JSON object per line out",
        description="Read one text per line (stdin by default) and write one JSON object per line to stdout.",
    )
    predict.add_argument("model_dir", metavar="MODEL", help=_MODEL_HELP)
    predict.add_argument("--input", type=Path, default=None, help="text file, one input per line (default: stdin)")
    predict.add_argument("--encoding", default="utf-8", help="encoding of the input (default utf-8; a BOM is dropped)")
    predict.add_argument("--batch-size", type=_positive_int, default=256, help="texts per batch (default 256)")
    predict.add_argument(
        "--runtime",
        choices=("auto", "keras", "numpy"),
        default="auto",
        help="numpy: decode with the NER tagger's NumPy arrays saved beside the model, without importing Keras "
        "(a cold start seconds shorter, bulk prediction about half as fast); keras: the Keras model; auto "
        "(default): numpy for a finished NER folder that has them and an input of up to 500,000 characters",
    )

    generate = commands.add_parser(
        "generate",
        help="continue prompts with a saved language model",
        description="Print each prompt followed by its generated continuation, one per line (--json: one JSON "
        "object per line). Settings not given come from the model's `generation` config.",
    )
    generate.add_argument("model_dir", metavar="MODEL", help=_MODEL_HELP)
    prompts = generate.add_mutually_exclusive_group()
    prompts.add_argument(
        "--prompt",
        action="append",
        default=None,
        help="text to continue (repeatable; default: one per line of --input "
        "or stdin; an empty prompt starts a text from nothing)",
    )
    prompts.add_argument("--input", type=Path, default=None, help="file of prompts, one per line")
    generate.add_argument("--encoding", default="utf-8", help="encoding of the input (default utf-8)")
    generate.add_argument("--max-tokens", type=_positive_int, default=None, help="units to generate at most")
    generate.add_argument("--temperature", type=_non_negative_float, default=None, help="0 = greedy")
    generate.add_argument("--top-k", type=_non_negative_int, default=None, help="sample among the k likeliest (0: all)")
    generate.add_argument("--top-p", type=_probability, default=None, help="nucleus sampling: smallest set with mass p")
    generate.add_argument("--seed", type=_non_negative_int, default=None, help="makes sampling reproducible")
    generate.add_argument("--json", action="store_true", help="one {prompt, continuation} JSON object per line")

    evaluate = commands.add_parser(
        "evaluate",
        help="metrics of a saved pipeline on a labelled file, as JSON",
        description="Evaluate a saved pipeline on a labelled file read with the pipeline's own data settings.",
    )
    evaluate.add_argument("model_dir", metavar="MODEL", help=_MODEL_HELP)
    evaluate.add_argument(
        "--data",
        type=Path,
        required=True,
        help="labelled file in the training data's format (translation: PREFIX of the PREFIX.src/PREFIX.tgt files)",
    )
    evaluate.add_argument("--predictions-out", type=Path, default=None, help="also write predictions to this file")

    info = commands.add_parser(
        "info",
        help="backend, devices, and whether a config's recurrent layers run the fused GPU kernel",
        description="Print the Keras backend and its devices; with a config, say for each recurrent layer "
        "whether it will run the fused (cuDNN) kernel on a GPU, or what prevents it.",
    )
    info.add_argument("config", type=Path, nargs="?", default=None, help="pipeline YAML file (optional)")
    info.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="as for `run`",
    )

    serve = commands.add_parser(
        "serve",
        help="serve a pipeline over HTTP: MLflow's scoring protocol (POST /invocations), strictly checked",
        description="Serve a pipeline over HTTP with MLflow's scoring protocol: POST JSON to /invocations "
        '({"inputs": ["a text", ...]}, or {"dataframe_split": {"columns": ["text"], "data": [[...]]}}, '
        'dataframe_records or instances; optionally "params": {"beam_size": 1}) and get {"predictions": '
        "[...]}, one answer per text, as `predict` gives it. GET /ping answers when the model is loaded. A model "
        "from an MLflow store is downloaded and served with the installed nlp_lstm: no code stored with it runs.",
    )
    serve.add_argument("model", metavar="MODEL", help=_MODEL_HELP)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    serve.add_argument("--port", type=_port, default=5000, help="port (default 5000)")
    serve.add_argument("--workers", type=_positive_int, default=1, help="server processes, each with the model")
    serve.add_argument(
        "--max-request-mb",
        type=_number(float, lambda v: math.isfinite(v) and v > 0, "a number of megabytes > 0"),
        default=10.0,
        help="the largest request body accepted (default 10 MB); a larger one is answered 413",
    )

    sweep = commands.add_parser(
        "sweep",
        help="search hyperparameters with Optuna: one nested MLflow run per trial, resumable",
        description="Run trials of a pipeline with values drawn from a search space (TPE by default), each a full "
        "run nested under one parent MLflow run, pruning unpromising trials on the monitored validation metric. "
        "The Optuna study is stored beside the MLflow store: the same command again continues it.",
    )
    _add_config_arguments(sweep)
    sweep.add_argument(
        "--space",
        type=Path,
        required=True,
        metavar="SPACE.yaml",
        help="dotted config keys -> {choice: [...]}, {int: [low, high]} or {float: [low, high], log: true}",
    )
    sweep.add_argument("--trials", type=_positive_int, default=20, help="trials the study should hold (default 20)")
    sweep.add_argument("--jobs", type=_positive_int, default=1, help="trials at once, in separate processes")
    sweep.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    sweep.add_argument("--sampler", choices=("tpe", "random", "grid"), default="tpe")
    sweep.add_argument("--seed", type=int, default=None, help="the sampler's seed")
    sweep.add_argument(
        "--storage",
        default=None,
        help="Optuna storage URL (default: optuna.db beside a sqlite MLflow store); share a database "
        "to let several machines work on one study",
    )
    sweep.add_argument("--study-name", default=None, help="default: the pipeline, the space file and a digest of both")
    sweep.add_argument(
        "--first",
        action="append",
        default=[],
        metavar="KEY=VALUE,...",
        help="a trial to run before the sampler's (e.g. the shipped setting); repeatable",
    )
    sweep.add_argument(
        "--prune-after",
        type=int,
        default=5,
        metavar="TRIALS",
        help="trials that finish before the median pruner stops any (default 5)",
    )
    sweep.add_argument(
        "--prune-warmup",
        type=int,
        default=1,
        metavar="EPOCHS",
        help="epochs every trial runs before it can be pruned (default 1)",
    )
    sweep.add_argument("--register", metavar="NAME", default=None, help="register the best trial's pipeline model")

    compare = commands.add_parser(
        "compare",
        help="the finished runs of experiments, best first by a metric, with the params that differ",
        description="Tabulate finished runs (of the named experiments, default all with nlp_lstm runs) sorted by "
        "a metric (default: the task's headline test metric, e.g. test_f1 for ner), showing only the params that differ.",
    )
    compare.add_argument("experiments", nargs="*", metavar="EXPERIMENT", help="experiment names (default: all)")
    compare.add_argument("--metric", default=None, help="metric to sort by (lower first for losses and times)")
    compare.add_argument("--top", type=_positive_int, default=None, help="show this many runs")
    compare.add_argument("--format", dest="fmt", choices=("table", "csv", "json", "markdown"), default="table")
    compare.add_argument(
        "--tracking-uri", default=None, help="MLflow store (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)"
    )

    runs = commands.add_parser(
        "runs",
        help="list the MLflow runs still marked RUNNING, and mark those whose process died KILLED",
        description="List the runs of a tracking store that are marked RUNNING, with whether their process is "
        "alive. A run killed with SIGKILL (or lost in a crash or reboot) cannot close its MLflow run; "
        "`--cleanup` marks such runs of this host KILLED (`nlp-lstm run` does it too before it starts).",
    )
    runs.add_argument(
        "--tracking-uri", default=None, help="MLflow store (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)"
    )
    runs.add_argument("--cleanup", action="store_true", help="mark the dead runs of this host KILLED")
    return parser


def _version() -> str:
    from nlp_lstm.version import __version__

    return __version__


def _cmd_validate(args: argparse.Namespace) -> int:
    from nlp_lstm.config import load_config
    from nlp_lstm.config.describe import commented_yaml

    config = load_config(args.config, args.overrides)
    if args.print_config:
        print(commented_yaml(config), end="")
    for note in config.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{args.config}: valid {config.task} pipeline", file=sys.stderr)
    return EXIT_OK


_INIT_OPTIONS = (
    "format",
    "delimiter",
    "header",
    "encoding",
    "text_column",
    "label_column",
    "token_column",
    "tag_column",
    "scheme",
    "source_lang",
    "target_lang",
    "source_column",
    "target_column",
    "language",
)


def _cmd_init(args: argparse.Namespace) -> int:
    from nlp_lstm.config.draft import DraftRequest
    from nlp_lstm.init_config import check_output, draft_config, inferred_lines, write_drafted

    to_stdout = str(args.output) == "-"
    output = Path(f"{args.task}.yaml") if args.output is None else args.output
    if not to_stdout:
        check_output(output, args.force)  # before the files are read
    request = DraftRequest(
        train=args.train,
        validation=args.validation,
        test=args.test,
        options={name: getattr(args, name) for name in _INIT_OPTIONS},
    )
    drafted = draft_config(args.task, request, Path(".") if to_stdout else output.parent)
    for line in inferred_lines(drafted):
        print(line, file=sys.stderr)
    if to_stdout:
        print(drafted.text, end="")
        return EXIT_OK
    write_drafted(drafted, output, force=args.force)
    print(
        f"wrote {output}; check it with `nlp-lstm validate {output}`, train with `nlp-lstm run {output}`",
        file=sys.stderr,
    )
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from nlp_lstm.config import load_config

    log = lambda msg: print(msg, flush=True)  # noqa: E731
    if args.register is not None:
        args.overrides = [*args.overrides, f"tracking.register_model={json.dumps(args.register)}"]  # a name, as typed
    if args.resume is not None:
        from nlp_lstm.pipeline import resume_pipeline

        result = resume_pipeline(args.resume, args.overrides, args.config, log=log)
    elif args.config is None:
        raise UsageError("run: give a pipeline CONFIG (or --resume FOLDER|RUN_ID)")
    else:
        config = load_config(args.config, args.overrides)
        from nlp_lstm.pipeline import run_pipeline  # heavy imports (Keras, MLflow) only after validation

        result = run_pipeline(config, args.config, log=log)
    print()
    if result.worker:
        print(f"worker {result.worker}: training done; the chief (worker 0) evaluated, saved and tracked the run")
        return EXIT_OK
    print(f"run id:      {result.run_id or '(tracking disabled)'}")
    print(f"run name:    {result.run_name}")
    print(f"model saved: {result.model_dir}")
    if result.tracking_uri:
        from nlp_lstm.tracking.ui import ui_link

        print(f"tracking:    {result.tracking_uri}  (browse with: mlflow ui --backend-store-uri {result.tracking_uri})")
        if result.experiment_id and result.tracking_uri.startswith(("sqlite:", "file:", "/")):
            print(f"in the UI:   {ui_link(result.experiment_id, result.run_id)}")
    print("test metrics:")
    for name, value in result.metrics.items():
        print(f"  {name:<28} {value:.4f}")
    return EXIT_OK


def _cmd_predict(args: argparse.Namespace) -> int:
    import codecs

    from nlp_lstm.data.readers import read_lines
    from nlp_lstm.pipeline import load_pipeline

    try:
        codecs.lookup(args.encoding)
    except LookupError:
        raise UsageError(f"--encoding {args.encoding}: unknown encoding (e.g. utf-8, latin-1, cp1252)") from None
    if args.input is not None:
        texts = read_lines(args.input, args.encoding)
    else:
        texts = read_lines(sys.stdin, args.encoding, name="<stdin>")
    pipeline = _numpy_pipeline(args.model_dir, args.runtime, texts) or load_pipeline(args.model_dir)
    for prediction in pipeline.predict(texts, batch_size=args.batch_size):
        print(json.dumps(prediction, ensure_ascii=False))
    return EXIT_OK


# `--runtime auto` decodes inputs up to this size with the NumPy tagger: on 2 CPU cores it decodes about half
# as fast as Keras, whose import alone takes about 5 s, so it finishes first below roughly 150,000 tokens
# (about 750,000 characters of English news text).
NUMPY_RUNTIME_CHARACTERS = 500_000


def _numpy_pipeline(model_dir: str, runtime: str, texts: list[str]):
    """The pipeline that predicts without Keras when `runtime` asks for it (numpy) or allows it (auto, for
    inputs of up to `NUMPY_RUNTIME_CHARACTERS`), else None (the Keras pipeline). Under auto, a folder whose
    NumPy tagger is missing, stale or damaged goes to Keras (the damage with a warning)."""
    if runtime == "keras" or (runtime == "auto" and sum(map(len, texts)) > NUMPY_RUNTIME_CHARACTERS):
        return None
    from nlp_lstm.tasks.ner.prediction import NumpyNerPipeline
    from nlp_lstm.tracking.models import is_mlflow_uri

    if is_mlflow_uri(model_dir):
        if runtime == "numpy":
            raise UsageError(f"--runtime numpy: {model_dir} is an MLflow model; give its folder, or --runtime keras")
        return None
    forced = runtime == "numpy"
    try:
        reason = NumpyNerPipeline.unavailable(model_dir)
    except ModelDirError:
        if forced:
            raise
        return None  # no saved pipeline: the Keras loader names what is wrong with the folder
    if reason is not None:
        if forced:
            raise UsageError(f"--runtime numpy: {reason}; use --runtime keras")
        return None
    try:
        return NumpyNerPipeline.read(model_dir)
    except ModelDirError as error:
        if forced:
            raise
        warnings.warn(InputWarning(f"{error}; predicting with the Keras model instead"), stacklevel=2)
        return None


def _cmd_generate(args: argparse.Namespace) -> int:
    from nlp_lstm.data.readers import read_lines
    from nlp_lstm.pipeline import load_pipeline

    if args.prompt is not None:
        prompts = list(args.prompt)
    elif args.input is not None:
        prompts = read_lines(args.input, args.encoding)
    else:
        prompts = read_lines(sys.stdin, args.encoding, name="<stdin>")
    from nlp_lstm.tasks.language_model.task import LanguageModelPipeline

    pipeline = load_pipeline(args.model_dir)
    if not isinstance(pipeline, LanguageModelPipeline):
        raise ModelDirError(f"{args.model_dir}: a {pipeline.task} model; generate needs a language model")
    continuations = pipeline.generate(
        prompts,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
    )
    for prompt, continuation in zip(prompts, continuations):
        if args.json:
            print(json.dumps({"prompt": prompt, "continuation": continuation}, ensure_ascii=False))
        else:
            print(prompt + continuation)
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from nlp_lstm.pipeline import evaluate_saved

    print(json.dumps(evaluate_saved(args.model_dir, args.data, args.predictions_out), indent=2))
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace) -> int:
    import subprocess
    import tempfile

    from nlp_lstm.server import check_port

    check_port(args.host, args.port)  # a busy or impossible address before anything is loaded
    with tempfile.TemporaryDirectory(prefix="nlp-lstm-serve-") as scratch:
        folder = _served_folder(args.model, Path(scratch))
        # The model is loaded in child processes only: this one holds none while it waits for them.
        child = [sys.executable, "-m", "nlp_lstm.server"]
        if args.workers > 1:
            checked = subprocess.run([*child, "check", str(folder)])
            if checked.returncode != 0:
                return checked.returncode
        settings = [str(folder), args.model, args.host, str(args.port), str(args.workers), str(args.max_request_mb)]
        return _wait_for(subprocess.Popen([*child, "serve", *settings]))


def _served_folder(model: str, scratch: Path) -> Path:
    """The pipeline folder to serve: a local folder as it is; a model in an MLflow store downloaded (only its
    pipeline folder: data, not code)."""
    from nlp_lstm.tracking.models import is_mlflow_uri

    if is_mlflow_uri(model):
        from nlp_lstm.tracking.models import download_pipeline

        return download_pipeline(model, scratch)
    folder = Path(model)
    if not folder.is_dir():
        raise ModelDirError(f"{folder}: no such folder (give the folder `nlp-lstm run` printed, or an MLflow URI)")
    return folder


def _wait_for(server) -> int:
    """The server process's exit status, passing Ctrl-C and SIGTERM on to it."""
    import signal
    import subprocess

    previous = signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    try:
        status = server.wait()
    except KeyboardInterrupt:  # from a terminal the server has it too; from `kill -INT` only this process
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.terminate()
            server.wait()
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return {-signal.SIGTERM: 143, -signal.SIGINT: 130}.get(status, status)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from nlp_lstm.config import load_config

    load_config(args.config, args.overrides)  # config mistakes first, before Optuna and Keras load
    from nlp_lstm.sweep import SweepSettings, run_sweep

    settings = SweepSettings(
        config_path=str(args.config),
        space_path=str(args.space),
        overrides=list(args.overrides),
        trials=args.trials,
        jobs=args.jobs,
        timeout=args.timeout,
        sampler=args.sampler,
        seed=args.seed,
        storage=args.storage,
        study_name=args.study_name,
        first=list(args.first),
        pruner_startup_trials=args.prune_after,
        pruner_warmup_epochs=args.prune_warmup,
        register=args.register,
    )
    if args.register is not None:  # checked like tracking.register_model, before any trial runs
        load_config(args.config, [*args.overrides, f"tracking.register_model={json.dumps(args.register)}"])
    summary = run_sweep(settings, log=lambda msg: print(msg, flush=True))
    print()
    print(f"study:       {summary['study']}")
    print(f"parent run:  {summary['parent_run_id']}")
    if summary.get("experiment_id"):
        from nlp_lstm.tracking.ui import sweep_view_key, ui_link

        view = sweep_view_key(summary["parent_run_id"])
        print(f"in the UI:   {ui_link(summary['experiment_id'], view=view)}  (the trials)")
    print("trials:      " + ", ".join(f"{count} {state}" for state, count in summary["trials"].items()))
    if "best_params" in summary:
        print(f"best trial:  {summary['best_trial']} ({summary['best_value']:.4f}), run {summary['best_run_id']}")
        for key, value in summary["best_params"].items():
            print(f"  {key} = {value}")
    if summary["workers_failed"] or ("best_params" not in summary and summary["trials"]["fail"]):
        return EXIT_ERROR  # every trial failed, or a worker process did: the log above says why
    return EXIT_OK


def _cmd_compare(args: argparse.Namespace) -> int:
    from nlp_lstm.tracking.compare import compare_runs, format_table

    frame = compare_runs(args.experiments, args.metric, args.top, args.tracking_uri)
    print(format_table(frame, args.fmt), end="")
    return EXIT_OK


def _cmd_runs(args: argparse.Namespace) -> int:
    from nlp_lstm.tracking.liveness import HOST_TAG, PID_TAG, process_alive, process_of
    from nlp_lstm.tracking.mlflow_run import mark_dead_runs_killed, running_runs

    running = running_runs(args.tracking_uri)
    if not running:
        print("no run is marked RUNNING")
    for run, experiment in running:
        state = {True: "alive", False: "process gone", None: "not of this host"}[process_alive(run.data.tags)]
        process = process_of(run.data.tags)
        where = f"pid {process[PID_TAG] or '?'} on {process[HOST_TAG] or '?'}"
        print(f"{run.info.run_id}  {run.info.run_name:<40} {experiment}: {where}, {state}")
    if args.cleanup:
        marked = mark_dead_runs_killed(args.tracking_uri)
        for run_id, name in marked:
            print(f"marked {name} ({run_id}) KILLED")
        print(f"{len(marked)} run{'s' if len(marked) != 1 else ''} marked KILLED")
    return EXIT_OK


def _cmd_info(args: argparse.Namespace) -> int:
    from nlp_lstm.config import load_config
    from nlp_lstm.info import info_text

    config = load_config(args.config, args.overrides) if args.config else None
    print(info_text(config, str(args.config or "")))
    return EXIT_OK


# What TensorFlow's C++ runtime (before its logging is set up, so whatever TF_CPP_MIN_LOG_LEVEL says) and
# MLflow's store migrations print at start-up: notes about the CPU and absent GPU drivers, not about the run.
_STARTUP_NOISE = (
    r"All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|oneDNN custom operations are on"
    r"|oneDNN supports DT_BOOL only on platforms with AVX-512"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|Could not find cuda drivers on your machine, GPU will not be used"
    r"|Unable to register cu(DNN|FFT|BLAS) factory"
    r"|computation placer already registered"
    r"|TF-TRT Warning: Could not find TensorRT"
    r"|^INFO  \[alembic\.runtime\.migration\]"
)
# A separate process, so that nothing is lost if this one dies hard (its output is still drained and shown).
# It outlives every signal the command gets (Ctrl-C goes to the whole terminal group): it ends when the last
# writer closes the pipe, so what the command says while it stops ("interrupted") is still shown.
_FILTER = f"""
import re, signal, sys
for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(number, signal.SIG_IGN)
noise = re.compile({_STARTUP_NOISE!r})
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    if not noise.search(line.decode("utf-8", "replace")):
        try:
            out.write(line)
            out.flush()
        except (BrokenPipeError, OSError):
            pass
"""


def _filter_startup_noise() -> None:
    """Send this process's standard error (and its children's) through a filter that drops the start-up
    noise, keeping every other line as it comes."""
    import atexit
    import os
    import subprocess

    if os.environ.get("NLP_LSTM_VERBOSE_STARTUP"):
        return
    try:
        sys.stderr.flush()
        original = os.dup(2)
        filter_process = subprocess.Popen(
            [sys.executable, "-c", _FILTER], stdin=subprocess.PIPE, stdout=original, start_new_session=True
        )
    except OSError:
        return  # no filter: the noise shows, nothing else changes
    os.dup2(filter_process.stdin.fileno(), 2)
    filter_process.stdin.close()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(original, 2)  # this process's last copy of the pipe goes: the filter sees its end
        try:
            filter_process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass  # a child (a server) still writes to it; the filter ends with that child

    atexit.register(restore)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings about the user's inputs as one line each; others as Python prints them."""
    if issubclass(category, InputWarning):
        print(f"warning: {message}", file=sys.stderr, flush=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


# Commands that load TensorFlow or MLflow, whose start-up noise the CLI filters out.
_HEAVY_COMMANDS = ("run", "predict", "evaluate", "generate", "info", "serve", "sweep", "compare", "runs")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if argv is None and args.command in _HEAVY_COMMANDS:  # the command line itself, not a call from Python
        import os

        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # its INFO lines: store migrations, new experiments
        _filter_startup_noise()
    handler = {
        "init": _cmd_init,
        "run": _cmd_run,
        "validate": _cmd_validate,
        "predict": _cmd_predict,
        "evaluate": _cmd_evaluate,
        "generate": _cmd_generate,
        "info": _cmd_info,
        "runs": _cmd_runs,
        "serve": _cmd_serve,
        "compare": _cmd_compare,
        "sweep": _cmd_sweep,
    }
    previous, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        return handler[args.command](args)
    except ChiefFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    except (ConfigError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (DataError, ModelDirError, StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATA
    except NlpLstmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated", file=sys.stderr)
        return 143
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:
        from nlp_lstm.files import storage_error

        error = storage_error(exc)  # a full disk or a folder that cannot be written: the user's to fix
        if error is None:
            raise
        print(f"error: {error}", file=sys.stderr)
        return EXIT_DATA
    finally:
        warnings.showwarning = previous


if __name__ == "__main__":
    sys.exit(main())

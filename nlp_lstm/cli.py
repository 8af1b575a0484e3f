"""`nlp-lstm` command line: run, validate, predict, evaluate.

User mistakes (bad YAML, unknown key, missing or malformed file, bad model directory) print one clear
message and exit non-zero, without a traceback. Exit codes: 0 ok, 1 unexpected error, 2 invalid
configuration or usage, 3 data or model-directory error, 130 interrupted, 143 terminated.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from nlp_lstm.errors import ConfigError, DataError, ModelDirError, NlpLstmError, Terminated

EXIT_OK, EXIT_ERROR, EXIT_CONFIG, EXIT_DATA = 0, 1, 2, 3


def _add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", type=Path, help="pipeline YAML file, e.g. pipelines/sentiment.yaml")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a config value by its dotted key (repeatable), e.g. --set training.epochs=3 "
        "--set data.train=path/train.tsv; values are parsed as YAML scalars",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nlp-lstm", description="Declarative LSTM pipelines for NLP: train, evaluate, predict, tracked in MLflow."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="validate, train, evaluate, save and log a pipeline to MLflow",
        description="Validate the config, preprocess, train, evaluate on the test split, save the trained "
        "pipeline and log the run to MLflow. Prints the run id, the saved model's path and the test metrics.",
    )
    _add_config_arguments(run)

    validate = commands.add_parser(
        "validate", help="check a pipeline config (and its data files) without training",
        description="Validate a pipeline config. Exit 0 if valid, non-zero with every problem listed.",
    )
    _add_config_arguments(validate)
    validate.add_argument("--print", dest="print_config", action="store_true", help="print the resolved config")

    predict = commands.add_parser(
        "predict", help="predict with a saved pipeline: one text per line in, one JSON object per line out",
        description="Read one text per line (stdin by default) and write one JSON object per line to stdout.",
    )
    predict.add_argument("model_dir", type=Path, help="directory printed by `nlp-lstm run`")
    predict.add_argument("--input", type=Path, default=None, help="text file, one input per line (default: stdin)")
    predict.add_argument("--batch-size", type=int, default=256)

    evaluate = commands.add_parser(
        "evaluate", help="metrics of a saved pipeline on a labelled file, as JSON",
        description="Evaluate a saved pipeline on a labelled file read with the pipeline's own data settings.",
    )
    evaluate.add_argument("model_dir", type=Path, help="directory printed by `nlp-lstm run`")
    evaluate.add_argument(
        "--data", type=Path, required=True,
        help="labelled file in the training data's format (translation: PREFIX of the PREFIX.src/PREFIX.tgt files)",
    )
    evaluate.add_argument("--predictions-out", type=Path, default=None, help="also write predictions to this file")

    info = commands.add_parser(
        "info", help="backend, devices, and whether a config's recurrent layers run the fused GPU kernel",
        description="Print the Keras backend and its devices; with a config, say for each recurrent layer "
        "whether it will run the fused (cuDNN) kernel on a GPU, or what prevents it.",
    )
    info.add_argument("config", type=Path, nargs="?", default=None, help="pipeline YAML file (optional)")
    info.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="as for `run`",
    )
    return parser


def _version() -> str:
    from nlp_lstm import __version__

    return __version__


def _cmd_validate(args: argparse.Namespace) -> int:
    from nlp_lstm.config import config_to_yaml, load_config

    config = load_config(args.config, args.overrides)
    if args.print_config:
        print(config_to_yaml(config), end="")
    print(f"{args.config}: valid {config.task} pipeline", file=sys.stderr)
    return EXIT_OK


def _cmd_run(args: argparse.Namespace) -> int:
    from nlp_lstm.config import load_config

    config = load_config(args.config, args.overrides)
    from nlp_lstm.pipeline import run_pipeline  # heavy imports (Keras, MLflow) only after validation

    result = run_pipeline(config, args.config, log=lambda msg: print(msg, flush=True))
    print()
    print(f"run id:      {result.run_id or '(tracking disabled)'}")
    print(f"run name:    {result.run_name}")
    print(f"model saved: {result.model_dir}")
    if result.tracking_uri:
        print(f"tracking:    {result.tracking_uri}  (browse with: mlflow ui --backend-store-uri {result.tracking_uri})")
    print("test metrics:")
    for name, value in result.metrics.items():
        print(f"  {name:<28} {value:.4f}")
    return EXIT_OK


def _cmd_predict(args: argparse.Namespace) -> int:
    from nlp_lstm.data.readers import read_lines
    from nlp_lstm.pipeline import load_pipeline

    pipeline = load_pipeline(args.model_dir)
    texts = read_lines(args.input) if args.input else read_lines(sys.stdin)
    for prediction in pipeline.predict(texts, batch_size=args.batch_size):
        print(json.dumps(prediction, ensure_ascii=False))
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from nlp_lstm.pipeline import evaluate_saved

    metrics = evaluate_saved(args.model_dir, args.data, args.predictions_out)
    print(json.dumps(metrics, indent=2))
    return EXIT_OK


def _cmd_info(args: argparse.Namespace) -> int:
    from nlp_lstm.config import load_config
    from nlp_lstm.info import info_text

    config = load_config(args.config, args.overrides) if args.config else None
    print(info_text(config, str(args.config or "")))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"run": _cmd_run, "validate": _cmd_validate, "predict": _cmd_predict, "evaluate": _cmd_evaluate,
               "info": _cmd_info}
    try:
        return handler[args.command](args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (DataError, ModelDirError) as exc:
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


if __name__ == "__main__":
    sys.exit(main())

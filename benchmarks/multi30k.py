"""Multi30k German -> English benchmark: the shipped attentional LSTM translator, scored with sacreBLEU.

    python benchmarks/multi30k.py --data-dir ../shared/data/multi30k [--set training.epochs=10 ...]

Trains `pipelines/translator_multi30k.yaml` on train (epoch selected on val greedy BLEU), then reports
sacreBLEU BLEU and chrF (detokenized, cased) on test_2016_flickr and test_2017_flickr for each beam size
in --beams, with decoding speed in sentences/s (raw text in, median of 3 runs after a warm-up run), the
training time and the sacreBLEU signatures. The run is logged to MLflow like any `nlp-lstm run`.
`--tune-length-penalty A [A ...]` picks the beam search length penalty with the best val BLEU (at the
largest beam in --beams) and scores the tests with it. `--model-dir` scores a saved model instead of
training, with the `decoding` settings of --config and --set (`--set decoding.replace_unknown=false`).
`--max-train N` trains on the first N pairs only (a quick smoke run; the subset is written to a temporary
folder, never next to the data).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

from common import ROOT, load_benchmark_config, median_seconds

TEST_SETS = ("test_2016_flickr", "test_2017_flickr")


def write_subset(config, directory: Path, count: int) -> tuple[Path, int]:
    """The first `count` pairs of config.data.train as DIRECTORY/train.{src,tgt}; (new prefix, pairs written)."""
    from nlp_lstm.config.schema import parallel_file
    from nlp_lstm.data.readers import open_text

    data = config.data
    prefix = directory / "train"
    written = {}
    for lang in (data.source_lang, data.target_lang):
        with (
            open_text(parallel_file(data.train, lang), data.encoding) as source,
            open(parallel_file(prefix, lang), "w", encoding="utf-8", newline="\n") as target,
        ):
            lines = [line.rstrip("\r\n") for line in itertools.islice(source, count)]
            target.writelines(line + "\n" for line in lines)
            written[lang] = len(lines)
    return prefix, min(written.values())


def print_translation_table(rows: list[dict]) -> None:
    """One row per (test set, beam): BLEU, chrF, brevity penalty, length ratio, decoding sentences/s."""
    header = f"{'test set':<18}{'beam':>5}{'BLEU':>8}{'chrF':>8}{'BP':>7}{'ratio':>7}{'sent/s':>9}"
    print(header)
    print("-" * len(header))
    for row in rows:
        m = row["metrics"]
        print(
            f"{row['name']:<18}{row['beam']:>5}{m['bleu']:>8.2f}{m['chrf']:>8.2f}"
            f"{m['bleu_brevity_penalty']:>7.3f}{m['bleu_length_ratio']:>7.3f}{row['sentences_per_second']:>9,.1f}"
        )


def tune_length_penalty(pipeline, validation, penalties: list[float], beam: int) -> float:
    """Set the pipeline's length penalty to the one of `penalties` with the best val BLEU at this beam."""
    decoding = pipeline.config.decoding
    scores = {}
    for alpha in penalties:
        decoding.length_penalty = alpha
        scores[alpha] = pipeline.evaluate(validation, beam_size=beam, attention_examples=0).metrics["bleu"]
    best = max(scores, key=scores.get)
    decoding.length_penalty = best
    tried = ", ".join(f"{alpha:g}: {bleu:.2f}" for alpha, bleu in scores.items())
    print(f"val BLEU by length penalty (beam {beam}): {tried}; using {best:g}")
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-dir",
        type=Path,
        required=True,
        help="folder with train, val, test_2016_flickr and test_2017_flickr .de/.en files",
    )
    parser.add_argument("--config", type=Path, default=ROOT / "pipelines" / "translator_multi30k.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--model-dir", type=Path, default=None, help="score a saved model instead of training")
    parser.add_argument(
        "--beams",
        type=int,
        nargs="+",
        default=[1, 5],
        metavar="N",
        help="beam sizes to score and time (1 = greedy; default: 1 5)",
    )
    parser.add_argument(
        "--tune-length-penalty",
        type=float,
        nargs="+",
        default=None,
        metavar="ALPHA",
        help="length penalties to try on val (largest beam); the best one is used on the tests",
    )
    parser.add_argument(
        "--max-train", type=int, default=None, metavar="N", help="train on the first N training pairs only (smoke runs)"
    )
    args = parser.parse_args(argv)
    if any(beam < 1 for beam in args.beams):
        parser.error("--beams: beam sizes must be >= 1")
    if args.max_train is not None and args.max_train < 1:
        parser.error("--max-train must be >= 1")
    if args.max_train is not None and args.model_dir is not None:
        parser.error("--max-train limits training; it has no effect with --model-dir")

    prefixes = {name: args.data_dir / name for name in ("train", "val", *TEST_SETS)}
    config = load_benchmark_config(
        args.config,
        {"train": prefixes["train"], "validation": prefixes["val"], "test": prefixes[TEST_SETS[0]]},
        args.overrides,
    )
    if config is None:
        return 2

    import keras

    from nlp_lstm.pipeline import load_pipeline, run_pipeline

    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="multi30k-") as scratch:
        if args.model_dir is None:
            if args.max_train is not None:
                config.data.train, pairs = write_subset(config, Path(scratch), args.max_train)
                print(f"training on the first {pairs} pairs of {prefixes['train']} (copied to {config.data.train})")
            result = run_pipeline(config, args.config)
            model_dir, timings, run_id = result.model_dir, result.timings, result.run_id
        else:
            model_dir, run_id = args.model_dir, "-"
    pipeline = load_pipeline(model_dir)
    if args.model_dir is not None:  # decoding settings come from --config and --set, as when training here
        pipeline.config.decoding = config.decoding

    if args.tune_length_penalty:
        tune_length_penalty(pipeline, pipeline.read_data(prefixes["val"]), args.tune_length_penalty, max(args.beams))

    rows, signatures = [], {}
    for name in TEST_SETS:
        data = pipeline.read_data(prefixes[name])
        for beam in args.beams:
            # evaluate() translates the whole set with this beam first: that run is the warm-up for the timing.
            evaluation = pipeline.evaluate(data, beam_size=beam, attention_examples=0)
            seconds = median_seconds(lambda data=data, beam=beam: pipeline.predict(data.sources, beam_size=beam))
            rows.append(
                {
                    "name": name,
                    "beam": beam,
                    "sentences": len(data),
                    "metrics": evaluation.metrics,
                    "sentences_per_second": len(data) / seconds,
                }
            )
            signatures.update(evaluation.signatures)

    print()
    print(
        f"Multi30k {config.data.source_lang}->{config.data.target_lang}, backend {keras.backend.backend()}, "
        f"model {model_dir}, run {run_id}"
    )
    if timings:
        print(
            f"training: {timings['train_seconds']:.0f} s, {int(timings['epochs_run'])} epochs, "
            f"{timings['train_tokens_per_second']:,.0f} tokens/s"
        )
    sizes = ", ".join(f"{name} {next(r['sentences'] for r in rows if r['name'] == name)}" for name in TEST_SETS)
    print(
        f"test sentences: {sizes}; decoding speed from raw text, batch 64, median of 3 runs; "
        f"length penalty {pipeline.config.decoding.length_penalty:g}, unknown-word replacement "
        f"{'on' if pipeline.config.decoding.replace_unknown else 'off'}"
    )
    print_translation_table(rows)
    for metric, signature in signatures.items():
        print(f"sacreBLEU {metric}: {signature}")
    print("(corpus BLEU/chrF on detokenized output against the raw references; epoch chosen on val greedy BLEU)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

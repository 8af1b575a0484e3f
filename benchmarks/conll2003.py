"""CoNLL-2003 English NER benchmark: the shipped BiLSTM-CNN-CRF pipeline, scored like conlleval.

    python benchmarks/conll2003.py --data-dir ../shared/data/conll2003 [--set training.epochs=20 ...]

Trains `pipelines/ner_conll2003.yaml` on eng.train (epoch selected on eng.testa entity F1), then reports
entity F1 overall and per type on eng.testa and eng.testb, training time and tokens/s, and prediction
tokens/s from raw text (spaCy tokenization included) and from pre-tokenized sentences (median of 3).
The run is logged to MLflow like any `nlp-lstm run`. With `--spacy`, spaCy's own CPU NER (efficiency
config) is trained on the same split by `benchmarks/spacy_ner.py` and reported beside it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from common import ROOT, epoch_clock, load_benchmark_config, median_seconds, print_entity_table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="folder with eng.train, eng.testa, eng.testb")
    parser.add_argument("--config", type=Path, default=ROOT / "pipelines" / "ner_conll2003.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--model-dir", type=Path, default=None, help="score a saved model instead of training")
    parser.add_argument("--spacy", action="store_true", help="also train and score spaCy's CPU NER")
    args = parser.parse_args(argv)

    files = {name: args.data_dir / f"eng.{name}" for name in ("train", "testa", "testb")}
    config = load_benchmark_config(
        args.config, {"train": files["train"], "validation": files["testa"], "test": files["testb"]}, args.overrides
    )
    if config is None:
        return 2

    import keras

    from nlp_lstm.pipeline import load_pipeline, run_pipeline

    timings: dict[str, float] = {}
    clock = epoch_clock()
    if args.model_dir is None:
        result = run_pipeline(config, args.config, epoch_callbacks=[clock])
        model_dir, timings, run_id = result.model_dir, result.timings, result.run_id
    else:
        model_dir, run_id = args.model_dir, "-"
    pipeline = load_pipeline(model_dir)
    dev, test = pipeline.read_data(files["testa"]), pipeline.read_data(files["testb"])
    scores = {"eng.testa": pipeline.evaluate(dev), "eng.testb": pipeline.evaluate(test)}

    tokens = sum(len(s) for s in test.tokens)
    texts = [" ".join(s) for s in test.tokens]
    pipeline.predict(texts[:512])  # warm-up: compile the prediction function for the common shapes
    raw_seconds = median_seconds(lambda: pipeline.predict(texts))
    pretokenized_seconds = median_seconds(lambda: pipeline.predict(test.tokens))

    print()
    print(f"CoNLL-2003 English NER, backend {keras.backend.backend()}, model {model_dir}, run {run_id}")
    if timings:
        print(
            f"training: {timings['train_seconds']:.0f} s, {int(timings['epochs_run'])} epochs, "
            f"{timings['train_tokens_per_second']:,.0f} tokens/s"
        )
    print(
        f"prediction on eng.testb ({len(texts)} sentences, {tokens} tokens): "
        f"raw text {tokens / raw_seconds:,.0f} tokens/s, pre-tokenized {tokens / pretokenized_seconds:,.0f} tokens/s"
    )
    for row in clock.epochs:
        print(
            f"epoch {row['epoch']}: eng.testa F1 {row['logs'].get('val_f1', float('nan')):.4f} "
            f"after {row['elapsed_seconds']:.0f} s (run start to the end of its validation)"
        )
    types = pipeline.tags.entity_types
    print_entity_table(scores, types)
    print("(entity-level, micro-averaged, counted as conlleval counts; epoch chosen on eng.testa)")
    if args.spacy:
        command = [sys.executable, str(ROOT / "benchmarks" / "spacy_ner.py"), "--data-dir", str(args.data_dir)]
        print(f"\n$ {' '.join(command)}", flush=True)
        return subprocess.call(command)
    return 0


if __name__ == "__main__":
    sys.exit(main())

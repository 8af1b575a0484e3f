"""SST-2 benchmark: the shipped LSTM pipeline vs a TF-IDF + logistic-regression baseline, side by side.

    python benchmarks/sst2.py --data-dir ../shared/data/sst2 [--set training.epochs=4 ...]

Trains `pipelines/sentiment_sst2.yaml` on train.tsv (model selection on dev.tsv), then reports dev and
test accuracy, training tokens/s and prediction texts/s (raw text in, median of repeated runs) for both
systems on this machine. The run is logged to MLflow like any `nlp-lstm run`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from common import ROOT, load_benchmark_config, median_seconds


def tfidf_baseline(train, dev, test) -> dict[str, float]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score
    from sklearn.pipeline import make_pipeline

    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=1, sublinear_tf=True, lowercase=True),
        LogisticRegression(C=4.0, max_iter=2000),
    )
    start = time.perf_counter()
    model.fit(train.texts, train.labels)
    fit_seconds = time.perf_counter() - start
    train_tokens = sum(len(t.split()) for t in train.texts)
    predict_seconds = median_seconds(lambda: model.predict(test.texts))
    return {
        "dev_accuracy": accuracy_score(dev.labels, model.predict(dev.texts)),
        "test_accuracy": accuracy_score(test.labels, model.predict(test.texts)),
        "train_seconds": fit_seconds,
        "train_tokens_per_s": train_tokens / fit_seconds,
        "predict_texts_per_s": len(test.texts) / predict_seconds,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="folder with train.tsv, dev.tsv, test.tsv")
    parser.add_argument("--config", type=Path, default=ROOT / "pipelines" / "sentiment_sst2.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args(argv)

    files = {name: args.data_dir / f"{name}.tsv" for name in ("train", "dev", "test")}
    config = load_benchmark_config(
        args.config, {"train": files["train"], "validation": files["dev"], "test": files["test"]}, args.overrides
    )
    if config is None:
        return 2

    import keras

    from nlp_lstm.pipeline import load_pipeline, run_pipeline
    from nlp_lstm.tasks.sentiment.task import SentimentPipeline

    result = run_pipeline(config, args.config)
    pipeline = load_pipeline(result.model_dir)
    train, dev, test = (SentimentPipeline.read_file(config, files[n]) for n in ("train", "dev", "test"))
    pipeline.predict(test.texts[:256])  # warm-up: trace/compile the prediction function
    predict_seconds = median_seconds(lambda: pipeline.predict(test.texts))
    lstm = {
        "dev_accuracy": pipeline.evaluate(dev).metrics["accuracy"],
        "test_accuracy": pipeline.evaluate(test).metrics["accuracy"],
        "train_seconds": result.timings["train_seconds"],
        "train_tokens_per_s": result.timings["train_tokens_per_second"],
        "predict_texts_per_s": len(test.texts) / predict_seconds,
    }
    rows = {"BiLSTM (nlp_lstm)": lstm}
    if not args.skip_baseline:
        rows["TF-IDF + LogReg"] = tfidf_baseline(train, dev, test)

    print()
    print(
        f"SST-2 ({len(train)} train / {len(dev)} dev / {len(test)} test), backend {keras.backend.backend()}, "
        f"epochs run {int(result.timings['epochs_run'])}, run {result.run_id}"
    )
    header = f"{'system':<20}{'dev acc':>9}{'test acc':>10}{'train s':>9}{'train tok/s':>13}{'predict texts/s':>17}"
    print(header)
    print("-" * len(header))
    for name, r in rows.items():
        print(
            f"{name:<20}{r['dev_accuracy']:>9.4f}{r['test_accuracy']:>10.4f}{r['train_seconds']:>9.1f}"
            f"{r['train_tokens_per_s']:>13,.0f}{r['predict_texts_per_s']:>17,.0f}"
        )
    print(
        "(tokens: spaCy tokens for the LSTM, whitespace tokens for the baseline; prediction from raw text, median of 3)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

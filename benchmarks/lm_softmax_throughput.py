"""Training throughput of the language model's output layers over a large vocabulary: full, sampled and
adaptive softmax, the same network otherwise, on unit ids drawn by Zipf's law (as words are: WikiText-2's
2,000 most frequent words cover about three quarters of its text).

    python benchmarks/lm_softmax_throughput.py [--vocab 33278] [--batch-size 64] [--steps 20]
        [--set model.rnn.units=400 ...]

Each variant is `build_language_model` from `pipelines/language_model_wikitext2.yaml`'s model section (with
`--set` overrides), trained with its carried states for `--steps` batches after two warm-up batches; the
table gives units/s (median of three timed runs) and the ratio to the full softmax's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import ROOT, load_benchmark_config


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vocab", type=int, default=33278, help="vocabulary size (WikiText-2's by default)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--sequence-length", type=int, default=70)
    parser.add_argument("--steps", type=int, default=20, help="timed batches per run")
    parser.add_argument("--softmax", nargs="+", default=["full", "sampled", "adaptive"])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    placeholder = ROOT / "data" / "sample" / "language_model" / "train.txt"
    base = load_benchmark_config(
        ROOT / "pipelines" / "language_model_wikitext2.yaml",
        {"train": placeholder, "validation": placeholder, "test": placeholder},
        args.overrides,
    )
    if base is None:
        return 2

    import keras

    from nlp_lstm.models.language_model import build_language_model
    from nlp_lstm.models.seq2seq import SequenceLoss
    from nlp_lstm.training.trainer import compile_model

    rng = np.random.default_rng(0)
    words = args.vocab - 3  # after padding, the unknown unit and the end of a line
    frequency = 1.0 / np.arange(1, words + 1)  # Zipf's law, truncated to the vocabulary
    shape = (args.steps + 2, args.batch_size, args.sequence_length + 1)
    ids = (rng.choice(words, size=shape, p=frequency / frequency.sum()) + 3).astype("int32")
    units_per_batch = args.batch_size * args.sequence_length
    print(f"backend {keras.backend.backend()}, vocab {args.vocab}, batch {args.batch_size}x{args.sequence_length}")
    print(f"{'softmax':10} {'units/s':>9} {'vs full':>8}")
    rates = {}
    for softmax in args.softmax:
        config = base.model.model_copy(update={"softmax": softmax})
        model = build_language_model(args.vocab, config, carry_batch_size=args.batch_size, seed=1)
        compile_model(model, base.training, loss=SequenceLoss())
        for batch in ids[:2]:
            model.train_on_batch(batch[:, :-1], batch[:, 1:])
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            for batch in ids[2:]:
                model.train_on_batch(batch[:, :-1], batch[:, 1:])
            runs.append(args.steps * units_per_batch / (time.perf_counter() - start))
        rates[softmax] = float(np.median(runs))
        ratio = f"{rates[softmax] / rates['full']:.2f}x" if "full" in rates else "-"
        print(f"{softmax:10} {rates[softmax]:9.0f} {ratio:>8}", flush=True)
        keras.backend.clear_session()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""WikiText-2 benchmark: the word-level (or, with --level char, character-level) LSTM language model.

    python benchmarks/wikitext2.py --data-dir ../shared/data/wikitext2 [--level char] [--set KEY=VALUE ...]

Trains `pipelines/language_model_wikitext2.yaml` on train.txt (epochs selected on valid.txt, within
`training.time_limit_minutes`), then reports validation and test perplexity (word level; bits per character
at either level) read as in training (running text, the state carried), training tokens/s and time, and a
few generated samples. The run is logged to MLflow like any `nlp-lstm run`. The last line is
`test perplexity: P` (word level) or `test bits per char: B` (char level).

References (test perplexity, word level): Merity et al. 2016 list a medium variational LSTM at 96.3 and
their pointer-sentinel LSTM at 80.8; AWD-LSTM reaches 65.8 on a GPU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import ROOT, load_benchmark_config

CHAR_LEVEL = [
    "preprocessing.level=char",
    "preprocessing.sequence_length=150",
    "model.softmax=full",  # a few hundred characters: the full softmax is cheap
    "model.embedding_dim=128",
    "model.rnn.units=512",
    "model.embedding_dropout=0.0",
    "model.input_dropout=0.1",
    "model.output_dropout=0.1",
    "model.rnn.weight_drop=0.1",
    "output_dir=outputs/wikitext2_char",
]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="folder with train.txt, valid.txt, test.txt")
    parser.add_argument("--config", type=Path, default=ROOT / "pipelines" / "language_model_wikitext2.yaml")
    parser.add_argument("--level", choices=("word", "char"), default="word")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    files = {name: args.data_dir / f"{name}.txt" for name in ("train", "valid", "test")}
    overrides = (CHAR_LEVEL if args.level == "char" else []) + args.overrides
    config = load_benchmark_config(
        args.config, {"train": files["train"], "validation": files["valid"], "test": files["test"]}, overrides
    )
    if config is None:
        return 2

    import keras

    from nlp_lstm.pipeline import load_pipeline, run_pipeline

    result = run_pipeline(config, args.config)
    pipeline = load_pipeline(result.model_dir)
    scores = {split: pipeline.evaluate(files[split]).metrics for split in ("valid", "test")}
    timings = result.timings

    print()
    print(
        f"WikiText-2, {args.level} level, backend {keras.backend.backend()}, vocabulary "
        f"{len(pipeline.units.vocab):,}, {pipeline.num_parameters:,} parameters, epochs run "
        f"{int(timings['epochs_run'])}, run {result.run_id}"
    )
    header = f"{'split':<8}{'perplexity':>12}{'bits/char':>11}"
    print(header)
    print("-" * len(header))
    for split, metrics in scores.items():
        print(f"{split:<8}{metrics['perplexity']:>12.2f}{metrics['bits_per_char']:>11.3f}")
    print(
        f"training: {timings['train_seconds'] / 60:.1f} min, {timings['train_tokens_per_second']:,.0f} units/s "
        "(units predicted per second, validation passes included in the time)"
    )
    for prompt in ("The game", "In 1995 ,"):
        text = pipeline.generate(prompt, max_tokens=30, temperature=0.8, top_k=40, seed=0)[0]
        print(f"sample: {prompt}{text}")
    if args.level == "char":
        print(f"test bits per char: {scores['test']['bits_per_char']:.3f}")
    else:
        print(f"test perplexity: {scores['test']['perplexity']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

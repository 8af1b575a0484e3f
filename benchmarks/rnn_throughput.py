"""Recurrent encoder throughput: masked Keras Bidirectional vs the length-aware encoder (`fused: off` vs `require`),
and what `fused: auto` gives here (it picks one of the two per backend and device: `length_aware_encoder`).

    python benchmarks/rnn_throughput.py --data-dir ../shared/data [--batches 20] [--repeats 3] [--cell lstm]
        [--mixed-precision float32|mixed_float16|mixed_bfloat16]

For the encoder shapes of the three shipped real-data pipelines (units, layers, batch size), batches are
drawn with the sentence-length distribution of the real corpora (SST-2 train, CoNLL-2003 eng.train,
Multi30k train.de; whitespace tokens), padded to a multiple of 8. Reports training (forward + backward +
Adam step) and inference tokens/s (real tokens, padding excluded), median of --repeats timed passes over
--batches batches after a warm-up pass, on whatever backend and device Keras uses (KERAS_BACKEND). The
`auto / off` row is 1.00x where auto picks the masked layers; below 1.00x, the rule picks the slower path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from common import median_seconds

# (name, corpus file relative to --data-dir, reader, embedding dim, units, layers, batch size)
SHAPES = [
    ("sentiment (SST-2)", "sst2/train.tsv", "tsv", 300, 150, 1, 64),
    ("ner (CoNLL-2003)", "conll2003/eng.train", "conll", 230, 200, 1, 32),
    ("translation encoder (Multi30k)", "multi30k/train.de", "lines", 256, 256, 2, 64),
]


def sentence_lengths(path: Path, kind: str) -> np.ndarray:
    text = path.read_text(encoding="utf-8")
    if kind == "conll":
        lengths, n = [], 0
        for line in text.splitlines():
            if not line.strip() or line.startswith("-DOCSTART-"):
                if n:
                    lengths.append(n)
                n = 0
            else:
                n += 1
        return np.array(lengths + ([n] if n else []))
    lines = text.splitlines()[1:] if kind == "tsv" else text.splitlines()
    return np.array([max(1, len(line.split("\t")[0].split())) for line in lines])


def make_batches(lengths: np.ndarray, batch_size: int, count: int, dim: int, output_dim: int, seed: int = 0):
    """(inputs, mask, real tokens, zero regression targets) per batch."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(count):
        picked = np.sort(rng.choice(lengths, size=batch_size))  # length-bucketed, as the pipelines batch
        width = int(np.ceil(picked.max() / 8) * 8)
        mask = np.arange(width)[None, :] < picked[:, None]
        x = (rng.normal(size=(batch_size, width, dim)) * mask[..., None]).astype("float32")
        batches.append((x, mask, int(picked.sum()), np.zeros((batch_size, width, output_dim), "float32")))
    return batches


def build(fused: str, dim: int, units: int, layers: int, cell: str = "lstm"):
    import keras

    from nlp_lstm.models.encoders import RecurrentEncoder

    inputs = keras.Input((None, dim))
    mask = keras.Input((None,), dtype="bool")
    outputs = RecurrentEncoder(cell, units, num_layers=layers, fused=fused)(inputs, mask=mask)
    model = keras.Model([inputs, mask], outputs)
    model.compile(optimizer="adam", loss="mse")
    return model


def tokens_per_second(run, batches, repeats: int) -> float:
    def one_pass() -> None:
        for batch in batches:
            run(*batch)

    one_pass()  # warm-up: compile every shape
    return sum(batch[2] for batch in batches) / median_seconds(one_pass, repeats)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding sst2/, conll2003/, multi30k/")
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cell", default="lstm", help="lstm, gru, peephole_lstm, cifg_lstm or mlstm")
    parser.add_argument("--mixed-precision", default="float32", choices=["float32", "mixed_float16", "mixed_bfloat16"])
    args = parser.parse_args(argv)

    import keras

    from nlp_lstm.info import backend_devices
    from nlp_lstm.models.encoders import length_aware_here
    from nlp_lstm.training.trainer import dtype_policy

    backend, devices = backend_devices()
    print(
        f"backend {backend}, keras {keras.__version__}, devices: {', '.join(devices)}; "
        f"cell {args.cell}, {args.mixed_precision}"
    )
    header = f"{'encoder':<32}{'mode':<22}{'train tok/s':>13}{'infer tok/s':>13}"
    print(header)
    print("-" * len(header))
    for name, relative, kind, dim, units, layers, batch_size in SHAPES:
        path = args.data_dir / relative
        if not path.exists():
            print(f"{name:<32}skipped: {path} not found", file=sys.stderr)
            continue
        batches = make_batches(sentence_lengths(path, kind), batch_size, args.batches, dim, 2 * units)
        results = {}
        for fused, label in (("off", "masked Bidirectional"), ("require", "length-aware")):
            keras.utils.set_random_seed(0)
            with dtype_policy(args.mixed_precision):
                model = build(fused, dim, units, layers, args.cell)
            train = tokens_per_second(
                lambda x, m, n, y, model=model: model.train_on_batch([x, m], y), batches, args.repeats
            )
            infer = tokens_per_second(
                lambda x, m, n, y, model=model: model.predict_on_batch([x, m]), batches, args.repeats
            )
            results[fused] = (train, infer)
            print(f"{name:<32}{label:<22}{train:>13,.0f}{infer:>13,.0f}", flush=True)
        (masked_train, masked_infer), (fused_train, fused_infer) = results["off"], results["require"]
        print(
            f"{'':<32}{'length-aware / masked':<22}{fused_train / masked_train:>12.2f}x{fused_infer / masked_infer:>12.2f}x"
        )
        auto = "require" if length_aware_here("auto", bidirectional=True) else "off"
        auto_train, auto_infer = results[auto]
        print(
            f"{'':<32}{'auto / off':<22}{auto_train / masked_train:>12.2f}x{auto_infer / masked_infer:>12.2f}x"
            f"  (auto runs {'length-aware' if auto == 'require' else 'masked'} here)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

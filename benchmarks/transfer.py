"""Transfer from a language model (ULMFiT's three stages) against the shipped pipeline, in one run.

    python benchmarks/transfer.py --task sentiment --data-dir ../shared/data --lm-dir outputs/wikitext2/<run>
    python benchmarks/transfer.py --task ner --data-dir ../shared/data --lm-dir outputs/wikitext2/<run>

Stage 1 is a word-level language model trained on general text (`benchmarks/wikitext2.py`; its folder is
`--lm-dir`). Stage 2 fine-tunes it on the target corpus' own training text, labels ignored
(the stage-1 run's own config with the corpus as data, its lines read one by one, and `model.init_from`; SST-2:
each sentence once, not again in each of its phrases). Stage 3
trains the task's shipped pipeline (`sentiment_sst2.yaml`, `ner_conll2003.yaml`) with `model.init_from` the
stage-2 model: its embedding size and recurrent cell and units become the language model's (its number of
layers stays: the language model's first layers start them), its pretrained vectors are left out (the
language model's words replace them) unless the language model itself was trained over pretrained vectors
(`model.embeddings`, e.g. stage 1 run with `--set model.embeddings.vectors=glove.6B.50d --set
model.embeddings.trainable=false --set model.embedding_dim=50`): then stage 3 keeps its vectors, set to the
language model's, and takes only the recurrent layers, which learned over those vectors (NER "with GloVe").
The first `--freeze-epochs` train only the new layers, then every layer with discriminative rates. The shipped pipeline is trained beside it (`--skip-baseline`
leaves it out). Extra `--lm-set`/`--set` settings go to stage 2 / stage 3 (and the baseline).

The last lines compare the two: `sst2 dev accuracy: transfer A, shipped B` (NER: eng.testa and eng.testb
entity F1).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import ROOT, load_benchmark_config

TASKS = {
    "sentiment": {
        "config": "sentiment_sst2.yaml",
        "folder": "sst2",
        "files": {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"},
        "text": ["data.format=tsv", "data.text_column=sentence", "preprocessing.lowercase=true"],
        "metric": "accuracy",
        "splits": {"dev": "validation", "test": "test"},
    },
    "ner": {
        "config": "ner_conll2003.yaml",
        "folder": "conll2003",
        "files": {"train": "eng.train", "validation": "eng.testa", "test": "eng.testb"},
        "text": ["data.format=conll", "data.token_column=0", "preprocessing.lowercase=true"],
        "metric": "f1",
        "splits": {"eng.testa": "validation", "eng.testb": "test"},
    },
}


def whole_sentences(train: Path, folder: Path) -> Path:
    """SST-2's train.tsv lists its sentences' phrases beside them (67,349 rows), so stage 2 reads only the rows
    no other row contains (6,885): an epoch over every row reads each sentence many times over, and the
    language model overfit after the first (validation perplexity 314.5, 346.9, 511.0 in 3 epochs)."""
    header, *rows = train.read_text(encoding="utf-8").splitlines()
    kept: list[str] = []
    seen = ""
    for row in sorted(rows, key=lambda r: len(r.split("\t")[0]), reverse=True):
        text = row.split("\t")[0].strip()
        if f" {text} " not in seen:
            kept.append(row)
            seen += f"\n {text} "
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "sst2_train_sentences.tsv"
    target.write_text("\n".join([header, *kept]) + "\n", encoding="utf-8")
    print(f"stage 2 text: {len(kept):,} of {len(rows):,} training rows, those no other row contains ({target})")
    return target


def language_model_settings(lm_dir: Path) -> list[str]:
    """Stage 3's embedding and recurrent sizes: the language model's (read from its saved config), and its
    pretrained vectors, if it was trained over any (else none: the language model's words replace them)."""
    from nlp_lstm.model_dir import load_saved_config

    lm = load_saved_config(lm_dir)
    vectors = vectors_of(lm_dir)
    if vectors:
        embeddings = vectors
    else:
        embeddings = ["model.embeddings.vectors=null", "model.embeddings.path=null", "model.embeddings.extend_vocab=0"]
    return [
        f"model.init_from={lm_dir}",
        f"model.embedding_dim={lm.model.embedding_dim}",
        *embeddings,
        f"model.rnn.cell={lm.model.rnn.cell}",
        f"model.rnn.units={lm.model.rnn.units}",
    ]


def vectors_of(lm_dir: Path) -> list[str]:
    """The `model.embeddings` settings of the pretrained vectors a language model was trained over, following
    its `init_from` chain (a fine-tuned stage 2 takes its embeddings from stage 1); [] when none."""
    from nlp_lstm.model_dir import load_saved_config

    lm = load_saved_config(lm_dir)
    embeddings = lm.model.embeddings
    if embeddings.path is not None:
        return [f"model.embeddings.path={embeddings.path}", "model.embeddings.vectors=null"]
    if embeddings.vectors is not None:
        return [f"model.embeddings.vectors={embeddings.vectors}", "model.embeddings.path=null"]
    return vectors_of(Path(lm.model.init_from)) if lm.model.init_from else []


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=sorted(TASKS), required=True)
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding sst2/ and conll2003/")
    parser.add_argument("--lm-dir", type=Path, required=True, help="a word-level language_model run's folder")
    parser.add_argument("--lm-epochs", type=int, default=3, help="stage 2: epochs over the corpus' text")
    parser.add_argument("--freeze-epochs", type=int, default=1)
    parser.add_argument("--discriminative-lr", type=float, default=2.6)
    parser.add_argument("--lm-set", dest="lm_overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args(argv)

    spec = TASKS[args.task]
    files = {split: args.data_dir / spec["folder"] / name for split, name in spec["files"].items()}
    stage_1 = args.lm_dir / "config.yaml"  # the same model, read on from its weights
    lm_files = dict(files)
    if args.task == "sentiment":
        lm_files["train"] = whole_sentences(files["train"], Path(f"outputs/transfer_{args.task}_lm"))
    lm_config = load_benchmark_config(
        stage_1,
        lm_files,
        [
            *spec["text"],
            "preprocessing.mode=lines",  # the corpus' sentences stand alone
            f"model.init_from={args.lm_dir}",
            "model.embeddings.path=null",  # the embeddings come from stage 1 (trainable as there)
            "model.embeddings.vectors=null",
            f"training.epochs={args.lm_epochs}",
            "training.time_limit_minutes=null",
            "tracking.uri=null",
            f"tracking.experiment=nlp_lstm-transfer-{args.task}",
            f"name=language_model_{args.task}",
            "tracking.run_name=null",  # stage 1's, in its saved config
            f"output_dir=outputs/transfer_{args.task}_lm",
            *args.lm_overrides,
        ],
    )
    task_yaml = ROOT / "pipelines" / spec["config"]

    def transfer_config(lm_dir: Path):
        return load_benchmark_config(
            task_yaml,
            files,
            [
                *language_model_settings(lm_dir),
                f"model.freeze_epochs={args.freeze_epochs}",
                f"model.discriminative_lr={args.discriminative_lr}",
                f"tracking.experiment=nlp_lstm-transfer-{args.task}",
                f"output_dir=outputs/transfer_{args.task}",
                *args.overrides,
            ],
        )

    baseline = load_benchmark_config(
        task_yaml, files, [f"tracking.experiment=nlp_lstm-transfer-{args.task}", *args.overrides]
    )
    # every stage's config checked before any trains (stage 2 has the model of stage 1: it stands in for it)
    if lm_config is None or transfer_config(args.lm_dir) is None or baseline is None:
        return 2

    from nlp_lstm.pipeline import load_pipeline, run_pipeline

    lm_result = run_pipeline(lm_config, stage_1)
    lm_dir = Path(lm_result.model_dir)
    lm_scores = load_pipeline(lm_dir).evaluate(files["validation"]).metrics
    runs = {"transfer": run_pipeline(transfer_config(lm_dir), task_yaml)}
    if not args.skip_baseline:
        runs["shipped"] = run_pipeline(baseline, task_yaml)

    scores = {}
    for name, result in runs.items():
        pipeline = load_pipeline(result.model_dir)
        scores[name] = {
            label: pipeline.evaluate(files[split]).metrics[spec["metric"]] for label, split in spec["splits"].items()
        }

    print()
    print(
        f"stage 2: language model fine-tuned on the {args.task} corpus' text from {args.lm_dir}: "
        f"validation perplexity {lm_scores['perplexity']:.2f} ({lm_dir})"
    )
    header = f"{'run':<10}" + "".join(f"{label + ' ' + spec['metric']:>20}" for label in spec["splits"])
    header += f"{'train min':>11}"
    print(header)
    print("-" * len(header))
    for name, result in runs.items():
        minutes = result.timings["train_seconds"] / 60
        print(
            f"{name:<10}" + "".join(f"{scores[name][label]:>20.4f}" for label in spec["splits"]) + f"{minutes:>11.1f}"
        )
    for label in spec["splits"]:
        beside = f", shipped {scores['shipped'][label]:.4f}" if "shipped" in scores else ""
        name = "sst2" if args.task == "sentiment" else "conll2003"
        print(f"{name} {label} {spec['metric']}: transfer {scores['transfer'][label]:.4f}{beside}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

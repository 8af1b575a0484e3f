"""CoNLL-2003 English NER with spaCy's own CPU NER (efficiency recipe), scored like conlleval.

    python benchmarks/spacy_ner.py --data-dir ../shared/data/conll2003 [--max-epochs 10] [--keep]

The spaCy side of `benchmarks/conll2003.py --spacy`. Reads eng.train, eng.testa and eng.testb with the
project's CoNLL reader, writes them as spaCy DocBin files with ONE Doc PER SENTENCE (spaCy's corpus reader
treats each Doc as one example, so this matches the BiLSTM-CRF's sentence-level training) into a work
folder outside the repository, generates the config with spaCy's own tool

    python -m spacy init config CFG --lang en --pipeline ner --optimize efficiency

(CPU, no pretrained vectors: tok2vec + transition-based NER) and trains it with `python -m spacy train`
on eng.train, with model-best chosen on eng.testa. Then it loads model-best, predicts eng.testa and
eng.testb from the gold tokens (pre-tokenized Docs), and reports entity F1 overall and per type with the
project's conlleval-compatible scorer, the training wall-clock time, and prediction tokens/s on eng.testb
from raw text (spaCy tokenization included) and from pre-tokenized Docs (median of 3).

Training uses spaCy's default corpus settings (gold_preproc = false): spaCy re-tokenizes each sentence's
text and aligns the gold entities to its tokens, and scores eng.testa that way for model selection.
spaCy evaluates every training.eval_frequency (200) steps, so model-best is the best of those checkpoints;
the steps after the last evaluation only reach model-last. `--workdir` keeps the corpus, config and model
in a folder of your choice; otherwise they live in a temporary folder, deleted unless `--keep`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import median_seconds, print_entity_table

SPLITS = ("train", "testa", "testb")
LOG_ROW = re.compile(r"^\s*(\d+)\s+(\d+)\s+[-\d.]+\s+[-\d.]+")  # spaCy console log: E, #, losses, scores
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def make_doc(vocab, tokens: list[str]):
    from spacy.tokens import Doc

    return Doc(vocab, words=tokens, spaces=[True] * (len(tokens) - 1) + [False])


def to_docbin(vocab, data, path: Path) -> int:
    """One Doc per sentence with the gold entities as doc.ents; returns the number of entities."""
    from spacy.tokens import DocBin, Span

    from nlp_lstm.preprocessing.tags import to_spans

    docbin, entities = DocBin(attrs=["ENT_IOB", "ENT_TYPE"], store_user_data=False), 0
    for tokens, tags in zip(data.tokens, data.tags):
        doc = make_doc(vocab, tokens)
        doc.ents = [Span(doc, start, end, label=kind) for kind, start, end in to_spans(tags)]
        entities += len(doc.ents)
        docbin.add(doc)
    docbin.to_disk(path)
    return entities


def predicted_tags(docs) -> list[list[str]]:
    from nlp_lstm.preprocessing.tags import from_spans

    return [from_spans([(e.label_, e.start, e.end) for e in doc.ents], len(doc), "iob2") for doc in docs]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    if not sys.stdout.isatty():
        env["ANSI_COLORS_DISABLED"] = "1"  # no colour codes from spaCy's messages in redirected logs
    return env


def run_streaming(command: list[str]) -> tuple[int, float, list[tuple[float, str]], str | None]:
    """Run, echo its output line by line; returns (exit code, wall seconds, the spaCy log rows each with the
    seconds since the start at which it was printed, the log's header line)."""
    env = subprocess_env()
    start = time.perf_counter()
    rows: list[tuple[float, str]] = []
    header = None
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, env=env
    ) as process:
        for line in process.stdout:
            if not sys.stdout.isatty():
                line = ANSI.sub("", line)
            sys.stdout.write(line)
            sys.stdout.flush()
            if LOG_ROW.match(line):
                rows.append((time.perf_counter() - start, line))
            elif "ENTS_F" in line.split():
                header = line
    return process.returncode, time.perf_counter() - start, rows, header


def entity_f1_by_time(rows: list[tuple[float, str]], header: str | None) -> list[tuple[float, int, float]]:
    """(seconds, step, eng.testa ents_f in 0-1) of each evaluation in spaCy's log: its ENTS_F column comes after
    E, # and one LOSS column per component, and is printed in percent."""
    if header is None:
        return []
    column = 2 + header.split().count("LOSS")
    evaluations = []
    for seconds, line in rows:
        values = line.split()
        evaluations.append((seconds, int(values[1]), float(values[column]) / 100))
    return evaluations


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="folder with eng.train, eng.testa, eng.testb")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="folder for the corpus, config and model (default: a temporary folder)",
    )
    parser.add_argument("--max-epochs", type=int, default=10, help="training.max_epochs (default 10)")
    parser.add_argument(
        "--patience",
        type=int,
        default=1600,
        help="training.patience: steps without dev improvement before stopping (default 1600)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=256,
        help="nlp.batch_size for spaCy's dev evaluation and nlp.pipe (default 256)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary work folder with the trained model (always kept with --workdir)",
    )
    args = parser.parse_args(argv)

    files = {name: args.data_dir / f"eng.{name}" for name in SPLITS}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        print(
            f"error: missing CoNLL-2003 file(s): {', '.join(missing)} "
            f"(--data-dir needs eng.train, eng.testa, eng.testb)",
            file=sys.stderr,
        )
        return 2

    from nlp_lstm.data.conll import read_conll
    from nlp_lstm.errors import NlpLstmError

    try:
        data = {name: read_conll(path, token_column=0, tag_column=-1) for name, path in files.items()}
    except NlpLstmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        workdir, cleanup = args.workdir.resolve(), None
    elif args.keep:
        workdir, cleanup = Path(tempfile.mkdtemp(prefix="spacy_ner_")), None
    else:
        cleanup = tempfile.TemporaryDirectory(prefix="spacy_ner_")
        workdir = Path(cleanup.name)
    try:
        return benchmark(args, data, workdir, kept=cleanup is None)
    except NlpLstmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if cleanup is not None:
            cleanup.cleanup()


def benchmark(args, data, workdir: Path, kept: bool) -> int:
    import spacy

    from nlp_lstm.evaluation.tagging import evaluate_entities
    from nlp_lstm.preprocessing.tags import to_spans

    blank = spacy.blank("en")
    corpus = {"train": workdir / "train.spacy", "dev": workdir / "dev.spacy"}
    train_entities = to_docbin(blank.vocab, data["train"], corpus["train"])
    to_docbin(blank.vocab, data["testa"], corpus["dev"])
    print(
        f"corpus: {len(data['train'])} train sentences ({train_entities} entities), {len(data['testa'])} dev "
        f"sentences, one Doc per sentence, in {workdir}",
        flush=True,
    )

    config, output = workdir / "config.cfg", workdir / "model"
    init = [
        sys.executable,
        "-m",
        "spacy",
        "init",
        "config",
        str(config),
        "--lang",
        "en",
        "--pipeline",
        "ner",
        "--optimize",
        "efficiency",
        "--force",
    ]
    print(f"$ {' '.join(init)}", flush=True)
    if run_streaming(init)[0] != 0:
        print("error: spacy init config failed", file=sys.stderr)
        return 1
    if output.exists():
        shutil.rmtree(output)
    train = [
        sys.executable,
        "-m",
        "spacy",
        "train",
        str(config),
        "--output",
        str(output),
        "--paths.train",
        str(corpus["train"]),
        "--paths.dev",
        str(corpus["dev"]),
        "--training.max_epochs",
        str(args.max_epochs),
        "--training.max_steps",
        "0",
        "--training.patience",
        str(args.patience),
        "--system.seed",
        "0",
        "--nlp.batch_size",
        str(args.batch_size),
    ]
    print(f"$ {' '.join(train)}", flush=True)
    code, train_seconds, rows, header = run_streaming(train)
    last_row = rows[-1][1] if rows else None
    model_dir = output / "model-best"
    if code != 0 or not model_dir.is_dir():
        print(f"error: spacy train failed (exit code {code})", file=sys.stderr)
        return code or 1

    if last_row is not None and LOG_ROW.match(last_row).group(2) == "0":
        print(
            "warning: spaCy evaluated eng.testa only at step 0 (it evaluates every training.eval_frequency = 200 "
            "steps), so model-best is the untrained model; train longer (--max-epochs)",
            file=sys.stderr,
        )
    nlp = spacy.load(model_dir)
    scores = {}
    for name in ("testa", "testb"):
        split = data[name]
        docs = list(nlp.pipe((make_doc(nlp.vocab, t) for t in split.tokens), batch_size=args.batch_size))
        scores[f"eng.{name}"] = evaluate_entities(split.tags, predicted_tags(docs))

    test = data["testb"]
    tokens = sum(len(s) for s in test.tokens)
    texts = [" ".join(s) for s in test.tokens]
    list(nlp.pipe(texts[:512], batch_size=args.batch_size))  # warm-up
    raw_seconds = median_seconds(lambda: list(nlp.pipe(texts, batch_size=args.batch_size)))
    pretokenized_seconds = median_seconds(
        lambda: list(nlp.pipe((make_doc(nlp.vocab, t) for t in test.tokens), batch_size=args.batch_size))
    )

    train_tokens = sum(len(s) for s in data["train"].tokens)
    progress = ""
    if last_row:
        epoch, step = LOG_ROW.match(last_row).groups()
        progress = f", last logged epoch {epoch} step {step}"
    best = json.loads((model_dir / "meta.json").read_text()).get("performance", {}).get("ents_f")
    where = str(model_dir) if kept else "(temporary, deleted; --keep or --workdir to keep it)"

    print()
    print(
        f"CoNLL-2003 English NER, spaCy {spacy.__version__} CPU NER (init config --optimize efficiency, "
        f"no vectors), model {where}"
    )
    print("documents: one spaCy Doc per sentence (spaCy's corpus reader takes each Doc as one example)")
    print(
        f"training: {train_seconds:.0f} s wall clock (spacy train, setup included), max {args.max_epochs} "
        f"epochs, patience {args.patience} steps{progress}, {train_tokens} train tokens"
        + (f"; model-best eng.testa ents_f {best:.4f} (spaCy scorer, spaCy tokens)" if best is not None else "")
    )
    print(
        f"prediction on eng.testb ({len(texts)} sentences, {tokens} tokens): "
        f"raw text {tokens / raw_seconds:,.0f} tokens/s, pre-tokenized {tokens / pretokenized_seconds:,.0f} tokens/s"
    )
    evaluations = entity_f1_by_time(rows, header)
    if evaluations:
        best_seconds, best_step, best_f1 = max(evaluations, key=lambda e: (e[2], -e[0]))
        print(
            f"spaCy best eng.testa ents_f {best_f1:.4f} (spaCy scorer) at step {best_step}, "
            f"{best_seconds:.0f} s after spacy train started"
        )
    types = sorted({kind for tags in data["train"].tags for kind, _, _ in to_spans(tags)})
    print_entity_table(scores, types)
    print(
        "(entity-level, micro-averaged, counted as conlleval counts; predicted from gold tokens; "
        "model-best chosen on eng.testa)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

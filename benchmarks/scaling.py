"""Preprocessing as the corpus grows: peak memory and preprocessing time over a training file repeated 1x, 4x
and 16x, a first run (empty preprocessing cache) and a cached run, in fresh processes.

    python benchmarks/scaling.py --data-dir ../shared/data [--tasks sentiment ner] [--repeats 1 4 16]

For each task (`sentiment_sst2.yaml` on SST-2 train.tsv, `ner_conll2003.yaml` on CoNLL-2003 eng.train) and each
repeat k, the training file repeated k times is written to a scratch folder. A fresh process then reads the
splits, prepares the pipeline (`Task.prepare`: fit the preprocessing and encode the examples, or read them
from the cache) and reads every training batch once; it reports its preprocessing seconds and its peak RSS.
Each is run twice, first with an empty cache, then with the entry the first run wrote. No model is trained:
the figures are the data side of a run.

Then (`--distribution-examples N`, default 8,000; 0 skips it) the shipped SST-2 pipeline trains one epoch on
the first N training sentences, once on one device (`training.distribution: none`) and once data-parallel
over the CPU split in two (`mirrored`, `training.cpu_devices: 2`), each in a fresh process with dropout as
configured, and prints both training speeds (tokens/s, the epoch's validation pass included) and their
ratio: on a 2-core CPU the figure is the overhead of splitting every batch, not a speed-up.

The last two lines are `rss_ratio: R` (the first run's peak RSS at the largest repeat over the smallest; the
target is at most 1.5) and `cache_ratio: R` (cached over first preprocessing time at the largest repeat; the
target is under 0.1).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, load_benchmark_config

TASKS = {
    "sentiment": ("sentiment_sst2.yaml", "sst2", {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}),
    "ner": ("ner_conll2003.yaml", "conll2003", {"train": "eng.train", "validation": "eng.testa", "test": "eng.testb"}),
}


def repeated(source: Path, target: Path, times: int, header: bool) -> Path:
    """`source` written `times` times one after another (a header line kept once)."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    head, body = (lines[:1], lines[1:]) if header else ([], lines)
    if body and not body[-1].endswith("\n"):
        body[-1] += "\n"
    with open(target, "w", encoding="utf-8") as handle:
        handle.writelines(head)
        for _ in range(times):
            handle.writelines(body)
    return target


def worker(task_name: str, files: dict[str, str], cache_dir: str, output_dir: str) -> dict:
    """One preparation in this process: seconds, peak RSS (MiB) and how the cache served it."""
    from nlp_lstm.tasks import get_task

    yaml = ROOT / "pipelines" / TASKS[task_name][0]
    overrides = [f"preprocessing.cache_dir={cache_dir}", f"output_dir={output_dir}", "tracking.enabled=false"]
    config = load_benchmark_config(yaml, {k: Path(v) for k, v in files.items()}, overrides)
    if config is None:
        raise SystemExit(2)
    task = get_task(config.task)(config)
    started = time.perf_counter()
    splits = task.read_splits()
    task.check(splits)  # a cached run leaves the training file unread
    _, train_batches, _ = task.prepare(splits, log=lambda line: None)
    seconds = time.perf_counter() - started
    tokens = 0
    for i in range(len(train_batches)):  # every batch read once, as an epoch reads them
        inputs = train_batches[i][0]
        tokens += int((inputs["token_ids"] if isinstance(inputs, dict) else inputs).size)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "seconds": seconds,
        "rss_mib": peak,
        "cache": task.cache_status,
        "examples": len(splits.train),
        "padded_tokens": tokens,
    }


def trainer(files: dict[str, str], distribution: str, output_dir: str) -> dict:
    """One epoch of the SST-2 pipeline in this process, on one device or mirrored over 2 CPU devices."""
    from nlp_lstm.pipeline import run_pipeline

    yaml = ROOT / "pipelines" / TASKS["sentiment"][0]
    overrides = [
        "training.epochs=1",
        f"training.distribution={distribution}",
        *(["training.cpu_devices=2"] if distribution == "mirrored" else []),
        "preprocessing.cache=false",
        f"output_dir={output_dir}",
        "tracking.enabled=false",
    ]
    config = load_benchmark_config(yaml, {k: Path(v) for k, v in files.items()}, overrides)
    if config is None:
        raise SystemExit(2)
    result = run_pipeline(config, yaml, log=lambda line: None)
    return {
        "tokens_per_second": result.timings["train_tokens_per_second"],
        "seconds": result.timings["train_seconds"],
        "accuracy": result.metrics.get("test_accuracy"),
    }


def _in_fresh_process(data_dir: Path, flag: str, request: dict) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--data-dir", str(data_dir), flag, json.dumps(request)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if completed.returncode != 0:
        print(completed.stderr[-3000:], file=sys.stderr)
        raise SystemExit(completed.returncode)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def distribution_speed(data_dir: Path, examples: int, scratch: Path) -> None:
    """Training tokens/s of `mirrored` over 2 CPU devices against `none`, printed."""
    _, folder, names = TASKS["sentiment"]
    lines = (data_dir / folder / names["train"]).read_text(encoding="utf-8").splitlines(keepends=True)
    train = scratch / f"first_{examples}_{names['train']}"
    train.write_text("".join(lines[: examples + 1]), encoding="utf-8")  # the header and N sentences
    files = {
        "train": str(train),
        "validation": str(data_dir / folder / names["validation"]),
        "test": str(data_dir / folder / names["test"]),
    }
    speed = {}
    for distribution in ("none", "mirrored"):
        request = {"files": files, "distribution": distribution, "output_dir": str(scratch / "outputs")}
        speed[distribution] = _in_fresh_process(data_dir, "--trainer", request)
        r = speed[distribution]
        print(
            f"sentiment {examples:,} sentences, distribution {distribution:<8} one epoch {r['seconds']:7.1f} s  "
            f"{r['tokens_per_second']:9,.0f} tokens/s  test accuracy {r['accuracy']:.4f}",
            flush=True,
        )
    ratio = speed["mirrored"]["tokens_per_second"] / speed["none"]["tokens_per_second"]
    print(f"mirrored over 2 CPU devices vs none: {ratio:.2f}x tokens/s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="folder holding sst2/ and conll2003/")
    parser.add_argument("--tasks", nargs="+", choices=sorted(TASKS), default=sorted(TASKS))
    parser.add_argument("--repeats", nargs="+", type=int, default=[1, 4, 16])
    parser.add_argument("--distribution-examples", type=int, default=8000, metavar="N")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # JSON arguments of one measured preparation
    parser.add_argument("--trainer", help=argparse.SUPPRESS)  # JSON arguments of one measured training
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(**json.loads(args.worker))))
        return 0
    if args.trainer:
        print(json.dumps(trainer(**json.loads(args.trainer))))
        return 0

    results: dict[tuple[str, int, str], dict] = {}
    scratch = Path(tempfile.mkdtemp(prefix="nlp_lstm_scaling-"))
    try:
        for task_name in args.tasks:
            _, folder, names = TASKS[task_name]
            for times in args.repeats:
                source = args.data_dir / folder / names["train"]
                train = repeated(source, scratch / f"{times}x_{names['train']}", times, header=task_name == "sentiment")
                files = {
                    "train": str(train),
                    "validation": str(args.data_dir / folder / names["validation"]),
                    "test": str(args.data_dir / folder / names["test"]),
                }
                cache_dir = scratch / f"cache_{task_name}_{times}"
                for run in ("first", "cached"):
                    request = {
                        "task_name": task_name,
                        "files": files,
                        "cache_dir": str(cache_dir),
                        "output_dir": str(scratch / "outputs"),
                    }
                    results[task_name, times, run] = _in_fresh_process(args.data_dir, "--worker", request)
                    r = results[task_name, times, run]
                    print(
                        f"{task_name:<10}{times:>4}x {run:<7} {r['examples']:>9,} examples  preprocessing "
                        f"{r['seconds']:8.1f} s  peak RSS {r['rss_mib']:8.0f} MiB  cache {r['cache']}",
                        flush=True,
                    )
                shutil.rmtree(cache_dir, ignore_errors=True)
                train.unlink()
        if args.distribution_examples:
            distribution_speed(args.data_dir, args.distribution_examples, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    low, high = min(args.repeats), max(args.repeats)
    rss = max(results[t, high, "first"]["rss_mib"] / results[t, low, "first"]["rss_mib"] for t in args.tasks)
    cache = max(results[t, high, "cached"]["seconds"] / results[t, high, "first"]["seconds"] for t in args.tasks)
    print(f"rss_ratio: {rss:.2f}")
    print(f"cache_ratio: {cache:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

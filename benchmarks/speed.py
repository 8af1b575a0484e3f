"""Issue 23's CPU speed figures in one command, each beside its peer in the same run, one line per target at the end.

    python benchmarks/speed.py --data-dir ../shared/data [--only ner cold_start translator fused]
        [--baseline-checkout DIR] [--translator-epochs 10]

Runs one benchmark at a time (each is timed; never two at once), echoing its whole output:
- ner: `conll2003.py --spacy` trains the shipped CoNLL config and spaCy's efficiency NER on eng.train, then
  1. NER raw-text prediction tokens/s on eng.testb against spaCy's (with both eng.testb F1s);
  2. NER training: the seconds until our eng.testa F1 first reaches spaCy's best eng.testa ents_f, against
     the seconds spaCy took to reach that best (each from its own run start, setup included).
- cold_start: trains the sample NER pipeline (`pipelines/ner_bilstm_crf.yaml`) into a temporary folder, then
  3. the seconds from starting `nlp-lstm predict MODEL_DIR` to its first output line (median of 5 new
     processes; the default runtime, and `--runtime keras` beside it) and the whole `nlp-lstm validate` (median of 5).
- translator: `translator_training_speed.py` on this checkout's code and config, and with --baseline-checkout
  on that checkout's (the code to compare against, e.g. a `git worktree` of an older commit):
  4. translator training target tokens/s (median epoch) as a ratio to the baseline's, val BLEU at epochs 5
     and 10 of both.
- fused: `rnn_throughput.py` on each installed backend:
  5. per backend, the slowest ratio of `fused: auto` to `off` (training and inference, every shape).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT

BENCHMARKS = ROOT / "benchmarks"
PARTS = ("ner", "cold_start", "translator", "fused")
NUMBER = r"([\d,]+(?:\.\d+)?)"


def number(text: str) -> float:
    return float(text.replace(",", ""))


def run(command: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> str:
    """Run a benchmark, echoing its output as it comes; its stdout and stderr together."""
    print(f"\n$ {' '.join(map(str, command))}", flush=True)
    lines = []
    with subprocess.Popen(
        [str(c) for c in command],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        env={**os.environ, **(env or {})},
    ) as process:
        for line in process.stdout:
            sys.stdout.write(line)
            lines.append(line)
    if process.returncode:
        raise RuntimeError(f"{command[1]} failed (exit code {process.returncode})")
    return "".join(lines)


def ner_lines(data_dir: Path) -> list[str]:
    output = run([sys.executable, BENCHMARKS / "conll2003.py", "--data-dir", data_dir / "conll2003", "--spacy"])
    ours_output, spacy_output = output.split("spacy_ner.py", 1)
    return ner_summary(ours_output, spacy_output)


def ner_summary(ours_output: str, spacy_output: str) -> list[str]:
    """Targets 1 and 2 from the outputs of conll2003.py and spacy_ner.py."""
    rate = r"raw text " + NUMBER + " tokens/s"
    ours_rate = number(re.search(rate, ours_output).group(1))
    spacy_rate = number(re.search(rate, spacy_output).group(1))
    testb = r"^eng\.testb\s+" + NUMBER
    ours_f1 = number(re.search(testb, ours_output, re.M).group(1))
    spacy_f1 = number(re.search(testb, spacy_output, re.M).group(1))
    lines = [
        f"ner predict speed vs spacy: {ours_rate / spacy_rate:.2f}x ({ours_rate:,.0f} vs {spacy_rate:,.0f} raw-text "
        f"tokens/s on eng.testb; F1 {ours_f1:.4f} vs {spacy_f1:.4f})"
    ]
    best = re.search(r"spaCy best eng\.testa ents_f " + NUMBER + r" .* at step \d+, " + NUMBER + " s", spacy_output)
    epochs = [
        (number(f1), number(seconds))
        for f1, seconds in re.findall(r"eng\.testa F1 " + NUMBER + " after " + NUMBER + " s", ours_output)
    ]
    if best is None or not epochs:
        lines.append("ner training time to spacy's best vs spacy: not measured (no epoch or evaluation log)")
        return lines
    spacy_best, spacy_seconds = number(best.group(1)), number(best.group(2))
    reached = next((seconds for f1, seconds in epochs if f1 >= spacy_best), None)
    if reached is None:
        lines.append(
            f"ner training time to spacy's best vs spacy: never reached (best eng.testa F1 "
            f"{max(f1 for f1, _ in epochs):.4f} against spaCy's {spacy_best:.4f})"
        )
    else:
        lines.append(
            f"ner training time to spacy's best vs spacy: {reached / spacy_seconds:.2f}x ({reached:,.0f} s to eng.testa "
            f"F1 >= {spacy_best:.4f} against spaCy's {spacy_seconds:,.0f} s)"
        )
    return lines


def first_line_seconds(command: list[str], stdin_text: str) -> float:
    """Seconds from starting `command` to its first line on stdout."""
    start = time.perf_counter()
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as p:
        p.stdin.write(stdin_text)
        p.stdin.close()
        line = p.stdout.readline()
        seconds = time.perf_counter() - start
        p.stdout.read()
    if p.returncode or not line:
        raise RuntimeError(f"{' '.join(command)} failed (exit code {p.returncode})")
    return seconds


def command_seconds(command: list[str]) -> float:
    """Seconds from starting `command` to its exit (it must succeed)."""
    start = time.perf_counter()
    finished = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if finished.returncode:
        raise RuntimeError(f"{' '.join(command)} failed (exit code {finished.returncode}): {finished.stderr.strip()}")
    return time.perf_counter() - start


def cold_start_lines(repeats: int = 5) -> list[str]:
    cli = Path(sys.executable).with_name("nlp-lstm")
    config = ROOT / "pipelines" / "ner_bilstm_crf.yaml"
    sentences = "Angela Merkel visited Paris on Monday .\nThe United Nations met in New York .\n"
    with tempfile.TemporaryDirectory(prefix="cold-start-") as scratch:
        run(
            [cli, "run", config, "--set", f"output_dir={scratch}/model", "--set", "training.epochs=1"]
            + [f"--set=data.{split}={ROOT}/data/sample/ner/{split}.conll" for split in ("train", "validation", "test")],
            cwd=Path(scratch),  # MLflow's artifacts (./mlruns) go to the scratch folder too
            env={"MLFLOW_TRACKING_URI": f"sqlite:///{scratch}/mlflow.db"},
        )
        model_dir = next(path.parent for path in Path(scratch, "model").rglob("pipeline.json"))
        timings = {}
        for runtime in ("auto", "keras"):
            command = [str(cli), "predict", str(model_dir), "--runtime", runtime]
            timings[runtime] = statistics.median(first_line_seconds(command, sentences) for _ in range(repeats))
        validate = [str(cli), "validate", str(config)]
        validate_seconds = statistics.median(command_seconds(validate) for _ in range(repeats))
    return [
        f"cold start, nlp-lstm predict (sample NER) to its first line: {timings['auto']:.2f} s "
        f"(--runtime keras {timings['keras']:.2f} s; target <= 3 s), median of {repeats}",
        f"cold start, nlp-lstm validate: {validate_seconds:.2f} s (target <= 2 s), median of {repeats}",
    ]


def translator_figures(checkout: Path, data_dir: Path, epochs: int) -> tuple[float, str]:
    """(median target tokens/s, val BLEU at epochs 5 and 10) of `checkout`'s code and translator config."""
    output = run(
        [
            sys.executable,
            BENCHMARKS / "translator_training_speed.py",
            "--data-dir",
            data_dir / "multi30k",
            "--epochs",
            str(epochs),
            "--config",
            checkout / "pipelines" / "translator_multi30k.yaml",
        ],
        env={"NLP_LSTM_CODE": str(checkout)},
    )
    summary = re.search(r"translator training: " + NUMBER + r" target tokens/s \(median epoch\); val BLEU (.*)", output)
    return number(summary.group(1)), summary.group(2).strip()


def translator_lines(data_dir: Path, baseline: Path | None, epochs: int) -> list[str]:
    rate, bleu = translator_figures(ROOT, data_dir, epochs)
    if baseline is None:
        return [f"translator training tokens/s: {rate:,.0f} (no --baseline-checkout to compare with); val BLEU {bleu}"]
    base_rate, base_bleu = translator_figures(baseline.resolve(), data_dir, epochs)
    return [
        f"translator training speed vs baseline: {rate / base_rate:.2f}x ({rate:,.0f} vs {base_rate:,.0f} target "
        f"tokens/s); val BLEU {bleu} (baseline {base_bleu})"
    ]


def fused_lines(data_dir: Path) -> list[str]:
    lines = []
    for backend in ("tensorflow", "jax", "torch"):
        if importlib.util.find_spec(backend) is None:
            continue
        output = run(
            [sys.executable, BENCHMARKS / "rnn_throughput.py", "--data-dir", data_dir],
            env={"KERAS_BACKEND": backend},
        )
        ratios = [
            number(r) for pair in re.findall(r"auto / off\s+" + NUMBER + r"x\s+" + NUMBER + "x", output) for r in pair
        ]
        if ratios:
            lines.append(f"fused auto vs off ({backend}): slowest {min(ratios):.2f}x (target >= 1.00x)")
        else:
            lines.append(f"fused auto vs off ({backend}): no auto/off ratio printed")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, required=True, help="folder with conll2003/, multi30k/, sst2/")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--baseline-checkout", type=Path, default=None, help="checkout whose translator to compare")
    parser.add_argument("--translator-epochs", type=int, default=10)
    args = parser.parse_args(argv)

    results: list[str] = []
    if "ner" in args.only:
        results += ner_lines(args.data_dir)
    if "cold_start" in args.only:
        results += cold_start_lines()
    if "translator" in args.only:
        results += translator_lines(args.data_dir, args.baseline_checkout, args.translator_epochs)
    if "fused" in args.only:
        results += fused_lines(args.data_dir)
    print("\n" + "\n".join(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

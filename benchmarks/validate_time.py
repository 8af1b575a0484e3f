"""How long `nlp-lstm validate` takes for every shipped pipeline, as a user's shell sees it (a new process).

    .venv/bin/python benchmarks/validate_time.py [--data-dir ../shared/data] [--repeats 5]

With `--data-dir` the real-data pipelines validate against the corpora there (their YAML paths, which name
`data/<corpus>/...` of the repository, are moved under it); without it their data paths are pointed at the
sample files (validation reads no data, it only checks that the files exist).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from common import median_seconds

REPO = Path(__file__).resolve().parents[1]
SAMPLE = {
    "sentiment_sst2.yaml": {
        "train": "data/sample/sentiment/train.csv",
        "validation": "data/sample/sentiment/validation.csv",
        "test": "data/sample/sentiment/test.csv",
    },
    "ner_conll2003.yaml": {
        "train": "data/sample/ner/train.conll",
        "validation": "data/sample/ner/validation.conll",
        "test": "data/sample/ner/test.conll",
    },
    "translator_multi30k.yaml": {
        "train": "data/sample/translation/train",
        "validation": "data/sample/translation/validation",
        "test": "data/sample/translation/test",
    },
    "language_model_wikitext2.yaml": {
        split: f"data/sample/language_model/{split}.txt" for split in ("train", "validation", "test")
    },
}


def _data_paths(pipeline: Path, data_dir: Path) -> dict[str, str]:
    """The pipeline's data files with their `../data` prefix (the repository's data folder, from pipelines/)
    replaced by `data_dir`."""
    import yaml

    data = yaml.safe_load(pipeline.read_text(encoding="utf-8")).get("data", {})
    shipped = "../data/"
    return {
        split: str(data_dir / data[split].removeprefix(shipped))
        for split in ("train", "validation", "test")
        if isinstance(data.get(split), str) and data[split].startswith(shipped) and "/sample/" not in data[split]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="the real corpora (default: use sample paths)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    command = [str(Path(sys.executable).with_name("nlp-lstm")), "validate"]
    worst = 0.0
    for path in sorted((REPO / "pipelines").glob("*.yaml")):
        files = _data_paths(path, args.data_dir) if args.data_dir is not None else SAMPLE.get(path.name, {})
        sets = [arg for split, file in files.items() for arg in ("--set", f"data.{split}={file}")]

        def validate(path: Path = path, sets: list[str] = sets) -> None:
            result = subprocess.run(
                [*command, str(path.relative_to(REPO)), *sets], cwd=REPO, capture_output=True, text=True
            )
            if result.returncode != 0:
                raise SystemExit(f"{path.name}: {result.stderr.strip()}")

        seconds = median_seconds(validate, args.repeats)
        worst = max(worst, seconds)
        print(f"{path.name:<28} {seconds:6.2f} s (median of {args.repeats})")
    print(f"nlp-lstm validate, slowest shipped pipeline: {worst:.2f} s")


if __name__ == "__main__":
    main()

"""Parallel text readers: aligned `PREFIX.LANG` files (fairseq/OpenNMT style) or one table of pairs.

Line i of `train.de` is the translation of line i of `train.en`; unequal line counts are an error naming
both files. Errors name the file and the 1-based line, as every reader here does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nlp_lstm.data.readers import read_labelled_texts, read_lines
from nlp_lstm.errors import DataError


@dataclass
class ParallelTexts:
    """Source sentences, their reference translations (None when unknown) and the line of each pair."""

    sources: list[str]
    targets: list[str] | None
    lines: list[int] = field(default_factory=list)
    source: str = ""  # where the pairs came from, for messages

    def __len__(self) -> int:
        return len(self.sources)

    def subset(self, indices: list[int]) -> ParallelTexts:
        return ParallelTexts(
            sources=[self.sources[i] for i in indices],
            targets=None if self.targets is None else [self.targets[i] for i in indices],
            lines=[self.lines[i] for i in indices] if self.lines else [],
            source=self.source,
        )

    def to_frame(self):
        """A pandas DataFrame view, for MLflow's dataset tracking."""
        import pandas as pd

        return pd.DataFrame({"source": self.sources, "target": self.targets})


def read_parallel_files(
    source_path: str | Path, target_path: str | Path | None, encoding: str = "utf-8"
) -> ParallelTexts:
    """Aligned source and target files (the target may be absent, for translation only)."""
    source_path = Path(source_path)
    sources = read_lines(source_path, encoding)
    targets = None
    if target_path is not None:
        target_path = Path(target_path)
        targets = read_lines(target_path, encoding)
        if len(sources) != len(targets):
            raise DataError(
                f"{source_path} has {len(sources)} lines but {target_path} has {len(targets)}: "
                "line i of each file must be a translation pair"
            )
    if not sources:
        raise DataError(f"{source_path}: no sentences found")
    return ParallelTexts(sources, targets, list(range(1, len(sources) + 1)), str(source_path))


def read_parallel_table(
    path: str | Path,
    *,
    format: str,
    source_column: int | str = 0,
    target_column: int | str | None = 1,
    header: bool = False,
    delimiter: str | None = None,
    encoding: str = "utf-8",
) -> ParallelTexts:
    """Pairs from the columns of one TSV/CSV/JSONL file (Tatoeba/Anki exports are headerless TSV)."""
    table = read_labelled_texts(
        path,
        format=format,
        text_column=source_column,
        label_column=target_column,
        header=header,
        delimiter=delimiter,
        encoding=encoding,
        keys=("data.source_column", "data.target_column"),
        label_noun="target sentence",
    )
    return ParallelTexts(table.texts, table.labels, table.lines, table.source)

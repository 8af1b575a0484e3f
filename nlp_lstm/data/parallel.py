"""Parallel text readers: aligned `PREFIX.LANG` files (fairseq/OpenNMT style) or one table of pairs.

Line i of `train.de` is the translation of line i of `train.en`; unequal line counts are an error naming
both files. Errors name the file and the 1-based line, as every reader here does.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp_lstm.data.readers import iter_lines, labelled_text_reader
from nlp_lstm.data.streamed import RowReader
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


Pair = tuple[int, str, str | None]  # line, source sentence, target sentence (None: no target file)


def _assemble(source: str, with_targets: bool):
    def assemble(pairs: list[Pair]) -> ParallelTexts:
        return ParallelTexts(
            sources=[text for _, text, _ in pairs],
            targets=[target for _, _, target in pairs] if with_targets else None,
            lines=[line for line, _, _ in pairs],
            source=source,
        )

    return assemble


def parallel_file_reader(
    source_path: str | Path, target_path: str | Path | None, encoding: str = "utf-8"
) -> RowReader[Pair, ParallelTexts]:
    """Aligned source and target files (the target may be absent, for translation only), a pair at a time."""
    source_path = Path(source_path)
    target_path = None if target_path is None else Path(target_path)

    def rows() -> Iterator[Pair]:
        sources = iter_lines(source_path, encoding)
        targets = None if target_path is None else iter_lines(target_path, encoding)
        count = 0
        for text in sources:
            target = None
            if targets is not None:
                target = next(targets, None)
                if target is None:
                    raise _unaligned(source_path, count + 1 + sum(1 for _ in sources), target_path, count)
            count += 1
            yield count, text, target
        if targets is not None and (extra := sum(1 for _ in targets)):
            raise _unaligned(source_path, count, target_path, count + extra)
        if not count:
            raise DataError(f"{source_path}: no sentences found")

    return RowReader(rows, _assemble(str(source_path), target_path is not None))


def _unaligned(source_path: Path, source_lines: int, target_path: Path | None, target_lines: int) -> DataError:
    return DataError(
        f"{source_path} has {source_lines} lines but {target_path} has {target_lines}: "
        "line i of each file must be a translation pair"
    )


def read_parallel_files(
    source_path: str | Path, target_path: str | Path | None, encoding: str = "utf-8"
) -> ParallelTexts:
    """The whole files `parallel_file_reader` reads."""
    return parallel_file_reader(source_path, target_path, encoding).read()


def parallel_table_reader(
    path: str | Path,
    *,
    format: str,
    source_column: int | str = 0,
    target_column: int | str = 1,
    header: bool = False,
    delimiter: str | None = None,
    encoding: str = "utf-8",
) -> RowReader[Pair, ParallelTexts]:
    """Pairs from the columns of one TSV/CSV/JSONL file (Tatoeba/Anki exports are headerless TSV), a row at
    a time."""
    path = Path(path)
    table = labelled_text_reader(
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
    return RowReader(table.rows, _assemble(str(path), True))


def read_parallel_table(path: str | Path, **settings: Any) -> ParallelTexts:
    """The whole file `parallel_table_reader` reads (same settings)."""
    return parallel_table_reader(path, **settings).read()

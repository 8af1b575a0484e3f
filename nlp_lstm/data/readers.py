"""File readers shared by all pipelines: CSV/TSV/JSONL tables and plain text, `.gz` read transparently.

Every malformed row raises `DataError` naming the file and the 1-based line number.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, TextIO

from nlp_lstm.errors import DataError

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass
class LabelledTexts:
    """Texts with optional labels, and the line each came from (for error messages and reports)."""

    texts: list[str]
    labels: list[str] | None
    lines: list[int] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int]) -> "LabelledTexts":
        return LabelledTexts(
            texts=[self.texts[i] for i in indices],
            labels=None if self.labels is None else [self.labels[i] for i in indices],
            lines=[self.lines[i] for i in indices] if self.lines else [],
            source=self.source,
        )


def open_text(path: str | Path, encoding: str = "utf-8") -> TextIO:
    """Open a text file for reading; a `.gz` suffix is decompressed on the fly."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    try:
        if path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, newline="")
        return open(path, encoding=encoding, newline="")
    except LookupError:
        raise DataError(f"{path}: unknown encoding {encoding!r}") from None


def decoding_error(path: str | Path, encoding: str, exc: UnicodeDecodeError) -> DataError:
    """The error for a file that is not in the configured encoding."""
    return DataError(f"{path}: cannot decode as {encoding} ({exc.reason} at byte {exc.start}); set data.encoding")


def detect_format(path: str | Path) -> str:
    """csv, tsv or jsonl from the file name (ignoring a trailing .gz)."""
    name = Path(path).name.lower().removesuffix(".gz")
    for suffix, fmt in ((".csv", "csv"), (".tsv", "tsv"), (".tab", "tsv"), (".jsonl", "jsonl"), (".ndjson", "jsonl")):
        if name.endswith(suffix):
            return fmt
    raise DataError(f"{path}: cannot tell the format from the file name; set data.format to csv, tsv or jsonl")


def _column_index(header: list[str] | None, column: int | str, path: Path, what: str) -> int:
    if isinstance(column, int):
        return column
    if header is None:
        if column.isdigit():
            return int(column)
        raise DataError(f"{path}: {what} {column!r} is a name but data.header is false; give a 0-based index")
    try:
        return header.index(column)
    except ValueError:
        raise DataError(f"{path}:1: {what} {column!r} not in the header (columns: {', '.join(header)})") from None


def _iter_rows(handle: TextIO, delimiter: str, quoting: int) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(handle, delimiter=delimiter, quoting=quoting)
    line = 1
    for row in reader:
        yield line, row
        line = reader.line_num + 1


def read_labelled_texts(
    path: str | Path,
    *,
    format: str = "auto",
    text_column: int | str = "text",
    label_column: int | str | None = "label",
    header: bool = True,
    delimiter: str | None = None,
    encoding: str = "utf-8",
    keys: tuple[str, str] = ("data.text_column", "data.label_column"),
    label_noun: str = "label",
) -> LabelledTexts:
    """Read a text column and (unless `label_column` is None) a label column.

    CSV uses standard quoting; TSV is read without quote processing (as GLUE/SST files are written).
    Blank lines are skipped. Empty texts are kept (they are valid inputs); empty labels are errors.
    `keys` (the config keys of the two columns) and `label_noun` word the error messages.
    """
    path = Path(path)
    fmt = detect_format(path) if format == "auto" else format
    texts: list[str] = []
    labels: list[str] | None = None if label_column is None else []
    lines: list[int] = []
    try:
        with open_text(path, encoding) as handle:
            if fmt == "jsonl":
                _read_jsonl(handle, path, text_column, label_column, texts, labels, lines, label_noun)
            else:
                sep = delimiter or ("\t" if fmt == "tsv" else ",")
                quoting = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL
                _read_delimited(handle, path, sep, quoting, header, (text_column, label_column), keys, label_noun,
                                texts, labels, lines)
    except UnicodeDecodeError as exc:
        raise decoding_error(path, encoding, exc) from None
    except csv.Error as exc:
        raise DataError(f"{path}: malformed {fmt.upper()} ({exc})") from None
    if not texts:
        raise DataError(f"{path}: no data rows found")
    return LabelledTexts(texts, labels, lines, str(path))


def _read_delimited(handle, path, sep, quoting, header, columns, keys, label_noun, texts, labels, lines) -> None:
    text_column, label_column = columns
    rows = _iter_rows(handle, sep, quoting)
    names = None
    if header:
        first = next(rows, None)
        if first is None:
            raise DataError(f"{path}: file is empty")
        names = [name.strip() for name in first[1]]
    text_idx = _column_index(names, text_column, path, keys[0])
    label_idx = None if label_column is None else _column_index(names, label_column, path, keys[1])
    needed = max(text_idx, label_idx if label_idx is not None else -1) + 1
    for line, row in rows:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) < needed:
            raise DataError(
                f"{path}:{line}: expected at least {needed} columns separated by {sep!r}, found {len(row)}"
            )
        texts.append(row[text_idx])
        lines.append(line)
        if label_idx is not None:
            label = row[label_idx].strip()
            if not label:
                raise DataError(f"{path}:{line}: empty {label_noun} in column {label_column!r}")
            labels.append(label)


def _read_jsonl(handle, path, text_column, label_column, texts, labels, lines, label_noun) -> None:
    for line, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{line}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{line}: expected a JSON object per line, got {type(record).__name__}")
        for key in (text_column, label_column):
            if key is not None and str(key) not in record:
                raise DataError(f"{path}:{line}: key {str(key)!r} missing (keys: {', '.join(record)})")
        text = record[str(text_column)]
        if not isinstance(text, str):
            raise DataError(f"{path}:{line}: {text_column!r} must be a string, got {type(text).__name__}")
        texts.append(text)
        lines.append(line)
        if label_column is not None:
            label = record[str(label_column)]
            if label is None or str(label).strip() == "":
                raise DataError(f"{path}:{line}: empty {label_noun} in key {label_column!r}")
            labels.append(str(label).strip())


def read_lines(source: str | Path | TextIO, encoding: str = "utf-8") -> list[str]:
    """One text per line (newline stripped), from a path or an open stream such as stdin.

    Iterating splits only at \\n, \\r\\n and \\r, never inside a text at U+2028 and the like.
    """
    if isinstance(source, (str, Path)):
        try:
            with open_text(source, encoding) as handle:
                return [line.rstrip("\r\n") for line in handle]
        except UnicodeDecodeError as exc:
            raise decoding_error(source, encoding, exc) from None
    return [line.rstrip("\r\n") for line in source]

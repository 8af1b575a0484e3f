"""File readers shared by all pipelines: CSV/TSV/JSONL tables and plain text, `.gz` read transparently.

Every malformed row raises `DataError` naming the file and the 1-based line number.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
import re
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from nlp_lstm.data.streamed import RowReader
from nlp_lstm.errors import DataError

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
_LINE_END = re.compile("\r\n|\r|\n")  # what text-mode iteration splits at (not U+2028 and the like)


@dataclass
class LabelledTexts:
    """Texts with optional labels, and the line each came from (for error messages and reports)."""

    texts: list[str]
    labels: list[str] | None
    lines: list[int] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int]) -> LabelledTexts:
        return LabelledTexts(
            texts=[self.texts[i] for i in indices],
            labels=None if self.labels is None else [self.labels[i] for i in indices],
            lines=[self.lines[i] for i in indices] if self.lines else [],
            source=self.source,
        )

    def to_frame(self):
        """A pandas DataFrame view, for MLflow's dataset tracking."""
        import pandas as pd

        return pd.DataFrame({"text": self.texts, "label": self.labels})


def _text_encoding(encoding: str) -> str:
    """UTF-8 is read as `utf-8-sig`, so a byte-order mark (Excel and Notepad write one) is not part of the
    first header name, token or text."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return encoding  # reported by open_text
    return "utf-8-sig" if name == "utf-8" else encoding


def open_text(path: str | Path, encoding: str = "utf-8") -> TextIO:
    """Open a text file for reading; a `.gz` suffix is decompressed on the fly, a UTF-8 BOM is dropped."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a file")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(f"{path}: unknown encoding {encoding!r}") from None
    try:
        if path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding=_text_encoding(encoding), newline="")
        return open(path, encoding=_text_encoding(encoding), newline="")
    except OSError as exc:
        raise DataError(f"{path}: cannot open ({exc.strerror or exc})") from None


@contextmanager
def reading(path: str | Path, encoding: str = "utf-8") -> Iterator[TextIO]:
    """`open_text`, turning what can go wrong while reading (bytes not in `encoding`, a damaged .gz) into a
    `DataError` that names the file and, for undecodable bytes, the line."""
    path = Path(path)
    with open_text(path, encoding) as handle:
        try:
            yield handle
        except UnicodeDecodeError as exc:
            raise decoding_error(path, encoding, exc) from None
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: not a readable gzip file ({exc or type(exc).__name__})") from None


def decoding_error(path: str | Path, encoding: str, exc: UnicodeDecodeError) -> DataError:
    """The error for a file that is not in the configured encoding, naming the first line that is not."""
    line = _first_undecodable_line(Path(path), encoding)
    where = f"{path}:{line}" if line else str(path)
    return DataError(f"{where}: cannot decode as {encoding} ({exc.reason}); set data.encoding")


def _first_undecodable_line(path: Path, encoding: str) -> int | None:
    """1-based line of the first bytes that `encoding` cannot decode (the decoder only knows a chunk offset)."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError, zlib.error):
        return None
    try:  # with the BOM kept (as a character), so the offset counts from the file's first byte
        data.decode(encoding)
    except UnicodeDecodeError as exc:
        decodable = data[: exc.start].decode(encoding, errors="replace")
        return decodable.count("\n") + 1
    return None


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


def iter_rows(handle: TextIO, path: Path, delimiter: str, quoting: int) -> Iterator[tuple[int, int, list[str]]]:
    """(first line, last line, fields) per row. Strict quoting: a quote that is never closed, or text after
    a closing quote, is an error naming the line where the quoted field opened, not a silent merge of the
    lines that follow into one field."""
    reader = csv.reader(handle, delimiter=delimiter, quoting=quoting, strict=True)
    first = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _quoting_error(path, first, reader.line_num, str(exc)) from None
        yield first, reader.line_num, row
        first = reader.line_num + 1


def _quoting_error(path: Path, first: int, last: int, problem: str) -> DataError:
    if "unexpected end of data" in problem:
        return DataError(
            f"{path}:{first}: a quoted field opened on this line is never closed "
            f"(read to the end of the file, line {last})"
        )
    if last > first:
        return DataError(
            f"{path}:{first}: a quoted field opened on this line runs to line {last} and is "
            f"malformed there ({problem}); is a quote left unclosed?"
        )
    return DataError(f"{path}:{first}: malformed quoting ({problem})")


def labelled_text_reader(
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
) -> RowReader[tuple[int, str, str | None], LabelledTexts]:
    """A text column and (unless `label_column` is None) a label column, read a row at a time.

    CSV uses standard quoting (a quoted field may hold newlines); TSV is read without quote processing (as
    GLUE/SST files are written). Every row must have as many columns as the header (or, without one, the
    first row). Blank lines are skipped. Empty texts are kept (they are valid inputs); empty labels are
    errors. `keys` (the config keys of the two columns) and `label_noun` word the error messages.
    """
    path = Path(path)
    fmt = detect_format(path) if format == "auto" else format

    def rows() -> Iterator[tuple[int, str, str | None]]:
        found = False
        with reading(path, encoding) as handle:
            if fmt == "jsonl":
                table = _jsonl_rows(handle, path, text_column, label_column, label_noun)
            else:
                sep = delimiter or ("\t" if fmt == "tsv" else ",")
                quoting = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL
                table = _delimited_rows(
                    handle, path, sep, quoting, header, (text_column, label_column), keys, label_noun
                )
            for row in table:
                found = True
                yield row
        if not found:
            raise DataError(f"{path}: no data rows found")

    def assemble(rows: list[tuple[int, str, str | None]]) -> LabelledTexts:
        return LabelledTexts(
            texts=[text for _, text, _ in rows],
            labels=None if label_column is None else [label for _, _, label in rows],
            lines=[line for line, _, _ in rows],
            source=str(path),
        )

    return RowReader(rows, assemble)


def read_labelled_texts(path: str | Path, **settings: Any) -> LabelledTexts:
    """The whole file `labelled_text_reader` reads (same settings)."""
    return labelled_text_reader(path, **settings).read()


def _delimited_rows(handle, path, sep, quoting, header, columns, keys, label_noun) -> Iterator[tuple]:
    text_column, label_column = columns
    rows = (row for row in iter_rows(handle, path, sep, quoting) if not _blank(row[2]))
    names = None
    expected = None  # columns per row: the header's, else the first row's
    if header:
        first = next(rows, None)
        if first is None:
            raise DataError(f"{path}: file is empty")
        names = [name.strip() for name in first[2]]
        expected = len(names)
    text_idx = _column_index(names, text_column, path, keys[0])
    label_idx = None if label_column is None else _column_index(names, label_column, path, keys[1])
    needed = max(text_idx, label_idx if label_idx is not None else -1) + 1
    for line, last, row in rows:
        if expected is None:
            expected = len(row)
        if len(row) != expected or len(row) < needed:
            if last > line:
                raise DataError(
                    f"{path}:{line}: a quoted field opened on this line runs to line {last}, and the row it ends "
                    f"has {len(row)} columns instead of {expected}; is a quote left unclosed?"
                )
            if len(row) < needed:
                raise DataError(
                    f"{path}:{line}: expected at least {needed} columns separated by {sep!r}, found {len(row)}"
                )
            like = "the header" if names is not None else "the first row"
            hint = " (quote a field that contains it)" if quoting != csv.QUOTE_NONE and len(row) > expected else ""
            raise DataError(
                f"{path}:{line}: expected {expected} columns separated by {sep!r} like {like}, found {len(row)}{hint}"
            )
        label = None
        if label_idx is not None:
            label = row[label_idx].strip()
            if not label:
                raise DataError(f"{path}:{line}: empty {label_noun} in column {label_column!r}")
        yield line, row[text_idx], label


def _blank(row: list[str]) -> bool:
    return not row or (len(row) == 1 and not row[0].strip())


def json_records(handle: TextIO, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, object) for each non-blank line of a JSONL file; a line that is not a JSON object is an error
    naming it."""
    for line, raw in enumerate(handle, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{line}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        except RecursionError:
            raise DataError(f"{path}:{line}: invalid JSON (nested too deeply)") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{line}: expected a JSON object per line, got {type(record).__name__}")
        yield line, record


def _jsonl_rows(handle, path, text_column, label_column, label_noun) -> Iterator[tuple]:
    for line, record in json_records(handle, path):
        for key in (text_column, label_column):
            if key is not None and str(key) not in record:
                raise DataError(f"{path}:{line}: key {str(key)!r} missing (keys: {', '.join(record)})")
        text = record[str(text_column)]
        if not isinstance(text, str):
            raise DataError(f"{path}:{line}: {text_column!r} must be a string, got {type(text).__name__}")
        label = None
        if label_column is not None:
            value = record[str(label_column)]
            if isinstance(value, (dict, list)):
                raise DataError(
                    f"{path}:{line}: {label_noun} in key {label_column!r} must be a string or a number, "
                    f"got {type(value).__name__}"
                )
            if value is None or str(value).strip() == "":
                raise DataError(f"{path}:{line}: empty {label_noun} in key {label_column!r}")
            label = str(value).strip()
        yield line, text, label


def iter_lines(source: str | Path, encoding: str = "utf-8") -> Iterator[str]:
    """The lines of a file, newline stripped, read as they are needed (`.gz` too).

    Lines end at \\n, \\r\\n and \\r, never inside a text at U+2028 and the like.
    """
    with reading(source, encoding) as handle:
        for line in handle:
            yield line.rstrip("\r\n")


def read_lines(source: str | Path | BinaryIO | TextIO, encoding: str = "utf-8", name: str = "<stdin>") -> list[str]:
    """One text per line (newline stripped), from a path or an open stream such as stdin.

    A binary stream is decoded line by line, so undecodable input is an error naming its line; a leading
    UTF-8 BOM is dropped either way.
    """
    if isinstance(source, (str, Path)):
        return list(iter_lines(source, encoding))
    buffer = getattr(source, "buffer", None)
    if buffer is not None or not isinstance(source, io.TextIOBase):
        return _decode_lines(buffer if buffer is not None else source, encoding, name)
    lines = [line.rstrip("\r\n") for line in source]
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    return lines


def _decode_lines(stream: BinaryIO, encoding: str, name: str) -> list[str]:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DataError(f"{name}: unknown encoding {encoding!r}") from None
    decode = codecs.getincrementaldecoder(_text_encoding(encoding))().decode
    text: list[str] = []
    for number, raw in enumerate(stream, start=1):
        try:
            text.append(decode(raw))
        except UnicodeDecodeError as exc:
            raise DataError(f"{name}:{number}: cannot decode as {encoding} ({exc.reason}); set --encoding") from None
    try:
        text.append(decode(b"", final=True))
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}:{len(text)}: cannot decode as {encoding} ({exc.reason}); set --encoding") from None
    joined = "".join(text)
    lines = _LINE_END.split(joined)
    return lines[:-1] if lines[-1] == "" else lines

"""Splits read from their file one example at a time, again at every pass, so that a corpus is never held
whole: only its example count stays in memory. Plain Python: no Keras, no NumPy."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Generic, TypeVar

from nlp_lstm.errors import DataError

Row = TypeVar("Row")
Dataset = TypeVar("Dataset")
Item = TypeVar("Item")

# Examples read, tokenized or encoded at once when a corpus is prepared (then counted, or packed into arrays):
# enough to keep the tokenizer's batches full, few enough that their Python objects stay small beside the corpus.
SLICE_EXAMPLES = 4096


def chunked(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    """Consecutive lists of `size` items (the last one shorter), read from `items` as they are needed."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def anywhere(before: Any, after: Any) -> bool:
    """A slice may end between any two rows."""
    return True


@dataclass(frozen=True)
class RowReader(Generic[Row, Dataset]):
    """How a reader gives a file's examples one at a time (`rows`, a new pass over the file at each call,
    every malformed row a `DataError` naming the file and line) and puts a run of them together as the
    task's dataset (`assemble`).

    Args:
        rows: a new iterator over the file's rows.
        assemble: rows -> the dataset holding them.
        may_cut: whether a slice may end between two consecutive rows (NER packs the sentences of a
            document together, so its slices end between documents).
    """

    rows: Callable[[], Iterator[Row]]
    assemble: Callable[[list[Row]], Dataset]
    may_cut: Callable[[Row, Row], bool] = anywhere

    def read(self) -> Dataset:
        """The whole file as one dataset."""
        return self.assemble(list(self.rows()))

    def slices(self, size: int) -> Iterator[Dataset]:
        """Datasets of consecutive rows, each of at least `size` rows (up to the next place `may_cut` allows)
        but the last, read from the file as they are needed."""
        chunk: list[Row] = []
        for row in self.rows():
            if len(chunk) >= size and self.may_cut(chunk[-1], row):
                yield self.assemble(chunk)
                chunk = []
            chunk.append(row)
        if chunk:
            yield self.assemble(chunk)


@dataclass
class StreamedSplit(Generic[Dataset]):
    """A split whose examples are read from its files whenever they are needed, a slice at a time (fitting
    counts over them, then encoding them), instead of being held as lists for the whole run.

    Args:
        reader: reads the files.
        examples: how many examples they hold (`counted` reads them once to know).
        source: the file, for messages.
        files: each file's size and modification time when it was counted: a pass over a file changed since
            is an error, not a vocabulary of one version beside the examples of another.
    """

    reader: RowReader[Any, Dataset]
    examples: int
    source: str
    files: dict[Path, tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def counted(
        cls, reader: RowReader[Any, Dataset], source: str, files: Iterable[Path] = ()
    ) -> StreamedSplit[Dataset]:
        """A split over `reader`'s `files`, read through once now: its examples are counted and every row is
        checked (a malformed one is an error here, before any work starts)."""
        stamps = {Path(path): _stamp(Path(path)) for path in files}
        return cls(reader, sum(1 for _ in reader.rows()), source, stamps)

    def __len__(self) -> int:
        return self.examples

    def slices(self, size: int) -> Iterator[Dataset]:
        for path, stamp in self.files.items():
            if _stamp(path) != stamp:
                raise DataError(f"{path}: changed while this run was reading it; start the run again")
        return self.reader.slices(size)

    def column(self, name: str) -> Iterable[Any]:
        """The values of one of the datasets' columns (e.g. `texts`), read again at each iteration."""
        return _Column(self, name)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        status = path.stat()
    except OSError:
        return (-1, -1)
    return status.st_size, status.st_mtime_ns


def reiterable(values: Iterable[Item], what: str) -> Iterable[Item]:
    """`values`, which a fit reads more than once: a one-shot iterator would leave the later passes empty."""
    if iter(values) is values:
        raise TypeError(f"{what} is read more than once: pass a list or a streamed split's column, not an iterator")
    return values


@dataclass(frozen=True)
class _Column:
    split: StreamedSplit[Any]
    name: str

    def __iter__(self) -> Iterator[Any]:
        for part in self.split.slices(SLICE_EXAMPLES):
            yield from getattr(part, self.name)


def column_of(data: Any, name: str) -> Iterable[Any]:
    """A dataset's column `name`: its list, or for a `StreamedSplit` the values read from its file."""
    return data.column(name) if isinstance(data, StreamedSplit) else getattr(data, name)

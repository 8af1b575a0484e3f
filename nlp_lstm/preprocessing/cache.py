"""The preprocessing cache: a run's fitted preprocessing and its id-encoded examples, written once as
memory-mapped arrays and reused by every later run over the same files with the same preprocessing settings
(a sweep's trials, a rerun with other model or training settings), so tokenizing and vocabulary fitting are
not redone.

An entry is a folder named by `cache_key`: a digest of the data files (path, size, modification time and a
content hash: `file_fingerprint`) and of every setting that affects preprocessing. It is written under a
temporary name and renamed into place when complete, so a killed run leaves no half entry and two runs
filling the same entry at once both end with one whole entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from nlp_lstm.errors import ModelDirError
from nlp_lstm.files import file_fingerprint, read_json

# Bumped whenever what an entry holds or how examples are encoded changes: older entries are then rebuilt.
CACHE_FORMAT = 1
COMPLETE = "entry.json"


class RaggedArray(Sequence):
    """Variable-length integer sequences stored flat: example i is `values[offsets[i]:offsets[i + 1]]`, or,
    with `inner_offsets` (sequences of sequences, e.g. characters per token), the list of
    `values[inner_offsets[j]:inner_offsets[j + 1]]` for j in `offsets[i]:offsets[i + 1]`.

    Items are views into the (possibly memory-mapped) arrays: reading an example copies nothing.

    Args:
        values: the concatenated ids.
        offsets: (examples + 1,) start of each example in `values` (in `inner_offsets` when nested).
        inner_offsets: (tokens + 1,) start of each inner sequence in `values`, or None.
    """

    def __init__(self, values: np.ndarray, offsets: np.ndarray, inner_offsets: np.ndarray | None = None):
        self.values = values
        self.offsets = offsets
        self.inner_offsets = inner_offsets

    @classmethod
    def from_sequences(cls, items: Iterable[Sequence[Any]], nested: bool = False, dtype: str = "int32") -> RaggedArray:
        """Pack per-example sequences (of sequences when `nested`)."""
        items = items if isinstance(items, Sequence) else list(items)
        lengths = np.fromiter((len(item) for item in items), dtype=np.int64, count=len(items))
        inner_offsets = None
        if nested:
            inner_lengths = np.fromiter((len(inner) for item in items for inner in item), dtype=np.int64)
            flat = chain.from_iterable(inner for item in items for inner in item)
            inner_offsets = np.concatenate([[0], np.cumsum(inner_lengths)]).astype(np.int64)
        else:
            flat = chain.from_iterable(items)
        values = np.fromiter(flat, dtype=dtype)
        return cls(values, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), inner_offsets)

    @classmethod
    def concatenate(cls, parts: list[RaggedArray]) -> RaggedArray:
        """The examples of `parts`, one after another (all nested, or none). `parts` is emptied as it is read:
        each part is let go once copied, so that joining a corpus holds it about once, not twice."""
        if not parts:
            raise ValueError("no parts to concatenate")
        writer = _ColumnWriter(parts[0], lambda suffix: _ArrayChunks())
        parts.reverse()
        while parts:
            writer.append(parts.pop())
        return writer.close()

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int):  # type: ignore[override]
        if isinstance(index, slice):
            raise TypeError("RaggedArray takes one example index at a time")
        if not -len(self) <= index < len(self):
            raise IndexError(f"example {index} of {len(self)}")
        index %= len(self)
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        if self.inner_offsets is None:
            return self.values[start:end]
        bounds = self.inner_offsets[start : end + 1]
        return [self.values[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    @property
    def lengths(self) -> np.ndarray:
        """Each example's length (tokens), without reading the examples."""
        return np.diff(self.offsets)

    def save(self, directory: Path, name: str) -> None:
        np.save(directory / f"{name}.values.npy", self.values)
        np.save(directory / f"{name}.offsets.npy", self.offsets)
        if self.inner_offsets is not None:
            np.save(directory / f"{name}.inner_offsets.npy", self.inner_offsets)

    @classmethod
    def load(cls, directory: Path, name: str) -> RaggedArray:
        """Memory-mapped: examples are read from the file as batches ask for them."""
        inner = directory / f"{name}.inner_offsets.npy"
        return cls(
            np.load(directory / f"{name}.values.npy", mmap_mode="r"),
            np.load(directory / f"{name}.offsets.npy", mmap_mode="r"),
            np.load(inner, mmap_mode="r") if inner.exists() else None,
        )


def _is_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim > 0)


def as_column(values: Sequence[Any]) -> RaggedArray | np.ndarray:
    """Per-example values as stored: scalars (class ids) as an array, sequences (of sequences) packed."""
    if isinstance(values, (RaggedArray, np.ndarray)):
        return values
    if not len(values) or not _is_sequence(values[0]):
        return np.asarray(values, dtype="int32")
    first = next((v for v in values if len(v)), None)
    nested = first is not None and _is_sequence(first[0])
    column = RaggedArray.from_sequences(values, nested=nested)
    if nested and column.values.size and column.values.max() < 2**16:
        # characters per token: the largest column, and its ids (a character vocabulary) fit in 16 bits
        column.values = column.values.astype(np.uint16)
    return column


@dataclass
class EncodedExamples:
    """A split as the model reads it: named id columns per example, and the targets (None for none).

    Args:
        inputs: field name -> per-example values (lists, or stored columns).
        targets: per-example targets, or None.
    """

    inputs: dict[str, Any]
    targets: Any = None

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    def packed(self) -> EncodedExamples:
        """The same examples with every column stored compactly (`as_column`): a few numpy arrays instead of
        a Python list per example and an int object per id, which is what holds a large corpus's memory."""
        return EncodedExamples(
            {name: as_column(values) for name, values in self.inputs.items()},
            None if self.targets is None else as_column(self.targets),
        )

    @classmethod
    def concatenate(cls, parts: Iterable[EncodedExamples]) -> EncodedExamples:
        """Parts of one split (encoded a slice at a time, so that only one slice is ever held as Python lists)
        as one packed whole, in memory."""
        return cls._joined(parts, lambda name, suffix: _ArrayChunks())

    def columns(self) -> dict[str, Any]:
        """The stored columns by file name: `input.<field>` per input, and `targets`."""
        columns = {f"input.{k}": v for k, v in self.inputs.items()}
        if self.targets is not None:
            columns["targets"] = self.targets
        return columns

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        layout = {}
        for name, values in self.columns().items():
            column = as_column(values)
            if isinstance(column, RaggedArray):
                column.save(directory, name)
                layout[name] = "ragged"
            else:
                np.save(directory / f"{name}.npy", column)
                layout[name] = "array"
        (directory / "examples.json").write_text(json.dumps({"columns": layout}))

    @classmethod
    def write(cls, parts: Iterable[EncodedExamples], directory: Path) -> EncodedExamples:
        """`concatenate` the parts into `directory` as `save` writes them, a part at a time, and read them
        back memory-mapped: the examples of a corpus are never all in memory at once."""
        directory.mkdir(parents=True, exist_ok=True)
        joined = cls._joined(parts, lambda name, suffix: _ArrayFile(directory / f"{name}{suffix}.npy"))
        layout = {name: "ragged" if isinstance(c, RaggedArray) else "array" for name, c in joined.columns().items()}
        (directory / "examples.json").write_text(json.dumps({"columns": layout}))
        return joined

    @classmethod
    def _joined(cls, parts: Iterable[EncodedExamples], sink: Callable[[str, str], _IntegerSink]) -> EncodedExamples:
        """The parts packed and appended column by column to `sink(column name, file suffix)` arrays, each part
        let go once appended."""
        writers: dict[str, _ColumnWriter] | None = None
        empty_layout: dict[str, Any] | None = None  # an empty part's columns, for a split whose parts all are
        seen = False
        for part in parts:
            seen, part = True, part.packed()
            if not len(part):  # its examples all dropped: nothing to add (and no column layout to follow)
                empty_layout = empty_layout or part.columns()
                continue
            columns = part.columns()
            if writers is None:
                writers = {name: _ColumnWriter(column, partial(sink, name)) for name, column in columns.items()}
            for name, column in columns.items():
                writers[name].append(column)
        if not seen:
            raise ValueError("no parts to join: a split is encoded as one part at least, even when empty")
        if writers is None:
            writers = {name: _ColumnWriter(column, partial(sink, name)) for name, column in empty_layout.items()}
        columns = {name: writer.close() for name, writer in writers.items()}
        inputs = {name.removeprefix("input."): v for name, v in columns.items() if name.startswith("input.")}
        return cls(inputs, columns.get("targets"))

    @classmethod
    def load(cls, directory: Path) -> EncodedExamples:
        meta = read_json(directory / "examples.json")
        columns = {
            name: RaggedArray.load(directory, name) if kind == "ragged" else np.load(directory / f"{name}.npy")
            for name, kind in meta["columns"].items()
        }
        inputs = {name.removeprefix("input."): v for name, v in columns.items() if name.startswith("input.")}
        return cls(inputs, columns.get("targets"))


class _IntegerSink:
    """A 1-D integer array built a part at a time. Each part is kept in the narrowest of `DTYPES` that holds
    it; `close` gives the whole in the narrowest that holds every part."""

    DTYPES = tuple(np.dtype(d) for d in ("uint16", "int32", "int64"))

    def __init__(self) -> None:
        self.count = 0
        self.low = self.high = 0

    @staticmethod
    def narrowest(low: int, high: int) -> np.dtype:
        return next(d for d in _IntegerSink.DTYPES if np.iinfo(d).min <= low and high <= np.iinfo(d).max)

    @property
    def dtype(self) -> np.dtype:
        """The narrowest that holds every value appended."""
        return self.narrowest(self.low, self.high)

    def append(self, array: np.ndarray) -> None:
        if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
            raise ValueError(f"a stored column holds 1-D integers, not a {array.ndim}-D {array.dtype} array")
        if not len(array):
            return
        low, high = int(array.min()), int(array.max())
        self.low, self.high = min(self.low, low), max(self.high, high)
        self.count += len(array)
        self._store(np.ascontiguousarray(array, dtype=self.narrowest(low, high)))

    def _store(self, array: np.ndarray) -> None:
        raise NotImplementedError

    def close(self, dtype: np.dtype) -> np.ndarray:
        """The whole array in `dtype` (at least as wide as `self.dtype`)."""
        raise NotImplementedError


class _ArrayChunks(_IntegerSink):
    """An `_IntegerSink` in memory: the parts, joined by `close`."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[np.ndarray] = []

    def _store(self, array: np.ndarray) -> None:
        self.chunks.append(array)

    def close(self, dtype: np.dtype) -> np.ndarray:
        whole = np.empty(self.count, dtype=dtype)
        at = 0
        self.chunks.reverse()
        while self.chunks:  # each part let go once copied
            chunk = self.chunks.pop()
            whole[at : at + len(chunk)] = chunk
            at += len(chunk)
        return whole


class _ArrayFile(_IntegerSink):
    """An `_IntegerSink` written to `path` (.npy): the parts go to a raw file as they come, and `close` copies
    them under an .npy header, then maps the file."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.raw_path = path.with_name(path.name + ".part")
        self.handle = open(self.raw_path, "wb")
        self.segments: list[tuple[np.dtype, int]] = []  # consecutive parts' dtype and length in the raw file

    def _store(self, array: np.ndarray) -> None:
        self.handle.write(array.tobytes())
        if self.segments and self.segments[-1][0] == array.dtype:
            self.segments[-1] = (array.dtype, self.segments[-1][1] + len(array))
        else:
            self.segments.append((array.dtype, len(array)))

    def close(self, dtype: np.dtype) -> np.ndarray:
        self.handle.close()
        header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": (self.count,)}
        # Copied with reads and writes, not memory maps, whose pages would count as this process's memory.
        with open(self.raw_path, "rb") as raw, open(self.path, "wb") as target:
            np.lib.format.write_array_header_1_0(target, header)
            for segment_dtype, length in self.segments:
                while length:
                    count = min(length, 2**22)
                    chunk = raw.read(count * segment_dtype.itemsize)
                    target.write(np.frombuffer(chunk, dtype=segment_dtype).astype(dtype).tobytes())
                    length -= count
        self.raw_path.unlink()
        return np.load(self.path, mmap_mode="r")


class _ColumnWriter:
    """One column of joined examples, built a part at a time into `sink(file suffix)` arrays: a plain array
    (one value per example), or a `RaggedArray` whose offsets continue from part to part. Ids are stored in
    32 bits (characters in 16 while they fit), offsets in 32 bits while they fit.

    Args:
        first: the first part, for the column's layout.
        sink: makes the `_IntegerSink` for the file suffix ("" for an array; ".values", ".offsets",
            ".inner_offsets" for a `RaggedArray`'s).
    """

    def __init__(self, first: RaggedArray | np.ndarray, sink: Callable[[str], _IntegerSink]):
        self.ragged = isinstance(first, RaggedArray)
        self.nested = self.ragged and first.inner_offsets is not None
        self.values = sink(".values" if self.ragged else "")
        self.offsets = self.inner = None
        if self.ragged:
            self.offsets = sink(".offsets")
            self.offsets.append(np.zeros(1, dtype=np.int64))
        if self.nested:
            self.inner = sink(".inner_offsets")
            self.inner.append(np.zeros(1, dtype=np.int64))
        self.tokens = 0  # inner sequences so far: what a nested column's offsets count

    def append(self, column: RaggedArray | np.ndarray) -> None:
        ragged = isinstance(column, RaggedArray)
        if ragged != self.ragged or (ragged and (column.inner_offsets is not None) != self.nested):
            raise ValueError("cannot join parts whose columns differ in layout (nested, flat or one value each)")
        if not ragged:
            self.values.append(np.asarray(column))
            return
        # each part's offsets start at 0: they continue from the end of the previous part
        base = self.tokens if self.nested else self.values.count
        self.offsets.append(np.asarray(column.offsets[1:], dtype=np.int64) + base)
        if self.nested:
            self.tokens += int(column.offsets[-1])
            self.inner.append(np.asarray(column.inner_offsets[1:], dtype=np.int64) + self.values.count)
        self.values.append(column.values)

    def close(self) -> RaggedArray | np.ndarray:
        """The whole column."""
        at_least_32 = np.dtype("int32")
        # character ids (nested) stay in 16 bits when they fit; other ids and offsets take 32 bits at least
        values = self.values.close(
            self.values.dtype if self.nested else np.promote_types(self.values.dtype, at_least_32)
        )
        if not self.ragged:
            return values
        index = np.result_type(at_least_32, self.offsets.dtype, *(() if self.inner is None else (self.inner.dtype,)))
        return RaggedArray(values, self.offsets.close(index), None if self.inner is None else self.inner.close(index))


def source_digest(files: Iterable[Path]) -> str:
    """A digest of source files (the code that fits and encodes: a changed encoder makes new entries)."""
    digest = hashlib.sha256()
    for path in sorted(Path(f) for f in files):
        digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def cache_key(
    files: Sequence[Path], settings: Mapping[str, Any], fingerprints: Sequence[Mapping[str, Any]] | None = None
) -> str:
    """A digest of the files (path, size, modification time, content hash: of a sample of a file over 256 MiB)
    and the settings. `fingerprints`: the files' `file_fingerprint`s, when already taken."""
    described = []
    for path, fingerprint in zip(files, fingerprints or [file_fingerprint(path) for path in files], strict=True):
        described.append({**fingerprint, "mtime_ns": Path(path).stat().st_mtime_ns})
    text = json.dumps({"format": CACHE_FORMAT, "files": described, "settings": settings}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


class PreprocessingCache:
    """Entries under `root`, one folder per `cache_key`."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def find(self, key: str) -> Path | None:
        """The complete entry for `key`, or None (also when the cache folder cannot be read)."""
        entry = self.root / key
        try:
            return entry if (entry / COMPLETE).exists() else None
        except OSError:
            return None

    def description(self, key: str) -> dict[str, Any] | None:
        """What the complete entry for `key` says of itself (`store`'s description), or None."""
        entry = self.find(key)
        try:
            return read_json(entry / COMPLETE) if entry is not None else None
        except (OSError, ValueError, ModelDirError):
            return None

    def store(self, key: str, write: Callable[[Path], None], description: Mapping[str, Any]) -> Path:
        """Write the entry for `key` with `write(folder)`, flush it to disk, then put it in place (another
        process's entry for the same key, if it finished first, is kept)."""
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
        try:
            write(temporary)
            (temporary / COMPLETE).write_text(json.dumps({"format": CACHE_FORMAT, **description}, default=str))
            _flush(temporary)  # a crash after the rename must not leave a marked entry with empty arrays
            try:
                os.rename(temporary, self.root / key)
            except OSError:  # the same entry appeared meanwhile, or an incomplete one is in the way
                if self.find(key) is None:
                    self.discard(key)
                    os.rename(temporary, self.root / key)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
        return self.root / key

    def discard(self, key: str) -> None:
        """Remove the entry for `key` (an unreadable one): first renamed aside, so that no other process
        removes an entry written meanwhile under the key (processes reading the old one keep their files)."""
        aside = self.root / f".discarded-{key}-{uuid.uuid4().hex}"
        try:
            os.rename(self.root / key, aside)
        except OSError:
            return
        shutil.rmtree(aside, ignore_errors=True)


def _flush(folder: Path) -> None:
    """fsync every file under `folder` and the folders themselves, and give them the umask's permissions
    (mkdtemp makes the folder private; the cache may be shared)."""
    mask = os.umask(0)
    os.umask(mask)
    for directory, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(directory, name), "rb") as handle:
                os.fsync(handle.fileno())
        os.chmod(directory, 0o777 & ~mask)
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

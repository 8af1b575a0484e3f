"""Writing files so that a crash or `kill -9` at any moment leaves either the old file or the new one, and
creating run folders that concurrent runs never share. Plain Python: no Keras, no MLflow."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nlp_lstm.errors import ModelDirError, StorageError

# The two files of a saved pipeline folder that validating a config may read (`model_dir` owns the folder).
MANIFEST = "pipeline.json"
CONFIG = "config.yaml"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def atomic_path(path: str | Path, suffix: str = "", needed: int | None = None) -> Iterator[Path]:
    """A temporary path beside `path` to write to; it replaces `path` (one `rename`) only if the block ends
    without an exception. `suffix` ends the temporary name (Keras requires `.weights.h5` for weights). With
    `needed` (bytes), a disk with less free space is a `StorageError` before anything is written: some writers
    (HDF5's) do not survive a full disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if needed is not None:
        ensure_space(path, needed)
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(handle)
    temporary = Path(name)
    os.chmod(temporary, 0o666 & ~_UMASK)  # mkstemp makes it private; the file gets the usual permissions
    try:
        yield temporary
        _fsync(temporary)
        os.replace(temporary, path)
        _fsync_directory(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


_SPACE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_WRITE_ERRORS = _SPACE_ERRORS | {errno.EROFS, errno.EACCES, errno.EPERM}


def free_bytes(path: str | Path) -> int | None:
    """Free space on the disk `path` is (or would be) on; None when it cannot be told."""
    path = Path(path).absolute()
    for candidate in (path, *path.parents):
        if candidate.exists():
            try:
                return shutil.disk_usage(candidate).free
            except OSError:
                return None
    return None


def _megabytes(count: int) -> str:
    return f"{count / 2**20:,.1f} MB"


def ensure_space(path: str | Path, needed: int) -> None:
    """A `StorageError` naming `path` when its disk has less than `needed` bytes free."""
    free = free_bytes(path)
    if free is not None and free < needed:
        raise StorageError(
            f"{path}: cannot write: about {_megabytes(needed)} needed, {_megabytes(free)} free on its disk"
        )


def storage_error(exc: BaseException) -> StorageError | None:
    """The one-line `StorageError` for a failed write (a full disk, a read-only or foreign folder), naming
    the file and the free space; None for any other error."""
    if isinstance(exc, StorageError):
        return exc
    message = str(exc)
    full = "No space left on device" in message or "database or disk is full" in message
    if isinstance(exc, OSError) and exc.errno in _WRITE_ERRORS:
        full = exc.errno in _SPACE_ERRORS
    elif not full:
        return None
    path = getattr(exc, "filename", None) or "a file of the run"
    reason = getattr(exc, "strerror", None) or ("No space left on device" if full else type(exc).__name__)
    free = free_bytes(path) if path != "a file of the run" else None
    space = f"; {_megabytes(free)} free on its disk" if free is not None and full else ""
    return StorageError(f"{path}: cannot write: {reason}{space}", full=full)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def remove_temporaries(directory: str | Path) -> None:
    """Delete what an interrupted `atomic_path` left behind in `directory`."""
    for leftover in Path(directory).glob(".*.tmp*"):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:  # not possible on every platform (Windows)
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def create_unique_directory(parent: str | Path, name: str) -> Path:
    """Create `parent/name`, or `name-2`, `name-3`... if taken: each creation is one exclusive `mkdir`, so
    any number of processes starting at once get distinct folders."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 10_000):
        candidate = parent / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"{parent}: no free folder name for {name!r}")


def file_fingerprint(path: str | Path, full_hash_limit: int = 256 * 2**20) -> dict[str, object]:
    """Size and SHA-256 of a file's content (of its first, middle and last MiB when larger than
    `full_hash_limit`), to tell whether the data a run started on has changed."""
    path = Path(path)
    size = path.stat().st_size
    if size <= full_hash_limit:
        return {"path": str(path.resolve()), "size": size, "sha256": file_sha256(path)}
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for offset in (0, size // 2, size - 2**20):
            handle.seek(offset)
            digest.update(handle.read(2**20))
    return {"path": str(path.resolve()), "size": size, "sha256": digest.hexdigest()}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a whole file, read a MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def exclusive_lock(path: str | Path, wait: bool = True) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (created if missing) for the block. Other processes wait
    for it, or with `wait=False` this raises `BlockingIOError` when another holds it. The kernel drops the
    lock with its process, so a `kill -9` never leaves it held. Without `fcntl` (Windows) the block runs
    unlocked."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# Larger than any text file a pipeline saves (a vocabulary of millions of words is tens of MB): a bigger one is
# damage or a substitution, refused before it is read into memory.
MAX_SAVED_TEXT_BYTES = 1 << 30


def read_saved_text(path: str | Path) -> str:
    """A text file saved with a model; a missing, oversized, unreadable or undecodable one is a `ModelDirError`
    naming it."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_SAVED_TEXT_BYTES:
            raise ModelDirError(f"{path}: {size:,} bytes, larger than any file a pipeline saves; the folder is damaged")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelDirError(f"{path}: missing; the folder is incomplete") from None
    except UnicodeDecodeError as exc:
        raise ModelDirError(f"{path}: not UTF-8 text (byte {exc.start}); the folder is damaged") from None
    except OSError as exc:
        raise ModelDirError(f"{path}: unreadable ({exc.strerror or exc})") from None


def read_json(path: str | Path) -> Any:
    """A JSON file saved with a model; a missing, unreadable or invalid one is a `ModelDirError` naming it."""
    try:
        return json.loads(read_saved_text(path))
    except json.JSONDecodeError as exc:
        raise ModelDirError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); the folder is damaged") from None
    except RecursionError:
        raise ModelDirError(f"{path}: not valid JSON (nested too deeply); the folder is damaged") from None

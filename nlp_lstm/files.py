"""Writing files so that a crash or `kill -9` at any moment leaves either the old file or the new one, and
creating run folders that concurrent runs never share. Plain Python: no Keras, no MLflow."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nlp_lstm.errors import ModelDirError

# The two files of a saved pipeline folder that validating a config may read (`model_dir` owns the folder).
MANIFEST = "pipeline.json"
CONFIG = "config.yaml"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def atomic_path(path: str | Path, suffix: str = "") -> Iterator[Path]:
    """A temporary path beside `path` to write to; it replaces `path` (one `rename`) only if the block ends
    without an exception. `suffix` ends the temporary name (Keras requires `.weights.h5` for weights)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
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


def read_saved_text(path: str | Path) -> str:
    """A text file saved with a model; a missing or unreadable one is a `ModelDirError` naming it."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelDirError(f"{path}: missing; the folder is incomplete") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{path}: unreadable ({exc})") from None


def read_json(path: str | Path) -> Any:
    """A JSON file saved with a model; a missing, unreadable or invalid one is a `ModelDirError` naming it."""
    try:
        return json.loads(read_saved_text(path))
    except json.JSONDecodeError as exc:
        raise ModelDirError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}); the folder is damaged") from None

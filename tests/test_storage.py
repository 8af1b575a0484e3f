"""A disk that fills up (or a folder that cannot be written) is one line naming the file and the free space,
exit 3, the MLflow run FAILED and the last checkpoint intact; `--resume` on the full disk says the same, and
resumes once there is room."""

from __future__ import annotations

import errno
import re
import subprocess
import uuid
from pathlib import Path

import pytest

from nlp_lstm.errors import StorageError, exit_status
from nlp_lstm.files import atomic_path, ensure_space, storage_error
from tests.conftest import REPO, run_cli


def test_write_errors_become_one_line_naming_the_file_and_the_free_space(tmp_path):
    full = storage_error(OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "model.keras")))
    assert isinstance(full, StorageError) and exit_status(full) == 3
    assert re.fullmatch(
        rf"{re.escape(str(tmp_path / 'model.keras'))}: cannot write: No space left on device; [\d,.]+ MB free on its disk",
        str(full),
    )
    read_only = storage_error(OSError(errno.EROFS, "Read-only file system", "/mnt/x"))
    assert str(read_only).startswith("/mnt/x: cannot write: Read-only file system")
    sqlite = storage_error(Exception("(sqlite3.OperationalError) database or disk is full"))
    assert str(sqlite).startswith("a file of the run: cannot write: No space left on device")
    assert storage_error(ValueError("a bug")) is None
    assert storage_error(OSError(errno.ENOENT, "No such file", "x")) is None


def test_too_little_room_is_found_before_anything_is_written(tmp_path):
    target = tmp_path / "best.weights.h5"
    target.write_text("the previous checkpoint")
    with pytest.raises(StorageError, match=r"best\.weights\.h5: cannot write: about .* needed, .* free on its disk"):
        with atomic_path(target, needed=1 << 62):
            raise AssertionError("nothing may be written")
    assert target.read_text() == "the previous checkpoint"
    assert [p.name for p in tmp_path.iterdir()] == ["best.weights.h5"]  # no temporary left
    ensure_space(tmp_path, 1)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MB tmpfs: smaller than the sample model's checkpoints (skipped where mounting is not allowed)."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {made.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_stops_the_run_in_one_line_and_it_resumes_once_there_is_room(tiny_disk, tmp_path):
    import mlflow

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = run_cli(
        "run",
        str(REPO / "pipelines" / "sentiment.yaml"),
        "--set",
        f"output_dir={tiny_disk / 'out'}",
        "--set",
        f"tracking.uri={store}",
        "--set",
        "training.epochs=2",
        "--set",
        "preprocessing.cache=false",
        cwd=tmp_path,
    )
    assert run.returncode == 3, run.stderr[-2000:]
    (error,) = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in run.stderr and run.stderr.rstrip().endswith(error)
    folder = Path(re.search(r"continue with: nlp-lstm run --resume (\S+)$", error).group(1))
    assert str(tiny_disk) in error and "needed" in error and "free on its disk" in error
    assert (folder / "pipeline.json").is_file() and (folder / "checkpoints" / "best.weights.h5").is_file()
    client = mlflow.MlflowClient(store)
    (failed,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert failed.info.status == "FAILED"

    again = run_cli("run", "--resume", str(folder), cwd=tmp_path)
    assert again.returncode == 3 and "Traceback" not in again.stderr  # never a crash on the full disk
    assert again.stderr.rstrip().splitlines()[-1].startswith(f"error: {folder}")

    subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_disk)], check=True)
    resumed = run_cli("run", "--resume", str(folder), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert client.get_run(failed.info.run_id).info.status == "FINISHED"

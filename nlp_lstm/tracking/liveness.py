"""Which process a run belongs to, and whether that process still exists.

A run killed with SIGKILL (or lost with its machine) cannot end its MLflow run; it stays RUNNING. Each run
records its host, process id, the process's start time and the machine's boot id as tags, so a later
command on the same host can tell a live run from a dead one, even after the process id was reused or
the machine rebooted.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

# Bookkeeping for finding a run's process, not for the user: MLflow's UI lists a run's tags except those under
# `mlflow.`, so these stay out of the way of the tags a user reads.
HOST_TAG = "mlflow.nlp_lstm.host"
PID_TAG = "mlflow.nlp_lstm.pid"
START_TAG = "mlflow.nlp_lstm.process_start"
BOOT_TAG = "mlflow.nlp_lstm.boot_id"
NAMESPACE_TAG = "mlflow.nlp_lstm.pid_namespace"  # containers sharing a host name and boot id number pids apart
# What runs and folders of nlp_lstm 0.1 called them.
_LEGACY = {tag: tag.removeprefix("mlflow.") for tag in (HOST_TAG, PID_TAG, START_TAG, BOOT_TAG, NAMESPACE_TAG)}


def process_of(tags: dict[str, str]) -> dict[str, str]:
    """The process tags of a run (or of a folder's manifest), under today's names whatever version wrote them."""
    return {tag: tags[tag] if tag in tags else tags.get(legacy, "") for tag, legacy in _LEGACY.items()}


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str]:
    """Fields 3 on of /proc/PID/stat (Linux; empty elsewhere). The command name (field 2) may hold spaces
    and parentheses, so fields are counted after its closing one."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return []


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _process_start(pid: int) -> str:
    """Start time of `pid` in clock ticks since boot, '' where unknown."""
    fields = _stat_fields(pid)
    return fields[19] if len(fields) > 19 else ""


def process_tags(pid: int | None = None) -> dict[str, str]:
    pid = os.getpid() if pid is None else pid
    return {
        HOST_TAG: socket.gethostname(),
        PID_TAG: str(pid),
        START_TAG: _process_start(pid),
        BOOT_TAG: _boot_id(),
        NAMESPACE_TAG: _pid_namespace(),
    }


def on_this_host(tags: dict[str, str]) -> bool:
    return process_of(tags)[HOST_TAG] == socket.gethostname()


def process_alive(tags: dict[str, str]) -> bool | None:
    """Whether the process the tags name is still running: None if they name no process this one can see
    (another host, another container's pid namespace)."""
    tags = process_of(tags)
    if not on_this_host(tags) or not tags.get(PID_TAG, "").isdigit():
        return None
    if tags.get(NAMESPACE_TAG, "") != _pid_namespace():
        return None
    if tags.get(BOOT_TAG) and _boot_id() and tags[BOOT_TAG] != _boot_id():
        return False  # the machine rebooted since
    pid = int(tags[PID_TAG])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    fields = _stat_fields(pid)
    if fields and fields[0] == "Z":
        return False  # exited, not yet reaped by its parent
    started, now = tags.get(START_TAG), _process_start(pid)
    return not (started and now and now != started)  # a different start time: the pid was reused

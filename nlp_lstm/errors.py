"""Exceptions for mistakes a user can make; the CLI prints them without a traceback."""

from __future__ import annotations


class NlpLstmError(Exception):
    """Base class for user-facing errors (bad config, bad data, bad model directory)."""


class ConfigError(NlpLstmError):
    """The pipeline configuration is invalid. Holds every problem found, not just the first."""

    def __init__(self, problems: list[str], source: str | None = None):
        self.problems = problems
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"invalid configuration{where} ({len(problems)} problem{'s' if len(problems) != 1 else ''}):"]
        lines += [f"  - {p}" for p in problems]
        super().__init__("\n".join(lines))


class DataError(NlpLstmError):
    """An input data file is missing or malformed; the message names the file and line."""


class Terminated(BaseException):
    """Raised from a SIGTERM handler so a run is closed as KILLED, like Ctrl-C."""


class ModelDirError(NlpLstmError):
    """A saved model directory is missing or incomplete."""


class StorageError(NlpLstmError):
    """A file could not be written: the disk is full, or the folder is read-only or not the user's. The
    message names the path and the free space; what was written before (the last checkpoint) is intact."""

    def __init__(self, message: str, full: bool = True):
        super().__init__(message)
        self.full = full  # whether room is what is missing (else: permissions, a read-only disk)


class UsageError(NlpLstmError):
    """A command asked for something that cannot be done (resume a finished run, a bad option value)."""


class ChiefFailed(NlpLstmError):
    """A worker of a multi_worker run whose chief (worker 0) failed after training: it exits with the chief's
    status."""

    def __init__(self, status: int):
        self.status = status
        super().__init__(f"the chief (worker 0) of this multi_worker run failed with exit status {status}")


EXIT_OK, EXIT_ERROR, EXIT_CONFIG, EXIT_DATA, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 3, 130, 143

EXCERPT = 60  # characters of a user's input an error message quotes at most


def excerpt(value: object, limit: int = EXCERPT) -> str:
    """`repr(value)`, cut to about `limit` characters (with the full length said): an error message names
    what is wrong without echoing a 20 MB line or request back."""
    text = repr(value)
    if len(text) <= limit:
        return text
    length = f"{len(value):,} characters" if isinstance(value, str) else f"{len(text):,} characters as text"
    return f"{text[: limit - 1]}… ({length})"


def exit_status(exc: BaseException | None) -> int:
    """The exit status the CLI gives for `exc` (None: success)."""
    if exc is None:
        return EXIT_OK
    if isinstance(exc, ChiefFailed):
        return exc.status
    if isinstance(exc, (ConfigError, UsageError)):
        return EXIT_CONFIG
    if isinstance(exc, (DataError, ModelDirError, StorageError)):
        return EXIT_DATA
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, Terminated):
        return EXIT_TERMINATED
    return EXIT_ERROR


class InputWarning(UserWarning):
    """Something about the inputs a user should know (texts cut to the maximum length, an unfinished
    model); the CLI prints it as one `warning:` line."""

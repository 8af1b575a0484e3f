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


class UsageError(NlpLstmError):
    """A command asked for something that cannot be done (resume a finished run, a bad option value)."""


class InputWarning(UserWarning):
    """Something about the inputs a user should know (texts cut to the maximum length, an unfinished
    model); the CLI prints it as one `warning:` line."""

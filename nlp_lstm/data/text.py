"""Plain text for language modelling: every line of a file (`.gz` too), blank ones included."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nlp_lstm.data.readers import iter_lines
from nlp_lstm.data.streamed import RowReader
from nlp_lstm.errors import DataError


@dataclass
class TextLines:
    """The lines of a text (newline stripped) and the 1-based line number each came from."""

    texts: list[str]
    lines: list[int] = field(default_factory=list)
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int]) -> TextLines:
        return TextLines(
            texts=[self.texts[i] for i in indices],
            lines=[self.lines[i] for i in indices] if self.lines else [],
            source=self.source,
        )

    @classmethod
    def from_rows(cls, rows: Sequence[tuple[int, str]], source: str) -> TextLines:
        """The lines of (line number, text) rows."""
        return cls([text for _, text in rows], [number for number, _ in rows], source)

    def to_frame(self):
        """A pandas DataFrame view, for MLflow's dataset tracking."""
        import pandas as pd

        return pd.DataFrame({"text": self.texts})


def text_line_reader(path: str | Path, encoding: str = "utf-8") -> RowReader[tuple[int, str], TextLines]:
    """Every line of `path`, one at a time (blank lines too: in running text they separate paragraphs, and
    corpora such as WikiText are scored with them). A file with no text at all is an error."""

    def rows() -> Iterator[tuple[int, str]]:
        text_seen = False
        for number, text in enumerate(iter_lines(path, encoding), start=1):
            text_seen = text_seen or bool(text.strip())
            yield number, text
        if not text_seen:
            raise DataError(f"{path}: no text")

    return RowReader(rows, lambda lines: TextLines.from_rows(lines, str(path)))


def read_text_lines(path: str | Path, encoding: str = "utf-8") -> TextLines:
    """The whole file `text_line_reader` reads."""
    return text_line_reader(path, encoding).read()

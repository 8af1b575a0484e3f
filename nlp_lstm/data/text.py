"""Plain text for language modelling: every line of a file (`.gz` too), blank ones included."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nlp_lstm.data.readers import iter_lines
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

    def to_frame(self):
        """A pandas DataFrame view, for MLflow's dataset tracking."""
        import pandas as pd

        return pd.DataFrame({"text": self.texts})


def read_text_lines(path: str | Path, encoding: str = "utf-8") -> TextLines:
    """Every line of `path` (blank lines too: in running text they separate paragraphs, and corpora such as
    WikiText are scored with them). A file with no text at all is an error."""
    texts = list(iter_lines(path, encoding))
    if not any(text.strip() for text in texts):
        raise DataError(f"{path}: no text")
    return TextLines(texts, list(range(1, len(texts) + 1)), str(path))

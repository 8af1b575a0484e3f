"""CoNLL-style token-per-line files: columns split on whitespace (or tabs), a blank line between sentences.

Works as-is on the original CoNLL-2003 files (4 columns, `-DOCSTART-` lines) and on 2-column tab files
(WNUT, WikiANN style). Malformed lines raise `DataError` naming the file and line.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from nlp_lstm.data.readers import reading
from nlp_lstm.errors import DataError


@dataclass
class TaggedSentences:
    """Tokenized sentences with one tag per token (tags None for unlabelled input)."""

    tokens: list[list[str]]
    tags: list[list[str]] | None
    lines: list[int] = field(default_factory=list)  # line of each sentence's first token
    source: str = ""
    documents: list[int] = field(default_factory=list)  # document of each sentence (counted by -DOCSTART-)

    def __len__(self) -> int:
        return len(self.tokens)

    def subset(self, indices: list[int]) -> TaggedSentences:
        return TaggedSentences(
            tokens=[self.tokens[i] for i in indices],
            tags=None if self.tags is None else [self.tags[i] for i in indices],
            lines=[self.lines[i] for i in indices] if self.lines else [],
            source=self.source,
            documents=[self.documents[i] for i in indices] if self.documents else [],
        )

    def to_frame(self):
        """A pandas DataFrame view (space-joined tokens and tags), for MLflow's dataset tracking."""
        import pandas as pd

        frame = {"tokens": [" ".join(t) for t in self.tokens]}
        if self.tags is not None:
            frame["tags"] = [" ".join(t) for t in self.tags]
        return pd.DataFrame(frame)


def read_conll(
    path: str | Path,
    *,
    token_column: int = 0,
    tag_column: int | None = -1,
    encoding: str = "utf-8",
    delimiter: str | None = None,
) -> TaggedSentences:
    """Read sentences; `tag_column=None` reads tokens only. Negative columns count from the end.

    Every token line must have as many columns as the file's first token line. `-DOCSTART-` lines start a
    new document; a file without them is one document.
    """
    path = Path(path)
    tokens: list[list[str]] = []
    tags: list[list[str]] | None = None if tag_column is None else []
    lines: list[int] = []
    documents: list[int] = []
    document = 0
    sentence_tokens: list[str] = []
    sentence_tags: list[str] = []
    expected_columns: int | None = None
    start_line = 0

    def close_sentence() -> None:
        nonlocal sentence_tokens, sentence_tags
        if sentence_tokens:
            tokens.append(sentence_tokens)
            lines.append(start_line)
            documents.append(document)
            if tags is not None:
                tags.append(sentence_tags)
        sentence_tokens, sentence_tags = [], []

    with reading(path, encoding) as handle:
        for line_number, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                close_sentence()
                continue
            columns = line.split(delimiter) if delimiter else line.split()
            if columns[0] == "-DOCSTART-":
                close_sentence()
                document += bool(documents)  # the first document starts at 0
                continue
            if expected_columns is None:
                expected_columns = len(columns)
                needed = max(_position(token_column), _position(tag_column) if tag_column is not None else 0) + 1
                if expected_columns < needed:
                    raise DataError(
                        f"{path}:{line_number}: {expected_columns} column(s), but data.token_column/tag_column "
                        f"need {needed}"
                    )
            elif len(columns) != expected_columns:
                raise DataError(
                    f"{path}:{line_number}: expected {expected_columns} columns like the first token line, "
                    f"found {len(columns)}: {line!r}"
                )
            if not sentence_tokens:
                start_line = line_number
            # Interned: a corpus repeats its words and tags, so each is held once however large the file.
            sentence_tokens.append(sys.intern(columns[token_column]))
            if tags is not None:
                tag = columns[tag_column].strip()
                if not tag:
                    raise DataError(f"{path}:{line_number}: empty tag")
                sentence_tags.append(sys.intern(tag))
        close_sentence()
    if not tokens:
        raise DataError(f"{path}: no sentences found")
    return TaggedSentences(tokens, tags, lines, str(path), documents)


def _position(column: int) -> int:
    """Columns needed for an index: 0 -> 1 column, -1 -> 1 column, -4 -> 4 columns."""
    return column if column >= 0 else -column - 1

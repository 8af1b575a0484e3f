"""CoNLL-style token-per-line files: columns split on whitespace (or tabs), a blank line between sentences.

Works as-is on the original CoNLL-2003 files (4 columns, `-DOCSTART-` lines) and on 2-column tab files
(WNUT, WikiANN style). Malformed lines raise `DataError` naming the file and line.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlp_lstm.data.readers import reading
from nlp_lstm.data.streamed import RowReader
from nlp_lstm.errors import DataError, excerpt


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


Sentence = tuple[int, int, list[str], list[str] | None]  # first line, document, tokens, tags


def conll_reader(
    path: str | Path,
    *,
    token_column: int = 0,
    tag_column: int | None = -1,
    encoding: str = "utf-8",
    delimiter: str | None = None,
) -> RowReader[Sentence, TaggedSentences]:
    """Sentences read one at a time; `tag_column=None` reads tokens only. Negative columns count from the end.

    Every token line must have as many columns as the file's first token line. `-DOCSTART-` lines start a
    new document; a file without them is one document. Slices end between documents (sentences of a document
    may be read together).
    """
    path = Path(path)

    def rows() -> Iterator[Sentence]:
        document = 0
        sentence_seen = False  # -DOCSTART- before the first sentence starts no new document
        sentence_tokens: list[str] = []
        sentence_tags: list[str] = []
        expected_columns: int | None = None
        start_line = 0
        with reading(path, encoding) as handle:
            for line_number, raw in enumerate(handle, start=1):
                line = raw.rstrip("\r\n")
                columns = (line.split(delimiter) if delimiter else line.split()) if line.strip() else []
                if not columns or columns[0] == "-DOCSTART-":
                    if sentence_tokens:
                        yield start_line, document, sentence_tokens, sentence_tags if tag_column is not None else None
                        sentence_seen = True
                        sentence_tokens, sentence_tags = [], []
                    if columns:
                        document += sentence_seen
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
                        f"found {len(columns)}: {excerpt(line)}"
                    )
                if not sentence_tokens:
                    start_line = line_number
                # Interned: a corpus repeats its words and tags, so each is held once however large the file.
                sentence_tokens.append(sys.intern(columns[token_column]))
                if tag_column is not None:
                    tag = columns[tag_column].strip()
                    if not tag:
                        raise DataError(f"{path}:{line_number}: empty tag")
                    sentence_tags.append(sys.intern(tag))
            if sentence_tokens:
                yield start_line, document, sentence_tokens, sentence_tags if tag_column is not None else None
        if expected_columns is None:
            raise DataError(f"{path}: no sentences found")

    def assemble(sentences: list[Sentence]) -> TaggedSentences:
        return TaggedSentences(
            tokens=[tokens for _, _, tokens, _ in sentences],
            tags=None if tag_column is None else [tags for _, _, _, tags in sentences],
            lines=[line for line, _, _, _ in sentences],
            source=str(path),
            documents=[document for _, document, _, _ in sentences],
        )

    return RowReader(rows, assemble, may_cut=lambda before, after: before[1] != after[1])


def read_conll(path: str | Path, **settings: Any) -> TaggedSentences:
    """The whole file `conll_reader` reads (same settings)."""
    return conll_reader(path, **settings).read()


def _position(column: int) -> int:
    """Columns needed for an index: 0 -> 1 column, -1 -> 1 column, -4 -> 4 columns."""
    return column if column >= 0 else -column - 1

"""Pretrained word vectors (GloVe or word2vec text format) -> an embedding matrix for a vocabulary."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nlp_lstm.data.readers import open_text
from nlp_lstm.errors import DataError
from nlp_lstm.preprocessing.vocab import Vocabulary


def _is_header(fields: list[str]) -> bool:
    """word2vec text files start with 'count dimension'."""
    return len(fields) == 2 and all(f.isdigit() for f in fields)


def vector_dimension(path: str | Path) -> int:
    """Dimension of the vectors in a GloVe/word2vec text file, read from its first vector line."""
    with open_text(Path(path), "utf-8") as handle:
        for line in handle:
            fields = line.rstrip().split(" ")
            if _is_header(fields):
                return int(fields[1])
            if len(fields) > 1:
                return len(fields) - 1
    raise DataError(f"{path}: no vectors found")


def load_embedding_matrix(
    path: str | Path, vocab: Vocabulary, *, lowercase_fallback: bool = True, seed: int = 0
) -> tuple[np.ndarray, int]:
    """A (len(vocab), dim) matrix: pretrained vectors where found, small random ones elsewhere.

    A vocabulary word missing from the file takes the vector of its lowercased form when
    `lowercase_fallback` (GloVe is lowercased; cased vocabularies still find most words). Padding is zero.
    Returns the matrix and how many vocabulary words were found.
    """
    path = Path(path)
    dimension = vector_dimension(path)
    wanted: dict[str, list[int]] = {}
    for i, token in enumerate(vocab.tokens[2:], start=2):
        wanted.setdefault(token, []).append(i)
    exact_found: set[int] = set()
    fallback: dict[str, list[int]] = {}
    if lowercase_fallback:
        for i, token in enumerate(vocab.tokens[2:], start=2):
            if token.lower() != token:
                fallback.setdefault(token.lower(), []).append(i)
    rng = np.random.default_rng(seed)
    scale = np.sqrt(3.0 / dimension)
    matrix = rng.uniform(-scale, scale, (len(vocab), dimension)).astype("float32")
    matrix[vocab.pad_id] = 0.0
    from_fallback: dict[int, np.ndarray] = {}
    with open_text(path, "utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.rstrip().split(" ")
            if line_number == 1 and _is_header(fields):
                continue
            if len(fields) > dimension + 1:  # a word containing spaces (glove.840B has a few)
                fields = [" ".join(fields[:-dimension]), *fields[-dimension:]]
            word = fields[0]
            if word not in wanted and word not in fallback:
                continue
            if len(fields) != dimension + 1:
                raise DataError(f"{path}:{line_number}: expected a word and {dimension} numbers, found {len(fields) - 1}")
            try:
                vector = np.asarray(fields[1:], dtype="float32")
            except ValueError:
                raise DataError(f"{path}:{line_number}: a vector value is not a number") from None
            for i in wanted.get(word, ()):
                matrix[i] = vector
                exact_found.add(i)
            for i in fallback.get(word, ()):
                from_fallback[i] = vector
    for i, vector in from_fallback.items():
        if i not in exact_found:
            matrix[i] = vector
    return matrix, len(exact_found | set(from_fallback))


def configured_embedding_matrix(settings, vocab: Vocabulary, seed: int = 0) -> tuple[np.ndarray | None, int | None]:
    """The matrix for a model's `embeddings` config section, or (None, None) when no file is set."""
    if settings.path is None:
        return None, None
    return load_embedding_matrix(settings.path, vocab, lowercase_fallback=settings.lowercase_fallback, seed=seed)

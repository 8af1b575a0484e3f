import gzip
import json

import pytest

from nlp_lstm.data import read_labelled_texts, read_lines, split_off
from nlp_lstm.errors import DataError


def test_csv_with_header_and_quoted_commas(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('text,label\n"good, really good",pos\nbad,neg\n\n', encoding="utf-8")
    data = read_labelled_texts(path)
    assert data.texts == ["good, really good", "bad"] and data.labels == ["pos", "neg"] and data.lines == [2, 3]


def test_tsv_reads_quotes_literally_like_glue(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text('sentence\tlabel\n"it \'s "great\t1\nmeh\t0\n', encoding="utf-8")
    data = read_labelled_texts(path, text_column="sentence")
    assert data.texts == ['"it \'s "great', "meh"] and data.labels == ["1", "0"]


def test_columns_by_index_without_header(tmp_path):
    path = tmp_path / "d.tsv"
    path.write_text("pos\tgreat film\nneg\tawful\n", encoding="utf-8")
    data = read_labelled_texts(path, header=False, text_column=1, label_column=0)
    assert data.texts == ["great film", "awful"] and data.labels == ["pos", "neg"]


def test_jsonl_and_gzip(tmp_path):
    path = tmp_path / "d.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write(json.dumps({"text": "nice", "label": 1}) + "\n\n" + json.dumps({"text": "", "label": 0}) + "\n")
    data = read_labelled_texts(path)
    assert data.texts == ["nice", ""] and data.labels == ["1", "0"] and data.lines == [1, 3]


@pytest.mark.parametrize(
    "name, content, kwargs, message",
    [
        ("d.csv", "text,label\ngood,pos\nbad\n", {}, r"d.csv:3: expected at least 2 columns separated by ',', found 1"),
        ("d.csv", "text,label\ngood,\n", {}, r"d.csv:2: empty label in column 'label'"),
        (
            "d.csv",
            "sentence,label\ngood,pos\n",
            {},
            r"d.csv:1: data.text_column 'text' not in the header \(columns: sentence, label\)",
        ),
        ("d.jsonl", '{"text": "a", "label": 1}\n{"text": "b", \n', {}, r"d.jsonl:2: invalid JSON"),
        ("d.jsonl", '{"txt": "a", "label": 1}\n', {}, r"d.jsonl:1: key 'text' missing"),
        ("d.txt", "a,b\n", {}, r"cannot tell the format from the file name; set data.format"),
        ("d.csv", "", {}, r"d.csv: file is empty"),
        ("d.csv", "text,label\n", {}, r"d.csv: no data rows found"),
    ],
)
def test_malformed_input_names_file_and_line(tmp_path, name, content, kwargs, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_labelled_texts(path, **kwargs)


def test_encoding_errors_and_configurable_encoding(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("text,label\ncaf\xe9,pos\n".encode("latin-1"))
    with pytest.raises(DataError, match="cannot decode as utf-8.*set data.encoding"):
        read_labelled_texts(path)
    assert read_labelled_texts(path, encoding="latin-1").texts == ["café"]


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_labelled_texts(tmp_path / "nope.csv")


def test_read_lines_keeps_empty_lines(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("one\n\nthree\n", encoding="utf-8")
    assert read_lines(path) == ["one", "", "three"]


def test_split_off_is_seeded_stratified_and_disjoint():
    labels = ["a"] * 80 + ["b"] * 20
    keep, held = split_off(100, 0.2, seed=1, stratify_by=labels)
    assert len(held) == 20 and set(keep).isdisjoint(held) and len(keep) + len(held) == 100
    assert sum(labels[i] == "b" for i in held) == 4  # class ratio kept
    assert split_off(100, 0.2, seed=1, stratify_by=labels) == (keep, held)
    assert split_off(100, 0.2, seed=2, stratify_by=labels) != (keep, held)


def test_split_off_falls_back_when_a_class_is_tiny():
    with pytest.warns(UserWarning, match="too small to stratify"):
        keep, held = split_off(10, 0.2, seed=0, stratify_by=["a"] * 9 + ["b"])
    assert len(held) == 2

"""Hardened inputs: broken quoting, byte-order marks, undecodable bytes and duplicate YAML keys are errors
that name the file and line (or are handled), and every reader, fed anything at all, either returns rows
that round-trip or raises the project's DataError naming the file."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nlp_lstm.config import load_config
from nlp_lstm.data.conll import read_conll
from nlp_lstm.data.parallel import read_parallel_files
from nlp_lstm.data.readers import read_labelled_texts, read_lines
from nlp_lstm.errors import ConfigError, DataError

BOM = "\ufeff"


# ------------------------------------------------------------------------------------------- quoting
@pytest.mark.parametrize(
    "content, message",
    [
        # the quote on line 2 swallows lines 3-4 up to the quote that opens line 4's text
        (
            'text,label\n"it was great,positive\nit was bad,negative\n"so so",neutral\nok,positive\n',
            r"d.csv:2: a quoted field opened on this line runs to line 4 and is malformed there",
        ),
        (
            'text,label\ngood,positive\n"never closed,negative\nbad,negative\n',
            r"d.csv:3: a quoted field opened on this line is never closed \(read to the end of the file, line 4\)",
        ),
        # closed, but the merged row has the wrong number of columns
        (
            'text,label\n"one\ntwo",positive,extra\nbad,negative\n',
            r"d.csv:2: a quoted field opened on this line runs to line 3, and the row it ends has 3 columns instead of 2",
        ),
        (
            "text,label\ngood, really good,positive\n",
            r"d.csv:2: expected 2 columns separated by ',' like the header, found 3",
        ),
        ('text,label\n"ok"x,positive\n', r"d.csv:2: malformed quoting"),
    ],
)
def test_broken_quoting_names_the_line_where_the_quote_opened(tmp_path, content, message):
    path = tmp_path / "d.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_labelled_texts(path)


def test_quoted_fields_may_hold_newlines_and_quotes(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        'text,label\n"first line\nsecond line",positive\n"she said ""hi""",negative\nplain,positive\n', encoding="utf-8"
    )
    data = read_labelled_texts(path)
    assert data.texts == ["first line\nsecond line", 'she said "hi"', "plain"] and data.lines == [2, 4, 5]


# ---------------------------------------------------------------------------------------------- BOMs
def test_a_byte_order_mark_is_dropped_by_every_reader(tmp_path):
    csv_file = tmp_path / "d.csv"
    csv_file.write_text(f"{BOM}text,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    assert read_labelled_texts(csv_file).texts == ["good", "bad"]  # 'text' is found in the header
    tsv = tmp_path / "d.tsv.gz"
    with gzip.open(tsv, "wt", encoding="utf-8") as handle:
        handle.write(f"{BOM}text\tlabel\ngood\tpos\n")
    assert read_labelled_texts(tsv).labels == ["pos"]
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(BOM + json.dumps({"text": "good", "label": "pos"}) + "\n", encoding="utf-8")
    assert read_labelled_texts(jsonl).texts == ["good"]
    conll = tmp_path / "d.conll"
    conll.write_text(f"{BOM}Paris B-LOC\nis O\n\nRome B-LOC\n", encoding="utf-8")
    sentences = read_conll(conll)
    assert sentences.tokens == [["Paris", "is"], ["Rome"]] and sentences.tags[0] == ["B-LOC", "O"]
    source, target = tmp_path / "p.de", tmp_path / "p.en"
    source.write_text(f"{BOM}Hallo\nWelt\n", encoding="utf-8")
    target.write_text(f"{BOM}Hello\nworld\n", encoding="utf-8")
    pairs = read_parallel_files(source, target)
    assert pairs.sources == ["Hallo", "Welt"] and pairs.targets == ["Hello", "world"]
    assert read_lines(source) == ["Hallo", "Welt"]
    assert read_lines(io.BytesIO(f"{BOM}one\r\ntwo\n".encode())) == ["one", "two"]  # stdin, as bytes
    assert read_lines(io.StringIO(f"{BOM}one\n")) == ["one"]
    config = tmp_path / "c.yaml"
    config.write_text(f"{BOM}task: sentiment\ndata: {{train: {csv_file}}}\n", encoding="utf-8")
    assert load_config(config).task == "sentiment"


# --------------------------------------------------------------------------------------- encodings
def test_undecodable_bytes_name_their_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"text,label\ngood,pos\n" * 3000 + b"caf\xe9,pos\n")  # far past the first read chunk
    with pytest.raises(DataError, match=r"d.csv:6001: cannot decode as utf-8"):
        read_labelled_texts(path)
    conll = tmp_path / "d.conll"
    conll.write_bytes(b"Paris B-LOC\n\nM\xfcnchen B-LOC\n")
    with pytest.raises(DataError, match=r"d.conll:3: cannot decode as utf-8"):
        read_conll(conll)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbftext,label\n\xffbad,pos\n")  # the BOM does not shift the count
    with pytest.raises(DataError, match=r"bom.csv:2: cannot decode as utf-8"):
        read_labelled_texts(bom)
    with pytest.raises(DataError, match=r"<stdin>:2: cannot decode as utf-8 .*--encoding"):
        read_lines(io.BytesIO(b"fine\ncaf\xe9\n"))
    assert read_lines(io.BytesIO(b"fine\ncaf\xe9\n"), "latin-1") == ["fine", "café"]


def test_a_damaged_gzip_file_is_a_data_error(tmp_path):
    path = tmp_path / "d.csv.gz"
    path.write_bytes(gzip.compress(b"text,label\ngood,pos\n" * 100)[:40])
    with pytest.raises(DataError, match=r"d.csv.gz: not a readable gzip file"):
        read_labelled_texts(path)


# ------------------------------------------------------------------------------------ YAML duplicates
def test_duplicate_yaml_keys_name_both_lines(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("text,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    path = tmp_path / "p.yaml"
    path.write_text(
        f"task: sentiment\ndata: {{train: {train}}}\ntraining:\n  epochs: 3\n  batch_size: 8\n"
        "model:\n  rnn: {units: 8, units: 16}\ntraining:\n  epochs: 5\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    problems = raised.value.problems
    assert f"{path}:7: model.rnn.units: repeats the key at line 7" in problems[0]
    assert problems[1].startswith(f"{path}:8: training: repeats the key at line 3")


# ---------------------------------------------------------------------------------------- fuzzing
_ERROR = r"^{path}(:\d+)?: "  # every data error names the file, and the line where there is one
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
_WORD = st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"))  # no whitespace: str.strip() keeps it
_LABEL = st.text(_WORD, min_size=1, max_size=8)
_FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _read_or_data_error(read, path):
    try:
        return read()
    except DataError as exc:
        assert re.match(_ERROR.format(path=re.escape(str(path))), str(exc)), str(exc)
        return None


@_FUZZ
@given(content=st.binary(max_size=400), name=st.sampled_from(["d.csv", "d.tsv", "d.jsonl", "d.csv.gz"]))
def test_any_bytes_give_rows_or_a_data_error(tmp_path, content, name):
    path = tmp_path / name
    path.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    _read_or_data_error(lambda: read_labelled_texts(path), path)
    _read_or_data_error(lambda: read_labelled_texts(path, header=False, text_column=0, label_column=1), path)


@_FUZZ
@given(content=st.binary(max_size=400))
def test_any_bytes_give_sentences_lines_or_a_data_error(tmp_path, content):
    path = tmp_path / "d.conll"
    path.write_bytes(content)
    _read_or_data_error(lambda: read_conll(path), path)
    _read_or_data_error(lambda: read_lines(path), path)
    _read_or_data_error(lambda: read_lines(io.BytesIO(content), name=str(path)), path)  # stdin


@_FUZZ
@given(
    rows=st.lists(st.tuples(_TEXT, _LABEL), min_size=1, max_size=12),
    bom=st.booleans(),
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
    quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]),
)
def test_csv_written_by_a_csv_writer_reads_back(tmp_path, rows, bom, ending, quoting):
    # Python's writer quotes \r or \n only if its own line ending holds it: else no reader could split the file
    assume(quoting == csv.QUOTE_ALL or all(c in ending for text, _ in rows for c in text if c in "\r\n"))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=ending, quoting=quoting)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    path = tmp_path / "d.csv"
    path.write_text((BOM if bom else "") + buffer.getvalue(), encoding="utf-8", newline="")
    data = read_labelled_texts(path)
    assert list(zip(data.texts, data.labels)) == rows


@_FUZZ
@given(
    rows=st.lists(
        st.tuples(
            st.text(
                st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\r\n"), min_size=1, max_size=30
            ),
            _LABEL,
        ),
        min_size=1,
        max_size=12,
    ),
    ending=st.sampled_from(["\n", "\r\n"]),
)
def test_tsv_and_jsonl_round_trip(tmp_path, rows, ending):
    rows = [(text, label) for text, label in rows if text.strip()]
    if not rows:
        return
    tsv = tmp_path / "d.tsv"
    tsv.write_text(
        "text\tlabel" + ending + "".join(f"{t}\t{label}{ending}" for t, label in rows), encoding="utf-8", newline=""
    )
    data = read_labelled_texts(tsv)
    assert list(zip(data.texts, data.labels)) == rows
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text(
        "".join(json.dumps({"text": t, "label": label}) + ending for t, label in rows), encoding="utf-8", newline=""
    )
    data = read_labelled_texts(jsonl)
    assert list(zip(data.texts, data.labels)) == rows


@_FUZZ
@given(
    sentences=st.lists(
        st.lists(
            st.tuples(st.text(_WORD, min_size=1, max_size=8), st.sampled_from(["O", "B-PER", "I-PER", "B-LOC"])),
            min_size=1,
            max_size=6,
        ),
        min_size=1,
        max_size=6,
    ),
    ending=st.sampled_from(["\n", "\r\n", "\r"]),
    bom=st.booleans(),
)
def test_conll_round_trips(tmp_path, sentences, ending, bom):
    sentences = [s for s in sentences if s[0][0] != "-DOCSTART-"]
    if not sentences:
        return
    path = tmp_path / "d.conll"
    text = ending.join(ending.join(f"{token} {tag}" for token, tag in sentence) + ending for sentence in sentences)
    path.write_text((BOM if bom else "") + text, encoding="utf-8", newline="")
    data = read_conll(path)
    assert data.tokens == [[t for t, _ in s] for s in sentences] and data.tags == [[g for _, g in s] for s in sentences]


@_FUZZ
@given(
    rows=st.lists(st.lists(_TEXT, min_size=1, max_size=4), min_size=1, max_size=10),
    endings=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=11, max_size=11),
    bom=st.booleans(),
)
def test_random_column_counts_and_mixed_line_endings(tmp_path, rows, endings, bom):
    """Rows of 1-4 quoted fields, each line ending its own way: the file reads back if every row has the
    header's column count, else the error names the line where the first other row starts."""
    rendered = [
        ",".join('"' + field.replace('"', '""') + '"' for field in fields) + ending
        for fields, ending in zip([["text", "label"], *rows], endings)
    ]
    path = tmp_path / "d.csv"
    path.write_text((BOM if bom else "") + "".join(rendered), encoding="utf-8", newline="")
    starts = [1]
    for text in rendered:
        starts.append(starts[-1] + len(re.findall(r"\r\n|\r|\n", text)))
    kept = [(i, fields) for i, fields in enumerate(rows) if not (len(fields) == 1 and not fields[0].strip())]
    bad = next((i for i, fields in kept if len(fields) != 2), None)  # a lone blank field reads as a blank line
    try:
        data = read_labelled_texts(path, label_column=None)
    except DataError as exc:
        assert bad is not None or not kept, str(exc)
        where = f"{path}:{starts[bad + 1]}: " if bad is not None else f"{path}: no data rows"
        assert str(exc).startswith(where), (str(exc), where)
        return
    assert bad is None and data.texts == [fields[0] for _, fields in kept]

"""Training files streamed: every reader gives its rows one at a time (`.gz` too), errors still name the file
and line, and a run never holds the training split whole."""

from __future__ import annotations

import dataclasses
import gzip
from collections import Counter
from pathlib import Path

import pytest

from nlp_lstm.data.conll import conll_reader
from nlp_lstm.data.parallel import parallel_file_reader, parallel_table_reader
from nlp_lstm.data.readers import labelled_text_reader
from nlp_lstm.data.streamed import RowReader, StreamedSplit, chunked, column_of
from nlp_lstm.data.text import text_line_reader
from nlp_lstm.errors import DataError
from tests.conftest import REPO


def write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def conll(sentences_per_document: int, documents: int) -> str:
    lines = []
    for d in range(documents):
        lines += ["-DOCSTART- -X- O O", ""]
        for s in range(sentences_per_document):
            lines += [f"w{d}{s} NN O O", f"Paris{d}{s} NNP I-NP B-LOC", ""]
    return "\n".join(lines)


def readers(tmp_path: Path) -> dict[str, tuple[RowReader, int, str]]:
    """Each reader over a gzipped file of 6 examples whose 7th is malformed: (reader of the good file, its
    column, the bad file's reader, the line named)."""
    rows = [f"text {i},{'pos' if i % 2 else 'neg'}" for i in range(6)]
    table = write(tmp_path / "t.csv.gz", "text,label\n" + "\n".join(rows) + "\n")
    bad_table = write(tmp_path / "bad.csv.gz", "text,label\n" + "\n".join([*rows, "a,b,c"]) + "\n")
    sources = [f"quelle {i}" for i in range(6)]
    write(tmp_path / "p.de.gz", "\n".join(sources) + "\n")
    write(tmp_path / "p.en.gz", "\n".join(f"source {i}" for i in range(6)) + "\n")
    write(tmp_path / "bad.en.gz", "\n".join(f"source {i}" for i in range(7)) + "\n")
    pairs_table = write(tmp_path / "p.tsv.gz", "\n".join(f"quelle {i}\tsource {i}" for i in range(6)) + "\n")
    bad_pairs_table = write(tmp_path / "bad.tsv.gz", "\n".join([*(f"q {i}\ts {i}" for i in range(6)), "q"]) + "\n")
    text = write(tmp_path / "t.txt.gz", "\n".join(f"line {i}" for i in range(6)) + "\n")
    tagged = write(tmp_path / "t.conll.gz", conll(3, 2))
    bad_tagged = write(tmp_path / "bad.conll.gz", conll(3, 2) + "\nx NN O\n")
    return {
        "table": (labelled_text_reader(table), "texts", labelled_text_reader(bad_table), f"{bad_table}:8"),
        "conll": (conll_reader(tagged), "tokens", conll_reader(bad_tagged), f"{bad_tagged}:"),
        "parallel_files": (
            parallel_file_reader(tmp_path / "p.de.gz", tmp_path / "p.en.gz"),
            "sources",
            parallel_file_reader(tmp_path / "p.de.gz", tmp_path / "bad.en.gz"),
            "has 6 lines but",
        ),
        "parallel_table": (
            parallel_table_reader(pairs_table, format="tsv"),
            "targets",
            parallel_table_reader(bad_pairs_table, format="tsv"),
            f"{bad_pairs_table}:7",
        ),
        "text": (text_line_reader(text), "texts", None, ""),
    }


@pytest.mark.parametrize("name", ["table", "conll", "parallel_files", "parallel_table", "text"])
def test_every_reader_streams_its_rows_and_its_slices_are_the_whole_file(name: str, tmp_path: Path):
    reader, column, bad_reader, where = readers(tmp_path)[name]
    whole = reader.read()
    assert len(whole) == 6
    for size in (1, 2, 4, 100):
        parts = list(reader.slices(size))
        assert sum(len(p) for p in parts) == 6 and (name == "conll" or all(len(p) <= size for p in parts))
        assert [value for part in parts for value in getattr(part, column)] == getattr(whole, column)
        assert [line for part in parts for line in part.lines] == whole.lines
    split = StreamedSplit.counted(reader, "file")
    assert len(split) == 6 and list(column_of(split, column)) == getattr(whole, column)
    assert list(column_of(split, column)) == getattr(whole, column)  # each iteration reads the file again
    if bad_reader is not None:
        rows = bad_reader.rows()
        next(rows)  # the first row comes before the malformed one is read: the file is not read whole first
        with pytest.raises(DataError, match=f"^{where}" if where.startswith("/") else where):
            StreamedSplit.counted(bad_reader, "bad")


def test_conll_slices_end_between_documents(tmp_path: Path):
    path = write(tmp_path / "d.conll", conll(3, 3))
    parts = list(conll_reader(path).slices(2))  # 2 sentences would cut a document: each slice is one
    assert [len(part) for part in parts] == [3, 3, 3]
    assert [set(part.documents) for part in parts] == [{0}, {1}, {2}]
    assert chunked(range(5), 2) and list(chunked(range(5), 2)) == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize(
    "yaml, module, factory",
    [
        ("sentiment.yaml", "nlp_lstm.tasks.sentiment.task", "labelled_text_reader"),
        ("ner_bilstm_crf.yaml", "nlp_lstm.tasks.ner.task", "conll_reader"),
        ("translator_seq2seq.yaml", "nlp_lstm.tasks.translation.task", "parallel_file_reader"),
        ("language_model.yaml", "nlp_lstm.tasks.language_model.task", "text_line_reader"),
    ],
)
def test_a_run_reads_its_training_file_a_slice_at_a_time(
    yaml: str, module: str, factory: str, tmp_path: Path, monkeypatch
):
    """Reading, checking, fitting and encoding the training split (cache off) never puts more than one
    slice of its rows together, and reads the file a few times, each pass from its start."""
    import importlib

    from nlp_lstm.config import load_config
    from nlp_lstm.data import streamed
    from nlp_lstm.tasks import base, get_task

    task_module = importlib.import_module(module)
    for slicing in (base, streamed):
        monkeypatch.setattr(slicing, "SLICE_EXAMPLES", 5)
    config = load_config(REPO / "pipelines" / yaml, [f"output_dir={tmp_path}", "preprocessing.cache=false"])
    train = Path(config.data.train if yaml != "translator_seq2seq.yaml" else f"{config.data.train}.de")
    train = train if train.is_absolute() else REPO / train
    assembled: list[int] = []
    passes: list[int] = []
    make_reader = getattr(task_module, factory)

    def recording(path, *args, **kwargs):
        reader = make_reader(path, *args, **kwargs)
        if Path(path).resolve() != train.resolve():
            return reader

        def rows():
            passes.append(1)
            return reader.rows()

        def assemble(rows):
            assembled.append(len(rows))
            return reader.assemble(rows)

        return dataclasses.replace(reader, rows=rows, assemble=assemble)

    monkeypatch.setattr(task_module, factory, recording)
    monkeypatch.chdir(REPO)
    task = get_task(config.task)(config)
    splits = task.read_splits()
    assert isinstance(splits.train, StreamedSplit) and len(splits.train) > 20
    task.check(splits)
    pipeline, batches, _ = task.prepare(splits, log=lambda message: None)
    assert len(batches) > 0
    in_memory = task.read_file(Path(config.data.train))
    assembled_by_run = assembled[:-1]  # the last: `read_file` above
    assert assembled[-1] == len(in_memory) == len(splits.train)
    # NER's slices end between documents: up to a document's sentences past the slice size
    longest_document = max(Counter(getattr(in_memory, "documents", None) or [0]).values())
    assert assembled_by_run and max(assembled_by_run) <= 5 + (longest_document if yaml == "ner_bilstm_crf.yaml" else 0)
    assert 3 <= len(passes) - 1 <= 8


def test_a_file_changed_between_passes_is_an_error_and_a_fit_refuses_a_one_shot_iterator(tmp_path: Path):
    import os

    from nlp_lstm.data.streamed import reiterable

    path = write(tmp_path / "t.csv", "text,label\ngood,pos\nbad,neg\n")
    split = StreamedSplit.counted(labelled_text_reader(path), str(path), files=[path])
    assert list(column_of(split, "labels")) == ["pos", "neg"]
    path.write_text("text,label\ngood,pos\nbad,neg\nugly,neg\n", encoding="utf-8")
    os.utime(path, ns=(1, 1))  # a copy that kept an old time still differs in size
    with pytest.raises(DataError, match=f"^{path}: changed while this run was reading it"):
        list(column_of(split, "labels"))
    texts = ["a b", "c"]
    assert reiterable(texts, "texts") is texts
    with pytest.raises(TypeError, match="texts is read more than once"):
        reiterable(iter(texts), "texts")

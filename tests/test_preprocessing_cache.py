"""The preprocessing cache: stored columns read back as written, keys that follow the files and settings, and
runs that reuse an entry train exactly as the run that built it."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO


def test_ragged_columns_read_back_every_example_from_memory_mapped_files(tmp_path: Path):
    from nlp_lstm.preprocessing.cache import RaggedArray, as_column

    flat = [[3, 4, 5], [6], [7, 8], [9]]
    nested = [[[1, 2], [3]], [[4, 5, 6]], [[7], [8], [9, 10]]]
    labels = [0, 2, 1]
    column, inner_column = as_column(flat), as_column(nested)
    assert isinstance(column, RaggedArray) and column.inner_offsets is None
    assert isinstance(inner_column, RaggedArray) and inner_column.inner_offsets is not None
    assert isinstance(as_column(labels), np.ndarray) and as_column(labels).tolist() == labels
    column.save(tmp_path, "flat")
    inner_column.save(tmp_path, "nested")
    for stored, expected in (
        (RaggedArray.load(tmp_path, "flat"), flat),
        (RaggedArray.load(tmp_path, "nested"), nested),
    ):
        assert isinstance(stored.values, np.memmap)
        assert len(stored) == len(expected) and stored.lengths.tolist() == [len(e) for e in expected]
        for i, example in enumerate(expected):
            got = stored[i]
            if isinstance(got, list):
                assert [g.tolist() for g in got] == example
            else:
                assert got.tolist() == example


def test_parts_joined_in_memory_or_written_equal_the_whole_in_the_narrowest_types(tmp_path: Path):
    """Columns joined part by part (offsets continued, a part left empty skipped) are the whole's; character
    ids stay 16-bit until a part needs more (then every id widens), offsets and word ids take 32 bits."""
    from nlp_lstm.preprocessing.cache import EncodedExamples, RaggedArray

    words = [[3, 4, 5], [6], [7, 8], [9], [2]]
    chars = [[[1, 2], [3]], [[4]], [[5, 6], [7]], [[8]], [[70_000, 9]]]  # the last part needs 32 bits
    labels = [0, 2, 1, 1, 0]

    def parts():
        for start, end in ((0, 2), (2, 2), (2, 4), (4, 5)):  # (2, 2): a part whose examples were all dropped
            yield EncodedExamples({"words": words[start:end], "chars": chars[start:end]}, labels[start:end])

    whole = EncodedExamples({"words": words, "chars": chars}, labels).packed()
    for joined in (EncodedExamples.concatenate(parts()), EncodedExamples.write(parts(), tmp_path / "entry")):
        assert joined.inputs["chars"].values.dtype == np.int32 and joined.inputs["words"].values.dtype == np.int32
        assert joined.inputs["words"].offsets.dtype == np.int32 and joined.targets.dtype == np.int32
        for name in ("words", "chars"):
            column, expected = joined.inputs[name], whole.inputs[name]
            for array in ("values", "offsets", "inner_offsets"):
                np.testing.assert_array_equal(getattr(column, array), getattr(expected, array), err_msg=name)
        np.testing.assert_array_equal(joined.targets, labels)
    reloaded = EncodedExamples.load(tmp_path / "entry")
    assert isinstance(reloaded.inputs["chars"].values, np.memmap)
    assert [v.tolist() for v in reloaded.inputs["chars"][4]] == [[70_000, 9]]
    assert not list((tmp_path / "entry").glob("*.part"))
    small = EncodedExamples.concatenate(EncodedExamples({"chars": chars[i : i + 1]}) for i in range(4))
    assert small.inputs["chars"].values.dtype == np.uint16
    with pytest.raises(ValueError, match="no parts"):
        EncodedExamples.concatenate(iter(()))
    with pytest.raises(ValueError, match="no parts"):
        RaggedArray.concatenate([])
    for sequences in (words, chars):  # flat and nested, two parts
        pieces = [whole.inputs["words" if sequences is words else "chars"]]
        joined_column = RaggedArray.concatenate(
            [
                EncodedExamples({"x": sequences[:3]}).packed().inputs["x"],
                EncodedExamples({"x": sequences[3:]}).packed().inputs["x"],
            ]
        )
        for array in ("values", "offsets", "inner_offsets"):
            np.testing.assert_array_equal(getattr(joined_column, array), getattr(pieces[0], array))
    with pytest.raises(ValueError, match="1-D integers"):
        EncodedExamples.concatenate(
            [EncodedExamples({"x": [[1]]}, np.array([0.7])), EncodedExamples({"x": [[2]]}, np.array([0.2]))]
        )
    with pytest.raises(ValueError, match="differ in layout"):
        EncodedExamples.concatenate([EncodedExamples({"x": [[1, 2]]}), EncodedExamples({"x": [[[1], [2]]]})])


def test_the_key_follows_the_files_content_and_time_and_the_settings(tmp_path: Path):
    from nlp_lstm.preprocessing.cache import cache_key

    data = tmp_path / "train.txt"
    data.write_text("a b c\n", encoding="utf-8")
    key = cache_key([data], {"lowercase": True})
    assert cache_key([data], {"lowercase": True}) == key
    assert cache_key([data], {"lowercase": False}) != key
    stat = data.stat()
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    touched = cache_key([data], {"lowercase": True})
    assert touched != key
    data.write_text("a b d\n", encoding="utf-8")
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same size and time, other content
    assert cache_key([data], {"lowercase": True}) not in (key, touched)


SAMPLE_TASKS = {
    "sentiment": ("sentiment.yaml", []),
    "ner": ("ner_bilstm_crf.yaml", []),
    "translation": ("translator_seq2seq.yaml", []),
    "lm_stream": ("language_model.yaml", []),
    "lm_lines": ("language_model.yaml", ["preprocessing.mode=lines"]),
}


@pytest.mark.parametrize("name", sorted(SAMPLE_TASKS))
def test_stored_examples_give_the_batches_the_data_gives(name: str, tmp_path: Path, monkeypatch):
    from nlp_lstm.config import load_config
    from nlp_lstm.preprocessing.cache import EncodedExamples
    from nlp_lstm.tasks import get_task

    monkeypatch.chdir(REPO)
    yaml, overrides = SAMPLE_TASKS[name]
    config = load_config(REPO / "pipelines" / yaml, [*overrides, f"output_dir={tmp_path / 'runs'}"])
    task = get_task(config.task)(config)
    splits = task.read_splits()
    pipeline = task.build_pipeline(splits.train)
    task.encoded(pipeline, splits.train).save(tmp_path / "train")
    stored = EncodedExamples.load(tmp_path / "train")
    direct, cached = (
        task.batches(pipeline, splits.train, shuffle=True),
        task.batches_from(pipeline, stored, shuffle=True),
    )
    assert len(direct) == len(cached) > 1
    np.testing.assert_array_equal(direct.lengths, cached.lengths)
    for i in range(len(direct)):
        for part, stored_part in zip(direct[i], cached[i]):
            if isinstance(part, dict):
                assert part.keys() == stored_part.keys()
                for key in part:
                    np.testing.assert_array_equal(part[key], stored_part[key])
            else:
                np.testing.assert_array_equal(part, stored_part)


@pytest.mark.parametrize(
    "name", sorted({**SAMPLE_TASKS, "ner_joined": ("ner_bilstm_crf.yaml", ["preprocessing.join_sentences=40"])})
)
def test_a_corpus_fitted_and_encoded_a_slice_at_a_time_is_the_corpus_encoded_at_once(
    name: str, tmp_path: Path, monkeypatch
):
    """Slices of 3 examples (the sample files hold dozens), the training file streamed (read again for each
    pass, never held whole): the vocabularies and every packed column
    equal those of the whole split, read into memory, fitted and encoded in one piece."""
    from nlp_lstm.config import load_config
    from nlp_lstm.data import streamed
    from nlp_lstm.data.streamed import StreamedSplit
    from nlp_lstm.preprocessing import inputs, pairs, units
    from nlp_lstm.preprocessing.cache import EncodedExamples, RaggedArray
    from nlp_lstm.tasks import base, get_task
    from nlp_lstm.tasks.ner import task as ner_task

    monkeypatch.chdir(REPO)
    yaml, overrides = {**SAMPLE_TASKS, "ner_joined": ("ner_bilstm_crf.yaml", ["preprocessing.join_sentences=40"])}[name]
    config = load_config(REPO / "pipelines" / yaml, [*overrides, f"output_dir={tmp_path / 'runs'}"])
    task = get_task(config.task)(config)
    splits = task.read_splits()
    assert isinstance(splits.train, StreamedSplit)
    in_memory = task.read_file(Path(config.data.train))
    assert len(splits.train) == len(in_memory)
    whole_pipeline = task.build_pipeline(in_memory)
    whole = task.encode(whole_pipeline, in_memory).packed()
    for module in (inputs, base, ner_task, units, pairs, streamed):
        monkeypatch.setattr(module, "SLICE_EXAMPLES", 3)
    pipeline = task.build_pipeline(splits.train)
    parts = list(task.encode_parts(pipeline, splits.train))
    sliced = task.encoded(pipeline, splits.train)
    whole_dir, sliced_dir = tmp_path / "whole", tmp_path / "sliced"
    whole_dir.mkdir(), sliced_dir.mkdir()
    whole_pipeline.save_preprocessing(whole_dir)
    pipeline.save_preprocessing(sliced_dir)
    for path in whole_dir.rglob("*"):
        if path.is_file():
            assert path.read_bytes() == (sliced_dir / path.relative_to(whole_dir)).read_bytes(), path.name
    if name.startswith("ner"):  # packed sequences, cut in threes within slices that end between documents
        assert len(parts) >= -(-len(whole) // 3)
    else:
        assert len(parts) == (1 if name == "lm_stream" else -(-len(splits.train) // 3))
    assert len(sliced) == len(whole) and (len(parts) > 3 or name == "lm_stream")
    # written into a folder a part at a time (as a cache entry is built) and read back memory-mapped
    written = EncodedExamples.write(task.encode_parts(pipeline, splits.train), tmp_path / "written")
    assert sorted(p.name for p in (tmp_path / "written").iterdir() if p.suffix != ".npy") == ["examples.json"]
    columns = {**whole.inputs, "targets": whole.targets}
    for examples in (sliced, written):
        other_columns = {**examples.inputs, "targets": examples.targets}
        assert columns.keys() == other_columns.keys()
        for key, column in columns.items():
            other = other_columns[key]
            assert isinstance(other, RaggedArray) == isinstance(column, RaggedArray), key
            if isinstance(column, RaggedArray):
                for array in ("values", "offsets", "inner_offsets"):
                    expected, got = getattr(column, array), getattr(other, array)
                    assert (expected is None) == (got is None), (key, array)
                    if expected is not None:
                        np.testing.assert_array_equal(got, expected, err_msg=f"{key}.{array}")
            else:
                np.testing.assert_array_equal(other, column, err_msg=key)


def test_a_second_run_reuses_the_entry_and_trains_as_the_first(
    tiny_sentiment_yaml: Path, sentiment_files: dict[str, Path], tmp_path: Path, monkeypatch
):
    from mlflow.tracking import MlflowClient

    from nlp_lstm.config import load_config
    from nlp_lstm.pipeline import run_pipeline
    from nlp_lstm.tasks.sentiment import task as sentiment_task

    files_read: list[Path] = []
    reader = sentiment_task.labelled_text_reader

    def recording_reader(path, **kwargs):
        made = reader(path, **kwargs)

        def rows():  # each pass over the file
            files_read.append(Path(path))
            return made.rows()

        return dataclasses.replace(made, rows=rows)

    monkeypatch.setattr(sentiment_task, "labelled_text_reader", recording_reader)

    def run(*overrides: str, tracked: bool = False):
        lines: list[str] = []
        files_read.clear()
        tracking = ["tracking.log_model=false"] if tracked else ["tracking.enabled=false"]
        config = load_config(tiny_sentiment_yaml, [*tracking, *overrides])
        result = run_pipeline(config, tiny_sentiment_yaml, log=lines.append)
        return result, "\n".join(lines)

    first, first_log = run(tracked=True)
    assert "preprocessing: cached in" in first_log and sentiment_files["train"] in files_read
    entries = [p for p in (tmp_path / ".preprocessing_cache").iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1 and (entries[0] / "train" / "examples.json").exists()
    second, second_log = run(tracked=True)
    assert f"preprocessing: reused {entries[0]}" in second_log
    # the training file is left unread: its examples come from the entry, and the data passed the checks then
    assert sentiment_files["train"] not in files_read and sentiment_files["test"] in files_read
    examples = int(re.search(r"data: (\d+) train", first_log).group(1))
    assert f"data: {examples} train" in second_log and "not read: held in the preprocessing cache" in second_log
    assert second.history[0]["loss"] == pytest.approx(first.history[0]["loss"], rel=1e-6)
    assert second.metrics == pytest.approx(first.metrics, rel=1e-6)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    training = [
        next(i.dataset for i in client.get_run(r.run_id).inputs.dataset_inputs if i.tags[0].value == "training")
        for r in (first, second)
    ]
    assert training[0].digest == training[1].digest and training[0].profile == training[1].profile
    assert json.loads(training[1].profile) == {"num_rows": examples}
    # A model or training setting leaves the entry usable; a preprocessing setting does not.
    _, other_model = run("model.rnn.units=6", "training.batch_size=4", "training.seed=7")  # no split taken
    assert "preprocessing: reused" in other_model
    _, other_preprocessing = run("preprocessing.max_length=12")
    assert "preprocessing: cached in" in other_preprocessing
    _, off = run("preprocessing.cache=false")
    assert "preprocessing:" not in off
    # A cache that cannot be written costs the run nothing but the time.
    blocked = tmp_path / "not_a_folder"
    blocked.write_text("", encoding="utf-8")
    unwritable, unwritable_log = run(f"preprocessing.cache_dir={blocked}")
    assert "preprocessing: not cached" in unwritable_log and unwritable.metrics == pytest.approx(first.metrics)
    # An entry damaged on disk is rebuilt, not trusted.
    (entries[0] / "train" / "input.token_ids.values.npy").write_bytes(b"")  # as a crash could leave it
    _, damaged = run()
    assert "is unreadable" in damaged and "preprocessing: cached in" in damaged


def test_two_writers_of_one_entry_leave_one_whole_entry(tmp_path: Path):
    from nlp_lstm.preprocessing.cache import EncodedExamples, PreprocessingCache

    cache = PreprocessingCache(tmp_path / "cache")
    first = EncodedExamples({"token_ids": [[1, 2], [3]]}, [0, 1])
    second = EncodedExamples({"token_ids": [[4], [5, 6]]}, [1, 0])
    (tmp_path / "cache" / "k").mkdir(parents=True)  # an entry a killed writer left without its marker
    assert cache.find("k") is None
    cache.store("k", lambda folder: first.save(folder / "train"), {})
    entry = cache.store("k", lambda folder: second.save(folder / "train"), {})  # finished second: first kept
    stored = EncodedExamples.load(entry / "train")
    assert [x.tolist() for x in stored.inputs["token_ids"]] == [[1, 2], [3]]
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["k"]  # no temporary or discarded folder
    cache.discard("k")
    assert cache.find("k") is None and not any((tmp_path / "cache").iterdir())

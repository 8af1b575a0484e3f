"""`nlp-lstm init`: a complete, commented YAML drafted from a user's files, which `run` reads as drafted; what
cannot be inferred is refused with the option to pass."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
import yaml

from nlp_lstm.cli import main
from nlp_lstm.config import load_config
from nlp_lstm.config.describe import settings
from nlp_lstm.config.registry import task_entry
from tests.conftest import NEGATIVE, POSITIVE, REPO

SAMPLE = REPO / "data" / "sample"


def reviews(
    path: Path,
    delimiter: str = ",",
    header: bool = True,
    extra_label_like: bool = False,
    names=("id", "review", "stars"),
) -> Path:
    """A review table with other column names than the defaults: id, review, stars (and a genre column)."""
    rng = random.Random(0)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        if header:
            writer.writerow([*names, *(["genre"] if extra_label_like else [])])
        for i in range(60):
            good = i % 2 == 0
            text = rng.choice(POSITIVE if good else NEGATIVE) + ", said the critic about the film"
            genre = [rng.choice(["drama", "comedy", "horror"])] if extra_label_like else []
            writer.writerow([i, text, 5 if good else 1, *genre])
    return path


def init(*args: str) -> int:
    return main(["init", *[str(a) for a in args]])


def written_keys(text: str) -> set[str]:
    """Every dotted key the YAML text sets (sections included)."""
    keys: set[str] = set()

    def walk(node, prefix):
        for key, value in node.items():
            keys.add(prefix + key)
            if isinstance(value, dict) and value:
                walk(value, f"{prefix}{key}.")

    walk(yaml.safe_load(text), "")
    return keys


def test_a_csv_with_other_column_names_gives_a_complete_commented_yaml(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    data.mkdir()
    reviews(data / "reviews.csv")
    monkeypatch.chdir(tmp_path)
    assert init("sentiment", "--train", "data/reviews.csv", "-o", "configs/my.yaml") == 2  # no folder configs/
    (tmp_path / "configs").mkdir()
    assert init("sentiment", "--train", "data/reviews.csv", "-o", "configs/my.yaml") == 0
    said = capsys.readouterr().err
    assert "data.text_column: 'review' (its header name 'review')" in said
    assert "data.label_column: 'stars'" in said
    assert "2 classes: '5' (30), '1' (30)" in said
    text = (tmp_path / "configs" / "my.yaml").read_text(encoding="utf-8")
    # Complete: every key of the sentiment config is written, each under its description.
    docs = list(settings(task_entry("sentiment").config_class))
    unset = [doc.key for doc in docs if doc.section and doc.default is None]  # written as null
    expected = {doc.key for doc in docs if not any(doc.key.startswith(f"{key}.") for key in unset)}
    assert written_keys(text) == expected
    assert "  # a section when set: coordinator_address, num_processes, process_id" in text
    assert "  # column of the text: a header name or a 0-based index" in text
    assert "  # inferred: its header name 'review'" in text
    assert "  train: ../data/reviews.csv" in text  # relative to the YAML's folder
    assert "output_dir: outputs" in text

    # Read from another folder, the YAML means the same files; it validates and holds what was inferred.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(tmp_path / "configs" / "my.yaml")
    assert Path(config.data.train).resolve() == (data / "reviews.csv").resolve()
    assert Path(config.output_dir).resolve() == (tmp_path / "configs" / "outputs").resolve()
    assert (config.data.text_column, config.data.label_column, config.data.header) == ("review", "stars", True)
    assert config.data.validation is None and config.data.test is None
    assert config.preprocessing.language == "en"
    assert main(["validate", str(tmp_path / "configs" / "my.yaml")]) == 0


def test_an_existing_file_is_replaced_only_with_force(tmp_path, monkeypatch, capsys):
    reviews(tmp_path / "reviews.csv")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sentiment.yaml").write_text("mine\n", encoding="utf-8")
    assert init("sentiment", "--train", "reviews.csv") == 2
    assert "sentiment.yaml exists" in capsys.readouterr().err
    assert (tmp_path / "sentiment.yaml").read_text(encoding="utf-8") == "mine\n"
    assert init("sentiment", "--train", "reviews.csv", "--force") == 0
    assert load_config(tmp_path / "sentiment.yaml").data.text_column == "review"


def test_what_cannot_be_inferred_is_refused_naming_the_option(tmp_path, monkeypatch, capsys):
    reviews(tmp_path / "reviews.csv", extra_label_like=True)
    monkeypatch.chdir(tmp_path)
    # Two columns look like labels: the one with a label's name is taken, and the other is named.
    assert init("sentiment", "--train", "reviews.csv", "-o", "-") == 0
    assert "data.label_column: 'stars' (its header name 'stars'; 'genre' also could" in capsys.readouterr().err
    assert init("sentiment", "--train", "reviews.csv", "--label-column", "genre", "-o", "-") == 0
    assert yaml.safe_load(capsys.readouterr().out)["data"]["label_column"] == "genre"
    # Without such a name, which one holds the labels cannot be told.
    reviews(tmp_path / "anonymous.csv", extra_label_like=True, names=("a", "b", "c"))
    assert init("sentiment", "--train", "anonymous.csv", "-o", "-") == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error == "error: anonymous.csv: several columns could hold the labels ('c', 'genre'); pass --label-column"

    # A column that does not exist, and a file of one class, are one line each.
    assert init("sentiment", "--train", "reviews.csv", "--label-column", "rating", "-o", "-") == 3
    assert "no column 'rating' (columns: 'id', 'review', 'stars', 'genre')" in capsys.readouterr().err
    one_class = tmp_path / "one.csv"
    one_class.write_text("text,label\n" + "".join(f"text number {i},x\n" for i in range(20)), encoding="utf-8")
    assert init("sentiment", "--train", one_class, "-o", "-") == 2
    assert "holds one class ('x')" in capsys.readouterr().err
    assert init("nonsense", "--train", "reviews.csv") == 2
    assert "unknown task 'nonsense'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("delimiter", "header", "name"),
    [(";", True, "reviews.txt"), ("\t", False, "reviews.tsv")],
    ids=["semicolon", "tsv"],
)
def test_delimiters_and_headers_are_told_from_the_file(tmp_path, monkeypatch, capsys, delimiter, header, name):
    reviews(tmp_path / name, delimiter=delimiter, header=header)
    monkeypatch.chdir(tmp_path)
    assert init("sentiment", "--train", name, "-o", "-") == 0
    data = yaml.safe_load(capsys.readouterr().out)["data"]
    assert data["header"] is header
    assert data["delimiter"] == (";" if delimiter == ";" else None)
    assert data["format"] == ("csv" if delimiter == ";" else "tsv")
    assert (data["text_column"], data["label_column"]) == (("review", "stars") if header else (1, 2))


def test_jsonl_keys_are_its_columns(tmp_path, monkeypatch, capsys):
    rows = [{"body": text, "sentiment": "pos", "n": i} for i, text in enumerate(POSITIVE * 3)]
    rows += [{"body": text, "sentiment": "neg", "n": i} for i, text in enumerate(NEGATIVE * 3)]
    (tmp_path / "reviews.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert init("sentiment", "--train", "reviews.jsonl", "-o", "-") == 0
    data = yaml.safe_load(capsys.readouterr().out)["data"]
    assert (data["format"], data["text_column"], data["label_column"]) == ("jsonl", "body", "sentiment")


CONLL_2003 = """-DOCSTART- -X- -X- O

EU NNP B-NP I-ORG
rejects VBZ B-VP O
German JJ B-NP I-MISC
call NN I-NP O
to TO B-VP O
boycott VB I-VP O
British JJ B-NP I-MISC
lamb NN I-NP O
. . O O

Peter NNP B-NP I-PER
Blackburn NNP I-NP I-PER

BRUSSELS NNP B-NP I-LOC
1996-08-22 CD I-NP O
"""


def test_a_conll_2003_file_takes_its_last_tag_column_and_iob1(tmp_path, monkeypatch, capsys):
    (tmp_path / "train.txt").write_text(CONLL_2003 * 3, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert init("ner", "--train", "train.txt", "-o", "ner.yaml") == 0
    said = capsys.readouterr().err
    assert "column(s) 2 look like tags too" in said  # the chunk tags (B-NP...) are not taken
    assert "entities: MISC 6, ORG 3, PER 3, LOC 3" in said
    config = load_config(tmp_path / "ner.yaml")
    assert (config.data.format, config.data.tag_column, config.data.token_column) == ("conll", -1, 0)
    assert config.data.scheme == "iob1"  # entities start with I-
    assert config.data.delimiter is None


def test_a_bad_tag_in_the_validation_file_is_one_line_naming_it(tmp_path, monkeypatch, capsys):
    (tmp_path / "train.txt").write_text(CONLL_2003, encoding="utf-8")
    (tmp_path / "dev.txt").write_text("EU NNP B-NP I-ORG\nrejects VBZ B-VP FOO\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert init("ner", "--train", "train.txt", "--validation", "dev.txt", "-o", "-") == 3
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: dev.txt:1: invalid tag 'FOO'")


def test_a_conll_file_without_tags_is_refused(tmp_path, monkeypatch, capsys):
    (tmp_path / "words.conll").write_text("the DT\ncat NN\n\nsat VBD\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert init("ner", "--train", "words.conll", "-o", "-") == 2
    assert "no column holds IOB/IOBES tags" in capsys.readouterr().err


def test_the_shipped_samples_draft_every_task(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    out = tmp_path / "x.yaml"
    cases = {
        "ner": ["--train", SAMPLE / "ner" / "train.conll", "--validation", SAMPLE / "ner" / "validation.conll"],
        "translation": ["--train", SAMPLE / "translation" / "train.de"],
        "language_model": ["--train", SAMPLE / "language_model" / "train.txt"],
    }
    for task, args in cases.items():
        assert init(task, *args, "-o", out, "--force") == 0, capsys.readouterr().err
        config = load_config(out)
        assert config.task == task
    capsys.readouterr()
    config = load_config(out)  # the language model
    assert (config.preprocessing.tokenizer, config.preprocessing.mode) == ("whitespace", "stream")
    assert init("translation", "--train", SAMPLE / "translation" / "train.de", "-o", out, "--force") == 0
    config = load_config(out)
    assert (config.data.source_lang, config.data.target_lang) == ("de", "en")
    assert Path(config.data.train).resolve() == (SAMPLE / "translation" / "train").resolve()
    # A prefix names both sides: which is the source cannot be told.
    assert init("translation", "--train", SAMPLE / "translation" / "train", "-o", "-") == 2
    assert "pass --source-lang" in capsys.readouterr().err


def test_a_table_of_pairs_tells_its_languages(tmp_path, monkeypatch, capsys):
    pairs = [
        ("Der Mann und die Frau gehen mit dem Hund in den Park.", "The man and the woman walk the dog in the park."),
        ("Ein Kind spielt mit einem Ball auf der Straße.", "A child is playing with a ball on the street."),
        ("Die Katze schläft auf dem Sofa, und es ist warm.", "The cat is sleeping on the sofa, and it is warm."),
    ] * 10
    (tmp_path / "pairs.tsv").write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert init("translation", "--train", "pairs.tsv", "-o", "-") == 0
    data = yaml.safe_load(capsys.readouterr().out)["data"]
    assert (data["format"], data["source_lang"], data["target_lang"], data["header"]) == ("tsv", "de", "en", False)


def test_short_independent_lines_are_read_as_lines(tmp_path, monkeypatch, capsys):
    lines = [f"{random.Random(i).choice(POSITIVE + NEGATIVE)} number {i}" for i in range(200)]
    (tmp_path / "tweets.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert init("language_model", "--train", "tweets.txt", "-o", "-") == 0
    preprocessing = yaml.safe_load(capsys.readouterr().out)["preprocessing"]
    assert (preprocessing["mode"], preprocessing["tokenizer"]) == ("lines", "spacy")

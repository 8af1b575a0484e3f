from pathlib import Path

import pytest

from nlp_lstm.config import flatten_config, load_config, parse_overrides
from nlp_lstm.errors import ConfigError
from nlp_lstm.tasks.sentiment.config import SentimentConfig
from tests.conftest import sentiment_rows, write_csv


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def train_csv(tmp_path: Path) -> Path:
    path = tmp_path / "train.csv"
    path.write_text("text,label\ngood,pos\nbad,neg\n", encoding="utf-8")
    return path


def problems_of(exc_info) -> list[str]:
    return exc_info.value.problems


def test_minimal_yaml_gets_defaults(tmp_path, train_csv):
    config = load_config(write(tmp_path, f"task: sentiment\ndata:\n  train: {train_csv}\n"))
    assert isinstance(config, SentimentConfig)
    assert config.name == "pipeline"  # the file's stem
    assert config.model.rnn.cell == "lstm" and config.model.rnn.recurrent_dropout == 0.0
    assert config.data.validation is None and config.data.split.validation_fraction == 0.1


def test_unknown_key_names_key_line_and_closest_valid_key(tmp_path, train_csv):
    path = write(tmp_path, f"task: sentiment\ndata:\n  train: {train_csv}\n  text_colum: text\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert problems_of(exc) == [f"{path}:4: data.text_colum: unknown key (did you mean 'data.text_column'?)"]


def test_all_problems_reported_together_with_lines(tmp_path):
    path = write(
        tmp_path,
        "task: sentiment\ndata:\n  train: missing.csv\nmodel:\n  rnn:\n    units: -1\n    cell: lsmt\n"
        "training:\n  epochs: many\n",
    )
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    problems = problems_of(exc)
    assert len(problems) == 4
    assert problems[0].startswith(f"{path}:3: data.train: file not found:")
    assert any(p.startswith(f"{path}:6: model.rnn.units: Input should be greater than or equal to 1") for p in problems)
    assert any(
        p.startswith(
            f"{path}:7: model.rnn.cell: Input should be 'lstm', 'gru', 'peephole_lstm', 'cifg_lstm' or 'mlstm'"
        )
        for p in problems
    )
    assert any(p.startswith(f"{path}:9: training.epochs:") for p in problems)
    assert str(path) in str(exc.value)


def test_overrides_are_yaml_scalars_and_flagged_as_set(tmp_path, train_csv):
    path = write(tmp_path, f"task: sentiment\ndata:\n  train: {train_csv}\n")
    config = load_config(path, ["training.epochs=3", "data.text_column=0", "tracking.uri=null", "training.seed=7"])
    assert config.training.epochs == 3 and config.data.text_column == 0 and config.tracking.uri is None
    with pytest.raises(ConfigError) as exc:
        load_config(path, ["training.epocs=3", "training.batch_size=0"])
    assert sorted(problems_of(exc)) == [
        "--set training.batch_size: Input should be greater than or equal to 1 (got 0)",
        "--set training.epocs: unknown key (did you mean 'training.epochs'?)",
    ]


def test_an_item_of_a_list_set_on_the_command_line_is_blamed_on_set(tmp_path, train_csv):
    path = write(tmp_path, f"task: sentiment\ndata:\n  train: {train_csv}\nmodel:\n  hidden_units: [4]\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, ["model.hidden_units=[4, 0]", "model.char_features.kernel_size=[]"])
    assert sorted(problems_of(exc)) == [
        "--set model.char_features.kernel_size: List should have at least 1 item after validation, not 0",
        "--set model.hidden_units.1: Input should be greater than or equal to 1 (got 0)",
    ]
    assert load_config(path, ["model.char_features.kernel_size=5"]).model.char_features.kernel_size == [5]


def test_every_documented_set_key_is_accepted(tmp_path, train_csv):
    keys = {
        "data.train": str(train_csv),
        "data.validation": str(train_csv),
        "data.test": str(train_csv),
        "data.format": "csv",
        "data.text_column": "text",
        "data.label_column": "label",
        "preprocessing.max_length": 20,
        "training.epochs": 1,
        "training.batch_size": 4,
        "training.seed": 1,
        "tracking.uri": "sqlite:///x.db",
        "tracking.experiment": "e",
        "output_dir": "out",
    }
    config = load_config(write(tmp_path, "task: sentiment\n"), keys)
    assert config.preprocessing.max_length == 20 and str(config.output_dir) == "out"


def test_malformed_override_and_value_under_scalar(tmp_path, train_csv):
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_overrides(["training.epochs"])
    path = write(tmp_path, f"task: sentiment\noutput_dir: out\ndata:\n  train: {train_csv}\n")
    with pytest.raises(ConfigError, match="'output_dir' is a value, not a section"):
        load_config(path, ["output_dir.x=1"])


def test_unknown_task_suggests_closest(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown task 'sentimnt' \(did you mean 'sentiment'\?\)"):
        load_config(write(tmp_path, "task: sentimnt\n"))


def test_yaml_syntax_error_has_line_and_column(tmp_path):
    path = write(tmp_path, "task: sentiment\ndata: [unclosed\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert problems_of(exc)[0].startswith(f"{path}:3:")


def test_missing_config_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_split_fractions_must_leave_training_data(tmp_path, train_csv):
    path = write(
        tmp_path,
        f"task: sentiment\ndata:\n  train: {train_csv}\n  split:\n    validation_fraction: 0.5\n    test_fraction: 0.45\n",
    )
    with pytest.raises(ConfigError, match="leaves almost no training data"):
        load_config(path)


def test_unknown_spacy_language(tmp_path, train_csv):
    path = write(tmp_path, f"task: sentiment\ndata:\n  train: {train_csv}\npreprocessing:\n  language: klingon\n")
    with pytest.raises(ConfigError, match="preprocessing.language: spaCy has no language 'klingon'"):
        load_config(path)


def test_flatten_config_gives_dotted_params(tmp_path, train_csv):
    config = load_config(write(tmp_path, f"task: sentiment\ndata:\n  train: {train_csv}\n"))
    flat = flatten_config(config)
    assert flat["training.optimizer.learning_rate"] == 0.001
    assert flat["model.rnn.units"] == 128
    assert all(not (isinstance(v, dict) and v) for v in flat.values())


def test_shipped_pipelines_validate(monkeypatch):
    from tests.conftest import REPO

    monkeypatch.chdir(REPO)
    assert load_config("pipelines/sentiment.yaml").task == "sentiment"
    # SST-2 data is not shipped: only its file checks may fail.
    with pytest.raises(ConfigError) as exc:
        load_config("pipelines/sentiment_sst2.yaml", ["data.train=nope.tsv"])
    assert all("file not found" in p for p in problems_of(exc))


def test_validating_imports_no_deep_learning_framework():
    """`nlp-lstm validate` answers in well under a second (measured by benchmarks/validate_time.py): it must not
    import Keras, a backend, spaCy or MLflow, for any shipped pipeline."""
    import subprocess
    import sys

    from tests.conftest import REPO

    sample = {
        "sentiment_sst2.yaml": [
            "data.train=data/sample/sentiment/train.csv",
            "data.validation=data/sample/sentiment/validation.csv",
            "data.test=data/sample/sentiment/test.csv",
        ],
        "ner_conll2003.yaml": ["data.train=data/sample/ner/train.conll"],
        "translator_multi30k.yaml": ["data.train=data/sample/translation/train"],
        "language_model_wikitext2.yaml": [
            f"data.{split}=data/sample/language_model/{split}.txt" for split in ("train", "validation", "test")
        ],
    }
    checks = []
    for path in sorted((REPO / "pipelines").glob("*.yaml")):
        sets = [arg for value in sample.get(path.name, []) for arg in ("--set", value)]
        checks.append(f"assert main(['validate', {str(path)!r}, *{sets!r}]) == 0, {path.name!r}")
    script = "\n".join(
        [
            "import sys",
            "from nlp_lstm.cli import main",
            *checks,
            "heavy = [m for m in ('keras', 'tensorflow', 'jax', 'torch', 'spacy', 'mlflow', 'sklearn') if m in sys.modules]",
            "assert not heavy, heavy",
        ]
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count(" pipeline\n") == len(checks)


def test_paths_in_a_yaml_are_relative_to_its_folder_and_set_paths_to_the_working_directory(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "configs").mkdir()
    train = write_csv(project / "data" / "train.csv", sentiment_rows())
    other = write_csv(tmp_path / "other.csv", sentiment_rows())
    yaml_path = project / "configs" / "mine.yaml"
    yaml_path.write_text(
        "task: sentiment\ndata:\n  train: ../data/train.csv\n  test: ../data/train.csv\noutput_dir: ../runs\n",
        encoding="utf-8",
    )
    for cwd in (tmp_path, project, project / "configs"):
        monkeypatch.chdir(cwd)
        config = load_config(yaml_path)
        assert Path(config.data.train).resolve() == train.resolve(), cwd
        assert Path(config.output_dir).resolve() == (project / "runs").resolve(), cwd
        assert config.notes == []
    # A --set path is the command line's: relative to the working directory.
    monkeypatch.chdir(tmp_path)
    config = load_config(yaml_path, ["data.train=other.csv", "output_dir=out"])
    assert Path(config.data.train).resolve() == other.resolve()
    assert str(config.output_dir) == "out"
    # A file missing where the YAML points is named by its full path.
    yaml_path.write_text("task: sentiment\ndata:\n  train: train.csv\n", encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        load_config(yaml_path)
    assert problems_of(exc) == [f"{yaml_path}:3: data.train: file not found: {project / 'configs' / 'train.csv'}"]


def test_another_training_file_does_not_take_the_yamls_evaluation_files(tmp_path, monkeypatch, capsys):
    """The shipped pipeline with a user's own file: its sample validation and test files are not used."""
    from nlp_lstm.cli import main
    from tests.conftest import REPO

    mine = write_csv(tmp_path / "mine.csv", sentiment_rows(), header=("review", "stars"))
    monkeypatch.chdir(REPO)
    sets = [f"data.train={mine}", "data.text_column=review", "data.label_column=stars"]
    config = load_config("pipelines/sentiment.yaml", sets)
    assert config.data.validation is None and config.data.test is None
    assert len(config.notes) == 1
    note = config.notes[0]
    assert note.startswith("data.validation and data.test of pipelines/sentiment.yaml")
    assert f"they are split off {mine} instead" in note
    assert main(["validate", "pipelines/sentiment.yaml", *[arg for s in sets for arg in ("--set", s)]]) == 0
    assert f"note: {note}" in capsys.readouterr().err
    # Files given with it are used; the same training file as the YAML's changes nothing.
    config = load_config("pipelines/sentiment.yaml", [*sets, f"data.test={mine}"])
    assert config.data.validation is None and Path(config.data.test) == mine and "data.validation of" in config.notes[0]
    same = load_config("pipelines/sentiment.yaml", ["data.train=data/sample/sentiment/train.csv"])
    assert same.data.validation is not None and same.notes == []


def test_a_saved_config_means_the_same_files_from_anywhere_and_as_the_run_read_them(tmp_path, monkeypatch):
    """A run's config.yaml is written with its paths from its own folder (under a first line saying so): loaded
    by path from anywhere it names the run's files, and a resume (from the run's working directory) reads the
    same strings the run had, so nothing looks changed."""
    from nlp_lstm.config.loader import PATHS_FROM_FILE, config_to_yaml
    from nlp_lstm.model_dir import load_saved_config

    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    write_csv(project / "data" / "train.csv", sentiment_rows())
    monkeypatch.chdir(project)
    config = load_config(data={"task": "sentiment", "data": {"train": "data/train.csv"}, "output_dir": "outputs/x"})
    folder = project / "outputs" / "x" / "run-1"
    folder.mkdir(parents=True)
    text = config_to_yaml(config, folder)
    assert text.startswith(PATHS_FROM_FILE + "\n") and "train: ../../../data/train.csv" in text
    (folder / "config.yaml").write_text(text, encoding="utf-8")
    assert str(load_saved_config(folder).data.train) == "data/train.csv"  # as the run read it
    assert str(load_saved_config(folder).output_dir) == "outputs/x"
    monkeypatch.chdir(tmp_path)
    assert Path(load_config(folder / "config.yaml").data.train).resolve() == (project / "data" / "train.csv")
    # A config saved by nlp_lstm 0.1 (paths from the run's working directory, no first line) still loads so.
    (folder / "config.yaml").write_text(config_to_yaml(config), encoding="utf-8")
    monkeypatch.chdir(project)
    assert str(load_saved_config(folder).data.train) == "data/train.csv"

"""The NER pipeline: casing classes, tag encoding, windowing, entity scoring, the
BiLSTM tagger variants, and the CLI end to end on tiny CoNLL-2003-style IOB1 files.

Tag-scheme conversion, the CoNLL reader and the CRF against brute force are covered in
test_tags_and_conll.py and test_crf.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from keras.ops import convert_to_numpy as to_numpy

from nlp_lstm.errors import DataError
from nlp_lstm.preprocessing.casing import CASING_CLASSES, casing_class, encode_casing
from nlp_lstm.preprocessing.labels import TagEncoder
from nlp_lstm.preprocessing.tags import to_spans
from tests.conftest import REPO, run_cli, run_pipeline


# ------------------------------------------------------------------------------------------- casing
@pytest.mark.parametrize(
    "token, expected",
    [
        ("dog", "lower"),
        ("Dog", "title"),
        ("A", "upper"),
        ("NATO", "upper"),
        ("1996", "numeric"),
        ("12-3", "mostly_numeric"),
        ("3.5", "mostly_numeric"),
        ("3.5%", "contains_digit"),
        ("Win32", "contains_digit"),
        ("Top10List", "contains_digit"),
        ("iPhone", "mixed"),
        ("McDonald", "mixed"),
        (",", "punctuation"),
        ("--", "punctuation"),
        ("", "other"),
    ],
)
def test_casing_class(token, expected):
    assert casing_class(token) == expected


def test_encode_casing_ids_and_empty_sentence():
    ids = encode_casing([["Dog", "barks", "."], []])
    assert ids[0] == [CASING_CLASSES.index("title"), CASING_CLASSES.index("lower"), CASING_CLASSES.index("punctuation")]
    assert len(ids[1]) == 1 and ids[1][0] != 0  # one non-padding entry, like the word ids of an empty text
    assert all(i > 0 for row in ids for i in row)


# -------------------------------------------------------------------------------------- tag encoder
IOBES_TAGS = ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC", "B-PER", "I-PER", "E-PER", "S-PER"]


def test_tag_encoder_fit_encode_decode_and_round_trip(tmp_path):
    encoder = TagEncoder.fit([["B-PER", "E-PER", "O"], ["S-LOC", "O"], ["O"]], "iobes")
    assert encoder.tags == IOBES_TAGS and len(encoder) == 9
    assert encoder.entity_types == ["LOC", "PER"]
    encoded = encoder.encode([["B-PER", "I-PER", "E-PER", "O"], ["S-LOC"]])
    assert [e.tolist() for e in encoded] == [[6, 7, 8, 1], [5]]  # index + 1; 0 is padding
    assert encoder.decode([5, 6, 7, 0]) == ["B-PER", "I-PER", "E-PER", "O"]
    assert encoder.decode(encoded[0] - 1) == ["B-PER", "I-PER", "E-PER", "O"]
    assert TagEncoder.fit([["I-ORG", "B-ORG"]], "iob1").tags == ["O", "B-ORG", "I-ORG"]

    encoder.save(tmp_path / "tags.json")
    loaded = TagEncoder.load(tmp_path / "tags.json")
    assert loaded.tags == encoder.tags and loaded.scheme == "iobes"
    assert [e.tolist() for e in loaded.encode([["S-PER", "O"]])] == [[9, 1]]


def test_tag_encoder_unseen_tag_names_file_and_line():
    encoder = TagEncoder.fit([["S-PER", "O"]], "iobes")
    with pytest.raises(DataError) as info:
        # sentence 1 starts on line 7: its third token (j = 2) is on line 9
        encoder.encode([["O", "S-PER"], ["O", "O", "S-MISC", "S-MISC"]], "file.conll", [3, 7])
    message = str(info.value)
    assert "file.conll:9:" in message and "'S-MISC'" in message and "not seen in training" in message
    with pytest.raises(DataError) as info:
        encoder.encode([["S-LOC"]])
    assert "'S-LOC'" in str(info.value) and ".conll" not in str(info.value)


# ------------------------------------------------------------------------------------------ windows
def test_windows_cover_every_token_once():
    from nlp_lstm.tasks.ner.prediction import windows

    pieces = windows([3, 0, 7], 3)
    assert pieces == [(0, 0, 3), (1, 0, 0), (2, 0, 3), (2, 3, 6), (2, 6, 7)]
    lengths = [1, 8, 9, 16, 17, 0, 5]
    for max_length in (1, 4, 8):
        pieces = windows(lengths, max_length)
        for i, n in enumerate(lengths):
            mine = [(a, b) for j, a, b in pieces if j == i]
            covered = [t for a, b in mine for t in range(a, b)]
            assert covered == list(range(n))
            assert all(0 < b - a <= max_length for a, b in mine) or (n == 0 and mine == [(0, 0)])


def test_sequences_pack_whole_sentences_of_a_document_in_order():
    from nlp_lstm.tasks.ner.prediction import sequences

    lengths, documents = [3, 4, 2, 9, 1, 2, 2], [0, 0, 0, 0, 0, 1, 1]
    assert sequences(lengths, 4) == [
        [piece]
        for piece in [(0, 0, 3), (1, 0, 4), (2, 0, 2), (3, 0, 4), (3, 4, 8), (3, 8, 9), (4, 0, 1), (5, 0, 2), (6, 0, 2)]
    ]
    assert sequences(lengths, 8, documents, join_tokens=7) == [
        [(0, 0, 3), (1, 0, 4)],
        [(2, 0, 2)],
        [(3, 0, 8)],
        [(3, 8, 9)],
        [(4, 0, 1)],
        [(5, 0, 2), (6, 0, 2)],
    ]  # 3 + 4 + 2 > 7; a split sentence keeps its windows; documents 0 and 1 never share a sequence


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 12), st.integers(0, 2)), min_size=1, max_size=30),
    st.integers(1, 10),
    st.integers(0, 10),
)
def test_sequences_cover_every_token_once_within_budget(sentences, max_length, join_tokens):
    from nlp_lstm.tasks.ner.prediction import sequences, windows

    assume(join_tokens <= max_length)
    lengths = [n for n, _ in sentences]
    documents = sorted(d for _, d in sentences)  # documents are runs of consecutive sentences
    packed = sequences(lengths, max_length, documents, join_tokens)
    assert [piece for sequence in packed for piece in sequence] == windows(lengths, max_length)
    for sequence in packed:
        if len(sequence) > 1:
            assert sum(b - a for _, a, b in sequence) <= join_tokens
            assert all(b - a == lengths[i] for i, a, b in sequence) and len({documents[i] for i, _, _ in sequence}) == 1
    for first, second in zip(packed, packed[1:]):  # greedy: a whole next sentence that fit would have joined
        i, a, b = second[0]
        size = sum(e - s for _, s, e in first)
        fits = all(e - s == lengths[j] for j, s, e in first) and size + lengths[i] <= join_tokens
        assert not (fits and a == 0 and b == lengths[i] and documents[i] == documents[first[-1][0]])


def _write_conll(
    path: Path, sentences: list[list[tuple[str, str]]], docstart: bool = True
) -> dict[tuple[int, int], int]:
    """CoNLL-2003 layout (token POS chunk NER); returns (sentence, token) -> line number."""
    lines, where = [], {}
    if docstart:
        lines += ["-DOCSTART- -X- O O", ""]
    for i, sentence in enumerate(sentences):
        for j, (token, tag) in enumerate(sentence):
            lines.append(f"{token} {'NNP' if tag != 'O' else 'NN'} I-NP {tag}")
            where[i, j] = len(lines)
        lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return where


# -------------------------------------------------------------------------------------- entity scores
def _reference_scores(gold, predicted):
    gold_spans = {(i, *s) for i, tags in enumerate(gold) for s in to_spans(tags)}
    pred_spans = {(i, *s) for i, tags in enumerate(predicted) for s in to_spans(tags)}
    tp = len(gold_spans & pred_spans)
    precision = tp / len(pred_spans) if pred_spans else 0.0
    recall = tp / len(gold_spans) if gold_spans else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def test_evaluate_entities_hand_built_iob1_gold_vs_iobes_predictions():
    from nlp_lstm.evaluation.tagging import evaluate_entities

    gold = [["I-PER", "I-PER", "O", "I-LOC", "O"], ["I-ORG", "I-ORG", "I-ORG", "O", "I-PER", "B-PER"]]
    predicted = [
        ["B-PER", "E-PER", "O", "S-ORG", "O"],  # PER right, LOC predicted as ORG
        ["B-ORG", "E-ORG", "O", "O", "S-PER", "S-PER"],
    ]  # ORG too short, both PERs right
    result = evaluate_entities(gold, predicted)
    m = result.metrics
    assert m["precision"] == pytest.approx(0.6) and m["recall"] == pytest.approx(0.6) and m["f1"] == pytest.approx(0.6)
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx(_reference_scores(gold, predicted))
    assert m["PER_f1"] == pytest.approx(1.0) and m["PER_support"] == 3
    assert m["LOC_recall"] == 0.0 and m["LOC_support"] == 1
    assert m["ORG_precision"] == 0.0 and m["ORG_f1"] == 0.0
    assert m["accuracy"] == pytest.approx(9 / 11)  # token accuracy (compared in one scheme)
    assert "PER" in result.report_text and "LOC" in result.report_text
    with pytest.raises(ValueError):
        evaluate_entities(gold, predicted[:1])
    with pytest.raises(ValueError):
        evaluate_entities(gold, [predicted[0], predicted[1][:-1]])


_TAGS = st.sampled_from(["O", "O", "O", "I-PER", "B-PER", "I-LOC", "B-LOC", "I-ORG"])
_IOBES = st.sampled_from(["O", "O", "B-PER", "I-PER", "E-PER", "S-PER", "S-LOC", "B-LOC", "E-LOC", "S-ORG"])


@st.composite
def _gold_and_predicted(draw):
    lengths = draw(st.lists(st.integers(1, 8), min_size=1, max_size=4))
    gold = [draw(st.lists(_TAGS, min_size=n, max_size=n)) for n in lengths]
    predicted = [draw(st.lists(_IOBES, min_size=n, max_size=n)) for n in lengths]
    return gold, predicted


@settings(max_examples=60, deadline=None)
@given(_gold_and_predicted())
def test_evaluate_entities_matches_span_counting(data):
    from nlp_lstm.evaluation.tagging import evaluate_entities

    gold, predicted = data
    # no entity anywhere crashes seqeval's text report: see test_evaluate_entities_without_any_entity
    assume(any(to_spans(t) for t in gold + predicted))
    m = evaluate_entities(gold, predicted).metrics
    precision, recall, f1 = _reference_scores(gold, predicted)
    assert m["precision"] == pytest.approx(precision)
    assert m["recall"] == pytest.approx(recall)
    assert m["f1"] == pytest.approx(f1)
    for kind in {s[0] for tags in gold for s in to_spans(tags)}:
        assert f"{kind}_f1" in m and f"{kind}_support" in m


def test_evaluate_entities_without_any_entity():
    from nlp_lstm.evaluation.tagging import evaluate_entities

    m = evaluate_entities([["O", "O"], ["O"]], [["O", "O"], ["O"]]).metrics
    assert m["f1"] == 0.0 and m["accuracy"] == 1.0


# ------------------------------------------------------------------------------------------- models
NUM_TAGS = 5  # O, B-X, I-X, E-X, S-X (IOBES)
LENGTHS = [6, 4, 2, 1]
TARGET_TAGS = [[4, 0, 1, 2, 3, 0], [0, 1, 3, 0], [4, 4], [0]]  # valid IOBES sequences


def _random_batch(seed=0, vocab_size=20, char_vocab_size=15, chars=5, features=("chars", "casing")):
    rng = np.random.default_rng(seed)
    batch, time = len(LENGTHS), max(LENGTHS)
    mask = np.arange(time)[None, :] < np.array(LENGTHS)[:, None]
    token_ids = np.where(mask, rng.integers(1, vocab_size, (batch, time)), 0).astype("int32")
    inputs = {"token_ids": token_ids}
    if "chars" in features:
        char_lengths = rng.integers(1, chars + 1, (batch, time))
        char_mask = (np.arange(chars)[None, None, :] < char_lengths[..., None]) & mask[..., None]
        inputs["char_ids"] = np.where(char_mask, rng.integers(1, char_vocab_size, (batch, time, chars)), 0).astype(
            "int32"
        )
    if "casing" in features:
        inputs["casing_ids"] = np.where(mask, rng.integers(1, len(CASING_CLASSES), (batch, time)), 0).astype("int32")
    targets = np.zeros((batch, time), dtype="int32")
    for i, tags in enumerate(TARGET_TAGS):
        targets[i, : len(tags)] = np.array(tags) + 1
    return (inputs if len(inputs) > 1 else token_ids), targets, mask


_VARIANTS = {
    "crf_charcnn_casing_constrained": (
        {"decoder": "crf", "char_features": {"encoder": "cnn", "filters": 8, "embedding_dim": 8}},
        True,
    ),
    "crf_charlstm": (
        {
            "decoder": "crf",
            "char_features": {"encoder": "lstm", "lstm_units": 4, "embedding_dim": 8},
            "casing": {"enabled": False},
        },
        False,
    ),
    "softmax_words_only": (
        {"decoder": "softmax", "char_features": {"enabled": False}, "casing": {"enabled": False}},
        False,
    ),
}


@pytest.mark.backends
@pytest.mark.parametrize("variant", list(_VARIANTS))
def test_tagger_trains_decodes_and_saves(variant, tmp_path):
    import keras

    from nlp_lstm.config.schema import OptimizerConfig, TaggerModelConfig
    from nlp_lstm.models.crf import CRF
    from nlp_lstm.models.tagger import build_sequence_tagger, build_tag_decoder, tagging_loss
    from nlp_lstm.preprocessing.tags import allowed_ends, allowed_starts, allowed_transitions
    from nlp_lstm.training.trainer import make_optimizer

    settings_, constrained = _VARIANTS[variant]
    config = TaggerModelConfig(embedding_dim=8, rnn={"units": 8}, input_dropout=0.0, output_dropout=0.0, **settings_)
    labels = ["O", "B-X", "I-X", "E-X", "S-X"]
    keras.utils.set_random_seed(0)
    model = build_sequence_tagger(
        20,
        NUM_TAGS,
        config,
        char_vocab_size=15,
        allowed_transitions=allowed_transitions(labels, "iobes") if constrained else None,
        allowed_start=allowed_starts(labels, "iobes") if constrained else None,
        allowed_end=allowed_ends(labels, "iobes") if constrained else None,
    )
    features = tuple(f for f, on in (("chars", config.char_features.enabled), ("casing", config.casing.enabled)) if on)
    x, y, mask = _random_batch(features=features)
    crf = next((layer for layer in model.layers if isinstance(layer, CRF)), None)
    assert (crf is not None) == (config.decoder == "crf")
    expected_inputs = {"token_ids", *({"chars": "char_ids", "casing": "casing_ids"}[f] for f in features)}
    assert (set(model.input) if isinstance(model.input, dict) else {"token_ids"}) == expected_inputs

    model.compile(optimizer=make_optimizer(OptimizerConfig(learning_rate=0.05)), loss=tagging_loss(model))
    history = model.fit(x, y, batch_size=len(LENGTHS), epochs=2, verbose=0)  # 2 steps through Keras's fit
    assert np.all(np.isfinite(history.history["loss"]))
    losses = [float(model.train_on_batch(x, y)) for _ in range(20)]
    assert all(np.isfinite(losses)), losses
    assert losses[-1] < 0.5 * losses[0], losses

    scores = to_numpy(model.predict_on_batch(x))
    assert scores.shape == (len(LENGTHS), max(LENGTHS), NUM_TAGS) and scores.dtype == np.float32
    decoded = to_numpy(build_tag_decoder(model).predict_on_batch(x))
    assert decoded.shape == mask.shape
    if crf is not None:
        reference, _ = crf.decode(scores, mask)
        reference = keras.ops.convert_to_numpy(reference)
    else:
        reference = np.where(mask, scores.argmax(-1), 0)
    np.testing.assert_array_equal(decoded, reference)
    assert (decoded[~mask] == 0).all()
    # the trained model fits its one batch: decoding gives the targets back
    np.testing.assert_array_equal(np.where(mask, decoded + 1, 0), y)

    path = tmp_path / "tagger.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    np.testing.assert_allclose(to_numpy(loaded.predict_on_batch(x)), scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(to_numpy(build_tag_decoder(loaded).predict_on_batch(x)), decoded)
    if constrained:
        loaded_crf = next(layer for layer in loaded.layers if isinstance(layer, CRF))
        assert loaded_crf.allowed_transitions == crf.allowed_transitions
        assert loaded_crf.allowed_end == crf.allowed_end


# ------------------------------------------------------------------------------------ end to end
PEOPLE = [["John", "Smith"], ["Maria"], ["Peter"], ["Anna", "Berg"]]
PLACES = ["Paris", "Berlin", "London", "Madrid"]
ORGS = ["Google", "Reuters", "Siemens", "UNESCO"]
LONG_SENTENCE = "{p} said on Monday that {o} will build a large new factory near {l} next year ."


def _entity(tokens, kind):
    return [(t, f"I-{kind}") for t in tokens]  # IOB1: entities start with I-


def _sentence(k: int) -> list[tuple[str, str]]:
    person, place, org = PEOPLE[k % 4], PLACES[(k // 2) % 4], ORGS[(k // 3) % 4]
    words = lambda text: [(w, "O") for w in text.split()]  # noqa: E731
    template = k % 5
    if template == 0:
        return _entity(person, "PER") + words("visited") + _entity([place], "LOC") + words(".")
    if template == 1:
        return _entity([org], "ORG") + words("opened an office in") + _entity([place], "LOC") + words(".")
    if template == 2:
        return _entity(person, "PER") + words("works for") + _entity([org], "ORG") + words(".")
    if template == 3:  # two adjacent LOC entities: the second starts with B- in IOB1
        return (
            words("flights from")
            + _entity([place], "LOC")
            + [(PLACES[(k // 2 + 1) % 4], "B-LOC")]
            + words("were late .")
        )
    return (
        words("In")
        + _entity([place], "LOC")
        + words(",")
        + _entity(person, "PER")
        + words("met")
        + _entity([org], "ORG")
        + words("staff .")
    )


def _long_sentence(k: int) -> list[tuple[str, str]]:
    before, after = LONG_SENTENCE.split("{p}")
    tokens = _entity(PEOPLE[k % 4], "PER")
    for word in after.split():
        if word == "{o}":
            tokens += _entity([ORGS[k % 4]], "ORG")
        elif word == "{l}":
            tokens += _entity([PLACES[k % 4]], "LOC")
        else:
            tokens.append((word, "O"))
    return tokens


MAX_LENGTH = 8


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory):
    """One 2-epoch CLI run on tiny IOB1 files, shared by the tests below."""
    tmp = tmp_path_factory.mktemp("ner_e2e")
    train = [_sentence(k) for k in range(28)] + [_long_sentence(0), _long_sentence(1)]
    validation = [_sentence(k) for k in range(3, 9)] + [_long_sentence(2)]
    test = [_sentence(k) for k in range(11, 18)] + [_long_sentence(3)]
    assert max(len(s) for s in train) > MAX_LENGTH
    assert any(t == "B-LOC" for s in train for _, t in s) and any(len(p) > 1 for p in PEOPLE)
    files = {}
    for name, sentences in (("train", train), ("validation", validation), ("test", test)):
        files[name] = tmp / f"{name}.conll"
        _write_conll(files[name], sentences)
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    config = tmp / "ner_tiny.yaml"
    config.write_text(
        f"""
task: ner
data:
  train: {files["train"]}
  validation: {files["validation"]}
  test: {files["test"]}
preprocessing:
  max_length: {MAX_LENGTH}
model:
  embedding_dim: 8
  char_features: {{embedding_dim: 8, filters: 8}}
  casing: {{embedding_dim: 4}}
  rnn: {{units: 8}}
  input_dropout: 0.0
  output_dropout: 0.0
training:
  epochs: 2
  batch_size: 8
  optimizer: {{learning_rate: 0.05}}
tracking:
  uri: {uri}
  experiment: ner-e2e
output_dir: {tmp / "outputs"}
""",
        encoding="utf-8",
    )
    stdout, run_id, model_dir = run_pipeline(config, cwd=tmp)
    return {
        "tmp": tmp,
        "uri": uri,
        "run_id": run_id,
        "model_dir": model_dir,
        "stdout": stdout,
        "files": files,
        "config": config,
        "sentences": {"train": train, "test": test},
    }


def test_ner_run_prints_entity_metrics(ner_run):
    for name in ("test_f1", "test_precision", "test_recall"):
        assert re.search(rf"{name}\s+\d\.\d{{4}}", ner_run["stdout"]), name
    model_dir = ner_run["model_dir"]
    for part in ("model.keras", "pipeline.json", "config.yaml", "preprocessing/tags.json", "preprocessing/ner.json"):
        assert (model_dir / part).exists(), part
    assert json.loads((model_dir / "pipeline.json").read_text())["task"] == "ner"


def test_ner_mlflow_run(ner_run):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=ner_run["uri"])
    run = client.get_run(ner_run["run_id"])
    assert run.info.status == "FINISHED"
    metrics, params = run.data.metrics, run.data.params
    for name in (
        "test_f1",
        "test_precision",
        "test_recall",
        "test_accuracy",
        "test_PER_f1",
        "test_LOC_f1",
        "test_ORG_f1",
        "train_loss",
        "val_loss",
        "val_f1",
    ):
        assert name in metrics, name
        assert np.isfinite(metrics[name])
    assert 0.3 < metrics["test_f1"] <= 1.0  # 2 epochs at a high learning rate find the obvious entities
    history = client.get_metric_history(run.info.run_id, "val_f1")
    assert sorted(m.step for m in history) == [1, 2]
    assert params["task"] == "ner" and params["preprocessing.max_length"] == str(MAX_LENGTH)
    assert params["num_tags"] == "13"  # O + 3 types x BIES
    assert params["entity_types"] == "LOC,ORG,PER"
    assert params["input_scheme"] == "iob1"
    assert int(params["vocab_size"]) > 10 and int(params["char_vocab_size"]) > 10
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert {"evaluation/test_entity_report.txt", "evaluation/test_entity_report.json"} <= artifacts
    preprocessing = {a.path for a in client.list_artifacts(run.info.run_id, "preprocessing")}
    assert "preprocessing/tags.json" in preprocessing and "preprocessing/ner.json" in preprocessing
    saved = json.loads((ner_run["model_dir"] / "metrics.json").read_text())
    assert saved["test_f1"] == pytest.approx(metrics["test_f1"])


def test_ner_predict_cli_gives_entities_with_character_offsets(ner_run):
    texts = ["John Smith visited Paris .", "", "Reuters said Anna Berg met UNESCO staff in London on Monday ."]
    result = run_cli("predict", str(ner_run["model_dir"]), stdin="\n".join(texts) + "\n")
    assert result.returncode == 0, result.stderr[-2000:]
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outputs) == len(texts)
    assert outputs[1] == []
    assert any(outputs), "the trained model finds no entity at all"
    for text, entities in zip(texts, outputs):
        assert isinstance(entities, list)
        for entity in entities:
            assert set(entity) == {"text", "label", "start", "end"}
            assert entity["text"] == text[entity["start"] : entity["end"]]
            assert entity["label"] in {"PER", "LOC", "ORG"}


def test_the_numpy_runtime_predicts_like_keras_without_importing_it(ner_run, tmp_path):
    """A saved NER folder holds its NumPy tagger: `predict --runtime numpy` (and `auto`) answer as the Keras
    model does, in a process that never imports Keras; a folder without one is refused by name."""
    import shutil

    import nlp_lstm
    from nlp_lstm.files import file_sha256
    from nlp_lstm.tasks.ner.prediction import NumpyNerPipeline

    folder = ner_run["model_dir"]
    assert (folder / "tagger.npz").is_file() and NumpyNerPipeline.unavailable(folder) is None
    texts = ["John Smith visited Paris .", "", "Reuters said Anna Berg met UNESCO staff in London on Monday ."]
    texts.append(" ".join(["Paris"] * 300))  # longer than max_length: read in windows
    keras_pipeline, numpy_pipeline = nlp_lstm.load(folder), NumpyNerPipeline.load(folder)
    assert numpy_pipeline.predict(texts) == keras_pipeline.predict(texts)
    tokens = [["John", "Smith", "visited", "Paris", "."], ["Anna"], []]
    assert numpy_pipeline.predict(tokens) == keras_pipeline.predict(tokens)

    script = (
        "import sys; from nlp_lstm.cli import main; code = main(sys.argv[1:]); "
        "print('frameworks:', sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules), "
        "file=sys.stderr); sys.exit(code)"
    )
    stdin = "\n".join(texts) + "\n"
    answers = {}
    for runtime in ("numpy", "auto", "keras"):
        result = subprocess.run(
            [sys.executable, "-c", script, "predict", str(folder), "--runtime", runtime],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        imported = result.stderr.strip().splitlines()[-1]
        assert (imported == "frameworks: []") == (runtime != "keras"), (runtime, imported)
        answers[runtime] = result.stdout
    assert answers["numpy"] == answers["auto"] == answers["keras"]
    from nlp_lstm.cli import NUMPY_RUNTIME_CHARACTERS, _numpy_pipeline

    assert _numpy_pipeline(str(folder), "auto", ["a" * NUMPY_RUNTIME_CHARACTERS]) is not None
    assert _numpy_pipeline(str(folder), "auto", ["a" * (NUMPY_RUNTIME_CHARACTERS + 1)]) is None  # bulk: Keras

    bare = tmp_path / "without_arrays"
    shutil.copytree(folder, bare)
    (bare / "tagger.npz").unlink()
    refused = run_cli("predict", str(bare), "--runtime", "numpy", stdin="Paris\n")
    assert refused.returncode == 2 and "tagger.npz" in refused.stderr and "Traceback" not in refused.stderr
    assert _numpy_pipeline(str(bare), "auto", ["Paris"]) is None  # auto: the Keras model
    # arrays the manifest does not record (another model's, or left by a version that does not write them)
    (bare / "tagger.npz").write_bytes((folder / "tagger.npz").read_bytes() + b"\0")
    assert "not the arrays of the saved model" in NumpyNerPipeline.unavailable(bare)
    stale = run_cli("predict", str(bare), "--runtime", "numpy", stdin="Paris\n")
    assert stale.returncode == 2 and "not the arrays of the saved model" in stale.stderr
    # recorded but damaged: refused by name, and `auto` falls back to the Keras model with a warning
    manifest = json.loads((bare / "pipeline.json").read_text())
    (bare / "tagger.npz").write_bytes((folder / "tagger.npz").read_bytes()[:100])
    manifest["runtime_arrays"]["tagger.npz"] = file_sha256(bare / "tagger.npz")
    (bare / "pipeline.json").write_text(json.dumps(manifest))
    damaged = run_cli("predict", str(bare), "--runtime", "numpy", stdin="Paris\n")
    assert damaged.returncode == 3 and "tagger.npz: damaged" in damaged.stderr, damaged.stderr[-2000:]
    fallback = run_cli("predict", str(bare), stdin=stdin)
    assert fallback.returncode == 0 and "predicting with the Keras model instead" in fallback.stderr
    assert fallback.stdout == answers["keras"]


def test_ner_entities_map_token_spans_to_character_offsets(ner_run):
    """Offsets from the tokenizer (odd spacing, punctuation) with tags forced, so entities are certain."""
    import nlp_lstm

    pipeline = nlp_lstm.load(ner_run["model_dir"])
    forced = {"John": "B-PER", "Smith": "E-PER", "Paris": "S-LOC", "New": "B-ORG", "York": "I-ORG", "Times": "E-ORG"}
    pipeline.tag = lambda token_lists, batch_size=256: [[forced.get(t, "O") for t in tokens] for tokens in token_lists]
    text = "  John  Smith visited (Paris), read the New York Times!"
    [entities] = pipeline.predict([text])
    assert entities == [
        {"text": "John  Smith", "label": "PER", "start": 2, "end": 13},
        {"text": "Paris", "label": "LOC", "start": text.index("Paris"), "end": text.index("Paris") + 5},
        {"text": "New York Times", "label": "ORG", "start": text.index("New"), "end": text.index("Times") + 5},
    ]
    assert pipeline.predict("") == [[]]
    loaded = nlp_lstm.load(ner_run["model_dir"])
    assert loaded.predict(["", "   \t"]) == [[], []] and loaded.predict([[]]) == [[]]  # no entity invented


def test_ner_evaluate_cli_and_conlleval_predictions(ner_run, tmp_path):
    from nlp_lstm.evaluation.tagging import evaluate_entities

    out = tmp_path / "predictions.txt"
    result = run_cli(
        "evaluate", str(ner_run["model_dir"]), "--data", str(ner_run["files"]["test"]), "--predictions-out", str(out)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(result.stdout)
    assert {"f1", "precision", "recall", "accuracy"} <= set(metrics)
    # the saved model scores the test file exactly as the trained one did during the run
    import mlflow

    logged = mlflow.MlflowClient(tracking_uri=ner_run["uri"]).get_run(ner_run["run_id"]).data.metrics
    assert metrics["f1"] == pytest.approx(logged["test_f1"], abs=1e-9)

    blocks = out.read_text(encoding="utf-8").split("\n\n")
    assert blocks[-1].strip() == ""
    blocks = blocks[:-1]
    sentences = ner_run["sentences"]["test"]
    assert len(blocks) == len(sentences)
    gold, predicted = [], []
    for block, sentence in zip(blocks, sentences):
        rows = [line.split(" ") for line in block.strip("\n").split("\n")]
        assert all(len(row) == 3 for row in rows)
        assert [(r[0], r[1]) for r in rows] == sentence  # gold column is the file's IOB1 tags
        gold.append([r[1] for r in rows])
        predicted.append([r[2] for r in rows])
    rescored = evaluate_entities(gold, predicted).metrics
    assert rescored["f1"] == pytest.approx(metrics["f1"])
    assert rescored["precision"] == pytest.approx(metrics["precision"])


def test_ner_pyfunc_wrapper_returns_entities_per_text(ner_run):
    import pandas as pd

    import nlp_lstm
    from nlp_lstm.tracking.pyfunc import PipelinePyfunc

    wrapper = PipelinePyfunc()
    wrapper.pipeline = nlp_lstm.load(ner_run["model_dir"])
    texts = ["John Smith visited Paris .", ""]
    expected = wrapper.pipeline.predict(texts)
    assert expected[1] == []  # one list of entities per text; none for an empty one
    for model_input in (
        pd.DataFrame({"text": texts}),
        pd.DataFrame({"id": [1, 2], "text": texts}),
        texts,
        pd.Series(texts),
    ):
        assert wrapper.predict(None, model_input) == expected


def _valid_iob1(tags, types=("PER", "LOC", "ORG")):
    return all(t == "O" or (t[:2] in {"I-", "B-"} and t[2:] in types) for t in tags)


def test_ner_load_predicts_one_tag_per_token_in_a_fresh_process(ner_run):
    import nlp_lstm

    sentences = [
        ["John", "Smith", "visited", "Paris", "."],
        [t for t, _ in _long_sentence(2)] + ["and", "then", "went", "home", "."],
        ["Reuters"],
        ["unseenword", "zzz"],
        [],
    ]
    assert len(sentences[1]) > 2 * MAX_LENGTH
    pipeline = nlp_lstm.load(ner_run["model_dir"])
    here = pipeline.predict(sentences)
    assert [len(t) for t in here] == [len(s) for s in sentences]
    assert all(_valid_iob1(tags) for tags in here)
    # predict() returns the training-scheme (IOBES) tags converted to the files' scheme
    from nlp_lstm.preprocessing.tags import convert

    assert [convert(tags, "iob1") for tags in pipeline.tag(sentences)] == here
    script = (
        f"import json, nlp_lstm; print(json.dumps(nlp_lstm.load({str(ner_run['model_dir'])!r}).predict({sentences!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ner_run["tmp"], timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == here


# ------------------------------------------------------------------------------------- user errors
def test_joined_sentences_are_tagged_as_one_sequence_and_split_back(ner_run):
    import nlp_lstm
    from nlp_lstm.preprocessing.tags import convert

    pipeline = nlp_lstm.load(ner_run["model_dir"])
    tokens = [["Maria", "visited", "Paris"], ["Berlin", "staff", "."]]  # 6 tokens together
    gold = [["I-PER", "O", "I-LOC"], ["I-LOC", "O", "O"]]  # read together, IOB1 would make one LOC
    pipeline.config.preprocessing.join_sentences = MAX_LENGTH
    joined = pipeline.tag(tokens, documents=[0, 0])
    whole = pipeline.tag([tokens[0] + tokens[1]])[0]  # what the model says reading both as one sentence
    assert joined == [whole[: len(tokens[0])], whole[len(tokens[0]) :]]
    assert pipeline.tag(tokens, documents=[0, 1]) == pipeline.tag(tokens)  # different documents: read apart

    batches, packed = pipeline.batches(tokens, gold, documents=[0, 0])
    assert packed == [[(0, 0, 3), (1, 0, 3)]]
    expected = [pipeline.tags.index[t] + 1 for tags in gold for t in convert(tags, pipeline.tags.scheme)]
    assert expected[2] == expected[3] == pipeline.tags.index["S-LOC"] + 1  # each sentence converted on its own
    np.testing.assert_array_equal(batches[0][1][0][: len(expected)], expected)


def test_join_sentences_longer_than_max_length_names_the_key(ner_run):
    from nlp_lstm.config.loader import load_config
    from nlp_lstm.errors import ConfigError

    with pytest.raises(ConfigError, match=r"preprocessing.*join_sentences \(9\) is more than max_length \(8\)"):
        load_config(ner_run["config"], ["preprocessing.join_sentences=9"])


def test_ner_user_errors(ner_run, tmp_path):
    import mlflow

    sentences = [_sentence(k) for k in range(6)]
    sentences[2][1] = (sentences[2][1][0], "X-PER")
    bad = tmp_path / "bad_train.conll"
    where = _write_conll(bad, sentences)
    result = run_cli(
        "run",
        str(ner_run["config"]),
        "--set",
        f"data.train={bad}",
        "--set",
        f"output_dir={tmp_path / 'out'}",
        cwd=tmp_path,
    )
    assert result.returncode == 3, result.stderr[-2000:]
    assert f"{bad}:{where[2, 1]}:" in result.stderr and "X-PER" in result.stderr
    assert "Traceback" not in result.stderr

    # a type only in the validation file, in the second window of a long sentence: the error names its line
    validation = [_sentence(0), _long_sentence(1)]
    position = MAX_LENGTH + 2
    validation[1][position] = (validation[1][position][0], "I-MISC")
    bad = tmp_path / "bad_validation.conll"
    where = _write_conll(bad, validation)
    result = run_cli(
        "run",
        str(ner_run["config"]),
        "--set",
        f"data.validation={bad}",
        "--set",
        f"output_dir={tmp_path / 'out'}",
        "--set",
        "tracking.experiment=ner-e2e-fail",
        cwd=tmp_path,
    )
    assert result.returncode == 3, result.stderr[-2000:]
    assert f"{bad}:{where[1, position]}: entity type 'MISC' (tag 'I-MISC') was not seen in training" in result.stderr
    assert "Traceback" not in result.stderr
    assert mlflow.MlflowClient(tracking_uri=ner_run["uri"]).get_experiment_by_name("ner-e2e-fail") is None  # no run

    result = run_cli("run", str(ner_run["config"]), "--set", "model.char_features.encodr=lstm", cwd=tmp_path)
    assert result.returncode == 2
    assert "model.char_features.encodr" in result.stderr and "model.char_features.encoder" in result.stderr
    assert "Traceback" not in result.stderr

    result = run_cli("run", str(ner_run["config"]), "--set", "data.scheme=bio", cwd=tmp_path)
    assert result.returncode == 2
    assert "data.scheme" in result.stderr and "Traceback" not in result.stderr


def test_ensemble_benchmark_decodes_like_the_pipeline(ner_run):
    """benchmarks/conll2003_ensemble.py: one member, or a member averaged with itself, gives the pipeline's tags."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from conll2003_ensemble import ensemble_tags

    from nlp_lstm.pipeline import load_pipeline

    pipeline = load_pipeline(ner_run["model_dir"])
    data = pipeline.read_data(ner_run["files"]["test"])
    assert max(len(t) for t in data.tokens) > MAX_LENGTH  # windows of a long sentence are decoded apart
    expected = pipeline.tag(data.tokens)
    assert ensemble_tags([pipeline], data) == expected
    twin = load_pipeline(ner_run["model_dir"])
    assert ensemble_tags([pipeline, twin], data) == expected
    weights = [w.copy() for w in pipeline.model.get_weights()]
    other = load_pipeline(ner_run["model_dir"])
    other.model.set_weights([w * 0.5 for w in weights])  # a different member: its average is written into
    # the first member's CRF for decoding, which must get its own weights back afterwards
    mixed = ensemble_tags([pipeline, other], data)
    assert [len(t) for t in mixed] == [len(t) for t in expected]
    assert all(np.array_equal(a, b) for a, b in zip(pipeline.model.get_weights(), weights))  # restored


def test_ner_logged_models_load_anywhere_and_the_pipeline_serves_like_predict(ner_run, tmp_path):
    import nlp_lstm
    from tests.helpers.mlflow_models import (
        assert_keras_model_loads_in_a_fresh_process,
        assert_requirements_are_complete,
        assert_serves_like_predict,
        post,
        scoring_server,
    )

    pipeline = nlp_lstm.load(ner_run["model_dir"])
    batch, _ = pipeline.batches([["Karsten", "Holm", "visited", "Nairobi", "."], ["Paris"]])
    inputs = batch[0][0]
    assert_keras_model_loads_in_a_fresh_process(
        ner_run["uri"], ner_run["run_id"], inputs, pipeline.model.predict(inputs, verbose=0), tmp_path
    )
    assert_requirements_are_complete(ner_run["uri"], ner_run["run_id"])
    texts = ["Karsten Holm flew to Nairobi.", "", "   "]
    tokens = [["Karsten", "Holm", "visited", "Nairobi", "."], ["Paris"]]
    with scoring_server(f"runs:/{ner_run['run_id']}/pipeline", ner_run["uri"], tmp_path) as url:
        assert_serves_like_predict(url, texts, pipeline.predict(texts))
        # Pre-tokenized sentences are tagged whole, one tag per token, as `predict` tags them.
        assert post(url, {"inputs": tokens}) == (200, {"predictions": pipeline.predict(tokens)})
        status, answer = post(url, {"inputs": ["Paris", ["Paris"]]})
        assert (
            status == 400 and answer["message"] == "the inputs mix texts and lists of tokens: send one kind per request"
        )
        status, answer = post(url, {"inputs": [["Paris", 3]]})
        assert status == 400 and answer["message"] == "input 0: token 1 is a number, not a text"


def test_speed_benchmark_reads_the_ner_figures_of_both_benchmarks():
    """benchmarks/speed.py's targets 1 and 2 from the lines conll2003.py and spacy_ner.py print, spaCy's ENTS_F
    column found from its log header."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from spacy_ner import entity_f1_by_time
    from speed import ner_summary

    header = "E    #       LOSS TOK2VEC  LOSS NER  ENTS_F  ENTS_P  ENTS_R  SCORE \n"
    rows = [
        (30.0, "  0       0          0.00     42.10    0.12    0.50    0.07    0.00\n"),
        (400.0, "  3    4000        900.00   2100.00   85.57   86.00   85.10    0.86\n"),
        (800.0, "  6    8000        700.00   1500.00   85.40   85.90   84.90    0.85\n"),
    ]
    evaluations = entity_f1_by_time(rows, header)
    assert [(seconds, step) for seconds, step, _ in evaluations] == [(30.0, 0), (400.0, 4000), (800.0, 8000)]
    assert [f1 for *_, f1 in evaluations] == pytest.approx([0.0012, 0.8557, 0.854])
    ours = (
        "epoch 1: eng.testa F1 0.8012 after 150 s (run start to the end of its validation)\n"
        "epoch 2: eng.testa F1 0.8601 after 290 s (run start to the end of its validation)\n"
        "prediction on eng.testb (3453 sentences, 46435 tokens): raw text 20,100 tokens/s, pre-tokenized 24,000 tokens/s\n"
        "split           F1       P       R\n"
        "eng.testa   0.9188  0.9\n"
        "eng.testb   0.8688  0.8703  0.8674\n"
    )
    spacy = (
        "spaCy best eng.testa ents_f 0.8557 (spaCy scorer) at step 4000, 400 s after spacy train started\n"
        "prediction on eng.testb (3453 sentences, 46435 tokens): raw text 17,369 tokens/s, pre-tokenized 30,000 tokens/s\n"
        "eng.testa   0.8557  0.8\n"
        "eng.testb   0.7885  0.79  0.78\n"
    )
    predict, train = ner_summary(ours, spacy)
    assert (
        predict.startswith("ner predict speed vs spacy: 1.16x (20,100 vs 17,369") and "F1 0.8688 vs 0.7885" in predict
    )
    assert train.startswith("ner training time to spacy's best vs spacy: 0.72x (290 s to eng.testa F1 >= 0.8557")


def test_character_features_per_distinct_word_give_the_per_token_tags(ner_run, monkeypatch):
    """Both NER pipelines embed each distinct word's characters once (`encode_tokens_with_word_table`): the
    table's rows are each token's characters, and the tags are those of the per-token model."""
    import nlp_lstm
    from nlp_lstm.tasks.ner.prediction import NerPrediction, NumpyNerPipeline

    folder = ner_run["model_dir"]
    keras_pipeline, numpy_pipeline = nlp_lstm.load(folder), NumpyNerPipeline.load(folder)
    token_lists = [["John", "Smith", "visited", "Paris", "."], [], ["Paris", "Paris", "UNESCO"], ["x" * 60]]
    inputs, table = keras_pipeline.word_inputs.encode_tokens_with_word_table(token_lists)
    per_token = keras_pipeline.word_inputs.encode_tokens(token_lists)
    assert "char_ids" not in inputs and inputs["token_ids"] == per_token["token_ids"]
    assert [[table[row - 1] for row in rows] for rows in inputs["word_index"]] == per_token["char_ids"]
    assert inputs["word_index"][2][:2] == [inputs["word_index"][0][3]] * 2  # one row per distinct word

    texts = ["John Smith visited Paris .", "", "Reuters said Anna Berg met UNESCO staff in London on Monday ."]
    texts += [" ".join(["Paris", "Berlin", "Xylophonically"] * 90)]  # windows, repeated words
    assert keras_pipeline.reads_word_table and numpy_pipeline.reads_word_table
    with_table = keras_pipeline.predict(texts)
    assert any(with_table), "the trained model finds no entity: the comparison would say nothing"
    assert numpy_pipeline.predict(texts) == with_table
    monkeypatch.setattr(NerPrediction, "reads_word_table", property(lambda self: False))
    monkeypatch.setattr(type(keras_pipeline), "reads_word_table", property(lambda self: False))
    assert keras_pipeline.predict(texts) == with_table

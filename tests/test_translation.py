"""Translator pipeline: readers and config errors, pair encoding, attention, decoder consistency, greedy and
beam search (against brute force), and an end-to-end CLI run with its MLflow record."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops
from keras.ops import convert_to_numpy as to_numpy

from nlp_lstm.config.loader import load_config
from nlp_lstm.config.schema import TranslationPreprocessingConfig, TranslatorModelConfig
from nlp_lstm.data.parallel import read_parallel_files, read_parallel_table
from nlp_lstm.errors import ConfigError, DataError
from nlp_lstm.models.search import beam_search, build_search_model, greedy_search, length_penalty
from nlp_lstm.models.seq2seq import Attention, build_translator
from nlp_lstm.preprocessing.pairs import BOS, EOS, PairEncoder
from nlp_lstm.preprocessing.tokenizer import JOINER, Tokenizer, detokenize
from tests.conftest import REPO, run_cli, run_pipeline

SAMPLE = REPO / "data" / "sample" / "translation"


def _write_pairs(prefix: Path, pairs: list[tuple[str, str]], source_lang: str = "de", target_lang: str = "en") -> Path:
    Path(f"{prefix}.{source_lang}").write_text("".join(s + "\n" for s, _ in pairs), encoding="utf-8")
    Path(f"{prefix}.{target_lang}").write_text("".join(t + "\n" for _, t in pairs), encoding="utf-8")
    return prefix


def _sample_pairs(split: str, count: int) -> list[tuple[str, str]]:
    sources = (SAMPLE / f"{split}.de").read_text(encoding="utf-8").splitlines()
    targets = (SAMPLE / f"{split}.en").read_text(encoding="utf-8").splitlines()
    return list(zip(sources, targets))[:count]


# ------------------------------------------------------------------------------------------- readers
def test_parallel_files_and_line_count_mismatch(tmp_path):
    prefix = _write_pairs(
        tmp_path / "train", [("Ein Hund.", "A dog."), ("", "Nothing."), ("Zwei Katzen.", "Two cats.")]
    )
    pairs = read_parallel_files(f"{prefix}.de", f"{prefix}.en")
    assert pairs.sources == ["Ein Hund.", "", "Zwei Katzen."] and pairs.targets[2] == "Two cats."
    assert pairs.lines == [1, 2, 3] and len(pairs.subset([2, 0])) == 2

    Path(f"{prefix}.en").write_text("A dog.\nTwo cats.\n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        read_parallel_files(f"{prefix}.de", f"{prefix}.en")
    message = str(error.value)
    assert f"{prefix}.de has 3 lines" in message and f"{prefix}.en has 2" in message


def test_parallel_table_columns_and_empty_target(tmp_path):
    path = tmp_path / "deu.txt"
    path.write_text("Go.\tGeh.\tCC-BY 2.0 attribution\nHi.\tHallo!\tCC-BY 2.0\n", encoding="utf-8")
    pairs = read_parallel_table(path, format="tsv", source_column=1, target_column=0)
    assert pairs.sources == ["Geh.", "Hallo!"] and pairs.targets == ["Go.", "Hi."]
    path.write_text("Go.\tGeh.\nHi.\t \n", encoding="utf-8")
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}:2: empty target sentence"):
        read_parallel_table(path, format="tsv", source_column=0, target_column=1)


def _translation_yaml(tmp_path: Path, prefix: Path, extra: str = "") -> Path:
    path = tmp_path / "translate.yaml"
    path.write_text(
        f"task: translation\ndata:\n  source_lang: de\n  target_lang: en\n  train: {prefix}\n{extra}", encoding="utf-8"
    )
    return path


def test_config_errors_name_key_line_and_file(tmp_path):
    prefix = _write_pairs(tmp_path / "train", [("Ein Hund.", "A dog.")] * 4)
    config = load_config(_translation_yaml(tmp_path, prefix))
    assert config.data.train == prefix and config.decoding.beam_size == 5

    (tmp_path / "train.en").unlink()
    with pytest.raises(ConfigError) as error:
        load_config(_translation_yaml(tmp_path, prefix))
    assert re.search(r"translate\.yaml:5: data\.train: file not found: .*train\.en", str(error.value))

    _write_pairs(prefix, [("Ein Hund.", "A dog.")] * 4)
    bad = "model:\n  decoder: {units: 100, attention: dot, atention: general}\n"
    with pytest.raises(ConfigError) as error:
        load_config(_translation_yaml(tmp_path, prefix, bad))
    text = str(error.value)
    assert "model.decoder.atention: unknown key (did you mean 'model.decoder.attention'?)" in text
    with pytest.raises(ConfigError, match=r"decoder.attention 'dot' needs decoder.units \(100\) equal to the encoder"):
        load_config(_translation_yaml(tmp_path, prefix, "model:\n  decoder: {units: 100, attention: dot}\n"))
    with pytest.raises(ConfigError, match="source_lang and target_lang are both 'de'"):
        load_config(_translation_yaml(tmp_path, prefix), overrides=["data.target_lang=de"])
    with pytest.raises(ConfigError, match="data.source_lang: spaCy has no language 'qq'"):
        load_config(_translation_yaml(tmp_path, prefix), overrides=["data.source_lang=qq"])


# ------------------------------------------------------------------------------------- preprocessing
@pytest.mark.parametrize(
    "text",
    [
        "Two young, White males are outside near many bushes.",
        'A man in a T-shirt doesn\'t "smile" (really)...',
        "Zwei Männer – einer mit 3,5 kg-Hanteln – stehen am Strand.",
        "",
    ],
)
def test_joiner_tokens_detokenize_to_the_text(text):
    tokens = Tokenizer("en", lowercase=False, unicode_normalization="none").tokenize_with_joiners([text])[0]
    assert detokenize(tokens) == " ".join(text.split())


def _preprocessing(**overrides) -> TranslationPreprocessingConfig:
    settings = {
        "source": {"max_length": 4, "vocab": {"min_frequency": 1}},
        "target": {"max_length": 4, "vocab": {"min_frequency": 1}},
        **overrides,
    }
    return TranslationPreprocessingConfig.model_validate(settings)


def test_pair_encoder_length_policy_specials_decoding_and_round_trip(tmp_path):
    sources = ["Ein Hund.", "Ein sehr sehr großer Hund läuft.", "Eine Katze."]
    targets = ["A dog.", "A very very big dog runs.", "A cat."]
    encoder = PairEncoder.fit(sources, targets, "de", "en", _preprocessing())
    assert "großer" not in encoder.source.vocab and "big" not in encoder.target.vocab  # filtered pair
    assert encoder.target.vocab.tokens[:4] == ["<pad>", "<unk>", BOS, EOS]
    assert f"{JOINER}." in encoder.target.vocab

    encoded = encoder.encode_pairs(sources, targets, apply_length_policy=True)
    assert encoded.kept == [0, 2]
    dog = encoder.target.vocab.encode(["A", "dog", f"{JOINER}."])
    assert encoded.target_in[0] == [encoder.bos_id, *dog] and encoded.target_out[0] == [*dog, encoder.eos_id]
    everything = encoder.encode_pairs(sources, targets, apply_length_policy=False)
    assert everything.kept == [0, 1, 2] and len(everything.source_ids[1]) == 4 and len(everything.target_in[1]) == 5
    assert encoder.encode_sources(["", "Ein Hund."]) == [[1], encoder.source.vocab.encode(["Ein", "Hund", "."])]

    assert encoder.decode([*dog, encoder.eos_id, *dog]) == "A dog."
    assert encoder.decode([encoder.bos_id, *dog, 0, 0]) == "A dog."

    truncating = PairEncoder.fit(sources, targets, "de", "en", _preprocessing(long_pairs="truncate"))
    assert "big" in truncating.target.vocab and "runs" not in truncating.target.vocab

    encoder.save(tmp_path)
    loaded = PairEncoder.load(tmp_path)
    assert loaded.target.vocab.tokens == encoder.target.vocab.tokens and loaded.long_pairs == "filter"
    assert loaded.encode_sources(sources) == encoder.encode_sources(sources)


def test_unknown_words_are_replaced_by_the_most_attended_source_word():
    sources, targets = ["Ein Hund.", "Eine Katze läuft."], ["A dog.", "A cat runs."]
    encoder = PairEncoder.fit(
        sources,
        targets,
        "de",
        "en",
        _preprocessing(source={"lowercase": True, "max_length": 6, "vocab": {"min_frequency": 1}}),
    )
    a, unk, eos = encoder.target.vocab.index["A"], encoder.target.vocab.oov_id, encoder.eos_id
    source = "Ein Zebra namens Otto läuft weg."  # the encoder sees 6 positions: "." is cut
    assert encoder.source_words(source) == ["Ein", "Zebra", "namens", "Otto", "läuft", "weg"]
    attention = np.zeros((5, 6))
    attention[[0, 1, 2, 3], [0, 3, 1, 5]] = 1.0
    ids = [a, unk, unk, eos, unk]  # nothing after EOS counts
    assert encoder.has_unknown(ids) and not encoder.has_unknown([a, eos, unk]) and not encoder.has_unknown([a])
    assert encoder.decode(ids) == "A <unk> <unk>"
    assert encoder.decode_replacing_unknown(ids, attention, source) == "A Otto Zebra"  # as written, not lowercased
    attention[1] = [0.1, 0.2, 0.1, 0.1, 0.1, 0.4]
    assert encoder.decode_replacing_unknown(ids, attention, source) == "A weg Zebra"
    assert encoder.decode_replacing_unknown([unk, eos], np.ones((2, 1)), "") == ""  # nothing to copy


def test_pair_encoder_with_subwords_spells_rare_words_and_counts_pieces(tmp_path):
    pairs = _sample_pairs("train", 2000)
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    settings = {"subwords": {"enabled": True, "vocab_size": 300}, "max_length": 50, "vocab": {"min_frequency": 1}}
    encoder = PairEncoder.fit(sources, targets, "de", "en", _preprocessing(source=settings, target=settings))
    assert any(token.startswith(JOINER) and token[1:].isalpha() for token in encoder.target.vocab.tokens)

    unseen = "Ein Wakeboarderinnen-Team springt."
    pieces = encoder.source.units([unseen])[0]
    assert "".join(p.removeprefix(JOINER) for p in pieces) == "EinWakeboarderinnen-Teamspringt."
    assert len(pieces) > 6 and len(encoder.encode_sources([unseen])[0]) == len(pieces)
    words = encoder.source_words(unseen)  # the word each piece belongs to, for unknown-word replacement
    assert len(words) == len(pieces) and list(dict.fromkeys(words)) == encoder.source.tokenizer.tokenize([unseen])[0]
    starts = [i for i, p in enumerate(pieces) if not p.startswith(JOINER)] + [len(pieces)]
    assert all(len(set(words[b:e])) == 1 for b, e in zip(starts, starts[1:]))

    references = ["A man in a red shirt wakeboards.", "Two dogs!"]  # the sample's English has no "!"
    encoded = encoder.encode_pairs(["Ein Mann.", "Zwei Hunde."], references, apply_length_policy=False)
    assert [encoder.decode(ids) for ids in encoded.target_out] == [references[0], "Two dogs <unk>"]
    assert len(encoded.target_out[0]) > len(references[0].split()) + 2  # pieces, not words

    short = {**settings, "max_length": 12}
    filtering = PairEncoder.fit(sources[:50], targets[:50], "de", "en", _preprocessing(source=short, target=short))
    kept = filtering.encode_pairs(sources[:50], targets[:50], apply_length_policy=True)
    assert 0 < len(kept.kept) < 50 and max(len(ids) for ids in kept.target_in) <= 13  # BOS + 12 pieces

    encoder.save(tmp_path)
    assert (tmp_path / "source_subwords.model").exists() and (tmp_path / "target_subwords.model").exists()
    loaded = PairEncoder.load(tmp_path)
    assert loaded.encode_sources([unseen, *sources[:20]]) == encoder.encode_sources([unseen, *sources[:20]])


# ---------------------------------------------------------------------------------------- attention
@pytest.mark.backends
@pytest.mark.parametrize("score", ["dot", "general", "additive"])
def test_attention_ignores_source_padding(score):
    rng = np.random.default_rng(0)
    layer = Attention(score, units=6)
    layer.build((None, None, 6), (None, None, 6))
    query = rng.normal(size=(2, 3, 6)).astype("float32")
    memory = rng.normal(size=(2, 5, 6)).astype("float32")
    mask = np.array([[True] * 5, [True, True, False, False, False]])
    context, weights = layer(query, memory, mask)
    weights = to_numpy(weights)
    assert context.shape == (2, 3, 6) and weights.shape == (2, 3, 5)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    assert np.all(weights[1, :, 2:] == 0.0)
    changed = memory.copy()
    changed[1, 2:] = 100.0  # whatever sits at padded positions
    context_changed, _ = layer(query, changed, mask)
    np.testing.assert_allclose(to_numpy(context_changed)[1], to_numpy(context)[1], rtol=1e-5, atol=1e-6)


def _tiny_translator(
    input_feeding: bool,
    attention: str = "general",
    tie: bool = False,
    layers: int = 1,
    encoder_cell: str = "lstm",
    word_dropout: float = 0.0,
):
    config = TranslatorModelConfig.model_validate(
        {
            "source_embedding_dim": 8,
            "target_embedding_dim": 8,
            "embedding_dropout": 0.0,
            "source_word_dropout": word_dropout,
            "target_word_dropout": word_dropout,
            "encoder": {"cell": encoder_cell, "units": 8, "layers": 2, "dropout": 0.0},
            "decoder": {
                "units": 16,
                "layers": layers,
                "attention": attention,
                "input_feeding": input_feeding,
                "dropout": 0.0,
                "tie_embeddings": tie,
            },
        }
    )
    keras.utils.set_random_seed(1)
    return build_translator(20, 12, config)


def _source_batch():
    source = np.array([[5, 6, 7, 8, 9, 10], [4, 3, 2, 0, 0, 0], [11, 0, 0, 0, 0, 0]], dtype="int32")
    target_in = np.array([[2, 5, 6, 7, 8], [2, 9, 4, 0, 0], [2, 7, 0, 0, 0]], dtype="int32")
    return source, target_in


@pytest.mark.backends
@pytest.mark.parametrize(
    "input_feeding,attention,tie,layers,encoder_cell",
    [
        (True, "general", False, 1, "lstm"),
        (False, "general", False, 2, "gru"),
        (True, "additive", True, 2, "lstm"),
        (False, "dot", False, 1, "cifg_lstm"),
    ],
)
def test_teacher_forced_logits_equal_step_by_step_decoding(input_feeding, attention, tie, layers, encoder_cell):
    """The training graph (cuDNN-eligible layers or scan) and the inference step compute the same thing, with
    any encoder cell (the decoder starts from the encoder's top output at the last token, which every cell has)."""
    model = _tiny_translator(input_feeding, attention, tie, layers, encoder_cell)
    source, target_in = _source_batch()
    logits = to_numpy(model.predict_on_batch({"source_ids": source, "target_in": target_in}))
    expected = to_numpy(ops.log_softmax(logits, axis=-1))
    encoder, decoder = model.get_layer("encoder"), model.get_layer("decoder")
    memory, final = encoder(source)
    state = decoder.initial_state(final)
    keys, mask = decoder.attention.keys(memory), ops.not_equal(source, 0)
    for t in range(target_in.shape[1]):
        log_probs, state, weights = decoder.step(target_in[:, t], state, keys, memory, mask)
        valid = target_in[:, t] != 0
        np.testing.assert_allclose(to_numpy(log_probs)[valid], expected[valid, t], rtol=1e-4, atol=1e-4)
        assert np.all(to_numpy(weights)[1, 3:] == 0.0)


@pytest.mark.backends
def test_word_dropout_feeds_unknown_words_in_training_only_and_spares_bos(tmp_path):
    """Training replaces source tokens and decoder inputs after BOS by <unk> (id 1), padding and the attention
    mask untouched; inference is the model without word dropout, which the search model reuses."""
    model = _tiny_translator(True, word_dropout=0.999999)  # every token, bar one in a million
    source, target_in = _source_batch()
    inputs = {"source_ids": source, "target_in": target_in}
    all_unknown = {
        "source_ids": np.where(source > 0, 1, 0).astype("int32"),
        "target_in": np.where(target_in > 0, 1, 0).astype("int32"),
    }
    all_unknown["target_in"][:, 0] = target_in[:, 0]
    np.testing.assert_allclose(
        to_numpy(model(inputs, training=True)), to_numpy(model(all_unknown, training=False)), rtol=1e-5, atol=1e-6
    )
    plain = _tiny_translator(True)
    for name in ("encoder", "decoder"):
        plain.get_layer(name).set_weights(model.get_layer(name).get_weights())
    expected = to_numpy(plain(inputs, training=False))
    np.testing.assert_allclose(to_numpy(model(inputs, training=False)), expected, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "translator.keras")
    again = keras.saving.load_model(tmp_path / "translator.keras")
    assert again.get_layer("target_word_dropout").keep_first
    np.testing.assert_allclose(to_numpy(again(inputs, training=False)), expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------- search
BOS_ID, EOS_ID = 2, 3


def _markov_step(table: np.ndarray):
    """A step function whose next-token distribution depends only on the previous token."""
    table = ops.convert_to_tensor(np.log(np.maximum(table, 1e-30)).astype("float32"))

    def step(tokens, state, memory):
        return ops.take(table, tokens, axis=0), state, ops.zeros((ops.shape(tokens)[0], ops.shape(memory)[1]))

    return step


def _search(table, *, beam: int | None, max_steps: int, alpha: float = 0.0, batch: int = 1):
    state = (ops.zeros((batch, 1)),)
    context = [ops.zeros((batch, 2, 1))]
    limits = ops.full((batch,), max_steps, dtype="int32")
    common = dict(bos_id=BOS_ID, eos_id=EOS_ID, max_steps=max_steps, limits=limits)
    if beam is None:
        ids, scores = greedy_search(_markov_step(table), state, context, **common)
    else:
        ids, scores = beam_search(_markov_step(table), state, context, beam_size=beam, alpha=alpha, **common)
    return to_numpy(ids), to_numpy(scores)


def _until_eos(ids) -> tuple[int, ...]:
    ids = list(ids)
    return tuple(ids[: ids.index(EOS_ID) + 1]) if EOS_ID in ids else tuple(ids)


@pytest.mark.backends
def test_beam_search_finds_the_sequence_greedy_search_misses():
    # tokens: 0 pad, 1 unk, 2 BOS, 3 EOS, 4 "a", 5 "b"
    table = np.zeros((6, 6))
    table[BOS_ID, [4, 5]] = [0.6, 0.4]
    table[4, [EOS_ID, 4, 5]] = [0.4, 0.3, 0.3]  # after "a": P(a EOS) = 0.24
    table[5, [EOS_ID, 4, 5]] = [0.9, 0.05, 0.05]  # after "b": P(b EOS) = 0.36, the best sequence
    greedy, greedy_score = _search(table, beam=None, max_steps=5)
    beam, beam_score = _search(table, beam=2, max_steps=5)
    assert _until_eos(greedy[0]) == (4, EOS_ID)
    assert _until_eos(beam[0]) == (5, EOS_ID)
    assert greedy_score[0] == pytest.approx(np.log(0.24), abs=1e-5)
    assert beam_score[0] == pytest.approx(np.log(0.36), abs=1e-5)


def _brute_force_best(table, max_steps: int, alpha: float):
    log_table = np.log(np.maximum(table, 1e-30))
    best, best_score = None, -np.inf
    words = [w for w in range(table.shape[1]) if w not in (0, BOS_ID, EOS_ID)]
    for length in range(max_steps):
        for prefix in itertools.product(words, repeat=length):
            sequence = (*prefix, EOS_ID)
            previous = (BOS_ID, *prefix)
            score = sum(log_table[p, w] for p, w in zip(previous, sequence)) / ((5 + len(sequence)) / 6) ** alpha
            if score > best_score:
                best, best_score = sequence, score
    return best, best_score


@pytest.mark.backends
@pytest.mark.parametrize("seed,alpha", [(0, 0.0), (1, 0.0), (2, 1.0), (3, 0.6)])
def test_wide_beam_equals_brute_force_and_beam_one_equals_greedy(seed, alpha):
    rng = np.random.default_rng(seed)
    table = rng.dirichlet(np.full(6, 0.5), size=6)
    table[:, [0, BOS_ID]] = 0.0
    table /= table.sum(axis=1, keepdims=True)
    max_steps = 4
    expected, expected_score = _brute_force_best(table, max_steps, alpha)
    ids, scores = _search(table, beam=27, max_steps=max_steps, alpha=alpha)  # 27 = every 3-word prefix
    assert _until_eos(ids[0]) == expected
    assert scores[0] == pytest.approx(expected_score, abs=1e-4)
    greedy, _ = _search(table, beam=None, max_steps=max_steps, batch=2)
    beam_one, _ = _search(table, beam=1, max_steps=max_steps, alpha=alpha, batch=2)
    np.testing.assert_array_equal(beam_one, greedy)


@pytest.mark.backends
def test_length_penalty_is_gnmt():
    assert float(length_penalty(1, 0.0)) == 1.0
    assert float(length_penalty(7, 1.0)) == pytest.approx(2.0)


@pytest.mark.backends
@pytest.mark.parametrize("beam", [1, 3])
def test_search_model_outputs_do_not_depend_on_batch_padding(beam):
    model = _tiny_translator(True)
    source, _ = _source_batch()
    search = build_search_model(
        model,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        beam_size=beam,
        length_penalty=0.6,
        max_length=30,
        max_length_ratio=1.5,
        max_length_offset=3,
        return_attention=True,
    )
    ids, scores, attention = (to_numpy(o) for o in search.predict_on_batch(source))
    assert ids.shape[0] == 3 and attention.shape[:2] == ids.shape and attention.shape[2] == source.shape[1]
    for row in range(3):
        length = int((source[row] != 0).sum())
        alone_ids, alone_scores, alone_attention = (
            to_numpy(o) for o in search.predict_on_batch(source[row : row + 1, :length])
        )
        assert _until_eos(alone_ids[0]) == _until_eos(ids[row])
        assert alone_scores[0] == pytest.approx(scores[row], abs=1e-4)
        steps = len(_until_eos(ids[row]))
        assert steps <= int(1.5 * length) + 3  # the per-sentence length limit
        np.testing.assert_allclose(alone_attention[0, :steps], attention[row, :steps, :length], atol=1e-4)
        assert np.all(attention[row, :steps, length:] == 0.0)


# ---------------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def translation_run(tmp_path_factory):
    """One 2-epoch CLI run of a tiny translator (subword pieces on both sides) on a slice of the shipped sample."""
    tmp = tmp_path_factory.mktemp("translation_e2e")
    prefixes = {
        name: _write_pairs(tmp / name, _sample_pairs(split, count))
        for name, split, count in (("train", "train", 120), ("validation", "validation", 12), ("test", "test", 12))
    }
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    config = tmp / "translator_tiny.yaml"
    config.write_text(
        f"""
task: translation
data:
  source_lang: de
  target_lang: en
  train: {prefixes["train"]}
  validation: {prefixes["validation"]}
  test: {prefixes["test"]}
preprocessing:
  source: {{vocab: {{min_frequency: 1}}, subwords: {{enabled: true, vocab_size: 250}}}}
  target: {{vocab: {{min_frequency: 1}}, subwords: {{enabled: true, vocab_size: 250}}}}
model:
  source_embedding_dim: 16
  target_embedding_dim: 16
  encoder: {{units: 16, layers: 1}}
  decoder: {{units: 32}}
decoding:
  beam_size: 3
training:
  epochs: 2
  batch_size: 16
  optimizer: {{learning_rate: 0.01}}
tracking:
  uri: {uri}
  experiment: translation-e2e
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
        "prefixes": prefixes,
        "config": config,
    }


def test_translation_mlflow_run(translation_run):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=translation_run["uri"])
    run = client.get_run(translation_run["run_id"])
    assert run.info.status == "FINISHED"
    metrics, params = run.data.metrics, run.data.params
    for name in (
        "test_bleu",
        "test_chrf",
        "test_bleu_brevity_penalty",
        "train_loss",
        "val_loss",
        "val_bleu",
        "val_chrf",
    ):
        assert name in metrics and np.isfinite(metrics[name]), name
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "val_bleu")) == [1, 2]
    assert params["task"] == "translation" and params["data.source_lang"] == "de"
    assert int(params["source_vocab_size"]) > 20 and int(params["target_vocab_size"]) > 20
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert {
        "evaluation/test_translations.tsv",
        "evaluation/test_sacrebleu.json",
        "evaluation/test_attention.png",
    } <= artifacts
    scores = json.loads((translation_run["model_dir"] / "evaluation" / "test_sacrebleu.json").read_text())
    assert scores["signatures"]["bleu"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:")
    assert re.search(r"test_bleu\s+\d+\.\d{4}", translation_run["stdout"])


def test_translation_evaluate_cli_writes_one_hypothesis_per_line(translation_run, tmp_path):
    import sacrebleu

    out = tmp_path / "hypotheses.txt"
    prefix = translation_run["prefixes"]["test"]
    result = run_cli(
        "evaluate", str(translation_run["model_dir"]), "--data", str(prefix), "--predictions-out", str(out)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(result.stdout)
    hypotheses = out.read_text(encoding="utf-8").split("\n")[:-1]
    references = Path(f"{prefix}.en").read_text(encoding="utf-8").splitlines()
    assert len(hypotheses) == len(references) == 12
    assert sacrebleu.corpus_bleu(hypotheses, [references]).score == pytest.approx(metrics["bleu"])


def test_translation_predict_cli_and_fresh_process_load(translation_run):
    import nlp_lstm
    from nlp_lstm.tracking.pyfunc import PipelinePyfunc

    texts = ["Ein Mann fährt ein rotes Fahrrad.", "", "Zwei Kinder spielen im Park."]
    result = run_cli("predict", str(translation_run["model_dir"]), stdin="\n".join(texts) + "\n")
    assert result.returncode == 0, result.stderr[-2000:]
    from_cli = [json.loads(line) for line in result.stdout.splitlines()]
    pipeline = nlp_lstm.load(translation_run["model_dir"])
    here = pipeline.predict(texts)
    assert from_cli == here and all(isinstance(t, str) for t in here)
    assert pipeline.predict(texts, beam_size=1) == pipeline.predict(texts, beam_size=1, batch_size=1)

    detailed = pipeline.predict(texts[:1], return_attention=True)[0]
    weights = to_numpy(detailed["attention"])
    source_pieces = detailed["source_tokens"]  # subword pieces: continuations carry the joiner
    assert "".join(p.removeprefix(JOINER) for p in source_pieces) == "EinMannfährteinrotesFahrrad."
    assert len([p for p in source_pieces if not p.startswith(JOINER)]) == 7
    assert (
        weights.shape == (len(detailed["target_tokens"]), len(source_pieces)) and detailed["target_tokens"][-1] == EOS
    )
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-4)

    wrapper = PipelinePyfunc()
    wrapper.pipeline = pipeline
    import pandas as pd

    assert wrapper.predict(None, pd.DataFrame({"text": texts})) == here  # one translation string per text
    assert wrapper.predict(None, texts, params={"beam_size": 1}) == pipeline.predict(texts, beam_size=1)

    script = f"import json, nlp_lstm; print(json.dumps(nlp_lstm.load({str(translation_run['model_dir'])!r}).predict({texts!r})))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=translation_run["tmp"], timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == here


def test_predict_replaces_unknown_outputs_with_attended_source_words(translation_run):
    import nlp_lstm

    pipeline = nlp_lstm.load(translation_run["model_dir"])
    output = pipeline.model.get_layer("decoder").output_layer
    kernel, bias = output.get_weights()
    bias[:] = -10.0
    bias[pipeline.pairs.target.vocab.oov_id] = 10.0  # the decoder now says <unk> until the length limit
    output.set_weights([np.zeros_like(kernel), bias])
    texts = ["Ein Mann fährt ein rotes Fahrrad.", "Zwei Kinder spielen im Park.", ""]

    detailed = pipeline.predict(texts, beam_size=2, return_attention=True)
    assert detailed[-1] == {"translation": "", "source_tokens": [], "target_tokens": [], "attention": []}
    for text, result in zip(texts[:-1], detailed):
        words = pipeline.pairs.source_words(text)
        steps = len(result["target_tokens"]) - 1  # the last is EOS
        assert steps > 0 and set(result["target_tokens"][:-1]) == {"<unk>"}
        expected = (
            [words[j] for j in np.argmax(np.asarray(result["attention"])[:steps, : len(words)], axis=-1)]
            if words
            else []
        )
        assert result["translation"] == " ".join(expected)
        assert set(expected) <= set(text.replace(".", " .").split())
    assert [r["translation"] for r in detailed] == pipeline.predict(texts, beam_size=2)  # re-decoded, same result

    pipeline.config.decoding.replace_unknown = False
    plain = pipeline.predict(texts, beam_size=2)
    assert all(set(t.split()) == {"<unk>"} for t in plain[:-1]) and plain[-1] == ""  # nothing to translate


def test_translation_user_errors(translation_run, tmp_path):
    bad = _write_pairs(tmp_path / "bad", [("Ein Hund.", "A dog."), ("Eine Katze.", "A cat.")])
    Path(f"{bad}.en").write_text("A dog.\n", encoding="utf-8")
    result = run_cli(
        "run",
        str(translation_run["config"]),
        "--set",
        f"data.train={bad}",
        "--set",
        f"output_dir={tmp_path / 'out'}",
        cwd=tmp_path,
    )
    assert result.returncode == 3, result.stderr[-2000:]
    assert f"{bad}.de has 2 lines but {bad}.en has 1" in result.stderr and "Traceback" not in result.stderr

    result = run_cli(
        "run", str(translation_run["config"]), "--set", f"data.validation={tmp_path / 'missing'}", cwd=tmp_path
    )
    assert result.returncode == 2
    assert "data.validation: file not found" in result.stderr and "missing.de" in result.stderr
    assert "Traceback" not in result.stderr

    result = run_cli("evaluate", str(translation_run["model_dir"]), "--data", str(tmp_path / "nothing"))
    assert result.returncode != 0 and "nothing.de: file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_translation_logged_models_load_anywhere_and_the_folder_serves_like_predict(translation_run, tmp_path):
    import nlp_lstm
    from tests.helpers.mlflow_models import (
        assert_keras_model_loads_in_a_fresh_process,
        assert_requirements_are_complete,
        assert_serves_like_predict,
        post,
        scoring_server,
    )

    pipeline = nlp_lstm.load(translation_run["model_dir"])
    inputs = pipeline.batches(pipeline.read_data(translation_run["prefixes"]["test"]), batch_size=4)[0][0]
    assert_keras_model_loads_in_a_fresh_process(
        translation_run["uri"], translation_run["run_id"], inputs, pipeline.model.predict(inputs, verbose=0), tmp_path
    )
    assert_requirements_are_complete(translation_run["uri"], translation_run["run_id"])
    texts = ["Ein Mann fährt ein rotes Fahrrad.", ""]
    with scoring_server(str(translation_run["model_dir"]), translation_run["uri"], tmp_path) as url:
        assert_serves_like_predict(url, texts, pipeline.predict(texts, beam_size=1), params={"beam_size": 1})
        status, answer = post(url, {"inputs": texts[:1], "params": {"return_attention": True, "beam_size": 2}})
        assert status == 200 and answer["predictions"] == json.loads(
            json.dumps(pipeline.predict(texts[:1], beam_size=2, return_attention=True))
        )


@pytest.mark.parametrize("cache", [True, False])
def test_training_pairs_that_all_exceed_the_lengths_are_a_data_error(cache, tmp_path, monkeypatch):
    from nlp_lstm.errors import DataError
    from nlp_lstm.tasks import get_task

    monkeypatch.chdir(REPO)
    overrides = [
        "preprocessing.source.max_length=1",
        "preprocessing.target.max_length=1",
        "preprocessing.long_pairs=filter",
        f"preprocessing.cache={str(cache).lower()}",
        f"output_dir={tmp_path / 'runs'}",
    ]
    task = get_task("translation")(load_config(REPO / "pipelines" / "translator_seq2seq.yaml", overrides))
    splits = task.read_splits()
    with pytest.raises(DataError, match="no pair fits preprocessing.source/target.max_length"):
        task.prepare(splits, log=lambda line: None)

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nlp_lstm.errors import DataError, NlpLstmError
from nlp_lstm.preprocessing import (
    LabelEncoder,
    PaddedBatches,
    TextEncoder,
    Tokenizer,
    Vocabulary,
    pad_batch,
    restore_order,
)
from nlp_lstm.preprocessing.subwords import SubwordSegmenter
from nlp_lstm.preprocessing.tokenizer import JOINER, detokenize


def test_tokenizer_normalises_truncates_and_keeps_offsets():
    tokenizer = Tokenizer(lowercase=True, replace_digits=True, max_length=4)
    assert tokenizer.tokenize(["Hello  World, it's 2024!"]) == [["hello", "world", ",", "it"]]
    text = "Ｆｕｌｌ width in 1999."
    tokens = Tokenizer().tokenize_with_offsets([text])[0]
    assert [text[t.start : t.end] for t in tokens] == [t.text for t in tokens]
    assert Tokenizer(unicode_normalization="NFKC").tokenize([text])[0][0] == "full"
    assert Tokenizer().tokenize([""]) == [[]]


def test_tokenizer_other_languages_and_round_trip():
    tokenizer = Tokenizer(language="de", lowercase=False)
    assert tokenizer.tokenize(["Das ist z.B. gut."])[0] == ["Das", "ist", "z.B.", "gut", "."]
    assert Tokenizer.from_config(tokenizer.get_config()) == tokenizer


def test_vocabulary_frequency_size_and_reserved_ids(tmp_path):
    vocab = Vocabulary.build([["b", "a", "a", "c"], ["a", "b", "d"]], min_frequency=2)
    assert vocab.tokens == ["<pad>", "<unk>", "a", "b"]
    assert vocab.encode(["a", "zzz", "b"]) == [2, 1, 3]
    assert Vocabulary.build([["x", "y", "y", "z", "z", "z"]], max_size=2).tokens[2:] == ["z", "y"]
    with_specials = Vocabulary.build([["a"]], specials=["<s>", "</s>"])
    assert with_specials.tokens[:4] == ["<pad>", "<unk>", "<s>", "</s>"]
    forced = Vocabulary.build([["b", "a", "a", "c"], ["a", "b", "d"]], min_frequency=2, always=["c", "a", "<unk>", "c"])
    assert forced.tokens == ["<pad>", "<unk>", "a", "b", "c"]
    vocab.save(tmp_path / "vocab.txt")
    assert Vocabulary.load(tmp_path / "vocab.txt").tokens == vocab.tokens


def test_text_encoder_never_returns_an_empty_sequence(tmp_path):
    tokenizer = Tokenizer()
    encoder = TextEncoder.fit(tokenizer.tokenize(["good film", "bad film"]), tokenizer)
    ids = encoder.encode(["good film", "", "   ", "unknown words"])
    assert ids[0] == [encoder.vocab.index["good"], encoder.vocab.index["film"]]
    assert ids[1] == ids[2] == [encoder.vocab.oov_id] and ids[3] == [1, 1]
    encoder.save(tmp_path)
    again = TextEncoder.load(tmp_path)
    assert again.encode(["good film"]) == ids[:1] and again.tokenizer == tokenizer


def test_label_encoder_sorts_numbers_numerically_and_rejects_unseen(tmp_path):
    labels = LabelEncoder.fit(["10", "2", "1", "2"])
    assert labels.classes == ["1", "2", "10"]
    assert labels.encode(["10", "1"]).tolist() == [2, 0]
    with pytest.raises(DataError, match=r"f.csv:7: label 'x' was not seen in training \(known: 1, 2, 10\)"):
        labels.encode(["1", "x"], source="f.csv", lines=[6, 7])
    labels.save(tmp_path / "labels.json")
    assert LabelEncoder.load(tmp_path / "labels.json").classes == labels.classes


def test_pad_batch_right_pads_1d_and_2d():
    assert pad_batch([[1, 2, 3], [4]]).tolist() == [[1, 2, 3], [4, 0, 0]]
    assert pad_batch([[1, 2, 3], [4]], pad_to_multiple=4).shape == (2, 4)
    chars = pad_batch([[[1, 2], [3]], [[4, 5, 6]]])
    assert chars.shape == (2, 2, 3) and chars[0].tolist() == [[1, 2, 0], [3, 0, 0]]
    assert pad_batch([1, 0, 1]).tolist() == [1, 0, 1]


def _lengths_of(x: np.ndarray) -> np.ndarray:
    return (x != 0).sum(axis=1)


def test_batches_are_right_padded_bucketed_and_cover_every_example_once():
    rng = np.random.default_rng(0)
    sequences = [list(rng.integers(1, 50, size=int(n))) for n in rng.integers(1, 40, size=500)]
    batches = PaddedBatches({"ids": sequences}, list(range(500)), batch_size=32, shuffle=True, seed=3)
    seen, padding_bucketed = [], 0
    for x, y in batches:
        lengths = _lengths_of(x)
        assert lengths.min() >= 1  # no all-padding row
        for row, n in zip(x, lengths):
            assert (row[:n] != 0).all() and (row[n:] == 0).all()  # strictly right-padded
        assert x.shape[1] % 8 == 0
        padding_bucketed += x.size - lengths.sum()
        seen.extend(y.tolist())
    assert sorted(seen) == list(range(500))
    plain = PaddedBatches(
        {"ids": sequences}, list(range(500)), batch_size=32, shuffle=True, bucket_by_length=False, seed=3
    )
    padding_plain = sum(x.size - _lengths_of(x).sum() for x, _ in plain)
    assert padding_bucketed < padding_plain / 3


def test_batches_reshuffle_each_epoch_deterministically():
    seqs = [[i + 1] * (i % 7 + 1) for i in range(100)]
    first = [y.tolist() for _, y in PaddedBatches({"ids": seqs}, list(range(100)), batch_size=10, shuffle=True, seed=1)]
    batches = PaddedBatches({"ids": seqs}, list(range(100)), batch_size=10, shuffle=True, seed=1)
    epoch1 = [y.tolist() for _, y in batches]
    assert [y.tolist() for _, y in batches] == epoch1  # reading again is the same epoch
    batches.set_epoch(1)
    epoch2 = [y.tolist() for _, y in batches]
    assert epoch1 == first and epoch1 != epoch2


def test_empty_sequence_is_rejected_and_restore_order():
    with pytest.raises(ValueError, match="example 1 has no tokens"):
        PaddedBatches({"ids": [[1], []]})
    batches = PaddedBatches({"ids": [[1, 2, 3], [4], [5, 6]]}, batch_size=2)
    outputs = [batch[0][:, 0] for batch in batches]
    assert restore_order(outputs, batches.batch_indices) == [1, 4, 5]


def test_keras_input_accepts_growing_lengths_after_two_equal_batches():
    import keras

    sequences = [[1, 2]] * 4 + [list(range(1, 30))] * 2
    batches = PaddedBatches({"ids": sequences}, [0] * 6, batch_size=2, bucket_by_length=False, pad_to_multiple=1)
    model = keras.Sequential(
        [
            keras.Input((None,), dtype="int32"),
            keras.layers.Embedding(40, 4, mask_zero=True),
            keras.layers.LSTM(4),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    history = model.fit(batches.as_keras_input(), epochs=2, verbose=0, shuffle=False)
    assert len(history.history["loss"]) == 2


def test_char_encoder_matches_token_lengths_and_round_trips(tmp_path):
    from nlp_lstm.preprocessing import CharEncoder

    encoder = CharEncoder.fit([["ab", "abc"]], max_word_length=2)
    assert encoder.vocab.tokens[2:] == ["a", "b", "c"]
    assert encoder.encode([["abc", "zz"], []]) == [[[2, 3], [1, 1]], [[1]]]
    encoder.save(tmp_path)
    again = CharEncoder.load(tmp_path)
    assert again.vocab.tokens == encoder.vocab.tokens and again.max_word_length == 2


# ------------------------------------------------------------------------------------------ subwords
SAMPLE_GERMAN = Path(__file__).resolve().parents[1] / "data" / "sample" / "translation" / "train.de"


@lru_cache(maxsize=1)
def _german_segmenter() -> tuple[Tokenizer, SubwordSegmenter]:
    tokenizer = Tokenizer("de", lowercase=False, unicode_normalization="NFC")
    words = tokenizer.tokenize(SAMPLE_GERMAN.read_text(encoding="utf-8").splitlines(), truncate=False)
    return tokenizer, SubwordSegmenter.train(words, vocab_size=400)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40))
@example(JOINER)  # a token that is only the joiner mark: an empty word, which once had no pieces at all
@example(f"a {JOINER}{JOINER} b")
def test_subword_pieces_rebuild_any_text_and_mark_every_continuation(text):
    tokenizer, segmenter = _german_segmenter()
    tokens = tokenizer.tokenize_with_joiners([text])[0]
    pieces = segmenter.segment([tokens])[0]
    assert detokenize(pieces) == detokenize(tokens)
    per_token = [segmenter.segment([[token]])[0] for token in tokens]
    assert pieces == [piece for group in per_token for piece in group]
    for token, (first, *rest) in zip(tokens, per_token):
        assert first + "".join(rest).replace(JOINER, "") == token and token.startswith(JOINER) == first.startswith(
            JOINER
        )
        assert all(piece.startswith(JOINER) and piece != JOINER for piece in rest)


def test_subwords_spell_rare_words_keep_frequent_ones_and_round_trip(tmp_path):
    tokenizer, segmenter = _german_segmenter()
    assert 100 < len(segmenter) <= 400
    frequent, unseen = "Mann", "Wakeboarderinnen"
    pieces = segmenter.segment([[frequent, unseen]])[0]
    assert pieces[0] == frequent and len(pieces) >= 3
    assert "".join(p.removeprefix(JOINER) for p in pieces[1:]) == unseen

    segmenter.save(tmp_path / "pieces.model")
    assert SubwordSegmenter.load(tmp_path / "pieces.model").segment([[frequent, unseen]]) == [pieces]
    unigram = SubwordSegmenter.train([["ein", "Hund"], ["zwei", "Hunde"]], method="unigram", vocab_size=8000)
    assert detokenize(unigram.segment([["Hunde", f"{JOINER}!"]])[0]) == "Hunde!"

    with pytest.raises(NlpLstmError, match=r"preprocessing\.source\.subwords\.vocab_size: cannot learn 50 .*smaller"):
        SubwordSegmenter.train(
            [[chr(0x4E00 + i) for i in range(300)]], vocab_size=50, setting="preprocessing.source.subwords.vocab_size"
        )
    with pytest.raises(NlpLstmError, match="no training text"):
        SubwordSegmenter.train([[]], vocab_size=50)
    with pytest.raises(Exception, match=r"absent.model: missing \(the subword model\)"):
        SubwordSegmenter.load(tmp_path / "absent.model")


def test_text_encoder_with_subwords_counts_pieces_and_saves_them(tmp_path):
    tokenizer, segmenter = _german_segmenter()
    tokenizer = Tokenizer("de", lowercase=False, unicode_normalization="NFC", max_length=3)
    pieces = segmenter.segment(tokenizer.tokenize(["Ein Mann", "Wakeboarderinnen springen"], truncate=False))
    encoder = TextEncoder.fit(pieces, tokenizer, subwords=segmenter)
    assert encoder.units(["Wakeboarderinnen springen"]) == [pieces[1][:3]]
    assert len(encoder.encode(["Wakeboarderinnen springen"])[0]) == 3
    encoder.save(tmp_path)
    assert (tmp_path / "subwords.model").exists()
    loaded = TextEncoder.load(tmp_path)
    assert loaded.encode(["Wakeboarderinnen springen", ""]) == encoder.encode(["Wakeboarderinnen springen", ""])
    (tmp_path / "plain").mkdir()
    TextEncoder.fit(pieces, tokenizer).save(tmp_path / "plain")
    assert TextEncoder.load(tmp_path / "plain").subwords is None


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 130), min_size=0, max_size=300),
    batch_size=st.integers(1, 64),
    max_tokens=st.integers(1, 2048),
    multiple=st.sampled_from([1, 8]),
)
def test_token_budget_batches_hold_every_example_once_within_both_limits(lengths, batch_size, max_tokens, multiple):
    from nlp_lstm.preprocessing.padding import LengthBatches

    inputs = {"token_ids": [[1] * n for n in lengths]}
    batches = LengthBatches(inputs, batch_size=batch_size, pad_to_multiple=multiple, max_tokens=max_tokens)
    rows = batches.batch_indices
    assert sorted(int(i) for batch in rows for i in batch) == list(range(len(lengths)))
    for index, batch in enumerate(rows):
        x = batches[index][0]
        assert len(batch) <= batch_size
        assert len(batch) == 1 or x.size <= max_tokens, (len(batch), x.shape)
        if index + 1 < len(rows):  # a batch stops only when the next row would break a limit
            grown = -(-lengths[rows[index + 1][0]] // multiple) * multiple * (len(batch) + 1)
            assert len(batch) == batch_size or grown > max_tokens
    if lengths and max_tokens >= 130 * batch_size + 8 * batch_size:  # the budget never binds: rows alone
        assert [len(b) for b in rows] == [len(b) for b in LengthBatches(inputs, batch_size=batch_size).batch_indices]

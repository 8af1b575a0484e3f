import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities

from nlp_lstm.data.conll import read_conll
from nlp_lstm.errors import DataError
from nlp_lstm.preprocessing.tags import SCHEMES, allowed_transitions, convert, detect_scheme, from_spans, to_spans

TYPES = ["PER", "LOC", "ORG"]


@st.composite
def spans_and_length(draw):
    """Non-overlapping entity spans (adjacent ones allowed, same type included) in a sentence."""
    length = draw(st.integers(1, 14))
    spans, position = [], 0
    while position < length:
        position += draw(st.integers(0, 2))
        size = draw(st.integers(1, 3))
        if position + size > length:
            break
        spans.append((draw(st.sampled_from(TYPES)), position, position + size))
        position += size
    return spans, length


any_tags = st.lists(
    st.one_of(st.just("O"), st.builds(lambda p, t: f"{p}-{t}", st.sampled_from("BIES"), st.sampled_from(TYPES))),
    min_size=0,
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(spans_and_length(), st.sampled_from(SCHEMES))
def test_spans_round_trip_through_every_scheme(data, scheme):
    spans, length = data
    tags = from_spans(spans, length, scheme)
    assert to_spans(tags) == spans
    for target in SCHEMES:
        assert to_spans(convert(tags, target)) == spans


@settings(max_examples=300, deadline=None)
@given(spans_and_length(), st.sampled_from(SCHEMES))
def test_generated_sequences_use_only_allowed_transitions(data, scheme):
    spans, length = data
    labels = ["O"] + [f"{p}-{t}" for t in TYPES for p in "BIES"]
    index = {label: i for i, label in enumerate(labels)}
    allowed = set(allowed_transitions(labels, scheme))
    tags = from_spans(spans, length, scheme)
    assert all((index[a], index[b]) in allowed for a, b in zip(tags, tags[1:]))


@settings(max_examples=500, deadline=None)
@given(any_tags)
def test_chunking_matches_seqeval_default_mode_even_on_ill_formed_tags(tags):
    """seqeval's default mode reproduces conlleval's chunking; ours must agree on any sequence."""
    expected = sorted((kind, start, end + 1) for kind, start, end in get_entities(list(tags)))
    assert sorted(to_spans(tags)) == expected


def test_known_conversions():
    iob1 = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG"]
    assert convert(iob1, "iob2") == ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG"]
    assert convert(iob1, "iobes") == ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "S-ORG"]
    assert convert(["B-PER", "I-PER", "B-PER"], "iob1") == ["I-PER", "I-PER", "B-PER"]
    assert convert(["U-LOC", "B-PER", "L-PER"], "iob2") == ["B-LOC", "B-PER", "I-PER"]  # BILOU input


def test_detect_scheme():
    assert detect_scheme([["O", "I-PER", "I-PER"], ["B-LOC"]]) == "iob1"
    assert detect_scheme([["B-PER", "I-PER", "O"], ["B-LOC", "B-LOC"]]) == "iob2"
    assert detect_scheme([["B-PER", "E-PER", "S-LOC"]]) == "iobes"
    assert detect_scheme([["U-PER"]]) == "iobes"
    with pytest.raises(ValueError, match="invalid tag 'X-PER'"):
        detect_scheme([["X-PER"]])


def test_reads_conll2003_layout(tmp_path):
    path = tmp_path / "eng.train"
    path.write_text(
        "-DOCSTART- -X- -X- O\n\nNRU NNP B-NP I-ORG\nbacks VBZ B-VP O\nVeronian JJ B-NP I-MISC\n\n"
        "Karsten NNP B-NP I-PER\nHolm NNP I-NP I-PER\n\n\n-DOCSTART- -X- -X- O\n\nDALBURY NNP B-NP I-LOC\n",
        encoding="utf-8",
    )
    data = read_conll(path)
    assert data.tokens == [["NRU", "backs", "Veronian"], ["Karsten", "Holm"], ["DALBURY"]]
    assert data.tags == [["I-ORG", "O", "I-MISC"], ["I-PER", "I-PER"], ["I-LOC"]]
    assert data.lines == [3, 7, 13]
    assert data.documents == [0, 0, 1] and data.subset([2, 0]).documents == [1, 0]
    assert read_conll(path, tag_column=None).tags is None
    assert read_conll(path, tag_column=1).tags[0] == ["NNP", "VBZ", "JJ"]


def test_reads_two_column_tab_files_and_gzip(tmp_path):
    path = tmp_path / "wnut.tsv.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("@paul\tB-person\nhi\tO\n\nNew\tB-location\nYork\tI-location\n")
    data = read_conll(path)
    assert data.tokens == [["@paul", "hi"], ["New", "York"]] and data.tags[1] == ["B-location", "I-location"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("NRU NNP B-NP I-ORG\nbacks VBZ O\n", r"t.conll:2: expected 4 columns like the first token line, found 3"),
        ("NRU\tI-ORG\nbacks\t \n", r"t.conll:2: expected 2 columns like the first token line, found 1"),
        ("NRU\n", r"t.conll:1: 1 column\(s\), but data.token_column/tag_column need 2"),
        ("\n\n", r"t.conll: no sentences found"),
    ],
)
def test_malformed_conll_names_file_and_line(tmp_path, content, message):
    path = tmp_path / "t.conll"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_conll(path, tag_column=1 if "need 2" in message else -1)


def test_empty_tag_with_explicit_delimiter(tmp_path):
    path = tmp_path / "t.conll"
    path.write_text("NRU\tI-ORG\nbacks\t\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"t.conll:2: empty tag"):
        read_conll(path, delimiter="\t")


@pytest.mark.parametrize("tag", ["B-", "I-", "S- ", "U-"])
def test_a_prefix_without_a_type_is_named_as_such(tag):
    from nlp_lstm.preprocessing.tags import split_tag

    with pytest.raises(ValueError, match=f"invalid tag '{tag}': no entity type after {tag.strip()[0]}-"):
        split_tag(tag)


def test_a_b_prefix_without_a_type_in_a_file_is_an_error_naming_its_line(tmp_path):
    from nlp_lstm.tasks.ner.config import NerConfig
    from nlp_lstm.tasks.ner.task import tagged_reader

    path = tmp_path / "train.conll"
    path.write_text("EU B-ORG\nrejects O\n\nPeter B-\nBlackburn I-PER\n", encoding="utf-8")
    config = NerConfig.model_validate({"task": "ner", "data": {"train": str(path)}})
    with pytest.raises(DataError) as exc:
        tagged_reader(config, path).read()
    assert str(exc.value) == f"{path}:4: invalid tag 'B-': no entity type after B- (e.g. B-PER) (data.tag_column is -1)"


def test_errors_quote_an_excerpt_of_a_huge_line(tmp_path):
    """A 20 MB line (a file without newlines, a stray binary) is named by its line, not echoed back whole."""
    path = tmp_path / "train.conll"
    path.write_text("EU B-ORG\nrejects O\n" + "x " * 10_000_000 + "\n", encoding="utf-8")
    with pytest.raises(DataError) as exc:
        read_conll(path)
    message = str(exc.value)
    assert message.startswith(f"{path}:3: expected 2 columns like the first token line, found 10000000: 'x x x")
    assert len(message) < 300 and "(20,000,000 characters)" in message

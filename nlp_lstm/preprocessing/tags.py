"""Entity tag schemes (IOB1, IOB2/BIO, IOBES, and BILOU read as IOBES): detection and conversion.

Conversion goes through entity spans, decoded the way the CoNLL `conlleval` script chunks tags: an
entity starts at B-/S-, or at I-/E- that does not continue an entity of the same type; it ends at E-/S-,
or where the next tag does not continue it. So every scheme yields the same entities conlleval counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nlp_lstm.errors import excerpt

SCHEMES = ("iob1", "iob2", "iobes")
Span = tuple[str, int, int]  # (type, start, end) with end exclusive

_BILOU = {"U": "S", "L": "E"}


def split_tag(tag: str) -> tuple[str, str]:
    """'B-PER' -> ('B', 'PER'); 'O' -> ('O', ''); BILOU prefixes map to IOBES (U->S, L->E)."""
    if tag == "O" or not tag:
        return "O", ""
    prefix, sep, kind = tag.partition("-")
    if not sep or prefix.upper() not in {"B", "I", "E", "S", "U", "L"}:
        raise ValueError(f"invalid tag {excerpt(tag)}: expected O or a prefix B-, I-, E-, S- (or L-, U-) and a type")
    if not kind.strip():
        raise ValueError(f"invalid tag {excerpt(tag)}: no entity type after {prefix}- (e.g. {prefix}-PER)")
    prefix = prefix.upper()
    return _BILOU.get(prefix, prefix), kind


def to_spans(tags: Sequence[str]) -> list[Span]:
    """Entities in a tag sequence of any scheme, as conlleval chunks them."""
    spans: list[Span] = []
    start, current = None, ""
    previous_prefix = "O"
    for i, tag in enumerate(tags):
        prefix, kind = split_tag(tag)
        continues = prefix in {"I", "E"} and kind == current and previous_prefix in {"B", "I"}
        if start is not None and not continues:
            spans.append((current, start, i))
            start = None
        if prefix != "O" and start is None:
            start, current = i, kind
        if prefix in {"E", "S"} and start is not None:
            spans.append((current, start, i + 1))
            start = None
        previous_prefix = prefix if start is not None else "O"
    if start is not None:
        spans.append((current, start, len(tags)))
    return spans


def from_spans(spans: Iterable[Span], length: int, scheme: str) -> list[str]:
    """Tags for non-overlapping entity spans in `scheme`."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown tag scheme {scheme!r}; one of {', '.join(SCHEMES)}")
    tags = ["O"] * length
    previous_end, previous_kind = -1, None
    for kind, start, end in sorted(spans, key=lambda s: s[1]):
        size = end - start
        if scheme == "iobes":
            if size == 1:
                tags[start] = f"S-{kind}"
            else:
                tags[start] = f"B-{kind}"
                tags[start + 1 : end - 1] = [f"I-{kind}"] * (size - 2)
                tags[end - 1] = f"E-{kind}"
        else:
            tags[start:end] = [f"I-{kind}"] * size
            # IOB2 marks every start; IOB1 only a start touching an entity of the same type.
            if scheme == "iob2" or (start == previous_end and kind == previous_kind):
                tags[start] = f"B-{kind}"
        previous_end, previous_kind = end, kind
    return tags


def convert(tags: Sequence[str], target: str) -> list[str]:
    """Re-tag a sequence (any input scheme) in the `target` scheme, keeping its entities."""
    return from_spans(to_spans(tags), len(tags), target)


def detect_scheme(tag_sequences: Iterable[Sequence[str]]) -> str:
    """'iobes' if E-/S- (or L-/U-) occur; 'iob1' if an entity starts with I-; else 'iob2'."""
    found_iob1 = False
    for tags in tag_sequences:
        previous = ("O", "")
        for tag in tags:
            prefix, kind = split_tag(tag)
            if prefix in {"E", "S"}:
                return "iobes"
            if prefix == "I" and (previous[0] == "O" or previous[1] != kind):
                found_iob1 = True
            previous = (prefix, kind)
    return "iob1" if found_iob1 else "iob2"


def allowed_transitions(labels: Sequence[str], scheme: str) -> list[tuple[int, int]]:
    """(from, to) label-index pairs that form valid sequences in `scheme`, for CRF transition constraints."""
    parsed = [split_tag(label) for label in labels]
    allowed = []
    for i, (p_from, k_from) in enumerate(parsed):
        for j, (p_to, k_to) in enumerate(parsed):
            inside = p_from in {"B", "I"}  # an entity is open after this tag (IOB2/IOBES)
            if scheme == "iob1":
                ok = p_to != "B" or k_from == k_to and p_from in {"B", "I"}
            elif scheme == "iob2":
                ok = p_to != "I" or (inside and k_from == k_to)
            else:  # iobes
                if p_to in {"I", "E"}:
                    ok = inside and k_from == k_to
                else:
                    ok = not inside
            if ok:
                allowed.append((i, j))
    return allowed


def allowed_starts(labels: Sequence[str], scheme: str) -> list[int]:
    """Label indices a sentence may start with: no I-/E- in IOB2 and IOBES (IOB1 starts entities with I-)."""
    if scheme == "iob1":
        return list(range(len(labels)))
    return [i for i, label in enumerate(labels) if split_tag(label)[0] not in {"I", "E"}]


def allowed_ends(labels: Sequence[str], scheme: str) -> list[int]:
    """Label indices a sentence may end with: in IOBES an entity must be closed by E- or S-."""
    if scheme != "iobes":
        return list(range(len(labels)))
    return [i for i, label in enumerate(labels) if split_tag(label)[0] not in {"B", "I"}]

"""Token shape classes (Reimers & Gurevych 2017): casing information the lowercased word ids lose."""

from __future__ import annotations

from collections.abc import Sequence

CASING_CLASSES = (
    "<pad>",
    "numeric",
    "mostly_numeric",
    "contains_digit",
    "lower",
    "upper",
    "title",
    "mixed",
    "punctuation",
    "other",
)
_INDEX = {name: i for i, name in enumerate(CASING_CLASSES)}


def casing_class(token: str) -> str:
    """The shape class of one token as written."""
    digits = sum(c.isdigit() for c in token)
    if token and digits == len(token):
        return "numeric"
    if token and digits / len(token) > 0.5:
        return "mostly_numeric"
    if digits:
        return "contains_digit"
    if token.islower():
        return "lower"
    if token.isupper():
        return "upper"
    if token[:1].isupper() and (len(token) == 1 or token[1:].islower()):
        return "title"
    if any(c.isalpha() for c in token):
        return "mixed"
    if token and all(not c.isalnum() for c in token):
        return "punctuation"
    return "other"


def encode_casing(token_lists: Sequence[Sequence[str]]) -> list[list[int]]:
    """Casing class ids per token (0 is padding); an empty text gets one 'other' token, like word ids."""
    other = [_INDEX["other"]]
    return [[_INDEX[casing_class(t)] for t in tokens] or other for tokens in token_lists]

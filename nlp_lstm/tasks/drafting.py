"""What the tasks' config drafters (`nlp-lstm init`) share: reading a table as the user's options say, lengths
that cover most examples, the language of some text, what happens to splits not given."""

from __future__ import annotations

import math
from pathlib import Path

from nlp_lstm.config.draft import Draft, DraftRequest
from nlp_lstm.data.sniff import TEXT_NAMES, Column, Table, guess_language, profile_table
from nlp_lstm.errors import UsageError


def table_of(request: DraftRequest, path: Path) -> Table:
    """The table `path` as the user's --format/--delimiter/--header say, the rest told from the file."""
    header = request.option("header")
    return profile_table(
        path,
        encoding=request.option("encoding") or "utf-8",
        format=request.option("format"),
        delimiter=request.option("delimiter"),
        header=header,
    )


def length_covering(counts: list[int], share: float = 0.95, multiple: int = 8, low: int = 16, high: int = 512):
    """The smallest multiple of `multiple` (within [low, high]) that `share` of the lengths fit in."""
    if not counts:
        return low
    ordered = sorted(counts)
    at = ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]
    return max(low, min(high, multiple * math.ceil(at / multiple)))


def language_of(draft: Draft, texts: list[str], given: str | None, key: str = "preprocessing.language") -> None:
    if given is not None:
        draft.set(key, given, "given")
        return
    code, why = guess_language(texts)
    if code is None:
        draft.set(key, "en", f"the default: {why}; pass --language CODE (a spaCy language code) if it is not English")
    else:
        draft.set(key, code, why)


def said_about_splits(draft: Draft, request: DraftRequest) -> None:
    """Say that the validation or test split not given will be split off the training file."""
    missing = [split for split in ("validation", "test") if getattr(request, split) is None]
    if missing:
        draft.said.append(f"{' and '.join(missing)}: split off the training file when the run starts (data.split)")


def by_name(columns: list[Column], names: tuple[str, ...]) -> list[Column]:
    return [c for c in columns if isinstance(c.name, str) and c.name.strip().lower() in names]


def text_column(table: Table, given: str | int | None, exclude: Column | None = None) -> tuple[Column, str]:
    """The column of texts: the one given, else the non-numeric column whose values have the most words."""
    if given is not None:
        return table.column(given), "given"
    candidates = [c for c in table.columns if c is not exclude and not c.numeric and not c.identifiers]
    if not candidates:
        raise UsageError(f"{table.path}: no column holds text; pass --text-column NAME (or 0-based index)")
    named = by_name(candidates, TEXT_NAMES)
    if len(named) == 1:
        return named[0], f"its header name {named[0].name!r}"
    ranked = sorted(candidates, key=lambda c: c.mean_tokens, reverse=True)
    if len(ranked) > 1 and ranked[1].mean_tokens > 0.8 * ranked[0].mean_tokens and ranked[0].mean_tokens < 8:
        names = ", ".join(c.describe() for c in ranked[:3])
        raise UsageError(
            f"{table.path}: cannot tell which column holds the texts ({names} are alike); pass --text-column"
        )
    best = ranked[0]
    return best, f"the longest values: {best.mean_tokens:.1f} tokens on average"

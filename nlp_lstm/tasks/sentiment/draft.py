"""`nlp-lstm init sentiment`: a text classification config drafted from a labelled table (CSV, TSV, JSONL)."""

from __future__ import annotations

from collections import Counter

from nlp_lstm.config.draft import Draft, DraftRequest
from nlp_lstm.data.readers import labelled_text_reader
from nlp_lstm.data.sniff import LABEL_NAMES, Column, Table, token_count
from nlp_lstm.errors import UsageError
from nlp_lstm.tasks.drafting import by_name, language_of, length_covering, said_about_splits, table_of, text_column
from nlp_lstm.tasks.sentiment.config import SMALL_CLASS_EXAMPLES


def label_column(table: Table, given: str | int | None, text: Column | None) -> tuple[Column, str]:
    """The column of classes: the one given, else the one column with few distinct, repeated values."""
    if given is not None:
        return table.column(given), "given"
    candidates = [c for c in table.columns if c is not text and c.looks_like_labels()]
    others = ""
    if len(candidates) > 1:
        named = by_name(candidates, LABEL_NAMES)
        if len(named) == 1:
            rest = ", ".join(c.describe() for c in candidates if c is not named[0])
            others = f"; {rest} also could: pass --label-column to take it"
            candidates = named
    if not candidates:
        listed = ", ".join(c.describe() for c in table.columns if c is not text)
        raise UsageError(
            f"{table.path}: no column looks like class labels (few distinct values, each repeated; columns: "
            f"{listed or 'none besides the text'}); pass --label-column"
        )
    if len(candidates) > 1:
        names = ", ".join(c.describe() for c in candidates)
        raise UsageError(f"{table.path}: several columns could hold the labels ({names}); pass --label-column")
    column = candidates[0]
    if others:
        return column, f"its header name {column.name!r}{others}"
    return column, f"{column.distinct} distinct values in the rows looked at"


def draft(request: DraftRequest) -> Draft:
    table = table_of(request, request.train)
    result = Draft(said=[f"{request.train}: {table.describe()}"])
    given_text, given_label = request.option("text_column"), request.option("label_column")
    if given_label is not None and given_text is None:
        label, label_why = label_column(table, given_label, None)
        text, text_why = text_column(table, None, exclude=label)
    else:
        text, text_why = text_column(table, given_text)
        label, label_why = label_column(table, given_label, text)
    if label is text:
        raise UsageError(f"{request.train}: the text and label columns are both {text.describe()}")

    result.set("data.train", str(request.train))
    result.set("data.validation", None if request.validation is None else str(request.validation))
    result.set("data.test", None if request.test is None else str(request.test))
    result.set("data.format", table.format, table.format_said)
    if table.delimiter is not None:
        result.set("data.delimiter", table.delimiter, "told from the file's lines")
    result.set("data.header", table.header, table.header_said)
    result.set("data.text_column", table.reference(text), text_why)
    result.set("data.label_column", table.reference(label), label_why)
    encoding = request.option("encoding")
    if encoding:
        result.set("data.encoding", encoding, "given")

    settings = {
        "format": table.format,
        "text_column": table.reference(text),
        "label_column": table.reference(label),
        "header": table.header,
        "delimiter": table.delimiter,
        "encoding": encoding or "utf-8",
    }
    labels: Counter[str] = Counter()
    lengths: list[int] = []
    texts: list[str] = []
    for _, text_value, label_value in labelled_text_reader(request.train, **settings).rows():  # every row checked
        labels[label_value] += 1
        lengths.append(token_count(text_value))
        if len(texts) < 2000:
            texts.append(text_value)
    if len(labels) < 2:
        raise UsageError(
            f"{request.train}: the label column {label.describe()} holds one class ({next(iter(labels))!r}); "
            "a classifier needs two or more (pass --label-column if another column holds them)"
        )
    shown = ", ".join(f"{name!r} ({count:,})" for name, count in labels.most_common(12))
    more = f" and {len(labels) - 12} more" if len(labels) > 12 else ""
    result.said.append(f"{sum(labels.values()):,} training rows, {len(labels)} classes: {shown}{more}")
    small = [name for name, count in labels.items() if count < SMALL_CLASS_EXAMPLES]
    if small:
        result.warnings.append(
            f"{len(small)} class(es) with fewer than {SMALL_CLASS_EXAMPLES} training examples ({', '.join(small[:8])}): "
            "too few to learn; merge or drop them, or add examples"
        )
    for split, path in (("validation", request.validation), ("test", request.test)):
        if path is None:
            continue
        unseen: Counter[str] = Counter()
        rows = 0
        for _, _, label_value in labelled_text_reader(path, **settings).rows():
            rows += 1
            if label_value not in labels:
                unseen[label_value] += 1
        result.said.append(f"{path}: {rows:,} {split} rows")
        if unseen:
            result.warnings.append(
                f"{path}: label(s) never seen in training: {', '.join(unseen)}; the run will refuse them"
            )
    said_about_splits(result, request)

    max_length = length_covering(lengths)
    covered = sum(n <= max_length for n in lengths) / len(lengths)
    result.set(
        "preprocessing.max_length", max_length, f"{covered:.0%} of the training texts have at most that many tokens"
    )
    language_of(result, texts, request.option("language"))
    return result

"""`nlp-lstm init language_model`: a language model config drafted from plain text (or a table's text column)."""

from __future__ import annotations

import statistics
from collections import Counter

from nlp_lstm.config.draft import Draft, DraftRequest
from nlp_lstm.data.readers import detect_format, iter_lines, labelled_text_reader
from nlp_lstm.data.sniff import looks_pretokenized, token_count
from nlp_lstm.errors import DataError
from nlp_lstm.tasks.drafting import language_of, said_about_splits, table_of, text_column

ADAPTIVE_FROM = 30_000  # words in the vocabulary from which the adaptive softmax is chosen (much faster there)


def _format(request: DraftRequest) -> str:
    given = request.option("format")
    if given is not None:
        return given
    try:
        return detect_format(request.train)
    except DataError:
        return "text"


def draft(request: DraftRequest) -> Draft:
    result = Draft()
    fmt = _format(request)
    encoding = request.option("encoding") or "utf-8"
    result.set("data.format", fmt, "given" if request.option("format") else "from the file name")
    result.set("data.train", str(request.train))
    result.set("data.validation", None if request.validation is None else str(request.validation))
    result.set("data.test", None if request.test is None else str(request.test))
    if request.option("encoding"):
        result.set("data.encoding", encoding, "given")
    if fmt == "text":
        lines = [line for line in iter_lines(request.train, encoding)]
    elif fmt in ("csv", "tsv", "jsonl"):
        table = table_of(request, request.train)
        text, why = text_column(table, request.option("text_column"))
        result.set("data.header", table.header, table.header_said)
        if table.delimiter is not None:
            result.set("data.delimiter", table.delimiter, "told from the file's lines")
        result.set("data.text_column", table.reference(text), why)
        reader = labelled_text_reader(
            request.train,
            format=table.format,
            text_column=table.reference(text),
            label_column=None,
            header=table.header,
            delimiter=table.delimiter,
            encoding=encoding,
        )
        lines = [row[1] for row in reader.rows()]
    else:
        raise DataError(f"{request.train}: init drafts a language model from text, csv, tsv or jsonl files")
    texts = [line for line in lines if line.strip()]
    if not texts:
        raise DataError(f"{request.train}: no text found")
    blank = len(lines) - len(texts)
    lengths = [token_count(line) for line in texts]
    words: Counter[str] = Counter()
    pretokenized = looks_pretokenized(texts[:5000])
    for line in texts:
        words.update(line.split() if pretokenized else line.lower().split())
    result.said.append(
        f"{request.train}: {len(texts):,} lines of text ({blank:,} blank), about {sum(lengths):,} tokens, "
        f"{len(words):,} distinct words"
    )
    if pretokenized:
        result.set("preprocessing.tokenizer", "whitespace", "its punctuation is already set off by spaces")
    else:
        result.set("preprocessing.tokenizer", "spacy", "running text: spaCy's rules cut words and punctuation")
    median = statistics.median(lengths)
    if blank or median > 40:
        why = "paragraphs" + (" separated by blank lines" if blank else f" ({median:.0f} tokens per line)")
        result.set("preprocessing.mode", "stream", f"running text: {why}; the state is carried through it")
    else:
        result.set(
            "preprocessing.mode",
            "lines",
            f"short independent lines ({median:.0f} tokens per line, no blank lines); each is read on its own",
        )
    if len(words) >= ADAPTIVE_FROM:
        result.set(
            "model.softmax",
            "adaptive",
            f"{len(words):,} distinct words: the exact adaptive softmax trains several times faster than the full one",
        )
    language_of(result, texts[:2000], request.option("language"))
    said_about_splits(result, request)
    if request.validation is None or request.test is None:
        result.said.append("a split taken off running text is its last lines, as blocks, so the text keeps its order")
    return result

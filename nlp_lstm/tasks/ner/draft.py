"""`nlp-lstm init ner`: a tagger config drafted from a token-per-line (CoNLL) file."""

from __future__ import annotations

from collections import Counter

from nlp_lstm.config.draft import Draft, DraftRequest
from nlp_lstm.data.conll import conll_reader
from nlp_lstm.data.sniff import guess_language, profile_conll
from nlp_lstm.errors import DataError, UsageError
from nlp_lstm.preprocessing.tags import detect_scheme, split_tag, to_spans
from nlp_lstm.tasks.drafting import said_about_splits


def _tag_column(request: DraftRequest, columns) -> tuple[int, str]:
    given = request.option("tag_column")
    if given is not None:
        return int(given), "given"
    if not columns.tag_columns:
        raise UsageError(
            f"{request.train}: no column holds IOB/IOBES tags (O, B-TYPE, I-TYPE...) in its lines; "
            "pass --tag-column N (0-based; -1 is the last)"
        )
    chosen = columns.tag_columns[-1]
    why = f"column {chosen} of 0..{columns.width - 1} holds tags"
    others = columns.tag_columns[:-1]
    if others:
        why += (
            f"; column(s) {', '.join(map(str, others))} look like tags too (chunk tags, say): the last one is "
            "taken, pass --tag-column to choose another"
        )
    return (-1 if chosen == columns.width - 1 else chosen), why


def draft(request: DraftRequest) -> Draft:
    encoding = request.option("encoding") or "utf-8"
    columns = profile_conll(request.train, encoding)
    result = Draft()
    tag_column, tag_why = _tag_column(request, columns)
    token_column = int(request.option("token_column") or 0)
    delimiter = request.option("delimiter") or columns.delimiter
    result.set("data.format", "conll")
    result.set("data.train", str(request.train))
    result.set("data.validation", None if request.validation is None else str(request.validation))
    result.set("data.test", None if request.test is None else str(request.test))
    result.set("data.token_column", token_column, "given" if request.option("token_column") is not None else None)
    result.set("data.tag_column", tag_column, tag_why)
    if delimiter is not None:
        result.set("data.delimiter", delimiter, "its columns are tab-separated and tokens hold spaces")
    if request.option("encoding"):
        result.set("data.encoding", encoding, "given")

    settings = {"token_column": token_column, "tag_column": tag_column, "encoding": encoding, "delimiter": delimiter}
    sentences = tokens = 0
    documents = set()
    entities: Counter[str] = Counter()
    tag_sequences = []
    words: list[str] = []
    for _, document, sentence_tokens, tags in conll_reader(request.train, **settings).rows():
        sentences += 1
        tokens += len(sentence_tokens)
        documents.add(document)
        try:
            entities.update(kind for kind, _, _ in to_spans(tags))
        except ValueError as exc:
            raise UsageError(f"{request.train}: {exc}; is --tag-column {tag_column} the tag column?") from None
        if len(tag_sequences) < 20_000:
            tag_sequences.append(tags)
        if len(words) < 20_000:
            words.extend(sentence_tokens)
    if not entities:
        raise UsageError(
            f"{request.train}: column {tag_column} holds no entity (only O); pass --tag-column for the tag column"
        )
    scheme = request.option("scheme") or detect_scheme(tag_sequences)
    result.set("data.scheme", scheme, "given" if request.option("scheme") else _scheme_reason(scheme))
    shown = ", ".join(f"{kind} {count:,}" for kind, count in entities.most_common())
    result.said.append(
        f"{request.train}: {sentences:,} sentences, {tokens:,} tokens, {len(documents)} document(s); entities: {shown}"
    )
    for split, path in (("validation", request.validation), ("test", request.test)):
        if path is None:
            continue
        unseen: Counter[str] = Counter()
        count = 0
        for line, _, _, tags in conll_reader(path, **settings).rows():
            count += 1
            try:
                kinds = {split_tag(tag)[1] for tag in tags}
            except ValueError as exc:
                raise DataError(f"{path}:{line}: {exc} (in the sentence starting on this line)") from None
            unseen.update(kinds - set(entities) - {""})
        result.said.append(f"{path}: {count:,} {split} sentences")
        if unseen:
            result.warnings.append(f"{path}: entity types never seen in training: {', '.join(unseen)}")
    said_about_splits(result, request)

    given = request.option("language")
    if given is not None:
        result.set("preprocessing.language", given, "given")
    else:
        code, why = guess_language([" ".join(words)])
        if code is None:
            result.set("preprocessing.language", "en", f"the default: {why}; pass --language CODE if not English")
        else:
            result.set("preprocessing.language", code, f"{why} (the tokenizer for raw text at prediction time)")
    return result


def _scheme_reason(scheme: str) -> str:
    return {
        "iobes": "E-/S- (or L-/U-) tags occur",
        "iob1": "some entities start with I- (IOB1, as the original CoNLL-2003 files)",
        "iob2": "every entity starts with B- (IOB2, also called BIO)",
    }[scheme]

"""`nlp-lstm init translation`: a translator config drafted from parallel files (`PREFIX.de` + `PREFIX.en`) or
a two-column table of sentence pairs."""

from __future__ import annotations

from pathlib import Path

from nlp_lstm.config.draft import Draft, DraftRequest
from nlp_lstm.config.schema import parallel_file
from nlp_lstm.data.parallel import parallel_file_reader, parallel_table_reader
from nlp_lstm.data.readers import detect_format
from nlp_lstm.data.sniff import guess_language, parallel_sides, token_count
from nlp_lstm.errors import DataError, UsageError
from nlp_lstm.tasks.drafting import length_covering, said_about_splits, table_of


def _prefix(path: Path) -> tuple[Path, str | None]:
    """`data/train.de` -> (`data/train`, 'de'); a prefix stays as it is."""
    name = path.name.removesuffix(".gz")
    stem, dot, suffix = name.rpartition(".")
    if path.is_file() and dot and 2 <= len(suffix) <= 3 and suffix.isalpha() and suffix.islower():
        return path.with_name(stem), suffix
    return path, None


def _is_table(path: Path) -> bool:
    try:
        detect_format(path)
        return path.is_file()
    except DataError:
        return False


def _languages(request: DraftRequest, sides: list[str], named: str | None) -> tuple[str, str, str]:
    """(source, target, why) among the sides PREFIX.xx that exist."""
    source, target = request.option("source_lang"), request.option("target_lang")
    source = source or named
    if source and not target and len(sides) == 2 and source in sides:
        return source, next(s for s in sides if s != source), f"the files {', '.join(sides)}; the source is {source}"
    if source and target:
        return source, target, "given"
    if len(sides) < 2:
        raise UsageError(
            f"{request.train}: expected two files PREFIX.xx and PREFIX.yy (one per language), found "
            f"{', '.join(sides) or 'none'}; give the prefix (data/train for data/train.de + data/train.en)"
        )
    raise UsageError(
        f"{request.train}: files for {', '.join(sides)}: pass --source-lang (the language translated from) "
        "and, if there are more than two, --target-lang"
    )


def draft(request: DraftRequest) -> Draft:
    if request.option("format") in (None, "parallel") and not _is_table(request.train):
        return _draft_parallel(request)
    return _draft_table(request)


def _draft_parallel(request: DraftRequest) -> Draft:
    prefix, named = _prefix(request.train)
    sides = parallel_sides(prefix)
    source, target, why = _languages(request, sides, named)
    result = Draft()
    result.set("data.format", "parallel", f"aligned files {prefix}.{source} and {prefix}.{target}")
    result.set("data.source_lang", source, why)
    result.set("data.target_lang", target, why)
    result.set("data.train", str(prefix))
    for split in ("validation", "test"):
        path = getattr(request, split)
        result.set(f"data.{split}", None if path is None else str(_prefix(path)[0]))
    encoding = request.option("encoding") or "utf-8"
    if request.option("encoding"):
        result.set("data.encoding", encoding, "given")
    # every line read, the two files checked to be aligned
    pairs = list(parallel_file_reader(parallel_file(prefix, source), parallel_file(prefix, target), encoding).rows())
    _lengths_and_counts(result, request, [(p[1], p[2]) for p in pairs], str(prefix))
    for split in ("validation", "test"):
        path = getattr(request, split)
        if path is not None:
            other = _prefix(path)[0]
            files = parallel_file(other, source), parallel_file(other, target)
            count = sum(1 for _ in parallel_file_reader(*files, encoding).rows())
            result.said.append(f"{other}: {count:,} {split} pairs")
    return result


def _draft_table(request: DraftRequest) -> Draft:
    table = table_of(request, request.train)
    if len(table.columns) < 2:
        raise UsageError(f"{request.train}: one column; a table of pairs needs a source and a target column")
    source_column = request.option("source_column")
    target_column = request.option("target_column")
    source = table.column(source_column if source_column is not None else 0)
    target = table.column(target_column if target_column is not None else 1)
    result = Draft(said=[f"{request.train}: {table.describe()}"])
    result.set("data.format", table.format, table.format_said)
    result.set("data.header", table.header, table.header_said)
    if table.delimiter is not None:
        result.set("data.delimiter", table.delimiter, "told from the file's lines")
    result.set(
        "data.source_column", table.reference(source), "given" if source_column is not None else "the first column"
    )
    result.set(
        "data.target_column", table.reference(target), "given" if target_column is not None else "the second column"
    )
    for side, column in (("source", source), ("target", target)):
        given = request.option(f"{side}_lang")
        if given:
            result.set(f"data.{side}_lang", given, "given")
            continue
        code, why = guess_language(column.values)
        if code is None:
            raise UsageError(f"{request.train}: cannot tell the {side} language ({why}); pass --{side}-lang CODE")
        result.set(f"data.{side}_lang", code, f"{column.describe()}: {why}")
    result.set("data.train", str(request.train))
    result.set("data.validation", None if request.validation is None else str(request.validation))
    result.set("data.test", None if request.test is None else str(request.test))
    encoding = request.option("encoding") or "utf-8"
    reader = parallel_table_reader(
        request.train,
        format=table.format,
        source_column=table.reference(source),
        target_column=table.reference(target),
        header=table.header,
        delimiter=table.delimiter,
        encoding=encoding,
    )
    pairs = [(row[1], row[2]) for row in reader.rows()]
    _lengths_and_counts(result, request, pairs, str(request.train))
    return result


def _lengths_and_counts(result: Draft, request: DraftRequest, pairs: list[tuple[str, str]], where: str) -> None:
    result.said.append(f"{where}: {len(pairs):,} training pairs")
    for index, side in enumerate(("source", "target")):
        lengths = [token_count(pair[index]) for pair in pairs]
        longest = length_covering(lengths, share=0.99, low=50, high=256)
        covered = sum(n <= longest for n in lengths) / max(1, len(lengths))
        result.set(
            f"preprocessing.{side}.max_length",
            longest,
            f"{covered:.1%} of the training {side}s have at most that many tokens (longer pairs are left out)",
        )
    said_about_splits(result, request)

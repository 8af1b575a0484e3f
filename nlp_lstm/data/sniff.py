"""A first look at a user's data file, before any config exists: its table format, delimiter and header, what
each column holds, a CoNLL file's columns, the sides of a parallel corpus, and the language of some text.
`nlp-lstm init` drafts a pipeline config from what is found here; the readers then check every row.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from nlp_lstm.data.readers import detect_format, iter_rows, json_records, reading
from nlp_lstm.errors import DataError

SAMPLE_ROWS = 5000  # rows looked at to judge a file's columns (whole-file counts come from the readers)
SAMPLE_BYTES = 1 << 16  # what the CSV dialect is told from
_WORD = re.compile(r"\w+|[^\w\s]")  # close to what spaCy's rules cut a text into
_NUMBER = re.compile(r"[-+]?(\d+([.,]\d*)?|[.,]\d+)([eE][-+]?\d+)?")
TAG = re.compile(r"^(O|[BIESLU]-\S+)$")

# Header names that say what a column holds (lower case).
TEXT_NAMES = ("text", "sentence", "review", "content", "body", "comment", "document", "tweet", "message", "utterance")
LABEL_NAMES = ("label", "labels", "class", "category", "sentiment", "polarity", "stars", "rating", "target", "y", "tag")


def token_count(text: str) -> int:
    """About the number of tokens spaCy's rules cut `text` into."""
    return len(_WORD.findall(text))


def is_number(text: str) -> bool:
    return bool(_NUMBER.fullmatch(text.strip()))


@dataclass
class Column:
    """One column of a table, judged from a sample of its rows."""

    name: str | int  # the header's name, or the 0-based index when there is no header
    values: list[str] = field(default_factory=list)

    @property
    def distinct(self) -> int:
        return len(set(self.values))

    @property
    def mean_tokens(self) -> float:
        return statistics.fmean(token_count(v) for v in self.values) if self.values else 0.0

    @property
    def numeric(self) -> bool:
        return bool(self.values) and all(is_number(v) for v in self.values if v.strip())

    @property
    def identifiers(self) -> bool:
        """Every value distinct and short: a row id, not a label or a text."""
        return len(self.values) > 1 and self.distinct == len(self.values) and self.mean_tokens <= 1.5

    def looks_like_labels(self) -> bool:
        """Few distinct, short values, each repeated: what a class column holds."""
        rows = len(self.values)
        if rows < 2 or self.identifiers or self.mean_tokens > 4:
            return False
        return self.distinct <= max(2, min(100, rows // 2))

    def describe(self) -> str:
        return repr(self.name) if isinstance(self.name, str) else f"column {self.name}"


@dataclass
class Table:
    """What a CSV/TSV/JSONL file looks like: its settings for the readers and a sample of its columns."""

    path: Path
    format: str  # csv, tsv or jsonl
    delimiter: str | None  # None: the format's own (comma, tab)
    header: bool
    columns: list[Column]
    format_said: str  # how the format (and delimiter) was told, for the user
    header_said: str  # how the header was told

    def column(self, reference: str | int) -> Column:
        """A column by header name or 0-based index (`--text-column 1`); DataError naming the columns."""
        names = [c.name for c in self.columns]
        if isinstance(reference, str) and reference in names:
            return self.columns[names.index(reference)]
        if isinstance(reference, int) or str(reference).lstrip("-").isdigit():
            index = int(reference)
            if -len(self.columns) <= index < len(self.columns):
                return self.columns[index]
        listed = ", ".join(c.describe() for c in self.columns)
        raise DataError(f"{self.path}: no column {reference!r} (columns: {listed})")

    def describe(self) -> str:
        """`format csv (from the file name), header: yes (first row: ...)`."""
        header = "yes" if self.header else "no"
        return f"format {self.format} ({self.format_said}), header: {header} ({self.header_said})"

    def reference(self, column: Column) -> str | int:
        """How the config names a column: its header name, else its index."""
        return column.name


def _sample_text(path: Path, encoding: str) -> str:
    with reading(path, encoding) as handle:
        return handle.read(SAMPLE_BYTES)


def _sniff_format(path: Path, encoding: str) -> tuple[str, str | None, str]:
    """(format, delimiter, how they were told): from the file name, else from the first line (a JSON
    object, else a CSV dialect)."""
    try:
        fmt = detect_format(path)
        return fmt, None, "from the file name"
    except DataError:
        pass
    sample = _sample_text(path, encoding)
    first = next((line for line in sample.splitlines() if line.strip()), "")
    if first.lstrip().startswith("{"):
        try:
            if isinstance(json.loads(first), dict):
                return "jsonl", None, "its lines are JSON objects"
        except json.JSONDecodeError:
            pass
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",\t;|")
    except csv.Error:
        raise DataError(
            f"{path}: cannot tell how its columns are separated; pass --format csv, tsv or jsonl "
            "(and --delimiter for another separator)"
        ) from None
    if dialect.delimiter == "\t":
        return "tsv", None, "tab-separated, told from its lines"
    if dialect.delimiter == ",":
        return "csv", None, "comma-separated, told from its lines"
    return "csv", dialect.delimiter, f"separated by {dialect.delimiter!r}, told from its lines"


def _rows(path: Path, encoding: str, fmt: str, delimiter: str | None) -> Iterable[list[str]]:
    with reading(path, encoding) as handle:
        if fmt == "jsonl":
            keys: list[str] | None = None
            for _, record in json_records(handle, path):
                if keys is None:
                    keys = list(record)
                    yield keys
                yield ["" if record.get(key) is None else str(record.get(key)) for key in keys]
            return
        separator = delimiter or ("\t" if fmt == "tsv" else ",")
        quoting = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL
        for _, _, row in iter_rows(handle, path, separator, quoting):
            if row and not (len(row) == 1 and not row[0].strip()):
                yield row


def _has_header(first: Sequence[str], body: list[Sequence[str]]) -> bool:
    """A first row of names: a name a text or label column is usually given, or a word above numbers."""
    cells = [cell.strip().lower() for cell in first]
    if any(not cell for cell in cells) or any(is_number(cell) for cell in cells):
        return False
    if any(cell in TEXT_NAMES or cell in LABEL_NAMES for cell in cells):
        return True
    for index in range(len(cells)):
        column = [row[index] for row in body if index < len(row)]
        if column and all(is_number(v) for v in column):
            return True  # a word above a column of numbers
    # A header's names are short and none of them repeats below it; a data row shares values with the rows below.
    return all(len(cell.split()) <= 3 for cell in cells) and not any(
        first[index] in {row[index] for row in body if index < len(row)} for index in range(len(first))
    )


def profile_table(
    path: str | Path,
    *,
    encoding: str = "utf-8",
    format: str | None = None,
    delimiter: str | None = None,
    header: bool | None = None,
) -> Table:
    """Tell a table file's format, delimiter and header (unless given) and sample its columns."""
    path = Path(path)
    if format is None:
        format, sniffed, format_said = _sniff_format(path, encoding)
        delimiter = delimiter or sniffed
    else:
        format_said = "given"
    rows = []
    for row in _rows(path, encoding, format, delimiter):
        rows.append(row)
        if len(rows) > SAMPLE_ROWS:
            break
    if not rows:
        raise DataError(f"{path}: no rows found")
    if format == "jsonl":
        header = True  # the keys of the first object
        header_said = f"the keys of the first object: {', '.join(rows[0])}"
    elif header is None:
        header = len(rows) > 1 and _has_header(rows[0], rows[1:])
        shown = ", ".join(cell.strip() for cell in rows[0])
        header_said = f"first row: {shown[:120]}; pass {'--no-header' if header else '--header'} if that is wrong"
    else:
        header_said = "given"
    names: list[str | int] = [cell.strip() for cell in rows[0]] if header else list(range(len(rows[0])))
    body = rows[1:] if header else rows
    columns = [Column(name, [row[i] if i < len(row) else "" for row in body]) for i, name in enumerate(names)]
    return Table(path, format, delimiter, bool(header), columns, format_said, header_said)


# ------------------------------------------------------------------------------------------ CoNLL
@dataclass
class ConllColumns:
    """A token-per-line file's layout: how many columns, which hold tags, how they are separated."""

    path: Path
    width: int
    tag_columns: list[int]  # 0-based, each holding O / B-X / I-X ... in almost every line
    delimiter: str | None  # None: any whitespace


def profile_conll(path: str | Path, encoding: str = "utf-8") -> ConllColumns:
    """Sample a CoNLL-style file: its column count, the columns that hold IOB/IOBES tags, its separator."""
    path = Path(path)
    lines: list[str] = []
    with reading(path, encoding) as handle:
        for raw in handle:
            line = raw.rstrip("\r\n")
            if line.strip() and not line.startswith("-DOCSTART-"):
                lines.append(line)
                if len(lines) >= SAMPLE_ROWS * 4:
                    break
    if not lines:
        raise DataError(f"{path}: no token lines found")
    tabbed = all("\t" in line for line in lines)
    delimiter = "\t" if tabbed and any(" " in cell for line in lines for cell in line.split("\t")) else None
    split = [line.split(delimiter) if delimiter else line.split() for line in lines]
    width = Counter(len(columns) for columns in split).most_common(1)[0][0]
    if width < 2:
        raise DataError(f"{path}: one column per line; a CoNLL file needs a token and a tag column")
    rows = [columns for columns in split if len(columns) == width]
    tag_columns = []
    for index in range(1, width):  # the token is never in the tags' place
        values = [row[index] for row in rows]
        tagged = sum(bool(TAG.match(value)) for value in values)
        if tagged >= 0.98 * len(values) and any(value != "O" for value in values):
            tag_columns.append(index)
    return ConllColumns(path, width, tag_columns, delimiter)


# --------------------------------------------------------------------------------------- parallel
def parallel_sides(prefix: str | Path) -> list[str]:
    """The language suffixes of the files `PREFIX.xx` (or `PREFIX.xx.gz`) that exist, sorted."""
    prefix = Path(prefix)
    folder = prefix.parent if str(prefix.parent) else Path(".")
    if not folder.is_dir():
        return []
    sides = set()
    for candidate in folder.iterdir():
        name = candidate.name.removesuffix(".gz")
        if candidate.is_file() and name.startswith(prefix.name + "."):
            suffix = name[len(prefix.name) + 1 :]
            if re.fullmatch(r"[a-z]{2,3}", suffix):
                sides.add(suffix)
    return sorted(sides)


# --------------------------------------------------------------------------------------- language
# Languages told apart by their stop words (spaCy's own lists), among those spaCy ships.
LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt", "sv", "da", "nb", "fi", "pl", "ru", "tr", "cs", "ro")


def _stop_words(code: str) -> frozenset[str]:
    import importlib

    try:
        module = importlib.import_module(f"spacy.lang.{code}.stop_words")
    except ImportError:
        return frozenset()
    return frozenset(word.lower() for word in module.STOP_WORDS)


def guess_language(texts: Iterable[str], limit: int = 20_000) -> tuple[str | None, str]:
    """(spaCy language code or None, why): the language whose stop words cover most of the words, when it is
    clearly ahead of the next one."""
    words: list[str] = []
    for text in texts:
        words.extend(word.lower() for word in re.findall(r"[^\W\d_]+", text))
        if len(words) >= limit:
            break
    if len(words) < 20:
        return None, f"too few words ({len(words)}) to tell the language"
    counts = Counter(words)
    coverage = {}
    for code in LANGUAGES:
        stop = _stop_words(code)
        if stop:
            coverage[code] = sum(n for word, n in counts.items() if word in stop) / len(words)
    ranked = sorted(coverage.items(), key=lambda item: item[1], reverse=True)
    (best, share), (second, runner_up) = ranked[0], ranked[1]
    if share >= 0.15 and share >= 1.3 * runner_up:
        return best, f"{share:.0%} of its words are {best} stop words (next: {second}, {runner_up:.0%})"
    return None, f"the stop words of no language stand out ({best} {share:.0%}, {second} {runner_up:.0%})"


def looks_pretokenized(lines: Sequence[str]) -> bool:
    """Punctuation set off by spaces (`word , word .`), as WikiText and CoNLL-derived text are written."""
    marks = attached = 0
    for line in lines:
        for match in re.finditer(r"[,.;:!?)]", line):
            marks += 1
            start = match.start()
            if start > 0 and not line[start - 1].isspace() and line[start - 1] not in ",.;:!?)":
                attached += 1
    return marks >= 10 and attached <= 0.05 * marks

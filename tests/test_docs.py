"""The documentation cannot drift from the code: every config key is described, the generated reference pages
are what the generator writes now, and the README stays a short front door in the product's own words."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from nlp_lstm.config.describe import settings, undescribed
from nlp_lstm.config.registry import task_entry, task_names
from tests.conftest import REPO


@pytest.mark.parametrize("task", task_names())
def test_every_config_key_has_a_description(task):
    config_class = task_entry(task).config_class
    assert undescribed(config_class) == []
    assert len(list(settings(config_class))) > 80


def test_the_reference_pages_are_generated_from_the_current_code():
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "docs_reference.py"), "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def test_the_configuration_reference_lists_every_key_with_its_default_and_bounds():
    page = (REPO / "docs" / "reference" / "config-ner.md").read_text(encoding="utf-8")
    for doc in settings(task_entry("ner").config_class):
        top_section = doc.section and "." not in doc.key
        assert (f"## `{doc.key}`" if top_section else f"| `{doc.key}` |") in page, doc.key
    assert "| `model.rnn.units` | int (>= 1) | `128` |" in page
    assert "| `data.scheme` | string: `auto`, `iob1`, `iob2`, `iobes` | `auto` |" in page


# What the team says among itself, which user-facing pages must not.
INTERNAL = [r"\bissue \d+", r"\.\./shared/data", r"the issue's", r"\btargets? (is|are) met\b", r"\bthis session\b"]


def user_pages():
    yield REPO / "README.md"
    yield from sorted((REPO / "docs").rglob("*.md"))


def test_user_docs_speak_to_users():
    problems = []
    for path in user_pages():
        text = path.read_text(encoding="utf-8")
        for pattern in INTERNAL:
            for match in re.finditer(pattern, text, flags=re.IGNORECASE):
                line = text[: match.start()].count("\n") + 1
                problems.append(f"{path.relative_to(REPO)}:{line}: {match.group(0)!r}")
    assert not problems, "\n".join(problems)


def test_the_readme_is_a_short_front_door_whose_links_exist():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    for command in ("make run", "make test", "nlp-lstm init", "nlp-lstm run", "nlp-lstm predict"):
        assert command in readme
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    missing = [link for link in links if not link.startswith("http") and not (REPO / link).exists()]
    assert not missing, missing

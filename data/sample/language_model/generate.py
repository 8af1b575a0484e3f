"""Generate the sample corpus of the nlp_lstm language-model pipeline: short made-up paragraphs about a town,
written by this script from its own small grammar and vocabulary (no third-party text), laid out like
WikiText: a ` = Heading = ` line, then paragraphs one per line, blank lines between them.

The grammar has agreement a model can learn (a/an, singular/plural subjects and verbs, pronouns that
follow their subject's number), so the validation perplexity of a trained model falls far below that of
a model that only counts words.

Deterministic (fixed seed, stdlib `random` only): re-running rewrites byte-identical files.

    python data/sample/language_model/generate.py
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 2718
SPLITS = [("train", 160), ("validation", 20), ("test", 20)]  # articles per file

PEOPLE = ["baker", "teacher", "farmer", "doctor", "painter", "sailor", "miller", "artist", "engineer", "old woman"]
PLACES = ["market", "harbour", "library", "bridge", "school", "garden", "mill", "station", "square", "museum"]
THINGS = ["apple", "book", "letter", "basket", "lamp", "map", "umbrella", "violin", "kettle", "orange"]
ADJECTIVES = ["old", "small", "quiet", "busy", "red", "famous", "empty", "new", "bright", "narrow"]
TIMES = ["in the morning", "at noon", "every evening", "on sunday", "after the rain", "before dawn"]
VERBS = [("carries", "carry"), ("finds", "find"), ("paints", "paint"), ("sells", "sell"), ("repairs", "repair")]
MOTIONS = [("walks", "walk"), ("hurries", "hurry"), ("returns", "return"), ("goes", "go")]
VOWELS = set("aeiou")


def article(word: str) -> str:
    return ("an " if word[0] in VOWELS else "a ") + word


def noun_phrase(rng: random.Random, nouns: list[str], definite: bool | None = None) -> str:
    noun = rng.choice(nouns)
    if rng.random() < 0.4:
        noun = f"{rng.choice(ADJECTIVES)} {noun}"
    definite = rng.random() < 0.5 if definite is None else definite
    return f"the {noun}" if definite else article(noun)


def sentence(rng: random.Random) -> str:
    plural = rng.random() < 0.3
    person = rng.choice(PEOPLE)
    subject = f"the {person}s" if plural and person != "old woman" else f"the {person}"
    plural = subject.endswith("s") and subject != "the old woman"
    pronoun = "they" if plural else ("she" if person in ("old woman", "teacher", "painter") else "he")
    form = 1 if plural else 0
    kind = rng.random()
    if kind < 0.4:
        verb = rng.choice(VERBS)[form]
        text = f"{subject} {verb} {noun_phrase(rng, THINGS)} near {noun_phrase(rng, PLACES, True)}"
    elif kind < 0.7:
        motion = rng.choice(MOTIONS)[form]
        text = f"{subject} {motion} to {noun_phrase(rng, PLACES, True)} {rng.choice(TIMES)}"
    else:
        verb = rng.choice(VERBS)[form]
        be = "are" if plural else "is"
        text = (
            f"{subject} {be} {rng.choice(ADJECTIVES)} , and {pronoun} {verb} "
            f"{noun_phrase(rng, THINGS)} {rng.choice(TIMES)}"
        )
    return text[0].upper() + text[1:] + " ."


def write_split(path: Path, articles: int, rng: random.Random) -> None:
    lines = []
    for _ in range(articles):
        lines += ["", f" = The {rng.choice(ADJECTIVES).title()} {rng.choice(PLACES).title()} = ", ""]
        for _ in range(rng.randint(2, 4)):
            lines.append(" ".join(sentence(rng) for _ in range(rng.randint(1, 3))))
            lines.append("")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    rng = random.Random(SEED)
    for name, articles in SPLITS:
        write_split(HERE / f"{name}.txt", articles, rng)


if __name__ == "__main__":
    main()

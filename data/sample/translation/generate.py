"""Generate the synthetic German->English sample corpus for the nlp_lstm translator pipeline.

The sentences are short, Multi30k-style image captions ("Ein Mann fährt ein rotes Fahrrad." /
"A man rides a red bike.") built by this script from its own small grammar and vocabulary. They were
written for this project; no third-party text is included, so the files carry the project's license.

German side: correct gender/number/case agreement (nominative subjects, accusative objects, dative after
in/an/auf/unter/vor/neben/mit, contractions im/am), weak/mixed/strong adjective endings, verb-second word
order (a fronted place phrase puts the subject after the verb), separable verbs with the particle at the
end, and relative clauses with the verb last. English side: present continuous for intransitive templates
("is playing"), simple present for transitive ones ("rides").

Output, next to this file (UTF-8, one sentence per line, line i of X.de aligns with line i of X.en):
train.de/.en (2000 pairs), validation.de/.en (200) and test.de/.en (200). No German or English sentence
occurs twice anywhere in the six files. In validation and test, 15% of the pairs use one of the
held-out word combinations in HELDOUT (e.g. "gelbes Auto", a swimming dog), which never occur in train;
every word of validation/test also occurs in train.

Deterministic (fixed seed, stdlib `random` only): re-running rewrites byte-identical files.

    python data/sample/translation/generate.py
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 3016
SPLITS = [("train", 2000), ("validation", 200), ("test", 200)]
NOVEL_SHARE = 0.15  # share of validation/test pairs built around a HELDOUT combination
MIN_WORDS, MAX_WORDS = 4, 14

# ---------------------------------------------------------------------------------------------------
# Adjectives: German base form, stem for inflection, English, category (orders two-adjective phrases).
# "groß"/"klein" translate as "tall"/"little" for people, "big"/"small" otherwise.
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Adj:
    de: str
    stem: str
    en: str
    cat: str  # mood < size < age < colour


ADJS = {
    a.de: a
    for a in (
        Adj("rot", "rot", "red", "colour"),
        Adj("blau", "blau", "blue", "colour"),
        Adj("grün", "grün", "green", "colour"),
        Adj("gelb", "gelb", "yellow", "colour"),
        Adj("schwarz", "schwarz", "black", "colour"),
        Adj("weiß", "weiß", "white", "colour"),
        Adj("braun", "braun", "brown", "colour"),
        Adj("grau", "grau", "grey", "colour"),
        Adj("groß", "groß", "big", "size"),
        Adj("klein", "klein", "small", "size"),
        Adj("alt", "alt", "old", "age"),
        Adj("jung", "jung", "young", "age"),
        Adj("neu", "neu", "new", "age"),
        Adj("lächelnd", "lächelnd", "smiling", "mood"),
        Adj("glücklich", "glücklich", "happy", "mood"),
        Adj("müde", "müd", "tired", "mood"),
    )
}
CAT_ORDER = {"mood": 0, "size": 1, "age": 2, "colour": 3}
PERSON_EN = {"groß": "tall", "klein": "little"}

# ---------------------------------------------------------------------------------------------------
# Nouns. `weak`: masculine n-declension (den Jungen, dem Touristen). `exclude`: place tags where the noun
# would be odd (no horse in the kitchen, no car on the stage).
# ---------------------------------------------------------------------------------------------------

ADULT_ADJ = "groß alt jung lächelnd glücklich müde"
CHILD_ADJ = "klein lächelnd glücklich müde"
ALL_COLOURS = "rot blau grün gelb schwarz weiß braun grau"
NOT_FOR_OBJECTS = "perch water stage"
VEHICLE_EXCLUDE = "perch water stage seat indoor shade"


@dataclass(frozen=True)
class Noun:
    de: str
    pl: str
    g: str  # m / f / n
    en: str
    en_pl: str
    kind: str  # adult / child / animal / object / clothing / place
    adjs: tuple
    weak: bool = False
    exclude: frozenset = frozenset()

    def form(self, number: str, case: str) -> str:
        if number == "pl":
            return self.pl + ("n" if case == "dat" and not self.pl.endswith(("n", "s")) else "")
        if self.weak and case != "nom":
            return self.de + ("n" if self.de.endswith("e") else "en")
        return self.de

    @property
    def person(self) -> bool:
        return self.kind in ("adult", "child")


def _n(de, pl, g, en, en_pl, kind, adjs="", weak=False, exclude=""):
    return Noun(de, pl, g, en, en_pl, kind, tuple(adjs.split()), weak, frozenset(exclude.split()))


NOUNS = {
    n.de: n
    for n in (
        # people
        _n("Mann", "Männer", "m", "man", "men", "adult", ADULT_ADJ, exclude="perch"),
        _n("Frau", "Frauen", "f", "woman", "women", "adult", ADULT_ADJ, exclude="perch"),
        _n("Arbeiter", "Arbeiter", "m", "worker", "workers", "adult", ADULT_ADJ, exclude="perch"),
        _n("Musiker", "Musiker", "m", "musician", "musicians", "adult", ADULT_ADJ, exclude="perch"),
        _n("Tourist", "Touristen", "m", "tourist", "tourists", "adult", ADULT_ADJ, True, "perch"),
        _n("Junge", "Jungen", "m", "boy", "boys", "child", CHILD_ADJ, True, "perch"),
        _n("Mädchen", "Mädchen", "n", "girl", "girls", "child", CHILD_ADJ, exclude="perch"),
        _n("Kind", "Kinder", "n", "child", "children", "child", CHILD_ADJ, exclude="perch"),
        # animals
        _n(
            "Hund",
            "Hunde",
            "m",
            "dog",
            "dogs",
            "animal",
            "groß klein schwarz weiß braun grau alt jung müde",
            exclude="stage perch",
        ),
        _n(
            "Katze",
            "Katzen",
            "f",
            "cat",
            "cats",
            "animal",
            "klein schwarz weiß grau alt jung müde",
            exclude="stage water",
        ),
        _n(
            "Pferd",
            "Pferde",
            "n",
            "horse",
            "horses",
            "animal",
            "groß schwarz weiß braun alt jung",
            exclude="stage perch seat indoor water",
        ),
        _n(
            "Vogel",
            "Vögel",
            "m",
            "bird",
            "birds",
            "animal",
            "klein rot blau gelb schwarz",
            exclude="stage indoor water",
        ),
        # things
        _n("Ball", "Bälle", "m", "ball", "balls", "object", "rot blau grün gelb weiß groß klein neu", exclude="perch"),
        _n(
            "Fahrrad",
            "Fahrräder",
            "n",
            "bike",
            "bikes",
            "object",
            "rot blau grün gelb schwarz weiß alt neu",
            exclude=VEHICLE_EXCLUDE,
        ),
        _n(
            "Auto",
            "Autos",
            "n",
            "car",
            "cars",
            "object",
            "rot blau gelb schwarz weiß grau groß klein alt neu",
            exclude=VEHICLE_EXCLUDE + " open beach meadow forest",
        ),
        _n("Buch", "Bücher", "n", "book", "books", "object", "rot blau grün alt neu", exclude=NOT_FOR_OBJECTS),
        _n("Zeitung", "Zeitungen", "f", "newspaper", "newspapers", "object", "alt neu", exclude=NOT_FOR_OBJECTS),
        _n(
            "Tasche",
            "Taschen",
            "f",
            "bag",
            "bags",
            "object",
            "rot blau schwarz braun groß klein alt neu",
            exclude=NOT_FOR_OBJECTS,
        ),
        _n(
            "Gitarre",
            "Gitarren",
            "f",
            "guitar",
            "guitars",
            "object",
            "rot schwarz weiß braun alt neu",
            exclude=NOT_FOR_OBJECTS,
        ),
        _n("Apfel", "Äpfel", "m", "apple", "apples", "object", "rot grün gelb groß klein", exclude=NOT_FOR_OBJECTS),
        _n("Kuchen", "Kuchen", "m", "cake", "cakes", "object", "groß klein", exclude=NOT_FOR_OBJECTS),
        _n("Kamera", "Kameras", "f", "camera", "cameras", "object", "schwarz klein alt neu", exclude=NOT_FOR_OBJECTS),
        _n(
            "Flasche",
            "Flaschen",
            "f",
            "bottle",
            "bottles",
            "object",
            "grün blau braun groß klein",
            exclude=NOT_FOR_OBJECTS,
        ),
        _n("Kiste", "Kisten", "f", "box", "boxes", "object", "rot blau braun groß klein alt", exclude=NOT_FOR_OBJECTS),
        # clothing
        _n("Hut", "Hüte", "m", "hat", "hats", "clothing", ALL_COLOURS + " alt neu groß", exclude=NOT_FOR_OBJECTS),
        _n("Jacke", "Jacken", "f", "jacket", "jackets", "clothing", ALL_COLOURS + " alt neu", exclude=NOT_FOR_OBJECTS),
        _n("Hemd", "Hemden", "n", "shirt", "shirts", "clothing", ALL_COLOURS + " alt neu", exclude=NOT_FOR_OBJECTS),
        _n(
            "Mantel",
            "Mäntel",
            "m",
            "coat",
            "coats",
            "clothing",
            "rot blau schwarz braun grau alt neu",
            exclude=NOT_FOR_OBJECTS,
        ),
        _n(
            "Kleid",
            "Kleider",
            "n",
            "dress",
            "dresses",
            "clothing",
            "rot blau grün gelb schwarz weiß neu",
            exclude=NOT_FOR_OBJECTS,
        ),
        # places
        _n("Park", "Parks", "m", "park", "parks", "place", "groß klein"),
        _n("Straße", "Straßen", "f", "street", "streets", "place"),
        _n("Strand", "Strände", "m", "beach", "beaches", "place"),
        _n("Haus", "Häuser", "n", "house", "houses", "place", "groß klein alt weiß gelb rot"),
        _n("Küche", "Küchen", "f", "kitchen", "kitchens", "place", "groß klein"),
        _n("Markt", "Märkte", "m", "market", "markets", "place", "groß klein"),
        _n("Baum", "Bäume", "m", "tree", "trees", "place", "groß klein alt"),
        _n("Brücke", "Brücken", "f", "bridge", "bridges", "place", "alt groß"),
        _n("See", "Seen", "m", "lake", "lakes", "place", "groß klein"),
        _n("Bühne", "Bühnen", "f", "stage", "stages", "place", "groß klein"),
        _n("Wald", "Wälder", "m", "forest", "forests", "place", "groß"),
        _n("Bank", "Bänke", "f", "bench", "benches", "place", "alt grün blau braun"),
        _n("Wiese", "Wiesen", "f", "meadow", "meadows", "place", "grün groß"),
        _n("Wasser", "Wasser", "n", "water", "waters", "place"),
    )
}

ADULTS = [n for n in NOUNS.values() if n.kind == "adult"]
CHILDREN = [n for n in NOUNS.values() if n.kind == "child"]
PEOPLE = ADULTS + CHILDREN
CLOTHES = [n for n in NOUNS.values() if n.kind == "clothing"]


def nouns(names: str) -> list:
    return [NOUNS[name] for name in names.split()]


# Place phrases: preposition (+ dative, definite), place noun, English preposition, tag.
PLACES = [
    ("in", "Park", "in", "open"),
    ("auf", "Straße", "on", "street"),
    ("an", "Strand", "on", "beach"),
    ("vor", "Haus", "in front of", "out"),
    ("neben", "Haus", "next to", "out"),
    ("in", "Haus", "in", "indoor"),
    ("in", "Küche", "in", "indoor"),
    ("auf", "Markt", "at", "market"),
    ("unter", "Baum", "under", "shade"),
    ("auf", "Baum", "in", "perch"),
    ("auf", "Brücke", "on", "bridge"),
    ("unter", "Brücke", "under", "shade"),
    ("an", "See", "by", "out"),
    ("in", "See", "in", "water"),
    ("auf", "Bühne", "on", "stage"),
    ("in", "Wald", "in", "forest"),
    ("auf", "Bank", "on", "seat"),
    ("neben", "Bank", "next to", "out"),
    ("auf", "Wiese", "in", "meadow"),
    ("in", "Wasser", "in", "water"),
]

# ---------------------------------------------------------------------------------------------------
# Verbs. German 3sg/3pl (separable verbs: stem forms + particle); English base/3sg/-ing. `places`: tags
# of place phrases that fit; `subjects`/`objects`: allowed nouns; `with_`: nouns allowed in a
# "mit ..." phrase ("spielt mit einem Hund" / "is playing with a dog").
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verb:
    key: str  # German infinitive, used for held-out combinations
    sg: str
    pl: str
    en: str
    en3: str
    en_ing: str
    subjects: tuple
    places: frozenset
    objects: tuple = ()
    with_: tuple = ()
    particle: str = ""


def _v(key, sg, pl, en, en3, ing, subjects, places, objects=(), with_=(), particle=""):
    return Verb(
        key, sg, pl, en, en3, ing, tuple(subjects), frozenset(places.split()), tuple(objects), tuple(with_), particle
    )


INTRANSITIVE = [
    _v(
        "spielen",
        "spielt",
        "spielen",
        "play",
        "plays",
        "playing",
        CHILDREN + ADULTS + nouns("Hund Katze"),
        "open beach meadow water indoor shade forest street stage",
        with_=nouns("Ball Hund Katze Kind Junge Mädchen"),
    ),
    _v(
        "rennen",
        "rennt",
        "rennen",
        "run",
        "runs",
        "running",
        PEOPLE + nouns("Hund Katze Pferd"),
        "open beach meadow forest street bridge",
        with_=nouns("Hund Ball"),
    ),
    _v(
        "gehen",
        "geht",
        "gehen",
        "walk",
        "walks",
        "walking",
        PEOPLE,
        "open beach meadow forest street bridge",
        with_=nouns("Hund Pferd Kind Mann Frau Junge Mädchen"),
    ),
    _v(
        "sitzen",
        "sitzt",
        "sitzen",
        "sit",
        "sits",
        "sitting",
        PEOPLE + nouns("Hund Katze Vogel"),
        "seat shade out indoor stage beach meadow perch open bridge",
    ),
    _v(
        "stehen",
        "steht",
        "stehen",
        "stand",
        "stands",
        "standing",
        PEOPLE + nouns("Hund Pferd"),
        "out shade indoor stage beach meadow open bridge street market water forest",
    ),
    _v(
        "lachen",
        "lacht",
        "lachen",
        "laugh",
        "laughs",
        "laughing",
        PEOPLE,
        "out seat street market open indoor stage bridge shade beach meadow forest",
    ),
    _v(
        "tanzen",
        "tanzt",
        "tanzen",
        "dance",
        "dances",
        "dancing",
        PEOPLE,
        "open stage indoor beach meadow street",
        with_=nouns("Mann Frau Junge Mädchen Kind"),
    ),
    _v(
        "schlafen",
        "schläft",
        "schlafen",
        "sleep",
        "sleeps",
        "sleeping",
        PEOPLE + nouns("Hund Katze"),
        "seat shade indoor beach meadow open",
    ),
    _v(
        "warten",
        "wartet",
        "warten",
        "wait",
        "waits",
        "waiting",
        PEOPLE + nouns("Hund"),
        "out seat street bridge market open indoor",
    ),
    _v(
        "singen",
        "singt",
        "singen",
        "sing",
        "sings",
        "singing",
        PEOPLE + nouns("Vogel"),
        "stage indoor open forest seat perch shade",
    ),
    _v(
        "springen",
        "springt",
        "springen",
        "jump",
        "jumps",
        "jumping",
        PEOPLE + nouns("Hund Katze Pferd"),
        "water open beach meadow stage",
    ),
    _v("schwimmen", "schwimmt", "schwimmen", "swim", "swims", "swimming", PEOPLE + nouns("Hund"), "water"),
    _v(
        "bellen",
        "bellt",
        "bellen",
        "bark",
        "barks",
        "barking",
        nouns("Hund"),
        "out open beach meadow street forest indoor",
    ),
    _v(
        "sprechen",
        "spricht",
        "sprechen",
        "talk",
        "talks",
        "talking",
        PEOPLE,
        "out seat street market open indoor stage bridge shade",
        with_=PEOPLE,
    ),
]
INTRANSITIVE_BY_KEY = {v.key: v for v in INTRANSITIVE}

CARRY = "Ball Buch Zeitung Tasche Gitarre Kuchen Kamera Flasche Kiste"
TRANSITIVE = [
    _v(
        "fahren",
        "fährt",
        "fahren",
        "ride",
        "rides",
        "riding",
        PEOPLE,
        "street open forest bridge beach",
        nouns("Fahrrad"),
    ),
    _v("fahren", "fährt", "fahren", "drive", "drives", "driving", ADULTS, "street bridge", nouns("Auto")),
    _v(
        "lesen",
        "liest",
        "lesen",
        "read",
        "reads",
        "reading",
        PEOPLE,
        "seat shade indoor open beach meadow",
        nouns("Buch Zeitung"),
    ),
    _v(
        "tragen",
        "trägt",
        "tragen",
        "wear",
        "wears",
        "wearing",
        PEOPLE,
        "out street market open beach stage indoor seat bridge shade",
        CLOTHES,
    ),
    _v(
        "tragen",
        "trägt",
        "tragen",
        "carry",
        "carries",
        "carrying",
        PEOPLE,
        "street market open beach bridge indoor forest",
        nouns(CARRY + " Kind Katze Hund"),
    ),
    _v(
        "halten",
        "hält",
        "halten",
        "hold",
        "holds",
        "holding",
        PEOPLE,
        "out street market open beach stage indoor seat bridge shade forest meadow",
        nouns(CARRY + " Apfel Hut Katze Vogel"),
    ),
    _v(
        "werfen",
        "wirft",
        "werfen",
        "throw",
        "throws",
        "throwing",
        PEOPLE,
        "open beach meadow street",
        nouns("Ball Apfel"),
    ),
    _v(
        "fangen",
        "fängt",
        "fangen",
        "catch",
        "catches",
        "catching",
        PEOPLE + nouns("Hund"),
        "open beach meadow",
        nouns("Ball Apfel"),
    ),
    _v(
        "essen",
        "isst",
        "essen",
        "eat",
        "eats",
        "eating",
        PEOPLE,
        "seat shade indoor open beach meadow market",
        nouns("Apfel Kuchen"),
    ),
    _v(
        "kaufen",
        "kauft",
        "kaufen",
        "buy",
        "buys",
        "buying",
        PEOPLE,
        "market",
        nouns("Ball Buch Zeitung Tasche Gitarre Apfel Kuchen Kamera Flasche Hut Jacke Hemd Kleid Fahrrad"),
    ),
    _v(
        "betrachten",
        "betrachtet",
        "betrachten",
        "look at",
        "looks at",
        "looking at",
        PEOPLE,
        "out street market open beach stage indoor seat bridge shade forest meadow",
        nouns("Auto Fahrrad Buch Zeitung Gitarre Kamera Hund Katze Pferd Vogel Kind Mann Frau"),
    ),
    _v(
        "füttern",
        "füttert",
        "füttern",
        "feed",
        "feeds",
        "feeding",
        PEOPLE,
        "open meadow out indoor beach",
        nouns("Hund Katze Pferd Vogel"),
    ),
    _v(
        "schieben",
        "schiebt",
        "schieben",
        "push",
        "pushes",
        "pushing",
        PEOPLE,
        "street open bridge forest",
        nouns("Fahrrad Auto Kiste"),
    ),
]
SEPARABLE = [
    _v(
        "aufheben",
        "hebt",
        "heben",
        "pick up",
        "picks up",
        "picking up",
        PEOPLE,
        "open street beach meadow indoor",
        nouns("Ball Buch Zeitung Tasche Apfel Flasche Kamera Hut Jacke"),
        particle="auf",
    ),
    _v(
        "anziehen",
        "zieht",
        "ziehen",
        "put on",
        "puts on",
        "putting on",
        PEOPLE,
        "indoor seat beach",
        CLOTHES,
        particle="an",
    ),
    _v(
        "hochhalten",
        "hält",
        "halten",
        "hold up",
        "holds up",
        "holding up",
        PEOPLE,
        "open street stage market bridge",
        nouns("Buch Ball Kamera Zeitung Flasche Gitarre Apfel"),
        particle="hoch",
    ),
]
# With a plural subject these take a plural object ("Zwei Männer essen Äpfel.", not "... einen Apfel.").
DISTRIBUTIVE = {"ride", "drive", "read", "wear", "eat", "throw", "put on", "carry", "hold"}
REL_VERBS = [v for v in TRANSITIVE if v.en in ("wear", "carry", "hold")]
REL_MAIN = [INTRANSITIVE_BY_KEY[k] for k in "gehen stehen sitzen warten lachen sprechen".split()]

# Combinations that never occur in train; validation/test each get NOVEL_SHARE of pairs built on them.
HELDOUT = {
    ("adj", "gelb", "Auto"),
    ("adj", "grün", "Hut"),
    ("adj", "braun", "Pferd"),
    ("adj", "klein", "Katze"),
    ("adj", "alt", "Gitarre"),
    ("adj", "blau", "Kleid"),
    ("sv", "Mädchen", "tanzen"),
    ("sv", "Hund", "schwimmen"),
    ("sv", "Tourist", "schlafen"),
    ("sv", "Katze", "springen"),
    ("vo", "werfen", "Apfel"),
    ("vo", "kaufen", "Gitarre"),
    ("vo", "füttern", "Pferd"),
    ("vo", "halten", "Kamera"),
    ("vp", "sitzen", "Brücke"),
    ("vp", "warten", "Markt"),
    ("vp", "singen", "Wald"),
}

# ---------------------------------------------------------------------------------------------------
# Inflection
# ---------------------------------------------------------------------------------------------------

ARTICLES = {
    "def": {
        "nom": {"m": "der", "f": "die", "n": "das", "pl": "die"},
        "acc": {"m": "den", "f": "die", "n": "das", "pl": "die"},
        "dat": {"m": "dem", "f": "der", "n": "dem", "pl": "den"},
    },
    "indef": {
        "nom": {"m": "ein", "f": "eine", "n": "ein"},
        "acc": {"m": "einen", "f": "eine", "n": "ein"},
        "dat": {"m": "einem", "f": "einer", "n": "einem"},
    },
}
NUMERALS = {"zwei": "two", "drei": "three"}


def adj_ending(det: str, case: str, gender: str, number: str) -> str:
    if number == "pl":
        if det == "def":
            return "en"  # weak plural
        return "en" if case == "dat" else "e"  # strong plural after a numeral or with no article
    if det == "def":  # weak
        return "e" if case == "nom" or (case == "acc" and gender != "m") else "en"
    if case == "dat":  # mixed, after ein-
        return "en"
    return {"nom": {"m": "er", "f": "e", "n": "es"}, "acc": {"m": "en", "f": "e", "n": "es"}}[case][gender]


@dataclass
class NP:
    noun: Noun
    det: str  # indef / def (singular); defpl / zwei / drei / bare (plural; bare = no article)
    adjs: tuple = ()

    @property
    def number(self) -> str:
        return "sg" if self.det in ("indef", "def") else "pl"

    def de(self, case: str) -> list:
        n = self.noun
        words = []
        if self.det in ("indef", "def"):
            words.append(ARTICLES[self.det][case][n.g])
        elif self.det == "defpl":
            words.append(ARTICLES["def"][case]["pl"])
        elif self.det in NUMERALS:
            words.append(self.det)
        det = "def" if self.det == "defpl" else self.det
        ending = adj_ending(det, case, n.g, self.number)
        words += [ADJS[a].stem + ending for a in self.adjs]
        words.append(n.form(self.number, case))
        return words

    def en(self) -> list:
        n = self.noun
        adjs = [PERSON_EN.get(a, ADJS[a].en) if n.person else ADJS[a].en for a in self.adjs]
        noun = n.en if self.number == "sg" else n.en_pl
        rest = adjs + [noun]
        if self.det == "indef":
            return ["an" if rest[0][0] in "aeiou" else "a"] + rest
        if self.det in ("def", "defpl"):
            return ["the"] + rest
        if self.det in NUMERALS:
            return [NUMERALS[self.det]] + rest
        return rest

    def features(self) -> set:
        return {("adj", a, self.noun.de) for a in self.adjs}


def place_phrase(prep: str, np: NP) -> list:
    words = np.de("dat")
    if prep in ("in", "an") and words[0] == "dem":
        return [{"in": "im", "an": "am"}[prep]] + words[1:]
    return [prep] + words


# ---------------------------------------------------------------------------------------------------
# Sentence builder
# ---------------------------------------------------------------------------------------------------


class Builder:
    def __init__(self, rng: random.Random):
        self.rng = rng

    def pick_adjs(self, noun: Noun, p_one: float, p_two: float = 0.0, colour_only: bool = False) -> tuple:
        rng = self.rng
        allowed = [a for a in noun.adjs if not colour_only or ADJS[a].cat == "colour"]
        if not allowed:
            return ()
        r = rng.random()
        if r < p_two:
            colours = [a for a in allowed if ADJS[a].cat == "colour"]
            others = [a for a in allowed if ADJS[a].cat in ("size", "age")]
            if colours and others:
                return (rng.choice(others), rng.choice(colours))
        if r < p_one + p_two:
            return (rng.choice(allowed),)
        return ()

    def subject(self, verb: Verb, allow_def: bool = True) -> NP:
        rng = self.rng
        noun = rng.choice(verb.subjects)
        dets = ["indef", "zwei", "drei"] + (["def", "defpl"] if allow_def else [])
        weights = [0.62, 0.14, 0.10] + ([0.08, 0.06] if allow_def else [])
        det = rng.choices(dets, weights)[0]
        return NP(noun, det, self.pick_adjs(noun, 0.35, 0.07))

    def object(self, noun: Noun, subj: NP, verb: Verb) -> NP:
        rng = self.rng
        if verb.en in DISTRIBUTIVE and subj.number == "pl":
            # "Zwei Männer tragen rote Hüte." / "Two men wear red hats."
            counted = verb.en in ("read", "eat", "throw", "carry", "hold")  # "... werfen drei Bälle." is fine
            det = rng.choices(["bare", "zwei", "drei"], [0.6, 0.2, 0.2])[0] if counted else "bare"
        elif noun.kind == "clothing":
            det = rng.choices(["indef", "def"], [0.85, 0.15])[0]
        else:
            det = rng.choices(["indef", "def", "zwei", "drei"], [0.72, 0.14, 0.09, 0.05])[0]
        return NP(noun, det, self.pick_adjs(noun, 0.4, 0.05))

    def place(self, verb: Verb, animates: list) -> tuple | None:
        banned = set().union(*(n.exclude for n in animates))
        options = [p for p in PLACES if p[3] in verb.places and p[3] not in banned]
        if not options:
            return None
        prep, name, en_prep, _ = self.rng.choice(options)
        np = NP(NOUNS[name], "def", self.pick_adjs(NOUNS[name], 0.15))
        return place_phrase(prep, np), en_prep.split() + np.en(), np

    # Each template returns (German words, English words, features) or None to retry.
    def t_intransitive(self):
        """Ein Hund rennt mit einem Ball im Park. / A dog is running with a ball in the park."""
        rng = self.rng
        verb = rng.choice(INTRANSITIVE)
        subj = self.subject(verb)
        feats = subj.features() | {("sv", subj.noun.de, verb.key)}
        de = subj.de("nom") + [verb.sg if subj.number == "sg" else verb.pl]
        en = subj.en() + ["is" if subj.number == "sg" else "are", verb.en_ing]
        animates = [subj.noun]
        if verb.with_ and rng.random() < 0.4:
            options = [n for n in verb.with_ if n is not subj.noun]
            noun = rng.choice(options)
            det = rng.choices(["indef", "def", "zwei"], [0.75, 0.15, 0.10])[0]
            mit = NP(noun, det, self.pick_adjs(noun, 0.3))
            de += ["mit"] + mit.de("dat")
            en += ["with"] + mit.en()
            feats |= mit.features() | {("vo", verb.key, noun.de)}
            animates.append(noun)
        if rng.random() < 0.85 or len(de) < 4:
            place = self.place(verb, animates)
            if place is None:
                return None
            de += place[0]
            en += place[1]
            feats |= place[2].features() | {("vp", verb.key, place[2].noun.de)}
        return de, en, feats

    def t_inverted(self):
        """Im Park spielen zwei Kinder. / Two children are playing in the park."""
        verb = self.rng.choice(INTRANSITIVE)
        subj = self.subject(verb)
        place = self.place(verb, [subj.noun])
        if place is None:
            return None
        de = place[0] + [verb.sg if subj.number == "sg" else verb.pl] + subj.de("nom")
        en = subj.en() + ["is" if subj.number == "sg" else "are", verb.en_ing] + place[1]
        feats = subj.features() | place[2].features()
        feats |= {("sv", subj.noun.de, verb.key), ("vp", verb.key, place[2].noun.de)}
        return de, en, feats

    def t_transitive(self, with_place: bool):
        """Ein Mann fährt ein rotes Fahrrad (auf der Straße). / A man rides a red bike (on the street)."""
        rng = self.rng
        verb = rng.choice(TRANSITIVE)
        subj = self.subject(verb)
        options = [n for n in verb.objects if n is not subj.noun]
        obj = self.object(rng.choice(options), subj, verb)
        de = subj.de("nom") + [verb.sg if subj.number == "sg" else verb.pl] + obj.de("acc")
        en = subj.en() + [verb.en3 if subj.number == "sg" else verb.en] + obj.en()
        feats = subj.features() | obj.features() | {("sv", subj.noun.de, verb.key), ("vo", verb.key, obj.noun.de)}
        if with_place:
            place = self.place(verb, [subj.noun, obj.noun])
            if place is None:
                return None
            de += place[0]
            en += place[1]
            feats |= place[2].features() | {("vp", verb.key, place[2].noun.de)}
        return de, en, feats

    def t_clothing(self):
        """Eine Frau in einer blauen Jacke wartet auf der Brücke. / A woman in a blue jacket is waiting..."""
        rng = self.rng
        verb = rng.choice([v for v in INTRANSITIVE if any(n.person for n in v.subjects)])
        people = [n for n in verb.subjects if n.person]
        noun = rng.choice(people)
        det = rng.choices(["indef", "zwei", "drei"], [0.7, 0.18, 0.12])[0]
        subj = NP(noun, det, self.pick_adjs(noun, 0.2))
        cloth = rng.choice([c for c in CLOTHES if c.de != "Kleid" or noun.de in ("Frau", "Mädchen")])
        cloth_np = NP(cloth, "indef" if subj.number == "sg" else "bare", self.pick_adjs(cloth, 0.85, 0.1, True))
        prep, en_prep = ("mit", "with") if cloth.de == "Hut" else ("in", "in")
        place = self.place(verb, [noun])
        if place is None:
            return None
        de = subj.de("nom") + [prep] + cloth_np.de("dat") + [verb.sg if subj.number == "sg" else verb.pl]
        de += place[0]
        en = subj.en() + [en_prep] + cloth_np.en() + ["is" if subj.number == "sg" else "are", verb.en_ing]
        en += place[1]
        feats = subj.features() | cloth_np.features() | place[2].features()
        feats |= {("sv", noun.de, verb.key), ("vp", verb.key, place[2].noun.de)}
        return de, en, feats

    def t_separable(self):
        """Ein Junge hebt einen roten Ball (am Strand) auf. / A boy picks up a red ball (on the beach)."""
        rng = self.rng
        verb = rng.choice(SEPARABLE)
        subj = self.subject(verb)
        options = [n for n in verb.objects if n.de != "Kleid" or subj.noun.de in ("Frau", "Mädchen")]
        obj = self.object(rng.choice(options), subj, verb)
        de = subj.de("nom") + [verb.sg if subj.number == "sg" else verb.pl] + obj.de("acc")
        en = subj.en() + [verb.en3 if subj.number == "sg" else verb.en] + obj.en()
        feats = subj.features() | obj.features() | {("sv", subj.noun.de, verb.key), ("vo", verb.key, obj.noun.de)}
        if rng.random() < 0.35:
            place = self.place(verb, [subj.noun, obj.noun])
            if place is None:
                return None
            de += place[0]
            en += place[1]
            feats |= place[2].features() | {("vp", verb.key, place[2].noun.de)}
        return de + [verb.particle], en, feats

    def t_relative(self):
        """Ein Mann, der einen Hut trägt, sitzt auf der Bank. / A man wearing a hat is sitting on the bench."""
        rng = self.rng
        main = rng.choice(REL_MAIN)
        rel = rng.choice(REL_VERBS)
        noun = rng.choice([n for n in main.subjects if n.person])
        det = rng.choices(["indef", "zwei", "drei"], [0.75, 0.15, 0.10])[0]
        subj = NP(noun, det, self.pick_adjs(noun, 0.2))
        options = [n for n in rel.objects if n is not noun and (n.de != "Kleid" or noun.de in ("Frau", "Mädchen"))]
        obj = self.object(rng.choice(options), subj, rel)
        place = self.place(main, [noun, obj.noun])
        if place is None:
            return None
        sg = subj.number == "sg"
        pronoun = ARTICLES["def"]["nom"][noun.g if sg else "pl"]
        de = subj.de("nom")
        de[-1] += ","
        de += [pronoun] + obj.de("acc") + [(rel.sg if sg else rel.pl) + ","]
        de += [main.sg if sg else main.pl] + place[0]
        en = subj.en() + [rel.en_ing] + obj.en() + ["is" if sg else "are", main.en_ing] + place[1]
        feats = subj.features() | obj.features() | place[2].features()
        feats |= {("sv", noun.de, main.key), ("sv", noun.de, rel.key), ("vo", rel.key, obj.noun.de)}
        feats |= {("vp", main.key, place[2].noun.de)}
        return de, en, feats

    def sentence(self):
        rng = self.rng
        templates = [
            (0.27, self.t_intransitive),
            (0.12, self.t_inverted),
            (0.17, lambda: self.t_transitive(False)),
            (0.14, lambda: self.t_transitive(True)),
            (0.11, self.t_clothing),
            (0.10, self.t_separable),
            (0.09, self.t_relative),
        ]
        while True:
            template = rng.choices([t for _, t in templates], [w for w, _ in templates])[0]
            result = template()
            if result is None:
                continue
            de, en, feats = result
            if not (MIN_WORDS <= len(de) <= MAX_WORDS and MIN_WORDS <= len(en) <= MAX_WORDS):
                continue
            return finish(de), finish(en), feats


def finish(words: list) -> str:
    text = " ".join(words) + "."
    return text[0].upper() + text[1:]


def words(text: str) -> set:
    """The words of a sentence, punctuation split off (as the pipeline's tokenizer does)."""
    return {w.strip(".,") for w in text.split()}


def generate_split(rng, count: int, n_novel: int, used_de: set, used_en: set, vocab: set | None):
    """`count` pairs, `n_novel` of them using a HELDOUT combination; all words in `vocab` if given."""
    builder = Builder(rng)
    regular, novel = [], []
    while len(regular) < count - n_novel or len(novel) < n_novel:
        de, en, feats = builder.sentence()
        if de in used_de or en in used_en:
            continue  # no German or English sentence twice anywhere in the corpus
        if vocab is not None and not words(de) | words(en) <= vocab:
            continue
        bucket = novel if feats & HELDOUT else regular
        if len(bucket) >= (n_novel if bucket is novel else count - n_novel):
            continue
        used_de.add(de)
        used_en.add(en)
        bucket.append((de, en))
    pairs = regular + novel
    rng.shuffle(pairs)
    return pairs


def write(path: Path, lines: list) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("".join(line + "\n" for line in lines))


def main() -> None:
    used_de: set[str] = set()
    used_en: set[str] = set()
    vocab: set[str] | None = None
    for index, (name, count) in enumerate(SPLITS):
        rng = random.Random(SEED * 100 + index)
        n_novel = 0 if name == "train" else round(count * NOVEL_SHARE)
        pairs = generate_split(rng, count, n_novel, used_de, used_en, vocab)
        if name == "train":
            vocab = {w for de, en in pairs for w in words(de) | words(en)}
        write(HERE / f"{name}.de", [de for de, _ in pairs])
        write(HERE / f"{name}.en", [en for _, en in pairs])
        de_words = sum(len(de.split()) for de, _ in pairs)
        en_words = sum(len(en.split()) for _, en in pairs)
        print(
            f"{name}.de / {name}.en: {len(pairs)} pairs ({n_novel} with held-out combinations), "
            f"{de_words} German / {en_words} English words"
        )


if __name__ == "__main__":
    main()

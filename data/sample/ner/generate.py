"""Generate the synthetic NER sample data (train/validation/test.conll) that ships with nlp_lstm.

Every sentence is built from the templates and made-up name lists below (no third-party text), so the
files can be redistributed under the project's license. Output: one `TOKEN<TAB>TAG` per line, IOB2 tags
for PER/LOC/ORG/MISC, a blank line between sentences and a `-DOCSTART-` line every ~25 sentences.
Deterministic (fixed seeds, stdlib `random` only): re-running rewrites byte-identical files.

    python data/sample/ner/generate.py
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 2003
SPLITS = [("train", 700), ("validation", 150), ("test", 150)]
UNSEEN_RATE = 0.3  # share of entity slots in validation/test filled from names that never occur in train
MIN_LEN, MAX_LEN = 5, 45

# ---------------------------------------------------------------------------------------------------
# Entity fillers: (seen, unseen). "seen" names occur in every split, "unseen" ones only in validation
# and test. Several words are deliberately ambiguous: Kessel, Morven and Tarrin are surnames as well as
# cities; Brackwater, Fenwick and Hollisford are cities and also football clubs (tagged ORG when the
# club is meant); May is a first name and a month; Corin a first name and a country.
# ---------------------------------------------------------------------------------------------------

FIRST = (
    "Anna Peter Maria John Elena Tomas Sara David Lena Marco Ingrid Paul Nadia Victor Clara Omar Julia "
    "Henrik Rosa Samuel Greta Luis Mira Karsten Ilse Jonas Petra Felix Hanna Dmitri May Corin Aiko Kwame"
).split()
FIRST_UNSEEN = "Orla Teodor Ysolde Brannoc Kasimir Liesl Emeric Zofia Quentin Maelis Anselm Rhiannon".split()
SURNAMES = (
    "Holm Varrick Lindqvist Okonjo Brennick Castell Dunmore Kessel Ferrow Achterberg Solano Petrakis Morven "
    "Radak Quill Tenbury Haskell Orsini Vance Bellweather Juhl Stroud Adeyemi Ilic Carvalho Wren Tarrin "
    "Mbaye Sorensen Kowalczyk Haldane Moreno"
).split()
SURNAMES_UNSEEN = (
    "Quennell Vasquarro Oystrand Zelenko Pembridge Hartigan Drozdov Ulverholt Fennimore Sarkadi "
    "Lowenbrook Tavistrom Okereke Malvaux"
).split()
INITIALS = "J. K. A. M. R. T.".split()

CITIES = (
    "Dalbury Kessel Morven Ashgrove Tarrin Velmont Hollisford Brackwater Fenwick Ostmark Kirkhaven",
    "Lisbon Nairobi Oslo Lima Osaka",
)
CITIES_MULTI = ["Port Elsin", "New Port Harbour", "San Ardelo", "Lake Corrin", "Redcliffe Bay", "St. Avery"]
CITIES_UNSEEN = [
    "Quarriston",
    "Velhaven",
    "Isle of Dunmere",
    "Port Aubrey",
    "Tullbridge",
    "Grenmoor",
    "Mount Kessary",
    "Saltmere",
]
COUNTRIES = [
    "Veronia",
    "Caldora",
    "Norland",
    "Estmark",
    "Ruvenia",
    "Corin",
    "Upper Talvania",
    "South Mereland",
    "France",
    "Japan",
    "Brazil",
    "Kenya",
    "Canada",
    "Germany",
]
COUNTRIES_UNSEEN = ["Lestria", "Zarnova", "Belgora", "Orvanne", "North Cassel"]

NATIONALITIES = [
    "Veronian",
    "Caldoran",
    "Norlandic",
    "Estmarkian",
    "Ruvenian",
    "Talvanian",
    "French",
    "Japanese",
    "Brazilian",
    "Kenyan",
    "Canadian",
    "German",
]
NATIONALITIES_UNSEEN = ["Lestrian", "Zarnovan", "Belgoran", "Orvannese"]
EVENTS = [
    "Summer Cup",
    "Northern Open",
    "Dalbury Marathon",
    "Harbour Games",
    "Winter Classic",
    "Coastal Regatta",
    "Golden Lyre Festival",
    "Velmont Grand Prix",
    "Continental Cup",
]
EVENTS_UNSEEN = ["Ember Trophy", "Quarriston Half Marathon", "Silverline Rally", "Aurora Chess Open"]
LANGUAGES = ["English", "Spanish", "French", "Veronian", "Caldoran", "Talvanese", "Swahili", "Japanese"]
LANGUAGES_UNSEEN = ["Lestrian", "Orvannese"]
WORKS = [
    "The Quiet Harbour",
    "Salt and Iron",
    "Blue Meridian",
    "Northern Lights",
    "A Winter in Kessel",
    "Glass Rivers",
    "The Long Road Home",
]
WORKS_UNSEEN = ["The Glass Orchard", "Seven Lanterns", "Song of Orvanne"]

TEAMS = [
    "FC Dalbury",
    "Kessel United",
    "Morven Rovers",
    "Ashgrove Athletic",
    "Tarrin City",
    "Velmont Wanderers",
    "Port Elsin FC",
    "Sporting Kirkhaven",
    "Brackwater",
    "Fenwick",
    "Hollisford",
    "Ostmark",
]
TEAMS_UNSEEN = ["Quarriston Albion", "Tullbridge Town", "Belgora FC", "Velhaven Rangers", "Grenmoor"]
COMPANIES = [
    "Dalbury Steel",
    "Norland Telecom",
    "Brightwater Holdings",
    "Corvane Motors",
    "Halden Bank",
    "Estmark Air",
    "Meridian Foods",
    "Kessel Group",
    "Arctis Pharma",
    "Tovan",
    "Lumarc",
]
COMPANIES_UNSEEN = ["Orvanne Energy", "Pembridge Capital", "Zarnova Mining Corp", "Silverline Logistics", "Quorvex"]
# Institutions, parties and unions, with their acronym where they have one.
INSTITUTIONS = [
    ("Northern Rail Union", "NRU"),
    ("National Reform Party", "NRP"),
    ("Veronian Central Bank", "VCB"),
    ("Caldoran Football Federation", "CFF"),
    ("Green Coast Alliance", "GCA"),
    ("United Harbour Workers", "UHW"),
    ("Ministry of Transport", None),
    ("Democratic Union", None),
    ("Estmark Senate", None),
]
INSTITUTIONS_UNSEEN = [
    ("Lestrian Workers Federation", "LWF"),
    ("Free Citizens Movement", "FCM"),
    ("Zarnovan Labour Party", None),
]
PAPERS = ["Dalbury Herald", "Morning Ledger", "Kessel Post", "Veronian Times"]
PAPERS_UNSEEN = ["Quarriston Courier", "Evening Lantern"]
ARTS = ["Dalbury Philharmonic", "Velmont City Ballet", "Royal Caldoran Opera", "National Gallery"]
ARTS_UNSEEN = ["Lestrian Chamber Choir", "Tullbridge Players"]


def _people(rng: random.Random, firsts: list[str], surnames: list[str], count: int) -> list[list[str]]:
    """A fixed cast of people (news names recur): mostly first + last, some with a middle initial."""
    people: list[list[str]] = []
    pairs = [(f, s) for s in surnames for f in firsts]
    rng.shuffle(pairs)
    for first, last in pairs[:count]:
        people.append([first, rng.choice(INITIALS), last] if rng.random() < 0.12 else [first, last])
    return people


def _pools() -> dict[str, tuple[list[list[str]], list[list[str]]]]:
    rng = random.Random(SEED)
    seen_people = _people(rng, FIRST, SURNAMES, 60)
    unseen_people = _people(rng, FIRST + FIRST_UNSEEN, SURNAMES_UNSEEN, 24)

    def split(names):
        return [n.split() for n in names]

    cities = " ".join(CITIES).split() + CITIES_MULTI
    return {
        "PER": (seen_people, unseen_people),
        "SUR": ([[p[-1]] for p in seen_people], [[p[-1]] for p in unseen_people]),
        "CITY": (split(cities), split(CITIES_UNSEEN)),
        "COUNTRY": (split(COUNTRIES), split(COUNTRIES_UNSEEN)),
        "NAT": (split(NATIONALITIES), split(NATIONALITIES_UNSEEN)),
        "EVENT": (split(EVENTS), split(EVENTS_UNSEEN)),
        "LANG": (split(LANGUAGES), split(LANGUAGES_UNSEEN)),
        "WORK": (split(WORKS), split(WORKS_UNSEEN)),
        "TEAM": (split(TEAMS), split(TEAMS_UNSEEN)),
        "COMPANY": (split(COMPANIES), split(COMPANIES_UNSEEN)),
        "INST": (split(n for n, _ in INSTITUTIONS), split(n for n, _ in INSTITUTIONS_UNSEEN)),
        "ACR": ([[a] for _, a in INSTITUTIONS if a], [[a] for _, a in INSTITUTIONS_UNSEEN if a]),
        "PAPER": (split(PAPERS), split(PAPERS_UNSEEN)),
        "ARTS": (split(ARTS), split(ARTS_UNSEEN)),
    }


SLOT_TYPE = {
    "PER": "PER",
    "SUR": "PER",
    "CITY": "LOC",
    "COUNTRY": "LOC",
    "NAT": "MISC",
    "EVENT": "MISC",
    "LANG": "MISC",
    "WORK": "MISC",
    "TEAM": "ORG",
    "COMPANY": "ORG",
    "INST": "ORG",
    "ACR": "ORG",
    "PAPER": "ORG",
    "ARTS": "ORG",
}

# ---------------------------------------------------------------------------------------------------
# Non-entity fillers (all tagged O).
# ---------------------------------------------------------------------------------------------------

DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
MONTHS = "January February March April May June July August September October November December".split()
WORDS_NUM = "two three four five six seven eight nine ten".split()


def _filler(name: str, rng: random.Random) -> list[str]:
    if name == "n":
        return [str(rng.randint(2, 40))]
    if name == "goals":
        return [str(rng.choice([0, 0, 1, 1, 1, 2, 2, 3, 4]))]
    if name == "score":
        return [f"{rng.choice([1, 2, 2, 3, 4])}-{rng.choice([0, 0, 1, 1, 2])}"]
    if name == "set":
        return [rng.choice(["6-3", "6-4", "7-5", "6-2", "7-6", "6-1", "3-6", "4-6"])]
    if name == "day":
        return [rng.choice(DAYS)]
    if name == "month":
        return [rng.choice(MONTHS)]
    if name == "year":
        return [str(rng.randint(1988, 2024))]
    if name == "date":
        return [rng.choice(MONTHS), str(rng.randint(1, 28))]
    if name == "pct":
        return [f"{rng.randint(0, 12)}.{rng.randint(1, 9)}"]
    if name == "big":
        return [f"{rng.randint(1, 48)},{rng.randint(0, 999):03d}"]
    if name == "money":
        return [f"{rng.randint(2, 950)}.{rng.randint(0, 9)}"]
    if name == "price":
        return [f"{rng.randint(3, 180)}.{rng.randint(0, 99):02d}"]
    if name == "rank":
        return [f"{rng.randint(1, 9)}."]
    if name == "racetime":
        return [f"{rng.randint(2, 3)}:{rng.randint(0, 59):02d}.{rng.randint(0, 99):02d}"]
    if name == "min":
        return [str(rng.randint(3, 90))]
    if name == "hours":
        return [rng.choice(["24-hour", "48-hour", "12-hour", "72-hour"])]
    if name == "years":
        return [rng.choice(["two-year", "three-year", "four-year", "one-year"])]
    if name == "golf":
        return [
            rng.choice(["three-under-par", "five-under-par", "one-over-par", "level-par"]),
            str(rng.randint(64, 74)),
        ]
    if name == "weather":
        return rng.choice(["heavy rain", "a waterlogged pitch", "thick fog", "strong winds", "snow"]).split()
    if name == "words":
        return [rng.choice(WORDS_NUM)]
    raise KeyError(name)


# ---------------------------------------------------------------------------------------------------
# Templates: (weight, text). Tokens are separated by spaces; {UPPER} is an entity slot, {lower} an O
# filler. Weights keep entity-free sentences near 10% and favour the common news topics.
# ---------------------------------------------------------------------------------------------------

TEMPLATES: list[tuple[int, str]] = [
    # sports
    (4, "{TEAM} beat {TEAM} {score} on {day} to move top of the table ."),
    (4, "{TEAM} {goals} {TEAM} {goals}"),
    (3, "{SUR} scored twice as {TEAM} drew {score} with {TEAM} in {CITY} ."),
    (3, "{NAT} {PER} won the {EVENT} in {CITY} on {day} , finishing {n} seconds ahead of {PER} ."),
    (3, "{rank} {PER} ( {COUNTRY} ) {racetime}"),
    (2, "{TEAM} coach {PER} said his side had been unlucky not to win ."),
    (2, "{PER} , {PER} and {PER} were named in the {NAT} squad for the {EVENT} ."),
    (2, "Tennis : {PER} beat {PER} {set} {set} in the second round of the {EVENT} ."),
    (2, "{SUR} , who joined {TEAM} from {TEAM} in {month} , has signed a new {years} contract ."),
    (2, "The {EVENT} will be held in {CITY} from {date} , organisers said on {day} ."),
    (2, "{CITY} and {CITY} have both applied to host the {year} {EVENT} ."),
    (2, "{TEAM} 's {SUR} was sent off after {min} minutes , but his side held on for a {score} win over {TEAM} ."),
    (2, "{PER} shot a {golf} to lead the {EVENT} by {words} strokes at {CITY} ."),
    (2, "Scorers : {SUR} {min} , {SUR} {min} ."),
    (
        1,
        "Results of {EVENT} matches played on {day} : {TEAM} {goals} {TEAM} {goals} , {TEAM} {goals} {TEAM}"
        " {goals} , {TEAM} {goals} {TEAM} {goals} , {TEAM} {goals} {TEAM} {goals} .",
    ),
    # politics
    (3, "{NAT} Prime Minister {PER} arrived in {CITY} on {day} for talks with {NAT} officials ."),
    (3, "{PER} , leader of the {INST} , said the government would fall before {month} ."),
    (2, "The {INST} ( {ACR} ) called a {hours} strike on {day} over pay ."),
    (2, "{ACR} spokesman {PER} told reporters in {CITY} that talks would resume next week ."),
    (2, "Voters in {COUNTRY} go to the polls on {date} to elect a new parliament ."),
    (2, "{COUNTRY} and {COUNTRY} signed a trade agreement in {CITY} on {day} ."),
    (2, "The {INST} won {n} of the {n} seats , according to official results released in {CITY} ."),
    (2, "Police in {CITY} said {n} people were injured when protesters clashed with security forces on {day} ."),
    (2, "{SUR} told the {PAPER} that he had no plans to resign ."),
    (
        1,
        "{NAT} President {PER} , speaking at a news conference in {CITY} after meeting {PER} of {COUNTRY} ,"
        " said the two countries would work together on energy , trade and security over the next {words}"
        " years .",
    ),
    # business
    (3, "Shares in {COMPANY} rose {pct} percent to {price} crowns after the company reported higher profits ."),
    (3, "{COMPANY} said on {day} it would cut {big} jobs at its plant in {CITY} ."),
    (
        2,
        "{COMPANY} has agreed to buy {COMPANY} for {money} million dollars , the companies said in a joint statement .",
    ),
    (2, "{COMPANY} chief executive {PER} said sales in {COUNTRY} grew by {pct} percent in the third quarter ."),
    (2, "The {INST} left interest rates unchanged at {pct} percent on {day} ."),
    (2, "{NAT} carmaker {COMPANY} recalled {big} vehicles after complaints about faulty brakes ."),
    # travel
    (2, "Flights between {CITY} and {CITY} were cancelled on {day} because of heavy snow ."),
    (2, "{COMPANY} will launch daily flights from {CITY} to {CITY} in {month} ."),
    (2, "Tourists visiting {CITY} can now take a ferry to {CITY} , the {INST} said ."),
    (2, "{PER} , born in {CITY} in {year} , moved to {COUNTRY} as a child and later studied in {CITY} ."),
    # culture
    (2, "{PER} 's new novel {WORK} will be published in {LANG} and {LANG} next spring ."),
    (2, "The {EVENT} opens in {CITY} on {date} with artists from {COUNTRY} , {COUNTRY} and {COUNTRY} ."),
    (2, "The film {WORK} , directed by {PER} , won the top prize at the {EVENT} ."),
    (2, "{SUR} , the {NAT} conductor , will perform with the {ARTS} in {CITY} on {date} ."),
    (2, "Museum officials in {CITY} said the painting had been missing since {year} ."),
    (1, "{PER} , who writes in {LANG} , read from {WORK} at the {ARTS} ."),
    # no entities
    (2, "Shares fell sharply in early trading on {day} as investors worried about rising costs ."),
    (2, "The match was postponed because of {weather} ."),
    (2, "Prices rose {pct} percent in {month} compared with a year earlier ."),
    (2, "Unemployment fell to {pct} percent in {month} from {pct} percent a month earlier ."),
    (1, "Officials said the talks would continue on {day} ."),
    (1, "Attendance was {big} , the highest of the season ."),
    (1, "No injuries were reported , police said on {day} ."),
    (1, "The {words} winners will share a prize of {money} million crowns ."),
    (1, "The government is expected to announce its budget plans on {day} ."),
    (1, "Both teams were without {words} injured players for the game on {day} ."),
    (1, "Trading was thin ahead of the holiday , dealers said on {day} ."),
    (1, "Temperatures are expected to reach {n} degrees by the weekend , forecasters said ."),
]


def _sentence(rng: random.Random, template: str, pools, unseen_rate: float) -> tuple[list[str], list[str]]:
    tokens: list[str] = []
    tags: list[str] = []
    for piece in template.split():
        if not (piece.startswith("{") and piece.endswith("}")):
            tokens.append(piece)
            tags.append("O")
            continue
        name = piece[1:-1]
        if name in SLOT_TYPE:
            seen, unseen = pools[name]
            words = rng.choice(unseen if unseen_rate and rng.random() < unseen_rate else seen)
            label = SLOT_TYPE[name]
            tokens.extend(words)
            tags.extend([f"B-{label}"] + [f"I-{label}"] * (len(words) - 1))
        else:
            words = _filler(name, rng)
            tokens.extend(words)
            tags.extend(["O"] * len(words))
    return tokens, tags


def generate_split(rng: random.Random, count: int, pools, unseen_rate: float, used: set) -> list:
    weights = [w for w, _ in TEMPLATES]
    texts = [t for _, t in TEMPLATES]
    sentences = []
    while len(sentences) < count:
        template = rng.choices(texts, weights)[0]
        tokens, tags = _sentence(rng, template, pools, unseen_rate)
        key = " ".join(tokens)
        if key in used or not MIN_LEN <= len(tokens) <= MAX_LEN:
            continue  # no repeated sentence anywhere in the three files
        used.add(key)
        sentences.append((tokens, tags))
    return sentences


def write_conll(path: Path, sentences: list, rng: random.Random) -> None:
    lines: list[str] = []
    until_doc = 0
    for tokens, tags in sentences:
        if until_doc == 0:
            lines += ["-DOCSTART-\tO", ""]
            until_doc = rng.randint(20, 30)
        for token, tag in zip(tokens, tags):
            assert token and not any(c.isspace() for c in token), token
            lines.append(f"{token}\t{tag}")
        lines.append("")
        until_doc -= 1
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write("\n".join(lines))  # the last sentence's blank line gives the final newline


def main() -> None:
    pools = _pools()
    used: set[str] = set()
    for index, (name, count) in enumerate(SPLITS):
        rng = random.Random(SEED * 100 + index)
        unseen_rate = 0.0 if name == "train" else UNSEEN_RATE
        sentences = generate_split(rng, count, pools, unseen_rate, used)
        write_conll(HERE / f"{name}.conll", sentences, rng)
        n_tokens = sum(len(t) for t, _ in sentences)
        n_entities = sum(tag.startswith("B-") for _, tags in sentences for tag in tags)
        print(f"{name}.conll: {len(sentences)} sentences, {n_tokens} tokens, {n_entities} entities")


if __name__ == "__main__":
    main()

"""Small labelled data sets every machine has, generated deterministically, for the tours and
tests of ``classify`` and ``tag`` (``--data builtin:NAME``):

* ``sentiment`` / ``sentiment-test`` — short product and film reviews labelled ``positive`` or
  ``negative``; the label follows the opinion words, and a ``not`` before one flips it;
* ``ner`` / ``ner-test`` — sentences with people, organisations and places tagged in IOB2
  (``B-PER``, ``I-ORG``, ``B-LOC``, ...);
* ``pos`` / ``pos-test`` — the same kind of sentences with universal part-of-speech tags.

The ``-test`` sets are drawn with another seed, so they hold new combinations (and names the
training set lacks, for the taggers' character features to earn their keep).
"""

from __future__ import annotations

import random

from rnnkit.data.conll import TaggedSentence
from rnnkit.data.labeled_text import LabeledText
from rnnkit.errors import UserError

PREFIX = "builtin:"
SIZES = {"train": 2000, "test": 400}

POSITIVE = [
    "good",
    "great",
    "excellent",
    "wonderful",
    "superb",
    "lovely",
    "brilliant",
    "enjoyable",
    "charming",
    "solid",
]
NEGATIVE = [
    "bad",
    "awful",
    "terrible",
    "boring",
    "dull",
    "poor",
    "weak",
    "clumsy",
    "tedious",
    "disappointing",
]
THINGS = [
    "film",
    "movie",
    "plot",
    "acting",
    "camera",
    "battery",
    "screen",
    "story",
    "soundtrack",
    "service",
]
INTENSIFIERS = ("", "", "very", "really", "quite", "truly")
OPENINGS = ("the {thing} was {opinion}", "this {thing} is {opinion}", "a {opinion} {thing}",
            "i found the {thing} {opinion}", "overall , {opinion}")  # fmt: skip

FIRST = [
    "Anna",
    "Marco",
    "Li",
    "Fatima",
    "Olga",
    "Kwame",
    "Ines",
    "Tomas",
    "Priya",
    "Jonas",
    "Mei",
    "Omar",
]
LAST = [
    "Berg",
    "Rossi",
    "Chen",
    "Haddad",
    "Ivanova",
    "Mensah",
    "Costa",
    "Novak",
    "Rao",
    "Weber",
    "Tanaka",
    "Aziz",
]
ORG_HEADS = ["Northwind", "Bluefield", "Orion", "Cedar", "Atlas", "Helix", "Vega", "Summit"]
ORG_TAILS = ("Corp", "Bank", "Labs", "University", "Motors", "Group")
PLACES = ("Paris", "Lagos", "Lima", "Oslo", "New York", "Cape Town", "Hanoi", "Rio de Janeiro")
# templates: words with their part of speech, and slots filled with entities
TEMPLATES = (
    "PER works/VERB for/ADP ORG in/ADP LOC ./PUNCT",
    "yesterday/NOUN PER visited/VERB LOC with/ADP PER ./PUNCT",
    "ORG opened/VERB an/DET office/NOUN in/ADP LOC ./PUNCT",
    "PER said/VERB that/SCONJ ORG will/AUX hire/VERB more/ADJ staff/NOUN ./PUNCT",
    "the/DET report/NOUN from/ADP LOC names/VERB PER and/CCONJ PER ./PUNCT",
    "she/PRON met/VERB PER at/ADP the/DET ORG office/NOUN ./PUNCT",
)


def _review(rng: random.Random) -> LabeledText:
    positive = rng.random() < 0.5
    negated = rng.random() < 0.25
    words = POSITIVE if positive != negated else NEGATIVE
    opinion = " ".join(w for w in (rng.choice(INTENSIFIERS), rng.choice(words)) if w)
    if negated:
        opinion = "not " + opinion
    text = rng.choice(OPENINGS).format(thing=rng.choice(THINGS), opinion=opinion)
    if rng.random() < 0.4:
        text += f" , the {rng.choice(THINGS)} was {rng.choice(('fine', 'ok', 'long', 'new'))}"
    return LabeledText(text, ("positive" if positive else "negative",), 0)


def _entity(kind: str, rng: random.Random) -> list[str]:
    if kind == "PER":
        return [rng.choice(FIRST)] + ([rng.choice(LAST)] if rng.random() < 0.7 else [])
    if kind == "ORG":
        return [rng.choice(ORG_HEADS), rng.choice(ORG_TAILS)]
    return rng.choice(PLACES).split()


def _sentence(rng: random.Random) -> tuple[list[str], list[str], list[str]]:
    """Tokens, universal POS tags and IOB2 entity tags of one generated sentence."""
    tokens: list[str] = []
    pos: list[str] = []
    ner: list[str] = []
    for item in rng.choice(TEMPLATES).split():
        if item in ("PER", "ORG", "LOC"):
            names = _entity(item, rng)
            tokens += names
            pos += ["PROPN"] * len(names)
            ner += [f"B-{item}"] + [f"I-{item}"] * (len(names) - 1)
        else:
            word, tag = item.split("/")
            tokens.append(word)
            pos.append(tag)
            ner.append("O")
    tokens[0] = tokens[0][0].upper() + tokens[0][1:]
    return tokens, pos, ner


def _split(name: str) -> tuple[str, str, random.Random]:
    """The data set and split of ``builtin:NAME`` and its generator."""
    base, _, split = name.removeprefix(PREFIX).partition("-")
    if base not in ("sentiment", "ner", "pos") or split not in ("", "test"):
        raise UserError(
            f"unknown built-in data {name!r}; choose one of: "
            + ", ".join(
                f"builtin:{b}{s}" for b in ("sentiment", "ner", "pos") for s in ("", "-test")
            )
        )
    split = split or "train"
    return base, split, random.Random(f"{base}:{split}")


def is_builtin(source: object) -> bool:
    return str(source).startswith(PREFIX)


def builtin_labeled_texts(name: str) -> list[LabeledText]:
    """The texts of ``builtin:sentiment`` or ``builtin:sentiment-test``."""
    base, split, rng = _split(name)
    if base != "sentiment":
        raise UserError(f"{name} is tagging data; classification takes builtin:sentiment")
    return [
        LabeledText(r.text, r.labels, i + 1)
        for i, r in enumerate(_review(rng) for _ in range(SIZES[split]))
    ]


def builtin_tagged_sentences(name: str) -> list[TaggedSentence]:
    """The sentences of ``builtin:ner``, ``builtin:pos`` or their ``-test`` sets."""
    base, split, rng = _split(name)
    if base == "sentiment":
        raise UserError(f"{name} is classification data; tagging takes builtin:ner or builtin:pos")
    sentences = []
    for i in range(SIZES[split]):
        tokens, pos, ner = _sentence(rng)
        tags = pos if base == "pos" else ner
        rows = tuple(f"{token}\t{tag}" for token, tag in zip(tokens, tags, strict=True))
        sentences.append(TaggedSentence(tuple(tokens), tuple(tags), (i + 1,) * len(tokens), rows))
    return sentences

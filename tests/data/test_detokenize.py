"""Tests for rnnkit.data.detokenize: word tokens back to the sentences they came from."""

from __future__ import annotations

import re

import pytest

from rnnkit.data.detokenize import detokenize
from rnnkit.data.tokenizers import WORD_PATTERN

INVERTIBLE = [
    # English
    "The woman's dog didn't bark, but the well-known \"guard dog\" did.",
    "Prices rose 3.5% in 2019 (up from 1,000 units to 12,500).",
    '"We\'re ready," she said. "Are you?"',
    "I'm sure they'll come; we've waited since 10:30 [see note 2].",
    "The students' books cost $12.99 each!",
    "AT & T and Johnson & Johnson reported record profits.",
    "He'd said 'no' twice: once on May 5, 2019, and once in June.",
    "\"She called it 'the best day',\" he recalled.",
    "Smith (born 1950) wrote {braces} and [brackets]; I've read them all...",
    "“It’s fine,” he said — and left.",
    "The company's 1,250,000 shares rose 0.5% to $3.75 on Monday.",
    # German
    "„Wie geht's?“, fragte er.",
    'Er sagte: "Ich komme morgen um 10.30 Uhr."',
    "»Das ist mein Haus«, sagte sie.",
    "Die Baden-Württemberger fahren 130 km/h auf der A-7.",
    "Sie kauften 3 kg Äpfel für je 2.50 € (siehe Tabelle 4).",
    "Am 3. Oktober 1990 wurde Deutschland wiedervereinigt.",
    "Die E-Mail kam um 9:15 Uhr an; das Büro hatte 1.000.000 Anfragen!",
    "Was ist los?! Gibt's noch Kaffee?",
]


@pytest.mark.parametrize("sentence", INVERTIBLE)
def test_detokenize_restores_the_sentence(sentence: str) -> None:
    assert detokenize(re.findall(WORD_PATTERN, sentence)) == sentence


NOT_INVERTIBLE = [  # (sentence, what detokenize makes of its tokens), as the docstring warns
    ("Paris - Berlin", "Paris-Berlin"),  # a spaced hyphen between words is joined
    ("Ein- und Ausgang", "Ein-und Ausgang"),  # so is a German suspended hyphen
    ("O'Brien", "O 'Brien"),  # an apostrophe not before a contraction ending is a quote
    ("O'Brien's 'plan'", "O 'Brien's' plan '"),  # ... and shifts the later quotes
    ("He says 'no'.", "He says' no '."),  # a quote after a word ending in s is a possessive
    ("Die Quote lag bei 3,5 Prozent.", "Die Quote lag bei 3, 5 Prozent."),  # decimal comma
    ("U.S. troops", "U. S. troops"),  # periods inside abbreviations
    ("Die Rate lag bei 5 %.", "Die Rate lag bei 5%."),  # German spacing before %
]


@pytest.mark.parametrize(("sentence", "detokenized"), NOT_INVERTIBLE)
def test_detokenize_is_not_an_exact_inverse(sentence: str, detokenized: str) -> None:
    assert detokenize(re.findall(WORD_PATTERN, sentence)) == detokenized


@pytest.mark.parametrize(
    ("tokens", "text"),
    [
        ([], ""),
        (["word"], "word"),
        ([",", "'", "s"], ", 's"),  # no word before the apostrophe: an opening quote
        (["a", "-", "-", "b"], "a - - b"),  # a hyphen joins two words only
        (["”", "x", "„", "y"], "” x „y"),  # closing-only quotes never open; „ opens
        (['"', "a", "„", "b", '"', "c", "“"], '"a „b" c“'),  # the innermost match closes
    ],
)
def test_detokenize_edge_cases(tokens: list[str], text: str) -> None:
    assert detokenize(tokens) == text

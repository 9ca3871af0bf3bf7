"""`detokenize`: word tokens back to running text, by rules for English and German punctuation.

The tokens are those of the word tokenizer's pattern ``\\w+|[^\\w\\s]``: punctuation split off,
one mark per token (``"woman's"`` -> ``woman ' s``, ``"3.5"`` -> ``3 . 5``). The rules follow
the spirit of the Moses detokenizer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

CLOSING = frozenset(".,!?;:%)]}…")  # no space before
OPENING = frozenset("([{$£¿¡")  # no space after
WORD_JOINERS = frozenset("-/")  # no space either side between two words: well-known, km/h
APOSTROPHES = frozenset("'’")
CONTRACTIONS = frozenset({"s", "t", "re", "ll", "ve", "m", "d"})  # what follows the apostrophe
QUOTE_CLOSERS = {  # opening quote -> the quote that closes it
    '"': '"',
    "'": "'",
    "“": "”",  # English “...”
    "‘": "’",
    "„": "“",  # German „...“
    "‚": "‘",
    "«": "»",  # «...» (French, Swiss)
    "»": "«",  # »...« (German)
    "‹": "›",
    "›": "‹",
}
CLOSING_QUOTES = frozenset("”’")  # quotes that never open
WORD = re.compile(r"\w+")


class Glue(NamedTuple):
    """Whether a token is written without a space before it (`left`) and after it (`right`)."""

    left: bool
    right: bool


FREE, LEFT, RIGHT, BOTH = Glue(False, False), Glue(True, False), Glue(False, True), Glue(True, True)


def detokenize(tokens: Sequence[str]) -> str:
    """The text of `tokens`: one space between tokens, except where a rule removes it.

    Rules, in order of precedence for each token:

    - an apostrophe (``'`` or ``’``) between a word and a contraction ending (``s``, ``t``,
      ``re``, ``ll``, ``ve``, ``m``, ``d``) joins them: ``woman ' s`` -> ``woman's``,
      ``don ' t`` -> ``don't``, ``geht ' s`` -> ``geht's``;
    - a hyphen or slash between two words joins them: ``well - known`` -> ``well-known``,
      ``km / h`` -> ``km/h``;
    - ``.`` and ``:`` between two numbers join them (``3 . 5`` -> ``3.5``, ``10 : 30``), and so
      does ``,`` when the number after it has three digits (``1 , 000`` -> ``1,000``, while
      ``May 5 , 2019`` keeps its space);
    - quotes: straight double quotes alternate, opening then closing; straight single quotes
      too, except that one after a word ending in ``s`` while none is open is a possessive
      (``students'``); a typographic quote closes the innermost open quote it matches
      (``„`` … ``“`` in German, ``“`` … ``”`` in English, ``»`` … ``«`` or ``«`` … ``»``) and
      opens one otherwise, except ``”`` and ``’``, which always close. An opening quote takes
      no space after it, a closing one none before it;
    - no space before ``. , ! ? ; : % ) ] } …``; no space after ``( [ { $ £ ¿ ¡``;
    - anything else, ``&`` and dashes included, keeps a space on both sides.

    The tokens do not record where the text had spaces, so this is not an exact inverse of
    tokenization in general: ``Paris - Berlin`` becomes ``Paris-Berlin``, ``O ' Brien``
    becomes ``O 'Brien``, German ``3 , 5`` (a decimal comma) stays ``3, 5``, ``U . S .``
    becomes ``U. S.``. An apostrophe read as a quote also shifts which later quotes open.

    >>> detokenize(["It", "'", "s", "well", "-", "known", "(", "3", ".", "5", "%", ")", "."])
    "It's well-known (3.5%)."
    """
    open_quotes: list[str] = []  # the closing quotes awaited, innermost last
    glues = [_glue(tokens, i, open_quotes) for i in range(len(tokens))]
    parts: list[str] = []
    for i, token in enumerate(tokens):
        if i > 0 and not (glues[i - 1].right or glues[i].left):
            parts.append(" ")
        parts.append(token)
    return "".join(parts)


def _glue(tokens: Sequence[str], i: int, open_quotes: list[str]) -> Glue:
    """How ``tokens[i]`` attaches to its neighbours; updates `open_quotes` for a quote."""
    token = tokens[i]
    before = tokens[i - 1] if i > 0 else ""
    after = tokens[i + 1] if i + 1 < len(tokens) else ""
    if token in APOSTROPHES and _is_word(before) and after.lower() in CONTRACTIONS:
        return BOTH
    if token in WORD_JOINERS and _is_word(before) and _is_word(after):
        return BOTH
    if _is_number_separator(before, token, after):
        return BOTH
    if token in QUOTE_CLOSERS or token in CLOSING_QUOTES:
        return _quote_glue(token, before, open_quotes)
    if token in CLOSING:
        return LEFT
    return RIGHT if token in OPENING else FREE


def _quote_glue(quote: str, before: str, open_quotes: list[str]) -> Glue:
    """Whether `quote` closes (`LEFT`) or opens (`RIGHT`) a quotation; updates `open_quotes`."""
    if quote in open_quotes:
        del open_quotes[len(open_quotes) - 1 - open_quotes[::-1].index(quote)]
        return LEFT
    if quote in CLOSING_QUOTES or (quote == "'" and _is_word(before) and before[-1] in "sS"):
        return LEFT  # a closing quote without an opening one, or a possessive apostrophe
    open_quotes.append(QUOTE_CLOSERS[quote])
    return RIGHT


def _is_number_separator(before: str, token: str, after: str) -> bool:
    """Whether `token` is the ``.``, ``:`` or thousands ``,`` inside a number."""
    if not (before.isdecimal() and after.isdecimal()):
        return False
    return token in ".:" or (token == "," and len(after) == 3)


def _is_word(token: str) -> bool:
    """Whether `token` is a word or a number (a run of ``\\w`` characters)."""
    return WORD.fullmatch(token) is not None

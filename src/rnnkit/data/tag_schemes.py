"""Chunk tag schemes for entity tagging: detect, convert, read chunks, constrain transitions.

A chunk tag is ``"O"`` (outside any chunk) or ``PREFIX-TYPE`` with ``PREFIX`` one of ``B``,
``I``, ``E``, ``S``; the type may itself hold hyphens (``"B-ORG-SUB"`` has type ``"ORG-SUB"``).
The three schemes, each shown on "Ada Lovelace met Babbage" (two PER chunks):

- ``iob1``: I-X inside chunks; B-X only opens a chunk that directly follows one of the same
  type: ``I-PER I-PER O I-PER``.
- ``iob2``: B-X opens every chunk, I-X continues it: ``B-PER I-PER O B-PER``.
- ``iobes``: B-X opens, I-X continues, E-X ends a chunk; S-X is a one-token chunk:
  ``B-PER E-PER O S-PER``.

Internally the tagger uses IOBES (`to_iobes` on reading, `from_iobes` on writing), whose labels
say where a chunk ends, so a CRF can forbid malformed sequences (`allowed_transitions`).

Chunks are read leniently, as conlleval reads them: B-X and S-X always open a chunk; an I-X or
E-X opens one when no chunk of type X is open before it (first tag, after O, after E-/S-, or
after a tag of another type); a chunk closes after E-X or S-X, and before O, B-, S- or a tag of
another type. So IOB2 input ``I-PER I-PER`` is one chunk (as IOB1 would read it) and IOBES input
``I-PER O E-LOC`` is two one-token chunks. Conversions are exact round trips for well-formed
sequences of each scheme.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

SCHEMES: tuple[str, ...] = ("iob1", "iob2", "iobes")
OUTSIDE = "O"
PREFIXES = {"iob1": "BI", "iob2": "BI", "iobes": "BIES"}

Chunk = tuple[str, int, int]  # (type, start, end inclusive)


def split_tag(tag: str) -> tuple[str, str] | None:
    """``(prefix, type)`` of a chunk tag (``("O", "")`` for ``"O"``); ``None`` for other tags.

    >>> split_tag("B-ORG-SUB"), split_tag("O"), split_tag("-LRB-")
    (('B', 'ORG-SUB'), ('O', ''), None)
    """
    if tag == OUTSIDE:
        return OUTSIDE, ""
    if len(tag) > 2 and tag[0] in "BIES" and tag[1] == "-":
        return tag[0], tag[2:]
    return None


def detect_scheme(sequences: Iterable[Sequence[str]]) -> str | None:
    """The scheme of tagged sentences: ``None``, ``"iobes"``, ``"iob1"`` or ``"iob2"``.

    The rule, over all sentences:

    1. ``None`` if some tag other than ``"O"`` lacks a ``B-``/``I-``/``E-``/``S-`` prefix (the
       tags are not chunk tags, e.g. POS tags ``NOUN``, ``PRP$``, ``-LRB-``);
    2. else ``"iobes"`` if some tag is ``E-X`` or ``S-X``;
    3. else ``"iob1"`` if some ``I-X`` opens a chunk: it is a sentence's first tag, or follows
       ``O`` or a tag of another type;
    4. else ``"iob2"`` (this includes sentences with only ``"O"``, and no sentences at all).
    """
    has_e_or_s = i_opens_chunk = False
    for sentence in sequences:
        previous: tuple[str, str] = (OUTSIDE, "")
        for tag in sentence:
            parts = split_tag(tag)
            if parts is None:
                return None
            prefix, kind = parts
            has_e_or_s |= prefix in "ES"
            i_opens_chunk |= prefix == "I" and (previous[0] == OUTSIDE or previous[1] != kind)
            previous = parts
    if has_e_or_s:
        return "iobes"
    return "iob1" if i_opens_chunk else "iob2"


def read_chunks(tags: Sequence[str], scheme: str) -> list[Chunk]:
    """The chunks of `tags` written in `scheme`, read leniently (see the module docstring).

    ``ValueError`` names the first tag whose prefix the scheme does not have (E-/S- in IOB1 or
    IOB2) or that is not a chunk tag at all.
    """
    allowed = _prefixes(scheme)
    found: list[Chunk] = []
    open_type: str | None = None  # the type of the chunk open before the current tag
    start = 0
    for position, tag in enumerate(tags):
        parts = split_tag(tag)
        if parts is None or (parts[0] != OUTSIDE and parts[0] not in allowed):
            raise ValueError(
                f"tag {tag!r} at position {position} is not a chunk tag of scheme {scheme!r}"
            )
        prefix, kind = parts
        continues = prefix in "IE" and open_type == kind
        if open_type is not None and not continues:
            found.append((open_type, start, position - 1))
            open_type = None
        if prefix != OUTSIDE and not continues:
            open_type, start = kind, position
        if prefix in "ES":
            found.append((kind, start, position))
            open_type = None
    if open_type is not None:
        found.append((open_type, start, len(tags) - 1))
    return found


def chunks(tags: Sequence[str]) -> list[Chunk]:
    """The chunks ``(type, start, end inclusive)`` of IOBES `tags`, in order.

    >>> chunks(["B-PER", "E-PER", "O", "S-LOC"])
    [('PER', 0, 1), ('LOC', 3, 3)]
    """
    return read_chunks(tags, "iobes")


def render_chunks(found: Sequence[Chunk], length: int, scheme: str) -> list[str]:
    """`length` tags in `scheme` for non-overlapping, ordered chunks; ``"O"`` elsewhere."""
    _prefixes(scheme)
    tags = [OUTSIDE] * length
    previous: Chunk | None = None
    for kind, start, end in found:
        tags[start : end + 1] = [f"I-{kind}"] * (end + 1 - start)
        if scheme == "iob2":
            tags[start] = f"B-{kind}"
        elif scheme == "iobes":
            tags[start] = f"B-{kind}" if end > start else f"S-{kind}"
            if end > start:
                tags[end] = f"E-{kind}"
        elif previous is not None and previous[0] == kind and previous[2] == start - 1:
            tags[start] = f"B-{kind}"  # iob1: B only between adjacent chunks of one type
        previous = (kind, start, end)
    return tags


def to_iobes(tags: Sequence[str], scheme: str) -> list[str]:
    """`tags` written in `scheme` (``"iob1"``, ``"iob2"``, ``"iobes"``) rewritten in IOBES.

    >>> to_iobes(["I-PER", "I-PER", "B-PER", "O", "I-LOC"], "iob1")
    ['B-PER', 'E-PER', 'S-PER', 'O', 'S-LOC']
    """
    return render_chunks(read_chunks(tags, scheme), len(tags), "iobes")


def from_iobes(tags: Sequence[str], scheme: str) -> list[str]:
    """IOBES `tags` rewritten in `scheme` (``"iob1"``, ``"iob2"``, ``"iobes"``).

    >>> from_iobes(["B-PER", "E-PER", "S-PER", "O", "S-LOC"], "iob1")
    ['I-PER', 'I-PER', 'B-PER', 'O', 'I-LOC']
    """
    return render_chunks(read_chunks(tags, "iobes"), len(tags), scheme)


def allowed_transitions(labels: Sequence[str]) -> tuple[Tensor, Tensor, Tensor]:
    """Which IOBES label sequences are well formed, as boolean masks over `labels` (``L``).

    Returns ``(start (L,), transitions (L, L), end (L,))``: a sentence may start with label
    ``i`` if ``start[i]``, label ``j`` may follow label ``i`` if ``transitions[i, j]``, and a
    sentence may end with ``i`` if ``end[i]``. The rules: start with O, B-X or S-X; after B-X or
    I-X only I-X or E-X of the same type; after O, E-X or S-X only O, B-Y or S-Y; end after O,
    E-X or S-X.

    If none of `labels` is a chunk tag (POS tags, say) everything is allowed; labels that mix
    chunk tags with others (``"<pad>"`` among ``"B-PER"``, ...) raise ``ValueError``.
    """
    parts = [split_tag(label) for label in labels]
    size = len(labels)
    if all(p is None for p in parts):
        everything = torch.ones(size, dtype=torch.bool)
        return everything, torch.ones(size, size, dtype=torch.bool), everything.clone()
    others = [label for label, p in zip(labels, parts, strict=True) if p is None]
    if others:
        raise ValueError(f"labels mix chunk tags with other labels: {others}")
    chunk_parts = [p for p in parts if p is not None]
    inside = [prefix in "BI" for prefix, _ in chunk_parts]  # a chunk stays open after it
    start = torch.tensor([prefix in "OBS" for prefix, _ in chunk_parts], dtype=torch.bool)
    end = torch.tensor([not open_ for open_ in inside], dtype=torch.bool)
    transitions = torch.tensor(
        [
            [
                (prefix in "IE" and kind == before_kind) if before_open else prefix in "OBS"
                for prefix, kind in chunk_parts
            ]
            for before_open, (_, before_kind) in zip(inside, chunk_parts, strict=True)
        ],
        dtype=torch.bool,
    ).reshape(size, size)
    return start, transitions, end


def _prefixes(scheme: str) -> str:
    """The chunk prefixes of `scheme`; ``ValueError`` for an unknown scheme."""
    if scheme not in PREFIXES:
        raise ValueError(f"unknown tag scheme {scheme!r}; expected one of {list(SCHEMES)}")
    return PREFIXES[scheme]

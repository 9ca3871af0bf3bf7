"""Chunk tag schemes: detection, conversions against hand-written examples and random chunk
structures, the lenient (conlleval) reading checked against seqeval, and the allowed IOBES
transitions against every well-formed short sequence."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from seqeval.metrics.sequence_labeling import get_entities

from rnnkit.data.tag_schemes import (
    SCHEMES,
    allowed_transitions,
    chunks,
    detect_scheme,
    from_iobes,
    to_iobes,
)

TYPES = ("PER", "LOC", "ORG-SUB")

# A structure is a list of segments: None for an "O" token, (type, length) for a chunk.
Segment = tuple[str, int] | None
segments = st.one_of(st.none(), st.tuples(st.sampled_from(TYPES), st.integers(1, 4)))
structures = st.lists(segments, max_size=12)


def render(structure: list[Segment], scheme: str) -> list[str]:
    """The tags of `structure` in `scheme`, written out from the schemes' definitions."""
    tags: list[str] = []
    previous: Segment = None
    for segment in structure:
        if segment is None:
            tags.append("O")
        else:
            kind, length = segment
            if scheme == "iobes":
                body = ["S"] if length == 1 else ["B"] + ["I"] * (length - 2) + ["E"]
            elif scheme == "iob2":
                body = ["B"] + ["I"] * (length - 1)
            else:  # iob1: B only right after a chunk of the same type
                opener = "B" if previous is not None and previous[0] == kind else "I"
                body = [opener] + ["I"] * (length - 1)
            tags.extend(f"{prefix}-{kind}" for prefix in body)
        previous = segment
    return tags


def spans(structure: list[Segment]) -> list[tuple[str, int, int]]:
    """The chunks ``(type, start, end inclusive)`` of `structure`."""
    found, position = [], 0
    for segment in structure:
        if segment is None:
            position += 1
        else:
            kind, length = segment
            found.append((kind, position, position + length - 1))
            position += length
    return found


EXAMPLES = {
    "iob1": ["I-PER", "I-PER", "B-PER", "O", "I-LOC"],
    "iob2": ["B-PER", "I-PER", "B-PER", "O", "B-LOC"],
    "iobes": ["B-PER", "E-PER", "S-PER", "O", "S-LOC"],
}


@pytest.mark.parametrize(
    ("sentences", "expected"),
    [
        ([["PRP", "VBZ", "NOUN", "PRP$", "-LRB-", "."]], None),
        ([["O", "B-PER"], ["NOUN"]], None),  # one non-chunk tag is enough
        ([["O", "I"]], None),
        ([EXAMPLES["iob1"]], "iob1"),
        ([["B-PER", "I-PER"], ["O", "I-LOC"]], "iob1"),  # I opens a chunk after O
        ([["B-PER", "I-LOC"]], "iob1"),  # ... or after another type
        ([EXAMPLES["iob2"]], "iob2"),
        ([["B-ORG-SUB", "I-ORG-SUB", "O"], ["O"]], "iob2"),
        ([EXAMPLES["iobes"]], "iobes"),
        ([["I-PER"], ["S-LOC"]], "iobes"),  # E-/S- outrank everything else
        ([["O", "O"]], "iob2"),
    ],
)
def test_detect_scheme(sentences, expected):
    assert detect_scheme(iter(sentences)) == expected


@pytest.mark.parametrize("source", SCHEMES)
@pytest.mark.parametrize("target", SCHEMES)
def test_conversions_of_the_hand_written_example(source, target):
    assert from_iobes(to_iobes(EXAMPLES[source], source), target) == EXAMPLES[target]
    assert to_iobes(EXAMPLES[source], source) == EXAMPLES["iobes"]


def test_hyphenated_types_keep_their_hyphens():
    assert to_iobes(["I-ORG-SUB", "B-ORG-SUB", "I-ORG-SUB"], "iob1") == [
        "S-ORG-SUB",
        "B-ORG-SUB",
        "E-ORG-SUB",
    ]
    assert chunks(["B-ORG-SUB", "E-ORG-SUB"]) == [("ORG-SUB", 0, 1)]


@given(structures)
def test_round_trips_are_exact_for_well_formed_sequences(structure):
    iobes = render(structure, "iobes")
    assert chunks(iobes) == spans(structure)
    for scheme in SCHEMES:
        tags = render(structure, scheme)
        assert to_iobes(tags, scheme) == iobes
        assert from_iobes(iobes, scheme) == tags
    if spans(structure):
        assert detect_scheme([render(structure, "iob1")]) == "iob1"  # the first chunk opens with I
        assert detect_scheme([render(structure, "iob2")]) == "iob2"
        assert detect_scheme([render(structure, "iobes")]) == "iobes"


@pytest.mark.parametrize(
    ("tags", "scheme", "expected"),
    [
        (["I-PER", "I-PER", "O", "I-LOC"], "iob2", ["B-PER", "E-PER", "O", "S-LOC"]),
        (["B-PER", "I-LOC", "I-LOC"], "iob2", ["S-PER", "B-LOC", "E-LOC"]),
        (["I-PER", "E-PER", "O", "E-LOC"], "iobes", ["B-PER", "E-PER", "O", "S-LOC"]),
        (["B-PER", "B-PER", "I-PER"], "iobes", ["S-PER", "B-PER", "E-PER"]),
        (["S-PER", "I-PER", "E-PER"], "iobes", ["S-PER", "B-PER", "E-PER"]),
        (["E-PER", "E-PER"], "iobes", ["S-PER", "S-PER"]),
        (["B-PER", "I-PER", "B-LOC", "O"], "iobes", ["B-PER", "E-PER", "S-LOC", "O"]),
        (["B-PER", "O", "I-PER"], "iobes", ["S-PER", "O", "S-PER"]),
    ],
)
def test_the_lenient_reading(tags, scheme, expected):
    assert to_iobes(tags, scheme) == expected


any_tags = st.lists(
    st.one_of(
        st.just("O"),
        st.builds("{}-{}".format, st.sampled_from("BIES"), st.sampled_from(TYPES)),
    ),
    max_size=12,
)


@given(any_tags)
def test_chunks_of_any_tags_are_read_as_conlleval_reads_them(tags):
    assert chunks(tags) == get_entities(list(tags))


@pytest.mark.parametrize(
    ("tags", "scheme", "bad"),
    [
        (["O", "E-PER"], "iob1", "E-PER"),
        (["S-PER"], "iob2", "S-PER"),
        (["O", "X-PER"], "iobes", "X-PER"),
        (["NOUN"], "iob2", "NOUN"),
    ],
)
def test_unknown_prefixes_are_named(tags, scheme, bad):
    with pytest.raises(ValueError, match=bad):
        to_iobes(tags, scheme)


def test_unknown_schemes_and_non_iobes_input_are_refused():
    with pytest.raises(ValueError, match="bioul"):
        to_iobes(["O"], "bioul")
    with pytest.raises(ValueError, match="NOUN"):
        from_iobes(["O", "NOUN"], "iob2")


LABELS = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]


def well_formed_iobes(max_length: int) -> list[list[str]]:
    """Every well-formed IOBES sequence over PER and LOC of 1 .. max_length tokens."""
    found = []
    options: list[Segment] = [None] + [(t, n) for t in ("PER", "LOC") for n in range(1, 5)]
    for count in range(1, max_length + 1):
        for structure in itertools.product(options, repeat=count):
            tags = render(list(structure), "iobes")
            if len(tags) <= max_length:
                found.append(tags)
    return found


def test_allowed_transitions_are_exactly_those_of_well_formed_sequences():
    start, transitions, end = allowed_transitions(LABELS)
    index = {label: i for i, label in enumerate(LABELS)}
    seen_start, seen_end, seen_pairs = set(), set(), set()
    for tags in well_formed_iobes(4):  # B I I E needs four tokens
        seen_start.add(tags[0])
        seen_end.add(tags[-1])
        seen_pairs.update(itertools.pairwise(tags))
    assert start.dtype == transitions.dtype == end.dtype == torch.bool
    assert {label for label in LABELS if start[index[label]]} == seen_start
    assert {label for label in LABELS if end[index[label]]} == seen_end
    allowed_pairs = {(a, b) for a in LABELS for b in LABELS if transitions[index[a], index[b]]}
    assert allowed_pairs == seen_pairs


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("B-PER", "O"),
        ("B-PER", "I-LOC"),
        ("I-PER", "B-PER"),
        ("I-PER", "S-PER"),
        ("B-PER", "E-LOC"),
        ("O", "I-PER"),
        ("O", "E-PER"),
        ("E-PER", "I-PER"),
        ("S-LOC", "E-LOC"),
    ],
)
def test_hand_picked_invalid_transitions_are_forbidden(before, after):
    _, transitions, _ = allowed_transitions(LABELS)
    assert not transitions[LABELS.index(before), LABELS.index(after)]


def test_invalid_starts_and_ends_are_forbidden():
    start, _, end = allowed_transitions(LABELS)
    assert [LABELS[i] for i in range(len(LABELS)) if not start[i]] == [
        "I-PER",
        "E-PER",
        "I-LOC",
        "E-LOC",
    ]
    assert [LABELS[i] for i in range(len(LABELS)) if not end[i]] == [
        "B-PER",
        "I-PER",
        "B-LOC",
        "I-LOC",
    ]


def test_labels_that_are_not_chunk_tags_allow_everything():
    start, transitions, end = allowed_transitions(["<pad>", "NOUN", "VERB", "-LRB-"])
    assert start.all() and transitions.all() and end.all()
    assert transitions.shape == (4, 4)


def test_mixed_labels_are_refused():
    with pytest.raises(ValueError, match="<pad>"):
        allowed_transitions(["<pad>", "O", "B-PER", "E-PER"])

"""Metrics of a speech recogniser: word and character error rates, and utterance accuracy.

The error rate of a corpus is the total edit distance (Levenshtein: substitutions + deletions
+ insertions) between each reference and its hypothesis, divided by the total length of the
references, counted in words (WER) or characters (CER): a corpus-level rate, not the mean of
per-utterance rates, as ``jiwer.wer`` and ``jiwer.cer`` compute it. Words are split on
whitespace; characters are those of the string with its ends stripped, inner spaces included
(jiwer's default transforms).

An empty reference (nothing left after stripping) has no words to align: its hypothesis's
words (characters) all count as insertions, and it adds nothing to the denominator. Those
utterances are counted here, the others by jiwer, since jiwer 3 refuses empty references.
When the references have no words at all, the rate is the number of edits (the denominator
taken as 1): 0 when the hypotheses are empty too, as jiwer 4 reports it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jiwer


def speech_scores(references: list[str], hypotheses: list[str]) -> dict[str, float]:
    """``wer``, ``cer`` and ``utterance_accuracy`` (the share of hypotheses whose words are
    their reference's, i.e. whose WER alone is 0) of a corpus of transcripts."""
    if len(references) != len(hypotheses) or not references:
        raise ValueError(
            f"expected as many hypotheses as references, at least one, got {len(hypotheses)} "
            f"and {len(references)}"
        )
    exact = sum(ref.split() == hyp.split() for ref, hyp in zip(references, hypotheses, strict=True))
    return {
        "wer": _error_rate(references, hypotheses, jiwer.process_words, _words),
        "cer": _error_rate(references, hypotheses, jiwer.process_characters, _characters),
        "utterance_accuracy": exact / len(references),
    }


def _words(text: str) -> list[str]:
    return text.split()


def _characters(text: str) -> list[str]:
    return list(text.strip())


def _error_rate(
    references: list[str],
    hypotheses: list[str],
    process: Callable[[list[str], list[str]], jiwer.WordOutput | jiwer.CharacterOutput],
    units: Callable[[str], list[str]],
) -> float:
    """Total edits / total reference units; empty references counted here (module docstring)."""
    pairs = [(ref, hyp) for ref, hyp in zip(references, hypotheses, strict=True) if units(ref)]
    edits = sum(
        len(units(hyp)) for ref, hyp in zip(references, hypotheses, strict=True) if not units(ref)
    )
    length = 0
    if pairs:
        output = process([ref for ref, _ in pairs], [hyp for _, hyp in pairs])
        edits += output.substitutions + output.deletions + output.insertions
        length = output.hits + output.substitutions + output.deletions
    return edits / max(length, 1)


def edit_distance(a: Sequence[object], b: Sequence[object]) -> int:
    """The Levenshtein distance between two sequences: the fewest substitutions, deletions and
    insertions (each costing 1) that turn ``a`` into ``b``."""
    previous = list(range(len(b) + 1))  # distances from a[:0] to each b[:j]
    for i, item in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (item != other))
            )
        previous = current
    return previous[-1]

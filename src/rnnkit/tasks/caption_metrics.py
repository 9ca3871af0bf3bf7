"""How good generated captions are: BLEU-1 to BLEU-4 against every reference of each image
(sacreBLEU's corpus BLEU, as the captioning papers report it), and exact matches.

BLEU-n is the corpus BLEU with n-grams up to order n, uniform weights (Papineni et al. 2002):

    BLEU-n = BP * exp((1 / n) * sum_{k=1..n} log p_k),    BP = min(1, exp(1 - r / c))

where ``p_k`` is the clipped k-gram precision of all captions against all their references,
``c`` the total caption length and ``r`` the total of the reference lengths closest to each
caption's. Images may have different numbers of references: sacreBLEU takes one reference
stream per rank, and a ``None`` in a stream (for an image with fewer references than the most)
is left out of that image's references, so it neither matches n-grams nor counts as a
zero-length reference in ``r``. Captions and references are compared as given (the task
normalises both: lower-case words, no punctuation); sacreBLEU's 13a tokenisation and its default
exponential smoothing of zero counts apply.
"""

from __future__ import annotations

from collections.abc import Sequence

from sacrebleu.metrics import BLEU

MAX_ORDER = 4


def caption_scores(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]]
) -> dict[str, float]:
    """``{"bleu1", ..., "bleu4", "exact_match"}`` of one caption per image against that image's
    references (at least one each); ``exact_match`` is the share of captions equal to one of
    their references."""
    if len(hypotheses) != len(references) or not all(references):
        raise ValueError("give one caption and at least one reference per image")
    most = max(len(refs) for refs in references)
    streams: list[list[str | None]] = [
        [refs[rank] if rank < len(refs) else None for refs in references] for rank in range(most)
    ]
    scores = {
        f"bleu{order}": BLEU(max_ngram_order=order)
        .corpus_score(list(hypotheses), streams)  # type: ignore[arg-type]
        .score
        for order in range(1, MAX_ORDER + 1)
    }
    exact = sum(h in refs for h, refs in zip(hypotheses, references, strict=True))
    return {**scores, "exact_match": exact / len(hypotheses)}

"""CTC decoding: best-path decoding on hand-made posteriors and padded batches, the prefix beam
search against brute-force enumeration of every alignment, against best-path decoding at beam
1 (peaked posteriors), its n-best list, and the word constraint."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import pytest
import torch

from rnnkit.models.ctc_decoding import (
    WordConstraint,
    ctc_beam_search,
    ctc_greedy,
    ctc_prefix_beam_search,
)

BLANK, A, B, SPACE = 0, 1, 2, 3


def one_hot_frames(symbols: list[int], num_symbols: int, peak: float = 0.9) -> torch.Tensor:
    """``(T, C)`` log-posteriors whose argmax at frame ``t`` is ``symbols[t]``."""
    probs = torch.full((len(symbols), num_symbols), (1 - peak) / (num_symbols - 1))
    probs[torch.arange(len(symbols)), symbols] = peak
    return probs.log()


def peaked_posteriors(frames: int, symbols: int, generator: torch.Generator) -> torch.Tensor:
    """Random ``(T, C)`` log-posteriors, each frame's best symbol at probability 0.9."""
    rest = torch.rand(frames, symbols, generator=generator, dtype=torch.float64)
    best = torch.randint(0, symbols, (frames,), generator=generator)
    rest[torch.arange(frames), best] = 0
    probs = rest / rest.sum(-1, keepdim=True) * 0.1
    probs[torch.arange(frames), best] = 0.9
    return probs.log()


def labelling_probabilities(log_probs: torch.Tensor, blank: int) -> dict[tuple[int, ...], float]:
    """``P(l)`` of every labelling: all ``C**T`` alignments enumerated, collapsed and summed."""
    probs = log_probs.exp().tolist()
    totals: dict[tuple[int, ...], float] = defaultdict(float)
    for path in itertools.product(range(len(probs[0])), repeat=len(probs)):
        labelling = tuple(symbol for symbol, _ in itertools.groupby(path) if symbol != blank)
        totals[labelling] += math.prod(
            frame[symbol] for frame, symbol in zip(probs, path, strict=True)
        )
    return totals


def test_greedy_collapses_repeats_and_removes_blanks():
    frames = one_hot_frames([A, A, BLANK, A, B, B, BLANK], 3)
    assert ctc_greedy(frames[None], torch.tensor([7])) == [[A, A, B]]


def test_greedy_with_another_blank_id():
    frames = one_hot_frames([1, 0, 0, 1, 2, 1, 1], 3)  # blank is 1
    assert ctc_greedy(frames[None], torch.tensor([7]), blank=1) == [[0, 2]]


def test_greedy_decodes_each_utterance_of_a_padded_batch_over_its_own_frames():
    first = one_hot_frames([A, BLANK, A, B, B, B], 3)
    second = one_hot_frames([B, B, A, A, A, A], 3)  # frames 3.. are padding
    third = one_hot_frames([A, A, A, A, A, A], 3)  # all padding
    batch = torch.stack([first, second, third])
    assert ctc_greedy(batch, torch.tensor([6, 3, 0])) == [[A, A, B], [B, A], []]


@pytest.mark.parametrize("seed", range(20))
def test_beam_one_equals_greedy_on_peaked_posteriors(seed):
    generator = torch.Generator().manual_seed(seed)
    log_probs = torch.stack([peaked_posteriors(12, 4, generator) for _ in range(3)])
    lengths = torch.tensor([12, 7, 1])
    greedy = ctc_greedy(log_probs, lengths)
    assert ctc_beam_search(log_probs, lengths, beam=1) == greedy
    for utterance, length, expected in zip(log_probs, lengths, greedy, strict=True):
        assert ctc_prefix_beam_search(utterance[:length], beam=1)[0][0] == expected


def test_a_repeat_extends_the_prefix_only_through_a_blank():
    assert ctc_prefix_beam_search(one_hot_frames([A, A, A], 3), beam=4)[0][0] == [A]
    assert ctc_prefix_beam_search(one_hot_frames([A, BLANK, A], 3), beam=4)[0][0] == [A, A]


def test_the_search_finds_the_most_probable_labelling_where_the_best_path_does_not():
    # best path "- -" (0.36) collapses to nothing; "a" has 0.4*0.6 + 0.6*0.4 + 0.4*0.4 = 0.64
    log_probs = torch.tensor([[0.6, 0.4], [0.6, 0.4]], dtype=torch.float64).log()
    assert ctc_greedy(log_probs[None], torch.tensor([2])) == [[]]
    [(labelling, log_prob)] = ctc_prefix_beam_search(log_probs, beam=2)
    assert labelling == [A]
    assert log_prob == pytest.approx(math.log(0.64))


@pytest.mark.parametrize(("frames", "blank", "seed"), [(4, 0, 0), (5, 0, 1), (5, 2, 2), (4, 1, 3)])
def test_the_wide_search_matches_brute_force_enumeration(frames, blank, seed):
    generator = torch.Generator().manual_seed(seed)
    log_probs = torch.randn(frames, 3, generator=generator, dtype=torch.float64).log_softmax(-1)
    exact = labelling_probabilities(log_probs, blank)
    best = max(exact, key=exact.__getitem__)
    [(labelling, log_prob)] = ctc_prefix_beam_search(log_probs, beam=100, blank=blank)
    assert labelling == list(best)
    assert log_prob == pytest.approx(math.log(exact[best]), abs=1e-6)
    # a beam wider than the number of prefixes keeps them all, each with its exact probability
    everything = ctc_prefix_beam_search(log_probs, beam=100, blank=blank, n_best=len(exact) + 5)
    assert {tuple(found): math.exp(score) for found, score in everything} == pytest.approx(exact)


def test_n_best_lists_distinct_labellings_best_first():
    log_probs = peaked_posteriors(10, 4, torch.Generator().manual_seed(7))
    n_best = ctc_prefix_beam_search(log_probs, beam=8, n_best=5)
    scores = [score for _, score in n_best]
    assert len(n_best) == 5
    assert scores == sorted(scores, reverse=True)
    assert len({tuple(labelling) for labelling, _ in n_best}) == 5
    assert n_best[0] == ctc_prefix_beam_search(log_probs, beam=8)[0]
    assert len(ctc_prefix_beam_search(log_probs, beam=3, n_best=5)) == 3


def test_pruning_symbols_per_frame_keeps_the_peaked_best():
    log_probs = peaked_posteriors(15, 6, torch.Generator().manual_seed(3))
    exact = ctc_prefix_beam_search(log_probs, beam=4)
    assert ctc_prefix_beam_search(log_probs, beam=4, symbols_per_frame=6) == exact
    assert ctc_prefix_beam_search(log_probs, beam=4, symbols_per_frame=2)[0][0] == exact[0][0]


def two_frames() -> torch.Tensor:
    """Unconstrained: "b a" 0.25, "a" 0.245, "b" 0.245, "a b" 0.16 (blank, a, b, space)."""
    probs = [[0.05, 0.40, 0.50, 0.05], [0.05, 0.50, 0.40, 0.05]]
    return torch.tensor(probs, dtype=torch.float64).log()


def test_the_word_constraint_keeps_only_listed_words():
    assert ctc_prefix_beam_search(two_frames(), beam=16)[0][0] == [B, A]
    words = WordConstraint([[A, B]], separator=SPACE)
    [(labelling, log_prob)] = ctc_prefix_beam_search(two_frames(), beam=16, words=words)
    assert labelling == [A, B]  # "a" and "b" are not words, "a" only the start of one
    assert log_prob == pytest.approx(math.log(0.16))
    batch = two_frames()[None]
    assert ctc_beam_search(batch, torch.tensor([2]), beam=16, words=words) == [[A, B]]


def test_the_word_constraint_without_a_separator_allows_listed_symbols_only():
    words = WordConstraint([[A]])
    [(labelling, log_prob)] = ctc_prefix_beam_search(two_frames(), beam=16, words=words)
    assert labelling == [A]
    assert log_prob == pytest.approx(math.log(0.245))


def test_the_word_constraint_reads_words_between_single_separators():
    words = WordConstraint([[A, B], [B]], separator=SPACE)
    assert words.allows_extension((A, B, SPACE), B)
    assert words.allows_extension((A, B, SPACE, B), SPACE)
    assert words.allows_extension((B, SPACE), A)  # the start of "a b"
    assert not words.allows_extension((), SPACE)  # no leading separator
    assert not words.allows_extension((B, SPACE), SPACE)  # no empty word
    assert not words.allows_extension((A,), SPACE)  # "a" is not a word
    assert not words.allows_extension((A, B), A)  # nor "a b a"
    assert words.is_complete(()) and words.is_complete((A, B)) and words.is_complete((B, SPACE))
    assert not words.is_complete((B, SPACE, A))


def test_the_word_constraint_rejects_words_it_cannot_read():
    with pytest.raises(ValueError, match="one symbol"):
        WordConstraint([[A, B]])
    with pytest.raises(ValueError, match="separator"):
        WordConstraint([[A, SPACE]], separator=SPACE)
    with pytest.raises(ValueError, match="empty"):
        WordConstraint([[]], separator=SPACE)

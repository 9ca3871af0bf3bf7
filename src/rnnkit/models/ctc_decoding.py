"""Decoding the per-frame posteriors of a CTC model (Graves et al. 2006, "Connectionist temporal
classification: labelling unsegmented sequence data with recurrent neural networks").

A CTC model gives, for each of ``T`` frames, log-probabilities over ``C`` symbols, ids
``0 .. C-1``, one of which (``blank``) stands for "no symbol". An alignment ``π`` (one symbol
per frame) has probability ``Π_t y[t, π_t]`` and collapses to a labelling ``B(π)`` by merging
runs of the same symbol and then removing the blanks (``a a - a b b -`` → ``a a b``); the
probability of a labelling ``l`` is the sum over all its alignments,
``P(l) = Σ_{π: B(π) = l} Π_t y[t, π_t]``.

- `ctc_greedy`: best-path decoding, ``B(argmax_t)``: the labelling of the single most probable
  alignment, which need not be the most probable labelling.
- `ctc_prefix_beam_search`: the CTC prefix beam search (Hannun et al. 2014, "First-pass large
  vocabulary continuous speech recognition using bi-directional recurrent DNNs", without a
  language model). For each prefix (a partial labelling) it keeps ``log p_b`` and ``log p_nb``,
  the log-probabilities of the alignments of the frames so far that collapse to the prefix and
  end in blank or in a non-blank symbol; at each frame, with ``c`` the prefix's last symbol:
  a blank keeps the prefix (``p_b' += y(blank) (p_b + p_nb)``), ``c`` again keeps it
  (``p_nb' += y(c) p_nb``), ``c`` after a blank extends it by a second ``c``
  (``p_nb'(prefix + c) += y(c) p_b``), any other symbol ``s`` extends it
  (``p_nb'(prefix + s) += y(s) (p_b + p_nb)``); the contributions of every prefix in the beam
  that lead to the same prefix are summed (paths merged), all in log space, and the ``beam``
  prefixes of largest ``p_b + p_nb`` are kept. When the beam never drops a prefix (it is at
  least the number of distinct prefixes), ``p_b + p_nb`` at the end is exactly ``P(prefix)``.
- `WordConstraint`: a lexicon the prefix search may be restricted to.
- `ctc_beam_search`: the prefix search over a padded batch, best labelling only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from itertools import groupby

from torch import Tensor

Prefix = tuple[int, ...]

NEG_INF = -math.inf


def ctc_greedy(log_probs: Tensor, lengths: Tensor, blank: int = 0) -> list[list[int]]:
    """Best-path decoding of a padded batch: per utterance, the most probable symbol of each of
    its ``lengths[b]`` real frames, repeats collapsed and blanks removed.

    ``log_probs`` is ``(B, T, C)`` (any monotone scores will do), ``lengths`` ``(B,)``.
    """
    _check_batch(log_probs, lengths)
    best = log_probs.argmax(dim=-1).tolist()
    return [
        _collapse(frames[:length], blank)
        for frames, length in zip(best, lengths.tolist(), strict=True)
    ]


def _collapse(alignment: Sequence[int], blank: int) -> list[int]:
    """``B(π)``: runs of a symbol merged, then blanks removed."""
    return [symbol for symbol, _ in groupby(alignment) if symbol != blank]


def _check_batch(log_probs: Tensor, lengths: Tensor) -> None:
    if log_probs.dim() != 3 or lengths.shape != log_probs.shape[:1]:
        raise ValueError(
            f"expected log_probs (B, T, C) and lengths (B,), got {tuple(log_probs.shape)} and "
            f"{tuple(lengths.shape)}"
        )
    if lengths.numel() and not 0 <= int(lengths.min()) <= int(lengths.max()) <= log_probs.shape[1]:
        raise ValueError(f"lengths must lie in 0..{log_probs.shape[1]}, got {lengths.tolist()}")


class WordConstraint:
    """A lexicon for `ctc_prefix_beam_search`: the labellings it allows are sequences of listed
    words.

    ``words`` are the listed words, each a non-empty sequence of symbol ids. With a
    ``separator`` (e.g. the id of the space character), a labelling is read as words separated
    by single separators; while searching, a prefix is kept only if every word it has completed
    (followed by a separator) is listed and its unfinished last word (after the last separator)
    is a prefix of a listed word: so no leading or doubled separator, and no separator after an
    unlisted word. At the end, a prefix is kept only if it is complete: empty, ending in a
    separator, or ending in a listed word. With ``separator=None`` every symbol is a word by
    itself (e.g. spoken digits as word-level symbols): each listed word must be a single symbol,
    and a labelling is allowed when all its symbols are listed.

    The listed words and all their prefixes are held as sets of tuples (a trie, flattened), so
    a check costs the length of the last word.
    """

    def __init__(self, words: Iterable[Sequence[int]], separator: int | None = None) -> None:
        self.separator = separator
        self.words = frozenset(tuple(word) for word in words)
        for word in self.words:
            self._check_word(word)
        self._prefixes = frozenset(
            word[:end] for word in self.words for end in range(1, len(word) + 1)
        )

    def _check_word(self, word: Prefix) -> None:
        if not word:
            raise ValueError("a listed word must not be empty")
        if self.separator is None and len(word) != 1:
            raise ValueError(f"without a separator each word is one symbol, got {list(word)}")
        if self.separator in word:
            raise ValueError(f"word {list(word)} contains the separator {self.separator}")

    def allows_extension(self, prefix: Prefix, symbol: int) -> bool:
        """Whether ``prefix + (symbol,)`` may be kept, given that ``prefix`` may."""
        if self.separator is None:
            return (symbol,) in self.words
        word = self._last_word(prefix)
        if symbol == self.separator:
            return word in self.words
        return (*word, symbol) in self._prefixes

    def is_complete(self, prefix: Prefix) -> bool:
        """Whether an allowed ``prefix`` may end the labelling (its last word is finished)."""
        word = self._last_word(prefix)
        return self.separator is None or not word or word in self.words

    def _last_word(self, prefix: Prefix) -> Prefix:
        for index in range(len(prefix) - 1, -1, -1):
            if prefix[index] == self.separator:
                return prefix[index + 1 :]
        return prefix


def _logaddexp(a: float, b: float) -> float:
    """``log(exp(a) + exp(b))``, exact for ``-inf``."""
    if a < b:
        a, b = b, a
    return a if b == NEG_INF else a + math.log1p(math.exp(b - a))


class _Scores:
    """``log p_b`` and ``log p_nb`` of one prefix: its alignments ending in blank / not."""

    __slots__ = ("blank", "non_blank")

    def __init__(self, blank: float = NEG_INF, non_blank: float = NEG_INF) -> None:
        self.blank = blank
        self.non_blank = non_blank

    @property
    def total(self) -> float:
        return _logaddexp(self.blank, self.non_blank)


def ctc_prefix_beam_search(
    log_probs: Tensor,
    beam: int,
    blank: int = 0,
    *,
    n_best: int = 1,
    words: WordConstraint | None = None,
    symbols_per_frame: int | None = None,
) -> list[tuple[list[int], float]]:
    """The ``n_best`` most probable labellings of one utterance found by the CTC prefix beam
    search (see the module docstring), best first, each with its log-probability
    ``log P(prefix)`` (summed over the alignments the beam kept: exact for a wide enough beam).

    ``log_probs`` is ``(T, C)``, log-softmax over the utterance's real frames only. ``words``
    restricts the labellings to a lexicon (`WordConstraint`); fewer than ``n_best``, or none,
    come back when fewer complete prefixes survive the search. ``symbols_per_frame`` prunes for
    speed: at each frame only the non-blank symbols among that many most probable ones may
    extend or repeat a prefix (the blank always may); ``None``, the default, keeps every symbol,
    so that a beam wider than the number of prefixes gives every ``P(prefix)`` exactly.

    With ``beam=1`` the search follows one prefix, choosing at each frame by the mass of all
    the alignments of each candidate, whereas `ctc_greedy` follows the single best alignment:
    the two often differ on flat posteriors, but agree on peaked ones, where each frame's best
    symbol has probability ``p`` above ``1/√2`` (the binding case is ``a`` after a blank that
    follows ``a``: extending needs ``p² > 1 - p²``; counterexamples occur at ``p = 0.7``).
    """
    if min(beam, n_best, 1 if symbols_per_frame is None else symbols_per_frame) < 1:
        raise ValueError(
            f"beam, n_best and symbols_per_frame must be positive, got {beam}, {n_best} and "
            f"{symbols_per_frame}"
        )
    if log_probs.dim() != 2:
        raise ValueError(f"expected log_probs (T, C), got {tuple(log_probs.shape)}")
    candidates = _symbols(log_probs, blank, symbols_per_frame)
    beams: dict[Prefix, _Scores] = {(): _Scores(blank=0.0)}
    for frame, symbols in zip(log_probs.double().tolist(), candidates, strict=True):
        beams = _prune(_step(beams, frame, symbols, blank, words), beam)
    ranked = [  # best first, as `_prune` left them
        (list(prefix), scores.total)
        for prefix, scores in beams.items()
        if words is None or words.is_complete(prefix)
    ]
    return ranked[:n_best]


def _symbols(log_probs: Tensor, blank: int, k: int | None) -> list[list[int]]:
    """Per frame, the non-blank symbols that may extend a prefix (the ``k`` most probable)."""
    num_symbols = log_probs.shape[1]
    if k is None or k >= num_symbols:
        every = [symbol for symbol in range(num_symbols) if symbol != blank]
        return [every] * log_probs.shape[0]
    top = log_probs.topk(k, dim=-1).indices.tolist()
    return [[symbol for symbol in frame if symbol != blank] for frame in top]


def _step(
    beams: dict[Prefix, _Scores],
    frame: list[float],
    symbols: list[int],
    blank: int,
    words: WordConstraint | None,
) -> dict[Prefix, _Scores]:
    """The prefixes after one more frame, with the contributions to each one summed."""
    following: dict[Prefix, _Scores] = {}

    def scores(prefix: Prefix) -> _Scores:
        return following.setdefault(prefix, _Scores())

    for prefix, current in beams.items():
        kept = scores(prefix)
        kept.blank = _logaddexp(kept.blank, frame[blank] + current.total)
        for symbol in symbols:
            if prefix and symbol == prefix[-1]:
                # the same symbol again: merged into the last one, unless a blank came between
                kept.non_blank = _logaddexp(kept.non_blank, frame[symbol] + current.non_blank)
                reach = frame[symbol] + current.blank
            else:
                reach = frame[symbol] + current.total
            if words is None or words.allows_extension(prefix, symbol):
                extended = scores((*prefix, symbol))
                extended.non_blank = _logaddexp(extended.non_blank, reach)
    return following


def _prune(beams: dict[Prefix, _Scores], beam: int) -> dict[Prefix, _Scores]:
    """The ``beam`` prefixes of largest total probability, impossible ones (``-inf``) dropped:
    e.g. ``a a`` reached from ``a`` before any blank could come between."""
    alive = [(prefix, scores) for prefix, scores in beams.items() if scores.total > NEG_INF]
    alive.sort(key=lambda item: item[1].total, reverse=True)
    return dict(alive[:beam])


def ctc_beam_search(
    log_probs: Tensor,
    lengths: Tensor,
    beam: int,
    blank: int = 0,
    words: WordConstraint | None = None,
    *,
    symbols_per_frame: int | None = None,
) -> list[list[int]]:
    """`ctc_prefix_beam_search` over each utterance of a padded batch (``log_probs``
    ``(B, T, C)`` log-softmax, ``lengths`` ``(B,)``): the best labelling of each, or the empty
    one where no complete prefix survived the word constraint."""
    _check_batch(log_probs, lengths)
    decoded = []
    for utterance, length in zip(log_probs, lengths.tolist(), strict=True):
        found = ctc_prefix_beam_search(
            utterance[:length], beam, blank, words=words, symbols_per_frame=symbols_per_frame
        )
        decoded.append(found[0][0] if found else [])
    return decoded

"""Long-memory tasks, generated: the adding problem, copy memory, the embedded Reber grammar.

Each task isolates one thing a recurrent network must do: carry information across many steps.
Every generator is deterministic under its seed: ``seed`` is an int or a `torch.Generator`
(pass one generator to draw a stream of fresh batches); the Reber strings use
`numpy.random.default_rng(seed)`. Tensors are batch first.

* adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015);
* copy memory (Arjovsky et al. 2016);
* embedded Reber grammar (Hochreiter & Schmidhuber 1997, after Reber 1967 and Cleeremans et
  al. 1989), as tensors for next-symbol prediction or as a text corpus.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

Seed = int | torch.Generator

COPY_LENGTH = 10  # symbols to remember
COPY_BLANK, COPY_DELIMITER = 0, 9  # data symbols are 1 .. 8
COPY_CLASSES = 10  # categories of the input and the target: blank, 8 symbols, delimiter

REBER_SYMBOLS = "BTPSXVE"
REBER_PAD_TARGET = -100  # padding in `ReberBatch.targets`; cross_entropy's default ignore_index
# The Reber graph: state -> (symbol, next state); every string starts with B in state 0, and
# E ends it (next state -1).
REBER_GRAPH: dict[int, tuple[tuple[str, int], ...]] = {
    0: (("T", 1), ("P", 2)),
    1: (("S", 1), ("X", 3)),
    2: (("T", 2), ("V", 4)),
    3: (("X", 2), ("S", 5)),
    4: (("P", 3), ("V", 5)),
    5: (("E", -1),),
}


def make_generator(seed: Seed) -> torch.Generator:
    """A `torch.Generator` seeded with ``seed``, or ``seed`` itself if it is one."""
    return seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)


# --- adding problem -----------------------------------------------------------------------
def adding_problem(batch_size: int, length: int, seed: Seed = 0) -> tuple[Tensor, Tensor]:
    """The adding problem: add the two marked numbers of a long sequence.

    Channel 0 holds values drawn uniformly from [0, 1); channel 1 is a marker that is 1 at
    exactly two steps, one drawn uniformly from the first half ``[0, T // 2)`` and one from the
    second half ``[T // 2, T)``, and 0 elsewhere. The target is the sum of the two marked values.

    Returns:
        ``inputs (N, T, 2)`` float32 and ``targets (N,)`` float32.
    """
    if length < 2:
        raise ValueError(f"the adding problem needs length >= 2, got {length}")
    generator = make_generator(seed)
    values = torch.rand(batch_size, length, generator=generator)  # (N, T)
    first = torch.randint(0, length // 2, (batch_size,), generator=generator)
    second = torch.randint(length // 2, length, (batch_size,), generator=generator)
    rows = torch.arange(batch_size)
    markers = torch.zeros(batch_size, length)
    markers[rows, first] = markers[rows, second] = 1.0
    targets = values[rows, first] + values[rows, second]
    return torch.stack([values, markers], dim=-1), targets


def adding_baseline_mse() -> float:
    """MSE of always predicting 1, the mean of the target: Var(U₁ + U₂) = 2/12 ≈ 0.167."""
    return 1.0 / 6.0


# --- copy memory --------------------------------------------------------------------------
def copy_memory(batch_size: int, delay: int, seed: Seed = 0) -> tuple[Tensor, Tensor]:
    """Copy memory (Arjovsky et al. 2016): remember 10 symbols for ``delay`` = T steps.

    The layout of the paper, ``T + 20`` steps:

    * steps ``0 .. 9``: the 10 symbols, drawn uniformly from 1..8; target blank (0);
    * steps ``10 .. T+8`` (``T - 1`` steps): blank input, blank target;
    * step ``T+9``: the delimiter (9), asking for the symbols back; target blank;
    * steps ``T+10 .. T+19``: blank input; target the 10 symbols, in order.

    Returns:
        ``inputs (N, T+20)`` and ``targets (N, T+20)``, int64 categories in ``[0, 10)``.
    """
    if delay < 1:
        raise ValueError(f"copy memory needs delay >= 1, got {delay}")
    steps = delay + 2 * COPY_LENGTH
    symbols = torch.randint(1, 9, (batch_size, COPY_LENGTH), generator=make_generator(seed))
    inputs = torch.full((batch_size, steps), COPY_BLANK, dtype=torch.long)
    inputs[:, :COPY_LENGTH] = symbols
    inputs[:, delay + COPY_LENGTH - 1] = COPY_DELIMITER
    targets = torch.full((batch_size, steps), COPY_BLANK, dtype=torch.long)
    targets[:, -COPY_LENGTH:] = symbols
    return inputs, targets


def copy_memory_baseline(delay: int) -> float:
    """Cross-entropy per step of the memoryless strategy: blank for ``T + 10`` steps, then a
    uniform guess among the 8 symbols, ``10 ln 8 / (T + 20)`` (Arjovsky et al. 2016)."""
    return COPY_LENGTH * math.log(8) / (delay + 2 * COPY_LENGTH)


# --- embedded Reber grammar ---------------------------------------------------------------
def _automaton(embedded: bool) -> dict[str, dict[str, str]]:
    """The grammar as a deterministic automaton: state -> {symbol: next state}.

    Embedded: ``B``, then ``T`` or ``P``, then a Reber string, then the same ``T`` or ``P``
    again, then ``E``: the second-to-last symbol depends on the second, across the whole string.
    """
    if not embedded:
        table = {"start": {"B": "0"}, "end": {}}
        for state, edges in REBER_GRAPH.items():
            table[str(state)] = {s: "end" if nxt < 0 else str(nxt) for s, nxt in edges}
        return table
    table = {"start": {"B": "open"}, "open": {"T": "T:start", "P": "P:start"}}
    table |= {"close": {"E": "end"}, "end": {}}
    for branch in "TP":
        for inner, moves in _automaton(embedded=False).items():
            table[f"{branch}:{inner}"] = {s: f"{branch}:{nxt}" for s, nxt in moves.items()}
        table[f"{branch}:end"] = {branch: "close"}
    return table


def reber_strings(num_strings: int, seed: int = 0, *, embedded: bool = True) -> list[str]:
    """``num_strings`` strings of the (embedded) Reber grammar; each choice is a fair coin."""
    rng, table = np.random.default_rng(seed), _automaton(embedded)
    strings = []
    for _ in range(num_strings):
        state, symbols = "start", []
        while table[state]:
            edges = sorted(table[state].items())
            symbol, state = edges[int(rng.integers(len(edges)))]
            symbols.append(symbol)
        strings.append("".join(symbols))
    return strings


def legal_next(string: str, *, embedded: bool = True) -> list[frozenset[str]]:
    """The legal next symbols after each prefix ``string[:i+1]``, ``i = 0 .. len - 2``.

    Raises ValueError if ``string`` is not a string of the grammar.
    """
    table, state, legal = _automaton(embedded), "start", []
    for i, symbol in enumerate(string):
        if symbol not in table[state]:
            raise ValueError(f"{string!r} leaves the Reber grammar at position {i} ({symbol!r})")
        state = table[state][symbol]
        legal.append(frozenset(table[state]))
    if table[state]:
        raise ValueError(f"{string!r} is incomplete: it may go on with {sorted(table[state])}")
    return legal[:-1]


@dataclass(frozen=True)
class ReberBatch:
    """Reber strings for next-symbol prediction, padded to the longest, ``L = max len - 1``.

    Symbols are indices into `REBER_SYMBOLS` (``B T P S X V E`` -> 0..6). A prediction at
    step ``i`` is right when it is one of ``legal[n, i]`` (Hochreiter & Schmidhuber 1997 count
    a string as learnt when every step's legal symbols are all predicted).
    """

    strings: list[str]
    inputs: Tensor  # (N, L) int64: s[:-1], padded with 0
    targets: Tensor  # (N, L) int64: s[1:], padded with REBER_PAD_TARGET
    legal: Tensor  # (N, L, 7) bool: the legal next symbols after inputs[:, :i+1]
    lengths: Tensor  # (N,) int64: len(s) - 1


def reber_batch(num_strings: int, seed: int = 0, *, embedded: bool = True) -> ReberBatch:
    """``num_strings`` (embedded) Reber strings as a `ReberBatch`."""
    strings = reber_strings(num_strings, seed, embedded=embedded)
    width = max(len(s) for s in strings) - 1
    inputs = torch.zeros(num_strings, width, dtype=torch.long)
    targets = torch.full((num_strings, width), REBER_PAD_TARGET, dtype=torch.long)
    legal = torch.zeros(num_strings, width, len(REBER_SYMBOLS), dtype=torch.bool)
    for n, string in enumerate(strings):
        ids = torch.tensor([REBER_SYMBOLS.index(s) for s in string])
        inputs[n, : len(string) - 1], targets[n, : len(string) - 1] = ids[:-1], ids[1:]
        for i, symbols in enumerate(legal_next(string, embedded=embedded)):
            legal[n, i, [REBER_SYMBOLS.index(s) for s in symbols]] = True
    lengths = torch.tensor([len(s) - 1 for s in strings])
    return ReberBatch(strings, inputs, targets, legal, lengths)


def reber_text(num_strings: int, seed: int = 0, *, embedded: bool = True) -> str:
    """A text corpus of (embedded) Reber strings, one per line, for a character language model."""
    return "".join(s + "\n" for s in reber_strings(num_strings, seed, embedded=embedded))

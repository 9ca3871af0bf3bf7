"""Greedy decoding, sampling and beam search against toy models whose probabilities are known
exactly: the argmax path worked out by hand, brute-force enumeration of every sequence, and
empirical frequencies of many draws."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from torch import Tensor

from rnnkit.decode import (
    Hypothesis,
    beam_search,
    beam_search_nbest,
    feed,
    greedy,
    sample,
    top_k_filter,
    top_p_filter,
)

V = 5  # vocabulary size of the toy models
CHI2_999 = {1: 10.83, 4: 18.47}  # chi-square critical values at p = 0.001, by degrees of freedom


class MarkovModel:
    """First-order chain: the next token depends on the last token only (state: that token)."""

    def __init__(self, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.log_trans = torch.log_softmax(2 * torch.randn(V, V, generator=gen), dim=-1)
        self.forbidden: int | None = None  # stepping a row that ended with it is an error
        self.batch_sizes: list[int] = []

    def init_state(self, batch_size: int) -> Tensor:
        return torch.zeros(batch_size, dtype=torch.long)

    def step(self, tokens: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        assert tokens.shape == state.shape
        assert not bool((tokens == self.forbidden).any()) if self.forbidden is not None else True
        self.batch_sizes.append(len(tokens))
        return self.log_trans[tokens], tokens.clone()

    def map_state(self, state: Tensor, index: Tensor) -> Tensor:
        return state[index]


class HistoryModel:
    """The next token depends on the whole prefix: the state is (hash of the prefix, length), and
    a fixed random table of log-probs is indexed by the hash. Beam search beats greedy here."""

    table_size = 4099

    def __init__(self, seed: int = 0, eos_id: int | None = None, eos_bias: float = 0.0) -> None:
        gen = torch.Generator().manual_seed(seed)
        logits = 2.5 * torch.randn(self.table_size, V, generator=gen, dtype=torch.float64)
        if eos_id is not None:
            logits[:, eos_id] += eos_bias
        self.table = torch.log_softmax(logits, dim=-1)  # (R, V)
        self.forbidden: int | None = None  # stepping a row that ended with it is an error
        self.steps = 0

    def init_state(self, batch_size: int) -> tuple[Tensor, Tensor]:
        zeros = torch.zeros(batch_size, dtype=torch.long)
        return zeros, zeros.clone()

    def step(self, tokens: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Any]:
        assert not bool((tokens == self.forbidden).any()) if self.forbidden is not None else True
        self.steps += 1
        prefix_hash, length = state
        prefix_hash = (prefix_hash * 7919 + tokens + 1) % self.table_size
        return self.table[prefix_hash], (prefix_hash, length + 1)

    def map_state(self, state: tuple[Tensor, Tensor], index: Tensor) -> tuple[Tensor, Tensor]:
        return state[0][index], state[1][index]


def _start(model: Any, prompts: list[list[int]], forbid: int | None = None) -> tuple[Tensor, Any]:
    """Next-token log-probs and state after each row's prompt (all the same length); from now
    on the model counts its steps and refuses to step a token ``forbid``."""
    model.forbidden = None
    started = feed(model, torch.tensor(prompts), model.init_state(len(prompts)))
    model.forbidden, model.steps, model.batch_sizes = forbid, 0, []
    return started


PROMPTS = [[0, 1], [3, 3], [2, 4], [4, 0]]


# --------------------------------------------------------------------------- feed


def test_feed_equals_stepping_by_hand():
    model = HistoryModel()
    prompts = torch.tensor([[0, 1, 2], [4, 4, 3]])
    state = model.init_state(2)
    for column in range(3):
        log_probs, state = model.step(prompts[:, column], state)
    got_lp, got_state = feed(model, prompts, model.init_state(2))
    torch.testing.assert_close(got_lp, log_probs)
    for got, expected in zip(got_state, state, strict=True):
        assert torch.equal(got, expected)
    assert torch.equal(got_state[1], torch.tensor([3, 3]))


def test_feed_needs_a_nonempty_prompt():
    model = MarkovModel()
    with pytest.raises(ValueError, match="P >= 1"):
        feed(model, torch.zeros(2, 0, dtype=torch.long), model.init_state(2))


# --------------------------------------------------------------------------- greedy


def _argmax_path(model: MarkovModel, last: int, steps: int) -> list[int]:
    path = []
    for _ in range(steps):
        last = max(range(V), key=lambda token: float(model.log_trans[last, token]))
        path.append(last)
    return path


def _until_eos(path: list[int], eos_id: int) -> list[int]:
    return path[: path.index(eos_id) + 1] if eos_id in path else path


def test_greedy_follows_the_argmax_path():
    model = MarkovModel()
    log_probs, state = _start(model, PROMPTS)
    got = greedy(model, log_probs, state, 7)
    assert got == [_argmax_path(model, prompt[-1], 7) for prompt in PROMPTS]


def test_greedy_stops_a_row_at_eos_and_never_steps_it_again():
    plain = MarkovModel(seed=0)
    paths = [_argmax_path(plain, prompt[-1], 8) for prompt in PROMPTS]
    eos_id = paths[0][1]  # row 0 emits eos as its second token
    assert paths[0][0] != eos_id
    model = MarkovModel(seed=0)
    log_probs, state = _start(model, PROMPTS, forbid=eos_id)  # no step after eos
    got = greedy(model, log_probs, state, 8, eos_id=eos_id)
    expected = [_until_eos(path, eos_id) for path in paths]
    assert got == expected
    assert got[0] == [paths[0][0], eos_id]
    assert any(len(row) == 8 for row in expected)  # some rows run to the end
    live = [sum(len(row) > t for row in expected) for t in range(1, 8)]
    assert model.batch_sizes == live  # the batch shrinks as rows finish


def test_greedy_stops_early_when_every_row_has_finished():
    plain = MarkovModel(seed=1)
    last = PROMPTS[0][-1]
    eos_id = _argmax_path(plain, last, 1)[0]  # the very first token
    model = MarkovModel(seed=1)
    log_probs, state = _start(model, [PROMPTS[0]] * 3, forbid=eos_id)
    assert greedy(model, log_probs, state, 10, eos_id=eos_id) == [[eos_id]] * 3
    assert model.batch_sizes == []


def test_zero_new_tokens_gives_empty_outputs():
    model = MarkovModel()
    log_probs, state = _start(model, PROMPTS[:2])
    assert greedy(model, log_probs, state, 0) == [[], []]
    assert sample(model, log_probs, state, 0) == [[], []]
    assert beam_search(model, log_probs, state, 0) == [Hypothesis([], 0.0, 0.0)] * 2


# --------------------------------------------------------------------------- beam search


def _brute_force(
    model: HistoryModel, prompt: list[int], steps: int, eos_id: int | None, alpha: float
) -> list[Hypothesis]:
    """Every hypothesis of at most ``steps`` tokens (ending at the first eos, or exactly
    ``steps`` long without eos), scored log p / len ** alpha, best first."""
    log_probs, state = _start(model, [prompt])
    sequences = torch.tensor(list(itertools.product(range(V), repeat=steps)))  # (V^N, N)
    rows = torch.zeros(len(sequences), dtype=torch.long)
    log_probs, state = log_probs[rows], model.map_state(state, rows)
    cumulative = []
    total = torch.zeros(len(sequences), dtype=torch.float64)
    for t in range(steps):
        total = total + log_probs.gather(1, sequences[:, t : t + 1]).squeeze(1)
        cumulative.append(total)
        if t < steps - 1:
            log_probs, state = model.step(sequences[:, t], state)
    found: dict[tuple[int, ...], float] = {}
    for i, sequence in enumerate(sequences.tolist()):
        end = sequence.index(eos_id) + 1 if eos_id in sequence else steps
        found[tuple(sequence[:end])] = float(cumulative[end - 1][i])
    hyps = [Hypothesis(list(seq), lp / len(seq) ** alpha, lp) for seq, lp in found.items()]
    return sorted(hyps, key=lambda h: h.score, reverse=True)


def _assert_same_hypotheses(got: list[Hypothesis], expected: list[Hypothesis]) -> None:
    assert [h.tokens for h in got] == [h.tokens for h in expected]
    for g, e in zip(got, expected, strict=True):
        assert g.score == pytest.approx(e.score, abs=1e-5)
        assert g.log_prob == pytest.approx(e.log_prob, abs=1e-5)


@pytest.mark.parametrize("eos_id", [None, 2])
@pytest.mark.parametrize("alpha", [0.0, 1.0, 0.6, -0.5])
@pytest.mark.parametrize("early_stop", ["heuristic", "exact", "off"])
@pytest.mark.parametrize("steps", [3, 4])
def test_a_beam_as_wide_as_all_sequences_finds_the_brute_force_best(
    eos_id, alpha, early_stop, steps
):
    model = HistoryModel(seed=4, eos_id=eos_id)
    log_probs, state = _start(model, PROMPTS)
    got = beam_search_nbest(
        model,
        log_probs,
        state,
        steps,
        beam_size=V**steps,
        n_best=6,
        eos_id=eos_id,
        length_penalty=alpha,
        early_stop=early_stop,
    )
    for row, prompt in enumerate(PROMPTS):
        _assert_same_hypotheses(got[row], _brute_force(model, prompt, steps, eos_id, alpha)[:6])
        if eos_id is None:
            assert all(len(h.tokens) == steps for h in got[row])


def test_the_toy_model_makes_beam_search_beat_greedy():
    """Guards the tests above: on this model the best sequence is not the greedy one."""
    model = HistoryModel(seed=4)
    log_probs, state = _start(model, PROMPTS)
    paths = greedy(model, log_probs, state, 3)
    best = [_brute_force(model, prompt, 3, None, 0.0)[0].tokens for prompt in PROMPTS]
    assert any(path != tokens for path, tokens in zip(paths, best, strict=True))
    narrow = beam_search(model, log_probs, state, 3, beam_size=2, length_penalty=0.0)
    assert [h.tokens for h in narrow] != paths


@pytest.mark.parametrize("eos_id", [None, 1, 3])
@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_beam_of_one_is_greedy(eos_id, alpha):
    model = HistoryModel(seed=2, eos_id=eos_id, eos_bias=1.5)
    prompts = [list(prompt) for prompt in itertools.product(range(V), repeat=2)]
    log_probs, state = _start(model, prompts, forbid=eos_id)
    paths = greedy(model, log_probs, state, 6, eos_id=eos_id)
    if eos_id is not None:
        assert any(path[-1] == eos_id for path in paths)
    hyps = beam_search(model, log_probs, state, 6, beam_size=1, eos_id=eos_id, length_penalty=alpha)
    assert [h.tokens for h in hyps] == paths
    for hyp in hyps:
        assert hyp.score == pytest.approx(hyp.log_prob / len(hyp.tokens) ** alpha)


@pytest.mark.parametrize("eos_id", [None, 2])
def test_each_row_of_a_batch_gets_what_it_gets_alone(eos_id):
    model = HistoryModel(seed=5, eos_id=eos_id, eos_bias=1.0)
    log_probs, state = _start(model, PROMPTS)
    kwargs: dict[str, Any] = {"beam_size": 3, "n_best": 3, "eos_id": eos_id}
    together = beam_search_nbest(model, log_probs, state, 6, **kwargs)
    for row, prompt in enumerate(PROMPTS):
        alone_lp, alone_state = _start(model, [prompt])
        alone = beam_search_nbest(model, alone_lp, alone_state, 6, **kwargs)
        _assert_same_hypotheses(together[row], alone[0])
        assert len(together[row]) == 3


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 2.0, -0.5])
def test_exact_early_stopping_saves_steps_and_never_changes_the_result(alpha):
    eos_id = 0
    prompts = [[1, 2], [3, 4], [2, 2]]
    results, steps = {}, {}
    for rule in ("exact", "off"):
        model = HistoryModel(seed=6, eos_id=eos_id, eos_bias=3.0)  # eos comes early
        log_probs, state = _start(model, prompts, forbid=eos_id)
        results[rule] = beam_search_nbest(
            model,
            log_probs,
            state,
            12,
            beam_size=3,
            n_best=3,
            eos_id=eos_id,
            length_penalty=alpha,
            early_stop=rule,
        )
        steps[rule] = model.steps
    for exact, off in zip(results["exact"], results["off"], strict=True):
        _assert_same_hypotheses(exact, off)
    assert steps["off"] == 11
    if alpha <= 0.5:  # a bound at max_new_tokens ** alpha is loose for large alpha
        assert steps["exact"] < steps["off"]


def test_heuristic_stopping_is_exact_without_length_penalty():
    prompts = [[1, 2], [3, 4], [2, 2]]
    results = {}
    for rule in ("heuristic", "off"):
        model = HistoryModel(seed=6, eos_id=0, eos_bias=3.0)
        log_probs, state = _start(model, prompts)
        results[rule] = beam_search_nbest(
            model, log_probs, state, 12, beam_size=3, n_best=3, eos_id=0, length_penalty=0.0
        )
    for heuristic, off in zip(results["heuristic"], results["off"], strict=True):
        _assert_same_hypotheses(heuristic, off)


# --------------------------------------------------------------------------- filters


def test_top_k_filter_keeps_the_k_largest():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.0], [0.5, -1.0, 4.0, 2.0]])
    inf = float("-inf")
    expected = torch.tensor([[inf, 3.0, 2.0, inf], [inf, inf, 4.0, 2.0]])
    assert torch.equal(top_k_filter(logits, 2), expected)
    assert torch.equal(top_k_filter(logits, 4), logits)
    assert torch.equal(top_k_filter(logits, 10), logits)
    assert torch.equal(top_k_filter(logits[0], 1), torch.tensor([inf, 3.0, inf, inf]))


@pytest.mark.parametrize(
    ("p", "kept"),
    [(0.8, 2), (0.81, 3), (0.5, 1), (0.01, 1), (0.95, 3), (0.96, 4), (1.0, 4)],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_top_p_filter_keeps_the_smallest_nucleus(p, kept, dtype):
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=dtype)
    order = torch.tensor([2, 0, 3, 1])  # shuffle the vocabulary
    logits = probs.log()[order] + 1.7  # unnormalised
    got = top_p_filter(logits, p)
    ranks = torch.argsort(order)  # position of each sorted token in the shuffled vocabulary
    keep = torch.zeros(4, dtype=torch.bool)
    keep[ranks[:kept]] = True
    assert torch.equal(got[keep], logits[keep])
    assert bool((got[~keep] == float("-inf")).all())


def test_top_p_filter_works_row_by_row():
    logits = torch.tensor([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]).log()
    got = top_p_filter(logits, 0.6)
    assert torch.isfinite(got).tolist() == [[True, True, False], [False, False, True]]


# --------------------------------------------------------------------------- sampling


def _one_step_draws(log_probs: Tensor, draws: int, seed: int = 0, **kwargs: Any) -> Tensor:
    """``draws`` independent first tokens from the same distribution ``(V,)``."""
    model = MarkovModel()
    generator = torch.Generator().manual_seed(seed)
    batch = log_probs.expand(draws, -1)
    out = sample(model, batch, model.init_state(draws), 1, generator=generator, **kwargs)
    return torch.tensor([row[0] for row in out])


def _chi_square(draws: Tensor, probs: Tensor) -> float:
    counts = torch.bincount(draws, minlength=len(probs)).double()
    assert bool((counts[probs == 0] == 0).all())
    expected = len(draws) * probs.double()
    mask = expected > 0
    return float(((counts[mask] - expected[mask]) ** 2 / expected[mask]).sum())


PROBS = torch.tensor([0.3, 0.05, 0.25, 0.12, 0.28], dtype=torch.float64)  # sorted: 0, 4, 2, 3, 1


def test_sampling_is_reproducible_with_a_seeded_generator():
    model = HistoryModel(eos_id=1, eos_bias=1.0)
    log_probs, state = _start(model, PROMPTS, forbid=1)
    runs = [
        sample(model, log_probs, state, 8, eos_id=1, generator=torch.Generator().manual_seed(s))
        for s in (7, 7, 8)
    ]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert all(len(row) == 8 or row[-1] == 1 for row in runs[0])


def test_samples_follow_the_model_probabilities():
    draws = _one_step_draws(PROBS.log(), 20000)
    assert _chi_square(draws, PROBS) < CHI2_999[4]


def test_temperature_reshapes_the_distribution():
    draws = _one_step_draws(PROBS.log(), 20000, temperature=2.0)
    tempered = PROBS.sqrt() / PROBS.sqrt().sum()  # softmax(log p / 2)
    assert _chi_square(draws, tempered) < CHI2_999[4]
    assert _chi_square(draws, PROBS) > 100  # clearly not the untempered distribution


def test_a_tiny_temperature_gives_the_greedy_token():
    draws = _one_step_draws(PROBS.log(), 2000, temperature=1e-4)
    assert bool((draws == 0).all())
    near_tie = torch.tensor([0.3, 0.303, 0.297]).log()  # argmax 1 by 1% (100 / temperature)
    assert bool((_one_step_draws(near_tie, 2000, temperature=1e-4) == 1).all())


@pytest.mark.parametrize(("k", "top"), [(1, {0}), (2, {0, 4}), (3, {0, 4, 2}), (4, {0, 4, 2, 3})])
def test_top_k_samples_only_the_k_most_probable(k, top):
    assert set(torch.argsort(-PROBS)[:k].tolist()) == top
    draws = _one_step_draws(PROBS.log(), 2000, top_k=k)
    assert set(draws.tolist()) == top  # all of them, and nothing else


@pytest.mark.parametrize(("p", "nucleus"), [(0.3, {0}), (0.5, {0, 4}), (0.8, {0, 4, 2})])
def test_top_p_samples_only_the_nucleus(p, nucleus):
    draws = _one_step_draws(PROBS.log(), 2000, top_p=p)
    probs = PROBS
    ordered = torch.argsort(-probs).tolist()  # hand-made nucleus: grow until the mass >= p
    by_hand: set[int] = set()
    while sum(float(probs[i]) for i in by_hand) < p:
        by_hand.add(ordered[len(by_hand)])
    assert by_hand == nucleus
    assert set(draws.tolist()) == nucleus


def test_temperature_then_top_k_then_top_p_gives_the_renormalised_distribution():
    """The order matters: the nucleus of the renormalised top 4 of the tempered distribution is
    {0, 4}; that of the tempered distribution {0, 4, 2}, that of the top 4 of p {0, 4, 2}."""
    draws = _one_step_draws(PROBS.log(), 20000, temperature=0.5, top_k=4, top_p=0.683)
    tempered = PROBS**2 / (PROBS**2).sum()  # softmax(log p / 0.5): [.36, .01, .25, .06, .32]
    assert float(tempered[[0, 4]].sum()) < 0.683  # top p before top k would keep token 2
    top4 = torch.where(tempered >= tempered.sort(descending=True).values[3], tempered, 0.0)
    top4 = top4 / top4.sum()
    nucleus = [0, 4]  # .367 + .320 >= .683 after renormalising the top 4
    assert float(top4[0]) < 0.683 <= float(top4[nucleus].sum())
    expected = torch.zeros(5, dtype=torch.float64)
    expected[nucleus] = top4[nucleus] / top4[nucleus].sum()
    assert set(draws.tolist()) == set(nucleus)
    assert _chi_square(draws, expected) < CHI2_999[1]


def test_sampling_stops_a_row_at_eos_and_never_steps_it_again():
    model = MarkovModel(seed=2)
    log_probs, state = _start(model, PROMPTS * 10, forbid=3)
    gen = torch.Generator().manual_seed(0)
    rows = sample(model, log_probs, state, 12, eos_id=3, generator=gen)
    assert any(row[-1] == 3 and len(row) < 12 for row in rows)
    for row in rows:
        assert 3 not in row[:-1]


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0.0}, "temperature must be a finite number > 0"),
        ({"temperature": -1.0}, "temperature must be a finite number > 0"),
        ({"top_k": 0}, r"top_k must be >= 1"),
        ({"top_p": 0.0}, r"top_p must be in \(0, 1\]"),
        ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
    ],
)
def test_sampling_rejects_bad_arguments(kwargs, message):
    model = MarkovModel()
    log_probs, state = _start(model, PROMPTS)
    with pytest.raises(ValueError, match=message):
        sample(model, log_probs, state, 3, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"beam_size": 0}, "beam_size must be >= 1"),
        ({"n_best": 3, "beam_size": 2}, r"n_best must be in \[1, beam_size=2\]"),
        ({"n_best": 0}, "n_best must be in"),
        ({"early_stop": "never"}, "early_stop must be"),
        ({"max_new_tokens": -1}, "max_new_tokens must be >= 0"),
    ],
)
def test_beam_search_rejects_bad_arguments(kwargs, message):
    model = MarkovModel()
    log_probs, state = _start(model, PROMPTS)
    kwargs = {"max_new_tokens": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        beam_search_nbest(model, log_probs, state, **kwargs)


def test_filters_reject_bad_arguments():
    with pytest.raises(ValueError, match="top_k must be >= 1"):
        top_k_filter(torch.zeros(3), 0)
    with pytest.raises(ValueError, match="top_p must be in"):
        top_p_filter(torch.zeros(3), 0.0)
    with pytest.raises(ValueError, match="max_new_tokens"):
        greedy(MarkovModel(), torch.zeros(1, V), torch.zeros(1, dtype=torch.long), -2)

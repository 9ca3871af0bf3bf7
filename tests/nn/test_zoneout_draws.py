"""Zoneout's counter-based draws (`rnnkit.nn.zoneout_draws`): the hash against a plain
32-bit reading of its definition, and the draws' share, independence and reproducibility."""

import random

import torch

from rnnkit.nn.zoneout_draws import LEVELS, ZoneoutDraws, lowbias32


def reference_lowbias32(x: int) -> int:
    """lowbias32 with Python's unbounded integers reduced mod 2^32 after each product."""
    x ^= x >> 16
    x = (x * 0x7FEB352D) % 2**32
    x ^= x >> 15
    x = (x * 0x846CA68B) % 2**32
    return x ^ (x >> 16)


def test_the_hash_on_int64_tensors_is_the_32_bit_hash():
    rng = random.Random(0)
    values = [0, 1, 2**31 - 1, 2**31, 2**32 - 1] + [rng.randrange(2**32) for _ in range(2000)]
    hashed = lowbias32(torch.tensor(values, dtype=torch.int64))
    assert hashed.tolist() == [reference_lowbias32(v) for v in values]
    assert [lowbias32(v) for v in values[:50]] == [reference_lowbias32(v) for v in values[:50]]


CPU = torch.device("cpu")


def draws(p=0.3, shapes=((64, 128), (64, 128)), seed=0):
    torch.manual_seed(seed)
    return ZoneoutDraws.draw(p, tuple(torch.empty(shape) for shape in shapes))


def keeps(draws: ZoneoutDraws, t: int) -> tuple[torch.Tensor, ...]:
    return draws.per_step(CPU)(t)


def test_a_unit_keeps_its_value_with_probability_p_independently_of_step_and_neighbour():
    steps = torch.stack([torch.stack(keeps(draws(), t)) for t in range(40)])
    kept = steps.double()  # (T, parts, N, H)
    assert abs(kept.mean().item() - 0.3) < 0.005  # 655,360 draws: 5 standard errors is 0.003
    for a, b in [
        (kept[1:], kept[:-1]),  # the same unit, consecutive steps
        (kept[..., 1:], kept[..., :-1]),  # neighbouring units
        (kept[:, 0], kept[:, 1]),  # h's unit and c's
    ]:
        correlation = torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1]
        assert abs(correlation) < 0.01


def test_a_seed_fixes_the_draws_and_each_forward_pass_draws_anew():
    first, again = draws(seed=5), draws(seed=5)
    assert torch.equal(keeps(first, 3)[0], keeps(again, 3)[0])
    torch.manual_seed(5)
    state = (torch.empty(64, 128),) * 2
    one, two = ZoneoutDraws.draw(0.3, state), ZoneoutDraws.draw(0.3, state)
    assert not torch.equal(keeps(one, 0)[0], keeps(two, 0)[0])
    assert not torch.equal(keeps(one, 0)[0], keeps(one, 1)[0])


def test_states_of_different_widths_each_get_their_own_draws():
    parts = keeps(draws(p=0.5, shapes=((8, 3), (8, 20))), 0)
    assert [part.shape for part in parts] == [torch.Size([8, 3]), torch.Size([8, 20])]
    assert ZoneoutDraws.draw(1.0, (torch.empty(2, 2),)).threshold == LEVELS  # p = 1 keeps all

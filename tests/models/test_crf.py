"""The CRF layer: log Z and Viterbi against brute-force enumeration of every tag path, forbidden
moves never decoded, padding that changes nothing (NaN included), gradients, and dtypes."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.autograd import gradcheck
from torch.func import functional_call

from rnnkit.data.tag_schemes import allowed_transitions
from rnnkit.models.crf import CRF

IOBES_LABELS = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def random_crf(num_labels: int, *, masked: bool = False, seed: int = 0) -> CRF:
    """A float64 CRF with parameters of order one (not the small initial ones)."""
    generator = torch.Generator().manual_seed(seed)
    allowed = allowed_transitions(IOBES_LABELS[:num_labels]) if masked else None
    crf = CRF(num_labels, allowed).double()
    with torch.no_grad():
        for parameter in crf.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
    return crf


def path_score(crf: CRF, emissions: torch.Tensor, path: tuple[int, ...]) -> float:
    """s(y) = start + emissions + transitions + end, summed term by term."""
    total = crf.start[path[0]] + crf.end[path[-1]]
    total = total + sum(emissions[t, label] for t, label in enumerate(path))
    total = total + sum(crf.transitions[a, b] for a, b in itertools.pairwise(path))
    return float(total.detach())


def is_allowed(path: tuple[int, ...] | list[int], allowed) -> bool:
    start, transitions, end = allowed
    return bool(
        start[path[0]]
        and end[path[-1]]
        and all(transitions[a, b] for a, b in itertools.pairwise(path))
    )


def brute_force(crf: CRF, emissions: torch.Tensor, allowed=None) -> tuple[float, list[int]]:
    """log Z and the best path over all L^T paths (only the allowed ones, given `allowed`)."""
    length, labels = emissions.shape
    paths = [
        path
        for path in itertools.product(range(labels), repeat=length)
        if allowed is None or is_allowed(path, allowed)
    ]
    scores = torch.tensor([path_score(crf, emissions, path) for path in paths], dtype=torch.float64)
    return float(torch.logsumexp(scores, 0)), list(paths[int(scores.argmax())])


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("num_labels", [3, 4])
def test_log_partition_and_viterbi_equal_brute_force(num_labels, masked):
    if masked:
        num_labels += 1  # O, B-PER, I-PER, E-PER (, S-PER): a well-formed path always exists
    for seed in range(3):
        crf = random_crf(num_labels, masked=masked, seed=seed)
        allowed = allowed_transitions(IOBES_LABELS[:num_labels]) if masked else None
        lengths = torch.tensor([1, 2, 3, 4])
        emissions = 2 * torch.randn(4, 4, num_labels, dtype=torch.float64)
        log_z = crf.log_partition(emissions, lengths)
        paths = crf.decode(emissions, lengths)
        for n, length in enumerate(lengths.tolist()):
            expected_log_z, expected_path = brute_force(crf, emissions[n, :length], allowed)
            assert log_z[n].item() == pytest.approx(expected_log_z, abs=1e-9)
            assert paths[n] == expected_path


def test_decode_never_outputs_a_forbidden_move():
    allowed = allowed_transitions(IOBES_LABELS)
    crf = CRF(len(IOBES_LABELS), allowed)
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):
        with torch.no_grad():
            for parameter in crf.parameters():
                parameter.copy_(3 * torch.randn(parameter.shape, generator=generator))
        emissions = 5 * torch.randn(16, 9, len(IOBES_LABELS), generator=generator)
        lengths = torch.randint(1, 10, (16,), generator=generator)
        for path, length in zip(crf.decode(emissions, lengths), lengths.tolist(), strict=True):
            assert len(path) == length
            assert is_allowed(path, allowed), [IOBES_LABELS[i] for i in path]


def test_forbidden_paths_have_almost_no_probability():
    allowed = allowed_transitions(IOBES_LABELS)
    crf = random_crf(len(IOBES_LABELS), masked=True)
    emissions, lengths = torch.randn(1, 2, 5, dtype=torch.float64), torch.tensor([2])
    forbidden = torch.tensor([[1, 0]])  # B-PER then O
    assert not is_allowed(forbidden[0].tolist(), allowed)
    assert crf.nll(emissions, forbidden, lengths).item() > 1000


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("masked", [False, True])
def test_a_padded_batch_equals_each_sentence_alone(device, masked):
    torch.manual_seed(0)
    crf = random_crf(5, masked=masked).float().to(device)
    lengths = torch.tensor([5, 1, 3, 2])
    sentences = [torch.randn(n, 5, device=device) for n in lengths.tolist()]
    gold = [torch.randint(0, 5, (n,), device=device) for n in lengths.tolist()]
    emissions = torch.full((4, 5, 5), float("nan"), device=device)
    tags = torch.full((4, 5), -1, dtype=torch.long, device=device)  # out of range in padding
    for n, (sentence, path) in enumerate(zip(sentences, gold, strict=True)):
        emissions[n, : len(sentence)] = sentence
        tags[n, : len(path)] = path
    emissions.requires_grad_(True)
    losses = crf.nll(emissions, tags, lengths, reduction="none")
    losses.sum().backward()
    assert emissions.grad is not None
    assert torch.isfinite(emissions.grad).all()
    assert (emissions.grad[torch.isnan(emissions.detach())] == 0).all()
    paths = crf.decode(emissions.detach(), lengths)
    for n, (sentence, path) in enumerate(zip(sentences, gold, strict=True)):
        alone = crf.nll(sentence[None], path[None], lengths[n : n + 1], reduction="none")
        torch.testing.assert_close(losses[n : n + 1], alone)
        assert paths[n] == crf.decode(sentence[None], lengths[n : n + 1])[0]


@pytest.mark.parametrize("masked", [False, True])
def test_gradcheck_of_nll(masked):
    crf = random_crf(5, masked=masked)
    lengths = torch.tensor([3, 1, 2])
    emissions = torch.randn(3, 3, 5, dtype=torch.float64, requires_grad=True)
    tags = torch.tensor(crf.decode(emissions.detach(), lengths)[0])  # an allowed path
    tags = torch.stack([tags, tags, tags])
    params = {name: p.detach().clone().requires_grad_(True) for name, p in crf.named_parameters()}

    def nll(emissions, start, end, transitions):
        values = {"start": start, "end": end, "transitions": transitions}
        return functional_call(crf, values, (emissions, tags, lengths, "none"))

    assert gradcheck(nll, (emissions, params["start"], params["end"], params["transitions"]))


def test_nll_is_log_z_minus_score_and_never_negative():
    torch.manual_seed(0)
    crf = random_crf(4)
    lengths = torch.tensor([4, 2, 1])
    emissions = torch.randn(3, 4, 4, dtype=torch.float64)
    tags = torch.randint(0, 4, (3, 4))
    losses = crf.nll(emissions, tags, lengths, reduction="none")
    expected = crf.log_partition(emissions, lengths) - crf.score(emissions, tags, lengths)
    torch.testing.assert_close(losses, expected)
    assert (losses >= 0).all()
    torch.testing.assert_close(crf.nll(emissions, tags, lengths), losses.mean())
    torch.testing.assert_close(crf.nll(emissions, tags, lengths, reduction="sum"), losses.sum())
    for n, length in enumerate(lengths.tolist()):
        path = tuple(tags[n, :length].tolist())
        assert crf.score(emissions, tags, lengths)[n].item() == pytest.approx(
            path_score(crf, emissions[n], path)
        )
    best = torch.tensor([p + [0] * (4 - len(p)) for p in crf.decode(emissions, lengths)])
    assert (crf.nll(emissions, best, lengths, reduction="none") <= losses + 1e-12).all()


def test_bf16_emissions_are_computed_in_float32():
    torch.manual_seed(0)
    crf = CRF(4)
    emissions, lengths = torch.randn(2, 3, 4).bfloat16(), torch.tensor([3, 2])
    tags = torch.randint(0, 4, (2, 3))
    loss = crf.nll(emissions, tags, lengths, reduction="none")
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, crf.nll(emissions.float(), tags, lengths, reduction="none"))


def test_initialisation_state_dict_and_masks():
    crf = CRF(5, allowed_transitions(IOBES_LABELS))
    assert set(crf.state_dict()) == set(CRF(5).state_dict()) == {"start", "end", "transitions"}
    assert all(p.abs().max() <= 0.1 for p in crf.parameters())
    assert crf.allowed_transitions.dtype == torch.bool and not crf.allowed_transitions.all()
    with pytest.raises(ValueError, match="allowed_start must be a bool tensor of shape"):
        CRF(4, allowed_transitions(IOBES_LABELS))


@pytest.mark.parametrize("lengths", [[0, 2], [3, 2]])
def test_lengths_outside_one_to_t_are_refused(lengths):
    with pytest.raises(ValueError, match="lengths"):
        CRF(3).decode(torch.randn(2, 2, 3), torch.tensor(lengths))

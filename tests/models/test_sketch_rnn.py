"""`SketchRNN`: padding never reaches an encoding or a loss, gradients reach every parameter,
the step-wise decoder is the teacher-forced one, and sampling continues a start."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.sketches import to_stroke5
from rnnkit.models.mixture_density import Mixture
from rnnkit.models.sketch_rnn import SketchRNN, kl_divergence, reconstruction_losses

N_MAX = 9
LENGTHS = [8, 3, 5]


def tiny(latent_size: int = 6, cell: str = "lstm") -> SketchRNN:
    torch.manual_seed(0)
    return SketchRNN(
        latent_size=latent_size, encoder_size=7, hidden_size=10, num_mixtures=3, cell=cell
    ).eval()


def batch(lengths: list[int] = LENGTHS, n_max: int = N_MAX) -> tuple[torch.Tensor, torch.Tensor]:
    """Random stroke-5 sketches ``(B, n_max, 5)`` padded with end rows, and their lengths."""
    generator = torch.Generator().manual_seed(1)
    sketches = []
    for length in lengths:
        stroke3 = torch.randn(length, 3, generator=generator)
        stroke3[:, 2] = (stroke3[:, 2] > 0.5).float()
        sketches.append(torch.from_numpy(to_stroke5(stroke3.numpy(), n_max)))
    return torch.stack(sketches), torch.tensor(lengths)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padding_never_reaches_the_encoding(cell):
    model = tiny(cell=cell)
    strokes, lengths = batch()
    garbage = strokes.clone()
    for row, length in enumerate(LENGTHS):
        garbage[row, length:] = float("nan")
    mu, log_var = model.encode(garbage, lengths)
    for row, length in enumerate(LENGTHS):
        alone_mu, alone_log_var = model.encode(
            strokes[row : row + 1, :length], lengths[row : row + 1]
        )
        assert torch.allclose(mu[row], alone_mu[0], atol=1e-6)
        assert torch.allclose(log_var[row], alone_log_var[0], atol=1e-6)


def test_a_sketch_loses_the_same_alone_or_in_a_batch():
    model = tiny()
    strokes, lengths = batch()
    mu, _ = model.encode(strokes, lengths)
    offsets, pen = reconstruction_losses(model.teacher_forced(strokes, mu), strokes, lengths)
    for row in range(len(LENGTHS)):
        one, length = strokes[row : row + 1], lengths[row : row + 1]
        alone = reconstruction_losses(model.teacher_forced(one, mu[row : row + 1]), one, length)
        assert torch.allclose(offsets[row], alone[0][0], atol=1e-6)
        assert torch.allclose(pen[row], alone[1][0], atol=1e-6)
    # the offsets' loss reads no target past a sketch's length, whatever it holds
    garbage = strokes.clone()
    garbage[1, 3:, :2] = float("nan")
    same = reconstruction_losses(model.teacher_forced(strokes, mu), garbage, lengths)
    assert torch.equal(same[0], offsets) and torch.equal(same[1], pen)


def test_gradients_reach_every_parameter():
    model = tiny().train()
    strokes, lengths = batch()
    output = model(strokes, lengths, torch.Generator().manual_seed(0))
    offsets, pen = reconstruction_losses(output.mixture, strokes, lengths)
    loss = offsets.mean() + pen.mean() + kl_divergence(output.mu, output.log_var).mean()
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("latent_size", [6, 0])
def test_step_by_step_decoding_is_the_teacher_forced_pass(latent_size):
    model = tiny(latent_size)
    strokes, _ = batch()
    start = torch.randn(3, 6) if latent_size else 3
    full = model.teacher_forced(strokes, start)
    state = model.init_state(start)
    point = model.start.expand(3, 5)
    for t in range(N_MAX):
        step, state = model.step(point, state)
        for whole, part in zip(full, step, strict=True):
            assert torch.allclose(whole[:, t], part, atol=1e-5)
        point = strokes[:, t]


def test_unconditional_model_has_no_encoder():
    model = tiny(latent_size=0)
    strokes, lengths = batch()
    output = model(strokes, lengths)
    assert output.mu is None and not hasattr(model, "encoder")
    assert isinstance(output.mixture, Mixture) and output.mixture.logits.shape == (3, N_MAX, 3)


@pytest.mark.parametrize("latent_size", [6, 0])
def test_sampling_continues_the_start_and_repeats_with_a_seed(latent_size):
    model = tiny(latent_size)
    start = batch([4])[0][0, :4]  # stroke-5 (4, 5)

    def draw(seed: int) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        return model.sample(5, 0.8, generator, max_length=12, start=start)

    sketches = draw(0)
    assert len(sketches) == 5
    for sketch in sketches:
        assert 4 <= len(sketch) <= 12 and sketch.shape[1] == 3
        assert torch.equal(sketch[:4], start[:, [0, 1, 3]])
    assert all(torch.equal(a, b) for a, b in zip(sketches, draw(0), strict=True))
    fresh = model.sample(3, 1.0, torch.Generator().manual_seed(1), max_length=6)
    assert len(fresh) == 3 and all(len(s) <= 6 for s in fresh)


def test_a_new_sketch_has_a_point_even_when_the_model_would_end_at_once():
    model = tiny(6)
    with torch.no_grad():
        model.output.bias[-1] = 50.0  # the end-of-sketch logit dominates every step
    sketches = model.sample(8, 1.0, torch.Generator().manual_seed(0), max_length=10)
    assert [len(sketch) for sketch in sketches] == [1] * 8

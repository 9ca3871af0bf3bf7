"""torch.func over rnnkit layers on the default backend: ``vmap`` ensembles and per-example
gradients equal a Python loop over models or examples; ``jacrev`` and ``jvp`` equal the
Jacobian that ordinary autograd gives. torch's kernels have no ``vmap`` or forward-mode rule,
so inside those transforms a layer runs its own time loop."""

from __future__ import annotations

import pytest
import torch
import torch.autograd.forward_ad as forward_ad
from torch.func import functional_call, grad, jacrev, jvp, stack_module_state, vmap

import rnnkit

LAYERS = {
    "lstm": lambda: rnnkit.LSTM(3, 4, num_layers=2),
    "gru_bidirectional": lambda: rnnkit.GRU(3, 4, bidirectional=True),
    "lstm_projection": lambda: rnnkit.LSTM(3, 4, proj_size=2),
    "rnn": lambda: rnnkit.RNN(3, 4),
}
LENGTHS = torch.tensor([5, 2, 4])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_vmap_ensemble_equals_a_loop_over_models(name):
    torch.manual_seed(0)
    models = [LAYERS[name]().double() for _ in range(4)]
    params, buffers = stack_module_state(models)
    skeleton = LAYERS[name]().double().to("meta")
    x = torch.randn(5, 3, 3, dtype=torch.float64)

    def run(params, buffers, x):
        out, _ = functional_call(skeleton, (params, buffers), (x,), {"lengths": LENGTHS})
        return out

    ensemble = vmap(run, in_dims=(0, 0, None))(params, buffers, x)
    for k, model in enumerate(models):
        torch.testing.assert_close(ensemble[k], model(x, lengths=LENGTHS)[0])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_per_example_gradients_equal_a_loop_over_examples(name):
    torch.manual_seed(0)
    model = LAYERS[name]().double()
    params = {key: p.detach() for key, p in model.named_parameters()}
    x = torch.randn(6, 5, 3, dtype=torch.float64)  # (examples, steps, features)
    target = torch.randn(6, dtype=torch.float64)

    def loss(params, example, y):
        out, _ = functional_call(model, params, (example,))  # unbatched (steps, features)
        return (out[-1].sum() - y) ** 2

    per_example = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, target)
    for n in range(x.shape[0]):
        model.zero_grad()
        loss(dict(model.named_parameters()), x[n], target[n]).backward()
        for key, p in model.named_parameters():
            torch.testing.assert_close(per_example[key][n], p.grad, msg=key)


def _jacobian(model, x):
    """The Jacobian of the output with respect to the input, by ordinary autograd on the
    layer's native kernel."""
    assert model.uses_native()
    return torch.autograd.functional.jacobian(lambda x: model(x, lengths=LENGTHS)[0], x)


@pytest.mark.parametrize("name", ["lstm", "gru_bidirectional"])
def test_jacrev_and_jvp_equal_autograd(name):
    torch.manual_seed(0)
    model = LAYERS[name]().double()
    x = torch.randn(5, 3, 3, dtype=torch.float64)
    expected = _jacobian(model, x)
    torch.testing.assert_close(jacrev(lambda x: model(x, lengths=LENGTHS)[0])(x), expected)
    tangent = torch.randn_like(x)
    _, derivative = jvp(lambda x: model(x, lengths=LENGTHS)[0], (x,), (tangent,))
    contracted = (expected * tangent).sum(dim=tuple(range(-x.dim(), 0)))
    torch.testing.assert_close(derivative, contracted)


def test_forward_mode_dual_numbers():
    torch.manual_seed(0)
    model = rnnkit.LSTM(3, 4).double()
    x, tangent = (
        torch.randn(5, 3, 3, dtype=torch.float64),
        torch.randn(5, 3, 3, dtype=torch.float64),
    )
    expected = (_jacobian(model, x) * tangent).sum(dim=(-3, -2, -1))
    with forward_ad.dual_level():
        out, _ = model(forward_ad.make_dual(x, tangent), lengths=LENGTHS)
        torch.testing.assert_close(forward_ad.unpack_dual(out).tangent, expected)


def test_native_backend_explains_vmap():
    model = rnnkit.LSTM(3, 4, backend="native")
    with pytest.raises(ValueError, match="vmap"):
        vmap(lambda x: model(x)[0], in_dims=1)(torch.randn(5, 2, 3, 3))


def test_lengths_that_vary_across_vmap_are_refused_clearly():
    model = rnnkit.LSTM(3, 4)
    params = {key: p.detach() for key, p in model.named_parameters()}

    def loss(params, x, lengths):
        return functional_call(model, params, (x,), {"lengths": lengths})[0].sum()

    x = torch.randn(4, 5, 2, 3)
    shared = vmap(grad(loss), in_dims=(None, 0, None))(params, x, torch.tensor([5, 3]))
    assert shared["weight_ih_l0"].shape == (4, 16, 3)
    with pytest.raises(ValueError, match=r"lengths cannot differ across torch\.func\.vmap"):
        vmap(grad(loss), in_dims=(None, 0, 0))(params, x, torch.tensor([[5, 3]] * 4))


@pytest.mark.parametrize("kind", [rnnkit.LSTM, rnnkit.GRU])
def test_zoneout_under_vmap_draws_per_example_or_once_as_asked(kind):
    """randomness="different": each example its own zoneout draws; "same": one draw for all,
    so identical examples give identical outputs."""
    layer = kind(3, 4, zoneout=0.5).train()
    xs = torch.randn(1, 6, 2, 3).expand(3, 6, 2, 3)  # three copies of one example

    def run(x):
        return layer(x)[0]

    different = vmap(run, randomness="different")(xs)
    assert (different[0] - different[1]).abs().max() > 1e-2
    same = vmap(run, randomness="same")(xs)  # equal to rounding (batched products)
    torch.testing.assert_close(same[1], same[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(same[2], same[0], atol=1e-6, rtol=0)

"""Hand-derived BPTT against autograd, in float64, for Elman (tanh, relu), LSTM and GRU layers.

Three independent references:
* full BPTT: autograd through the layer's own forward pass (torch's kernel), padded batch;
* truncated BPTT, unidirectional: for every loss step s, rerun the layer with autograd over
  steps s-k+1 .. s from its state at s-k (taken from a no-grad run) and sum the gradients;
* truncated BPTT, any layer: the network unrolled k+1 times, copy j reading its previous state
  from copy j-1 (copy 0 detached), so a loss on copy k crosses at most k transitions; this one
  also gives dL/dh_t.
The last two run each sequence of the padded batch alone, with its own length.
"""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.bptt.backward import backward_into, bptt
from rnnkit.nn.cells import RNNCell

LAYERS = {
    "rnn_tanh": lambda **kw: rnnkit.RNN(3, 4, **kw),
    "rnn_relu": lambda **kw: rnnkit.RNN(3, 4, nonlinearity="relu", **kw),
    "lstm": lambda **kw: rnnkit.LSTM(3, 4, **kw),
    "gru": lambda **kw: rnnkit.GRU(3, 4, **kw),
}
KINDS = sorted(LAYERS)
LENGTHS = [6, 2, 5]
STEPS = max(LENGTHS)
ATOL = 1e-8


def _layer(kind, **options):
    torch.manual_seed(0)
    return LAYERS[kind](**options).double()


def _parts(state):
    return state if isinstance(state, tuple) else (state,)


def _public(parts):
    return parts if len(parts) == 2 else parts[0]


def _problem(layer, seed=1):
    """x (T, N, 3), hx, dL/doutput, dL/dfinal state, random; the padding of x is garbage."""
    generator = torch.Generator().manual_seed(seed)
    rows, width = layer.num_layers * (2 if layer.bidirectional else 1), 4
    parts = 2 if isinstance(layer, rnnkit.LSTM) else 1

    def rand(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    x = rand(STEPS, len(LENGTHS), 3)
    for n, length in enumerate(LENGTHS):
        x[length:, n] = 1e3
    hx = tuple(rand(rows, len(LENGTHS), width) for _ in range(parts))
    g_out = rand(STEPS, len(LENGTHS), width * rows // layer.num_layers)
    g_final = tuple(rand(rows, len(LENGTHS), width) for _ in range(parts))
    return x, hx, g_out, g_final


def _assert_close(actual, expected, what):
    assert actual.shape == expected.shape, what
    assert torch.allclose(actual, expected, atol=ATOL, rtol=0), (
        f"{what}: max diff {(actual - expected).abs().max():.3g}"
    )


def _assert_result(result, layer, expected):
    """``expected``: dict of grads by parameter name plus 'x' and 'hx' (tuples for hx)."""
    for name, _ in layer.named_parameters():
        _assert_close(result.grads[name], expected[name], name)
    _assert_close(result.grad_input, expected["x"], "grad_input")
    for ours, ref in zip(_parts(result.grad_hx), expected["hx"], strict=True):
        _assert_close(ours, ref, "grad_hx")


def _run_bptt(layer, problem, **options):
    x, hx, g_out, g_final = problem
    return bptt(
        layer,
        x,
        g_out,
        hx=_public(hx),
        lengths=torch.tensor(LENGTHS),
        grad_final_state=_public(g_final),
        **options,
    )


# --- reference 1: autograd through the layer ----------------------------------------------
def _autograd_full(layer, problem):
    x, hx, g_out, g_final = problem
    x, hx = x.clone().requires_grad_(), tuple(h.clone().requires_grad_() for h in hx)
    out, state = layer(x, _public(hx), lengths=torch.tensor(LENGTHS))
    loss = (out * g_out).sum()
    loss = loss + sum((s * g).sum() for s, g in zip(_parts(state), g_final, strict=True))
    names, params = zip(*layer.named_parameters(), strict=True)
    grads = torch.autograd.grad(loss, [*params, x, *hx])
    expected = dict(zip(names, grads, strict=False))
    return expected | {"x": grads[len(names)], "hx": grads[len(names) + 1 :]}, out, state


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "options",
    [{}, {"num_layers": 2, "bidirectional": True}, {"batch_first": True}],
    ids=["one_layer", "two_layers_bidirectional", "batch_first"],
)
def test_full_bptt_equals_autograd(kind, options):
    layer = _layer(kind, **options)
    x, hx, g_out, g_final = _problem(layer)
    if layer.batch_first:
        x, g_out = x.transpose(0, 1), g_out.transpose(0, 1)
    expected, out, state = _autograd_full(layer, (x, hx, g_out, g_final))
    result = _run_bptt(layer, (x, hx, g_out, g_final))
    _assert_close(result.output, out, "output")
    for ours, ref in zip(_parts(result.final_state), _parts(state), strict=True):
        _assert_close(ours, ref, "final state")
    _assert_result(result, layer, expected)


def test_torch_layer_and_no_bias():
    ours = _layer("gru", num_layers=2, bias=False)
    theirs = torch.nn.GRU(3, 4, num_layers=2, bias=False).double()
    theirs.load_state_dict(ours.state_dict())
    problem = _problem(ours)
    expected, _, _ = _autograd_full(ours, problem)
    _assert_result(_run_bptt(theirs, problem), theirs, expected)


# --- reference 2: a rerun of the last k steps for each loss step ---------------------------
def _window_reruns(layer, problem, k):
    """Truncated BPTT by definition, for unidirectional layers, each sequence alone."""
    x, hx, g_out, g_final = problem
    x, hx = x.clone().requires_grad_(), tuple(h.clone().requires_grad_() for h in hx)
    loss = 0.0
    for n, length in enumerate(LENGTHS):
        x_n, hx_n = x[:length, n : n + 1], _public(tuple(h[:, n : n + 1] for h in hx))
        for s in range(length):
            start = max(s - k + 1, 0)
            if start == 0:
                state = hx_n
            else:
                with torch.no_grad():
                    _, state = layer(x_n[:start], hx_n)  # the state at s - k
            out, final = layer(x_n[start : s + 1], state)
            loss = loss + (out[-1] * g_out[s, n : n + 1]).sum()
            if s == length - 1:  # the final state is a loss term at the last step
                parts = zip(_parts(final), g_final, strict=True)
                loss = loss + sum((p * g[:, n : n + 1]).sum() for p, g in parts)
    names, params = zip(*layer.named_parameters(), strict=True)
    grads = torch.autograd.grad(loss, [*params, x, *hx])
    return dict(zip(names, grads, strict=False)) | {
        "x": grads[len(names)],
        "hx": grads[len(names) + 1 :],
    }


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("k", [1, 3])
def test_truncated_bptt_equals_window_reruns(kind, k):
    layer = _layer(kind, num_layers=2)
    problem = _problem(layer)
    expected = _window_reruns(layer, problem, k)
    result = _run_bptt(layer, problem, truncate=k)
    _assert_result(result, layer, expected)
    full = _run_bptt(layer, problem)
    assert not torch.allclose(full.grads["weight_hh_l0"], result.grads["weight_hh_l0"])


# --- reference 3: the network unrolled k + 1 times -----------------------------------------
def _step(layer):
    if isinstance(layer, rnnkit.RNN):
        return lambda w, x_proj, state: RNNCell.step(w, x_proj, state, layer.activation)
    return layer.cell.step


def _unrolled(layer, x, hx, copies):
    """Copy 0 is the forward pass, detached; copy j steps from copy j-1's previous state.

    Returns every copy's states, ``runs[j][(layer, direction)][t]`` (step t in the direction's
    own time order), and the last copy's output.
    """
    directions, step = (2 if layer.bidirectional else 1), _step(layer)

    def one_copy(previous):
        run, inputs = {}, x
        for i in range(layer.num_layers):
            outputs = []
            for d in range(directions):
                w, key = layer.cell_weights(i, d), (i, d)
                x_proj = layer.cell.project_input(w, inputs if d == 0 else inputs.flip(0))
                states = []
                for t in range(x.shape[0]):
                    if t == 0:
                        prev = tuple(h[i * directions + d] for h in hx)
                    elif previous is None:
                        prev = states[t - 1]
                    else:
                        prev = previous[key][t - 1]
                    states.append(step(w, x_proj[t], prev))
                run[key] = states
                h = torch.stack([s[0] for s in states])
                outputs.append(h if d == 0 else h.flip(0))
            inputs = torch.cat(outputs, dim=-1)
        return run, inputs

    with torch.no_grad():
        run, _ = one_copy(None)
    runs = [{key: [tuple(p.requires_grad_() for p in s) for s in v] for key, v in run.items()}]
    for _ in range(copies):
        run, output = one_copy(runs[-1])
        runs.append(run)
    return runs, output


def _unrolled_reference(layer, problem, k):
    """Truncated BPTT (full when k is None) by unrolling, each sequence alone; also dL/dh_t
    (summed over the copies: the gradient reaching h_t from every loss term)."""
    x, hx, g_out, g_final = problem
    x, hx = x.clone().requires_grad_(), tuple(h.clone().requires_grad_() for h in hx)
    directions, width = (2 if layer.bidirectional else 1), 4
    names, params = zip(*layer.named_parameters(), strict=True)
    leaves = [*params, x, *hx]
    total = [torch.zeros_like(leaf) for leaf in leaves]
    shape = (STEPS, len(LENGTHS), directions * width)
    hidden = [torch.zeros(shape, dtype=x.dtype) for _ in range(layer.num_layers)]
    for n, length in enumerate(LENGTHS):
        x_n, hx_n = x[:length, n : n + 1], tuple(h[:, n : n + 1] for h in hx)
        runs, output = _unrolled(layer, x_n, hx_n, k or length * layer.num_layers)
        loss = (output * g_out[:length, n : n + 1]).sum()
        for (i, d), states in runs[-1].items():  # final states: terms at the last step
            for part, g in zip(states[-1], g_final, strict=True):
                loss = loss + (part * g[i * directions + d, n : n + 1]).sum()
        h_all = [(key, t, s[0]) for run in runs for key, v in run.items() for t, s in enumerate(v)]
        grads = torch.autograd.grad(loss, leaves + [h for *_, h in h_all], allow_unused=True)
        for acc, g in zip(total, grads, strict=False):
            acc += 0 if g is None else g
        for ((i, d), t, _), g in zip(h_all, grads[len(leaves) :], strict=True):
            step = t if d == 0 else length - 1 - t
            hidden[i][step, n, d * width : (d + 1) * width] += 0 if g is None else g[0]
    expected = dict(zip(names, total, strict=False))
    return expected | {"x": total[len(names)], "hx": tuple(total[len(names) + 1 :])}, hidden


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("k", [2, None], ids=["truncated", "full"])
def test_bptt_equals_unrolled_reference(kind, k):
    layer = _layer(kind, num_layers=2, bidirectional=True)
    problem = _problem(layer)
    expected, hidden = _unrolled_reference(layer, problem, k)
    result = _run_bptt(layer, problem, truncate=k)
    _assert_result(result, layer, expected)
    for i, (ours, ref) in enumerate(zip(result.grad_hidden, hidden, strict=True)):
        _assert_close(ours, ref, f"grad_hidden of layer {i}")


def _assert_same_gradients(ours, ref):
    for name, grad in ref.grads.items():
        _assert_close(ours.grads[name], grad, name)
    _assert_close(ours.grad_input, ref.grad_input, "grad_input")
    for a, b in zip(ours.grad_hidden, ref.grad_hidden, strict=True):
        _assert_close(a, b, "grad_hidden")


@pytest.mark.parametrize("kind", KINDS)
def test_truncation_at_least_the_length_is_full_bptt(kind):
    for options in ({"num_layers": 2}, {"bidirectional": True}):
        layer = _layer(kind, **options)
        problem = _problem(layer)
        full = _run_bptt(layer, problem)
        for k in (STEPS, STEPS + 3):
            _assert_same_gradients(_run_bptt(layer, problem, truncate=k), full)


def test_stacked_bidirectional_paths_cross_up_to_layers_times_length():
    layer = _layer("gru", num_layers=2, bidirectional=True)
    problem = _problem(layer)
    full = _run_bptt(layer, problem)
    _assert_same_gradients(_run_bptt(layer, problem, truncate=2 * STEPS), full)
    shorter = _run_bptt(layer, problem, truncate=STEPS)
    assert not torch.allclose(shorter.grads["weight_hh_l0"], full.grads["weight_hh_l0"])


# --- padding, clipping, options ------------------------------------------------------------
def test_padding_contents_change_nothing():
    layer = _layer("lstm", num_layers=2, bidirectional=True)
    x, hx, g_out, g_final = _problem(layer)
    for n, length in enumerate(LENGTHS):
        x[length:, n], g_out[length:, n] = float("nan"), 5.0
    nan_padded = _run_bptt(layer, (x, hx, g_out, g_final), truncate=2)
    reference = _run_bptt(layer, _problem(layer), truncate=2)
    for name, grad in reference.grads.items():
        _assert_close(nan_padded.grads[name], grad, name)
    mask = torch.arange(STEPS)[:, None] < torch.tensor(LENGTHS)[None, :]
    assert bool((nan_padded.grad_input[~mask] == 0).all())
    assert bool((nan_padded.grad_hidden[0][~mask] == 0).all())


@pytest.mark.parametrize(
    "clip", [{"clip_norm": 0.05}, {"clip_value": 0.01}, {"clip_norm": 1e6}], ids=str
)
def test_clipping_as_torch_utilities(clip):
    layer = _layer("gru", num_layers=2)
    problem = _problem(layer)
    expected, _, _ = _autograd_full(layer, problem)
    for name, param in layer.named_parameters():
        param.grad = expected[name].clone()
    if "clip_norm" in clip:
        norm = torch.nn.utils.clip_grad_norm_(layer.parameters(), clip["clip_norm"])
    else:
        norm = torch.nn.utils.get_total_norm([p.grad for p in layer.parameters()])
        torch.nn.utils.clip_grad_value_(layer.parameters(), clip["clip_value"])
    result = _run_bptt(layer, problem, **clip)
    assert result.grad_norm == pytest.approx(float(norm), rel=1e-12)
    for name, param in layer.named_parameters():
        _assert_close(result.grads[name], param.grad, name)


def test_backward_into_accumulates_like_backward():
    layer = _layer("rnn_tanh")
    problem = _problem(layer)
    expected, _, _ = _autograd_full(layer, problem)
    result = _run_bptt(layer, problem)
    backward_into(layer, result)
    backward_into(layer, result)
    for name, param in layer.named_parameters():
        _assert_close(param.grad, 2 * expected[name], name)


@pytest.mark.parametrize(
    "layer, option",
    [
        (rnnkit.LSTM(3, 4, layer_norm=True), "layer_norm=True"),
        (rnnkit.LSTM(3, 4, peephole=True), "peephole=True"),
        (rnnkit.LSTM(3, 4, proj_size=2), "proj_size=2"),
        (rnnkit.GRU(3, 4, zoneout=0.1), "zoneout=0.1"),
        (rnnkit.RNN(3, 4, recurrent_dropout=0.2), "recurrent_dropout=0.2"),
        (rnnkit.GRU(3, 4, num_layers=2, dropout=0.5), "dropout=0.5"),
        (rnnkit.MinGRU(3, 4), "MinGRU"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_unsupported_configurations_are_named(layer, option):
    with pytest.raises(ValueError, match=option):
        bptt(layer, torch.randn(5, 2, 3))


def test_bad_arguments():
    layer = _layer("lstm")
    with pytest.raises(ValueError, match="truncate"):
        bptt(layer, torch.randn(5, 2, 3, dtype=torch.float64), truncate=0)
    with pytest.raises(ValueError, match="hx"):
        bptt(layer, torch.randn(5, 2, 3, dtype=torch.float64), hx=torch.zeros(1, 2, 4))

"""``locked_dropout``: one dropout mask per sequence between stacked layers (AWD-LSTM), checked
against the stack run by hand — torch's one-layer modules on the same parameters, the recorded
masks between them — on both paths, dense, padded and packed; torch's kernel stays in use."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit
from rnnkit.models.language_model import LanguageModel
from rnnkit.nn import locked_dropout as locked_dropout_module
from rnnkit.nn import recurrent_layer

KINDS = {"lstm": (rnnkit.LSTM, False), "bilstm": (rnnkit.LSTM, True), "gru": (rnnkit.GRU, False)}
# lengths: padded little (the flagged padded route), padded much (packed for the kernel)
FORMS = {"dense": None, "lengths": [5, 6, 3], "sparse_lengths": [2, 6, 1], "packed": [2, 6, 1]}
STEPS, BATCH, FEATURES, HIDDEN, P = 6, 3, 3, 4, 0.5


class Masks:
    """Stands in for `locked_mask`: draws as it does and records each mask, or replays
    ``replay`` in order."""

    def __init__(self, replay: list[Tensor] | None = None) -> None:
        self.drawn: list[Tensor] = []
        self.replay = replay

    def __call__(self, like: Tensor, p: float) -> Tensor:
        if self.replay is None:
            mask = ORIGINAL_MASK(like, p)
        else:
            mask = self.replay[len(self.drawn)].to(like)
        self.drawn.append(mask)
        return mask


ORIGINAL_MASK = locked_dropout_module.locked_mask


def make(kind: str, backend: str = "auto", **options) -> nn.Module:
    ours_class, bidirectional = KINDS[kind]
    torch.manual_seed(0)
    return ours_class(FEATURES, HIDDEN, num_layers=2, dropout=P, bidirectional=bidirectional,
                      backend=backend, dtype=torch.float64, **options)  # fmt: skip


def run(layer: nn.Module, x: Tensor, lengths: list[int] | None, form: str) -> Tensor:
    """The layer's output ``(T, N, D * H)`` over ``x`` in ``form``."""
    if form == "packed":
        packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
        out, _ = layer(packed)
        return pad_packed_sequence(out, total_length=x.shape[0])[0]
    return layer(x, lengths=lengths)[0]


def by_hand(layer: nn.Module, x: Tensor, lengths: list[int] | None, masks: list[Tensor]):
    """``layer``'s stack as torch's one-layer modules on its parameters, ``masks[k]`` ``(N, D)``
    applied to every step of layer ``k + 1``'s input."""
    torch_class = {rnnkit.LSTM: nn.LSTM, rnnkit.GRU: nn.GRU}[type(layer)]
    for k in range(layer.num_layers):
        if k:
            x = x * masks[k - 1]
        single = torch_class(x.shape[-1], HIDDEN, bidirectional=layer.bidirectional)
        weights = {
            name: getattr(layer, name.replace("_l0", f"_l{k}"))
            for name, _ in single.named_parameters()
        }
        if lengths is None:
            x = functional_call(single, weights, (x,))[0]
            continue
        packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
        out = functional_call(single, weights, (packed,))[0]
        x = pad_packed_sequence(out, total_length=STEPS)[0]
    return x


def inputs(lengths: list[int] | None) -> Tensor:
    x = torch.randn(STEPS, BATCH, FEATURES, dtype=torch.float64)
    for n, length in enumerate(lengths or []):
        x[length:, n] = float("nan")  # padding never matters, whatever it holds
    return x


def outputs_and_grads(layer: nn.Module, output: Tensor, weights: Tensor):
    parameters = list(layer.parameters())
    return output, torch.autograd.grad((output * weights).sum(), parameters)


@pytest.mark.parametrize("backend", ["auto", "loop"])
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("kind", KINDS)
def test_one_mask_per_sequence_between_layers(kind, form, backend, monkeypatch):
    layer, lengths = make(kind, backend, locked_dropout=True), FORMS[form]
    assert layer.uses_native() == (backend == "auto")
    x = inputs(lengths)
    masks = Masks()
    monkeypatch.setattr(locked_dropout_module, "locked_mask", masks)
    out = run(layer, x, lengths, form)
    assert len(masks.drawn) == 1 and masks.drawn[0].shape == (BATCH, layer.out_features)
    assert 0 < (masks.drawn[0] == 0).sum() < masks.drawn[0].numel()
    weights = torch.randn_like(out)
    ours = outputs_and_grads(layer, out, weights)
    expected = outputs_and_grads(layer, by_hand(layer, x, lengths, masks.drawn), weights)
    torch.testing.assert_close(ours, expected, atol=1e-6, rtol=1e-6)
    if lengths is None:
        return
    padded = torch.arange(STEPS).unsqueeze(1) >= torch.tensor(lengths)  # (T, N)
    assert torch.equal(out[padded], torch.zeros_like(out[padded]))
    for n, length in enumerate(lengths):  # each row alone, with its row of the mask
        monkeypatch.setattr(
            locked_dropout_module, "locked_mask", Masks([masks.drawn[0][n : n + 1]])
        )
        alone = layer(x[:length, n : n + 1])[0]
        torch.testing.assert_close(alone, out[:length, n : n + 1], atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("backend", ["auto", "loop"])
def test_the_mask_is_the_same_at_every_step(backend):
    """With one sequence, the input columns of layer 2 that the mask zeroes get no gradient at
    any step; a fresh mask per step would leave such a column only with probability P^T."""
    for locked in (True, False):
        layer = make("lstm", backend, locked_dropout=locked)
        torch.manual_seed(1)
        out, _ = layer(torch.randn(40, 1, FEATURES, dtype=torch.float64))
        out.sum().backward()
        silent = (layer.weight_ih_l1.grad == 0).all(dim=0)  # (D,): input features never seen
        assert (0 < silent.sum() < silent.numel()) if locked else not silent.any()


def test_the_default_is_torchs_dropout_unchanged():
    torch.manual_seed(0)
    reference = nn.LSTM(FEATURES, HIDDEN, num_layers=2, dropout=P, dtype=torch.float64)
    x = torch.randn(STEPS, BATCH, FEATURES, dtype=torch.float64)
    for ours in (make("lstm"), make("lstm", locked_dropout=False)):
        ours.load_state_dict(reference.state_dict())
        assert ours.uses_native() and "locked_dropout" not in repr(ours)
        torch.manual_seed(3)
        out = ours(x)[0]
        torch.manual_seed(3)
        torch.testing.assert_close(out, reference(x)[0], atol=0, rtol=0)


def test_evaluation_is_the_plain_stack():
    ours = make("lstm", locked_dropout=True).eval()
    reference = nn.LSTM(FEATURES, HIDDEN, num_layers=2, dropout=P, dtype=torch.float64).eval()
    reference.load_state_dict(ours.state_dict())
    x = torch.randn(STEPS, BATCH, FEATURES, dtype=torch.float64)
    torch.testing.assert_close(ours(x)[0], reference(x)[0], atol=0, rtol=0)
    torch.testing.assert_close(ours(x)[0], make("lstm").eval()(x)[0], atol=0, rtol=0)
    assert "locked_dropout=True" in repr(ours)


@pytest.mark.parametrize("form", FORMS)
def test_torchs_kernel_runs_one_layer_per_call(form, monkeypatch):
    calls: list[int] = []
    for name in ("run_native", "run_native_padded"):
        original = getattr(recurrent_layer, name)

        def spy(config, *args, original=original, **kwargs):
            calls.append(config.num_layers)
            return original(config, *args, **kwargs)

        monkeypatch.setattr(recurrent_layer, name, spy)
    layer, lengths = make("bilstm", locked_dropout=True), FORMS[form]
    x = inputs(lengths)
    run(layer, x, lengths, form)
    assert calls == [1, 1]
    calls.clear()
    with torch.no_grad():
        run(layer.eval(), x, lengths, form)
    assert calls == [2]  # no mask to apply: the whole stack in one call


@pytest.mark.parametrize("value", [1, 0, "yes", None, 0.5])
def test_a_bad_flag_raises_what_torch_raises(value):
    with pytest.raises(Exception) as torchs:
        nn.LSTM(3, 4, bias=value)
    with pytest.raises(torchs.type, match="locked_dropout should be of type bool"):
        rnnkit.LSTM(3, 4, locked_dropout=value)


def test_to_torch_refuses_it_for_training_only():
    layer = make("gru", locked_dropout=True)
    with pytest.raises(ValueError, match="no locked_dropout=True"):
        layer.to_torch()
    assert isinstance(layer.to_torch(inference=True), nn.GRU)


def test_the_language_model_locks_dropout_between_its_layers_too():
    locked = LanguageModel(20, locked_dropout=True, num_layers=2, dropout=0.5, hidden_size=8)
    assert locked.rnn.locked_dropout and locked.rnn.dropout == 0.5
    assert not LanguageModel(20, num_layers=2, dropout=0.5, hidden_size=8).rnn.locked_dropout

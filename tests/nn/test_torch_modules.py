"""rnnkit's layers and cells as torch.nn's own modules (`to_torch`), and dynamic int8
quantisation of whole models through them (`rnnkit.quantize_dynamic`)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.nn.quantization import DynamicQuantizedLayer

pytestmark = pytest.mark.usefixtures("one_thread")

LAYERS = [
    (lambda: rnnkit.LSTM(3, 5, 2, batch_first=True, bidirectional=True, proj_size=2), nn.LSTM),
    (lambda: rnnkit.GRU(3, 5, 2, dropout=0.2), nn.GRU),
    (lambda: rnnkit.RNN(3, 5, nonlinearity="relu", bias=False), nn.RNN),
]
CELLS = [
    (lambda: rnnkit.LSTMCell(3, 5), nn.LSTMCell),
    (lambda: rnnkit.GRUCell(3, 5), nn.GRUCell),
    (lambda: rnnkit.RNNCell(3, 5, nonlinearity="relu"), nn.RNNCell),
]


@pytest.mark.parametrize(("make", "torch_class"), LAYERS + CELLS)
def test_to_torch_gives_torchs_module_with_the_same_results(make, torch_class):
    module = make()
    converted = module.to_torch()
    assert type(converted) is torch_class
    assert converted.state_dict().keys() == module.state_dict().keys()
    assert converted.training == module.training
    module.eval(), converted.eval()
    x = torch.randn(4, 3) if isinstance(module, rnnkit.RecurrentCell) else torch.randn(4, 6, 3)
    got, want = converted(x), module(x)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("make", "refused"),
    [
        (lambda: rnnkit.LSTM(3, 5, layer_norm=True), "torch.nn.LSTM has no layer_norm=True"),
        (lambda: rnnkit.LSTM(3, 5, peephole=True), "no peephole=True"),
        (lambda: rnnkit.GRU(3, 5, zoneout=0.1), "torch.nn.GRU has no zoneout=0.1"),
        (lambda: rnnkit.LSTM(3, 5, recurrent_dropout=0.2), "no recurrent_dropout=0.2"),
        (lambda: rnnkit.LSTM(3, 5, weight_drop=0.5), "no weight_drop=0.5"),
        (lambda: rnnkit.JordanRNN(3, 5, 2), "torch has no JordanRNN layer"),
        (lambda: rnnkit.MinGRU(3, 5), "torch has no MinGRU layer"),
        (lambda: rnnkit.LSTMCell(3, 5, peephole=True), "torch.nn.LSTMCell has no peephole=True"),
        (lambda: rnnkit.MinLSTMCell(3, 5), "torch has no MinLSTMCell"),
    ],
)
def test_what_torch_lacks_is_refused_by_name(make, refused):
    with pytest.raises(ValueError, match=refused):
        make().to_torch()


def test_options_inert_in_evaluation_convert_for_inference():
    layer = rnnkit.LSTM(3, 5, recurrent_dropout=0.3, weight_drop=0.5).eval()
    converted = layer.to_torch(inference=True).eval()
    x = torch.randn(6, 2, 3)
    torch.testing.assert_close(converted(x)[0], layer(x)[0], rtol=0, atol=1e-6)


class FirstToken(nn.Module):
    """Reads a padded batch and names its first token (1, 2 or 3) from the last state."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(8, 16)
        self.rnn = rnnkit.LSTM(16, 32, batch_first=True)
        self.out = nn.Linear(32, 3)

    def forward(self, tokens, lengths):
        _, (h, _) = self.rnn(self.embedding(tokens), lengths=lengths)
        return self.out(h[-1])


def first_token_batch(size: int, generator: torch.Generator):
    lengths = torch.randint(2, 13, (size,), generator=generator)
    tokens = torch.randint(4, 8, (size, 12), generator=generator)
    labels = torch.randint(0, 3, (size,), generator=generator)
    tokens[:, 0] = labels + 1
    tokens[torch.arange(12) >= lengths[:, None]] = 0
    return tokens, lengths, labels


def test_quantized_model_keeps_its_accuracy():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = FirstToken()
    optimiser = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(150):
        tokens, lengths, labels = first_token_batch(32, generator)
        loss = nn.functional.cross_entropy(model(tokens, lengths), labels)
        optimiser.zero_grad(), loss.backward(), optimiser.step()
    tokens, lengths, labels = first_token_batch(1000, generator)
    quantized = rnnkit.quantize_dynamic(model)
    assert isinstance(quantized.rnn, DynamicQuantizedLayer)
    assert isinstance(quantized.out, torch.ao.nn.quantized.dynamic.Linear)
    with torch.no_grad():
        accurate = (model.eval()(tokens, lengths).argmax(1) == labels).float().mean()
        kept = (quantized(tokens, lengths).argmax(1) == labels).float().mean()
    assert accurate > 0.95
    assert kept >= accurate - 0.01


def test_a_quantized_layer_keeps_padding_out_of_every_row():
    layer = rnnkit.GRU(3, 6, num_layers=2, bidirectional=True, batch_first=True)
    quantized = rnnkit.quantize_dynamic(layer)
    x, lengths = torch.randn(3, 7, 3), torch.tensor([7, 2, 5])
    output, state = quantized(x, lengths=lengths)
    assert output.shape == (3, 7, 12) and state.shape == (4, 3, 6)
    assert output[1, 2:].eq(0).all() and output[2, 5:].eq(0).all()
    x[1, 2:], x[2, 5:] = 1e6, float("nan")  # padding that would swamp any output it reached
    # (activations are quantised with the batch's range, so a row alone differs slightly;
    # the same real values with other padding must give exactly the same results)
    padded_output, padded_state = quantized(x, lengths=lengths)
    assert torch.equal(padded_output, output) and torch.equal(padded_state, state)
    float_output = layer.eval()(x, lengths=lengths)[0]
    torch.testing.assert_close(output, float_output, rtol=0, atol=0.05)


def test_every_module_torch_cannot_quantize_is_named():
    model = nn.Sequential(rnnkit.LSTM(3, 4, layer_norm=True), rnnkit.RNN(4, 4), nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"cannot quantise 0: .*layer_norm=True.*; 1: .*RNN layer"):
        rnnkit.quantize_dynamic(model)


def test_a_weight_type_torch_does_not_quantize_to_is_refused():
    with pytest.raises(ValueError, match=r"torch.qint8 or torch.float16, got torch.quint8"):
        rnnkit.quantize_dynamic(rnnkit.LSTM(3, 4), dtype=torch.quint8)
    halved = rnnkit.quantize_dynamic(rnnkit.LSTM(3, 4), dtype=torch.float16)
    assert halved(torch.randn(5, 2, 3))[0].shape == (5, 2, 4)

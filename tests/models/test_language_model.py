"""The language model: learns, decodes step by step exactly as its full forward pass, and keeps
tied weights tied."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.errors import UserError
from rnnkit.models import LanguageModel
from rnnkit.models.recurrent import CELLS, build_recurrent


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_step_gives_the_logits_of_the_full_forward_pass(cell):
    torch.manual_seed(0)
    model = LanguageModel(11, cell=cell, embedding_dim=6, hidden_size=8, num_layers=2).eval()
    tokens = torch.randint(0, 11, (3, 7))
    logits, final = model(tokens)
    state = model.init_state(3)
    for t in range(7):
        log_probs, state = model.step(tokens[:, t], state)
        torch.testing.assert_close(
            log_probs, F.log_softmax(logits[:, t], dim=-1), rtol=1e-5, atol=1e-5
        )
    for a, b in zip(
        state if isinstance(state, tuple) else (state,),
        final if isinstance(final, tuple) else (final,),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_the_model_overfits_one_batch():
    torch.manual_seed(0)
    model = LanguageModel(7, embedding_dim=16, hidden_size=32, num_layers=2, dropout=0.0)
    tokens = torch.randint(0, 7, (4, 21))
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(300):
        logits, _ = model(inputs)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05  # log(7) ≈ 1.95 at the start


def test_tied_weights_stay_tied_with_a_projection():
    model = LanguageModel(9, embedding_dim=4, hidden_size=6, tie_weights=True)
    assert model.output.weight is model.embedding.weight
    assert model.projection is not None and model.projection.in_features == 6
    logits, _ = model(torch.randint(0, 9, (2, 3)))
    assert logits.shape == (2, 3, 9)


def test_map_state_selects_and_reorders_rows():
    torch.manual_seed(0)
    model = LanguageModel(5, embedding_dim=4, hidden_size=6).eval()
    tokens = torch.randint(0, 5, (3, 4))
    _, state = model(tokens)
    index = torch.tensor([2, 0, 2])
    picked = model.map_state(state, index)
    _, expected = model(tokens[index])
    for a, b in zip(picked, expected, strict=True):
        torch.testing.assert_close(a, b)


def test_forget_bias_defaults_to_one():
    model = LanguageModel(5, embedding_dim=4, hidden_size=6)
    total = model.rnn.bias_ih_l0 + model.rnn.bias_hh_l0
    torch.testing.assert_close(total[6:12].detach(), torch.ones(6))


def test_layer_norm_where_a_cell_lacks_it_is_a_user_error():
    with pytest.raises(UserError, match=r"model\.layer_norm"):
        build_recurrent("mingru", 3, 4, layer_norm=True)
    with pytest.raises(UserError, match="unknown cell 'elman'"):
        build_recurrent("elman", 3, 4)


def test_initialisation_schemes_set_the_weights_they_name():
    def built(init: str) -> LanguageModel:
        torch.manual_seed(0)
        return LanguageModel(500, embedding_dim=64, hidden_size=32, init=init, init_range=0.05)

    torch_init, uniform, examples = built("torch"), built("uniform"), built("embedding_output")
    assert torch_init.embedding.weight.std() > 0.9  # torch's N(0, 1)
    for name, parameter in uniform.named_parameters():
        assert parameter.abs().max() <= 0.05, name
        assert float(parameter.detach().std()) == pytest.approx(0.05 / 3**0.5, rel=0.25), (
            name
        )  # U(-r, r)
    assert examples.embedding.weight.abs().max() <= 0.05
    assert examples.output.weight.abs().max() <= 0.05
    assert torch.all(examples.output.bias == 0)
    for name, parameter in examples.rnn.named_parameters():  # the recurrent layers: torch's
        torch.testing.assert_close(parameter, dict(torch_init.rnn.named_parameters())[name])
    with pytest.raises(ValueError, match="init must be"):
        built("xavier")

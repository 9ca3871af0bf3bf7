"""The conditioned language model: the condition reaches the network as documented, the
step-wise decoder equals the teacher-forced pass, and padding changes no real token's logits."""

from __future__ import annotations

import pytest
import torch

from rnnkit import decode
from rnnkit.models.conditional_lm import ConditionalLanguageModel

V, SIZES = 11, (2, 3)


def model(condition: str, cell: str = "lstm", num_layers: int = 2) -> ConditionalLanguageModel:
    torch.manual_seed(0)
    return ConditionalLanguageModel(
        V, SIZES, condition=condition, cell=cell, embedding_dim=6, hidden_size=5,
        num_layers=num_layers, condition_dim=4, dropout=0.0,
    ).eval()  # fmt: skip


CONDITIONS = torch.tensor([[0, 2], [1, 0], [1, 1]])


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("condition", ["input", "init", "both"])
def test_stepping_equals_the_teacher_forced_pass(condition, cell):
    m = model(condition, cell)
    tokens = torch.randint(0, V, (3, 6))
    full = m(tokens, CONDITIONS).log_softmax(-1)  # (3, 6, V)
    state = m.init_state(3, CONDITIONS)
    for t in range(6):
        log_probs, state = m.step(tokens[:, t], state)
        torch.testing.assert_close(log_probs, full[:, t])


def test_init_mode_starts_from_tanh_of_the_condition():
    m = model("init")
    c = torch.cat([m.conditions[0].weight[[0]], m.conditions[1].weight[[2]]], dim=1)  # (1, 8)
    h0, c0 = m.init_state(1, CONDITIONS[:1])[0]
    for part, linear in zip((h0, c0), m.initial, strict=True):
        expected = torch.tanh(c @ linear.weight.T + linear.bias).view(2, 5)  # (layers, H)
        torch.testing.assert_close(part[:, 0], expected)


def test_input_mode_feeds_the_condition_beside_every_token():
    m = model("input", num_layers=1)
    tokens = torch.randint(0, V, (3, 4))
    c = m.encode_conditions(CONDITIONS)
    x = torch.cat([m.embedding(tokens), c.unsqueeze(1).expand(-1, 4, -1)], dim=-1)
    hidden, _ = m.rnn(x)
    torch.testing.assert_close(m(tokens, CONDITIONS), m.output(hidden))


@pytest.mark.parametrize("condition", ["input", "init"])
def test_the_condition_changes_the_prediction(condition):
    m = model(condition)
    tokens = torch.randint(0, V, (1, 4)).expand(3, -1)
    logits = m(tokens, CONDITIONS)
    assert not torch.allclose(logits[0], logits[1]) and not torch.allclose(logits[1], logits[2])


def test_padding_after_a_text_changes_none_of_its_logits():
    m = model("both")
    short = torch.randint(1, V, (1, 3))
    padded = torch.cat([short, torch.zeros(1, 4, dtype=torch.long)], dim=1)
    torch.testing.assert_close(m(padded, CONDITIONS[:1])[:, :3], m(short, CONDITIONS[:1]))


def test_beam_of_one_is_greedy_and_rows_map_with_their_condition():
    m = model("both")
    start = torch.full((3, 1), 2)
    log_probs, state = decode.feed(m, start, m.init_state(3, CONDITIONS))
    greedy = decode.greedy(m, log_probs, state, 5)
    for row in range(3):
        one = m.map_state(state, torch.tensor([row]))
        best = decode.beam_search(m, log_probs[row : row + 1], one, 5, beam_size=1)
        assert best[0].tokens == greedy[row]

"""Pooling excludes padding, and the classifier gives a padded batch exactly what it gives each
text alone; it overfits one batch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.models.classifier import SequenceClassifier, classification_loss
from rnnkit.models.pooling import AttentionPool, last_states, max_pool, mean_pool, step_mask


def padded_outputs() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    outputs = torch.randn(3, 5, 4)
    lengths = torch.tensor([5, 2, 3])
    mask = step_mask(lengths, 5)
    return outputs.masked_fill(~mask.unsqueeze(-1), torch.nan), lengths  # NaN in the padding


def test_mean_and_max_over_the_real_steps_only():
    outputs, lengths = padded_outputs()
    mask = step_mask(lengths, 5)
    for row, length in enumerate(lengths.tolist()):
        real = outputs[row, :length]
        torch.testing.assert_close(mean_pool(outputs, mask)[row], real.mean(0))
        torch.testing.assert_close(max_pool(outputs, mask)[row], real.amax(0))


def test_attention_weights_sum_to_one_over_real_steps_and_ignore_padding():
    outputs, lengths = padded_outputs()
    mask = step_mask(lengths, 5)
    pool = AttentionPool(4)
    pooled, weights = pool(outputs, mask)
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    assert bool((weights[~mask] == 0).all()) and torch.isfinite(pooled).all()
    for row, length in enumerate(lengths.tolist()):  # one sequence alone, no padding
        alone, _ = pool(outputs[row : row + 1, :length], torch.ones(1, length, dtype=torch.bool))
        torch.testing.assert_close(pooled[row], alone[0])


def test_last_states_are_the_top_layer_of_each_direction():
    final_h = torch.arange(2 * 2 * 3 * 1.0).view(4, 3, 1).expand(4, 3, 2)  # 2 layers x 2 dirs
    pooled = last_states(final_h, 2)
    assert pooled.shape == (3, 4)
    torch.testing.assert_close(pooled[:, :2], final_h[2])  # top layer, forward
    torch.testing.assert_close(pooled[:, 2:], final_h[3])  # top layer, backward


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "attention"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "mingru"])
def test_a_padded_batch_gives_each_text_what_it_gets_alone(pooling, cell):
    torch.manual_seed(1)
    model = SequenceClassifier(20, 3, cell=cell, embedding_dim=6, hidden_size=5, num_layers=2,
                               pooling=pooling, mlp_hidden=4).eval()  # fmt: skip
    lengths = torch.tensor([4, 1, 6])
    tokens = torch.randint(1, 20, (3, 6))
    tokens[0, 4:], tokens[1, 1:] = 7, 9  # padding holds real ids: it must not matter
    batch = model(tokens, lengths)
    for row, length in enumerate(lengths.tolist()):
        alone = model(tokens[row : row + 1, :length], lengths[row : row + 1])
        torch.testing.assert_close(batch[row], alone[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("multi_label", [False, True])
def test_the_classifier_overfits_one_batch(multi_label):
    torch.manual_seed(2)
    model = SequenceClassifier(30, 4, embedding_dim=16, hidden_size=16, dropout=0.0)
    tokens, lengths = torch.randint(1, 30, (8, 7)), torch.randint(2, 8, (8,))
    targets = torch.randint(0, 2, (8, 4)).float() if multi_label else torch.randint(0, 4, (8,))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(150):
        loss = classification_loss(model(tokens, lengths), targets, multi_label=multi_label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05


def test_class_weights_weigh_the_loss_as_cross_entropy_does():
    logits, targets = torch.randn(5, 3), torch.tensor([0, 2, 2, 1, 0])
    weights = torch.tensor([1.0, 2.0, 0.5])
    expected = F.cross_entropy(logits, targets, weight=weights)
    got = classification_loss(logits, targets, multi_label=False, class_weights=weights)
    torch.testing.assert_close(got, expected)

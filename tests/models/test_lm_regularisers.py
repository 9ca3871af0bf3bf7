"""AWD-LSTM's regularisers against hand-written references: embedding dropout drops word types
(every occurrence at once), locked dropout keeps one mask over time, AR / TAR are the means
their formulas say; and a language model trains with all of them on."""

from __future__ import annotations

import pytest
import torch

from conftest import raised, write_corpus
from rnnkit.models.language_model import LanguageModel
from rnnkit.models.lm_regularisers import LockedDropout, activation_penalty, embedding_dropout
from rnnkit.tasks import train_run
from rnnkit.tasks.lm import LanguageModelling, LMConfig
from rnnkit.train.config import load_config
from rnnkit.train.task import DataSources


def test_embedding_dropout_drops_word_types_and_scales_the_rest():
    torch.manual_seed(0)
    embedding = torch.nn.Embedding(50, 6)
    tokens = torch.randint(0, 50, (8, 30))
    p = 0.4
    torch.manual_seed(1)
    dropped = embedding_dropout(embedding, tokens, p, training=True)
    torch.manual_seed(1)
    keep = torch.empty(50, 1).bernoulli_(1 - p)  # the same draw, by hand
    for n in range(8):
        for t in range(30):
            word = tokens[n, t]
            expected = embedding.weight[word] * keep[word, 0] / (1 - p)
            torch.testing.assert_close(dropped[n, t], expected)
    assert 0 < (keep == 0).sum() < 50
    dropped.sum().backward()
    assert torch.all(embedding.weight.grad[keep[:, 0] == 0] == 0)
    torch.testing.assert_close(embedding_dropout(embedding, tokens, p, False), embedding(tokens))


def test_locked_dropout_keeps_one_mask_per_sequence():
    torch.manual_seed(0)
    layer = LockedDropout(0.5)
    x = torch.rand(16, 20, 32) + 0.5  # no zeros of its own
    y = layer(x)
    ratio = y / x  # (N, L, D): 0 or 2, constant over L
    assert torch.equal(ratio, ratio[:, :1].expand_as(ratio))
    assert set(ratio.unique().tolist()) == {0.0, 2.0}
    assert 0.4 < (ratio[:, 0] == 0).float().mean().item() < 0.6
    layer.eval()
    assert torch.equal(layer(x), x)
    with pytest.raises(ValueError, match="locked dropout"):
        LockedDropout(1.0)


def test_activation_penalty_is_ar_plus_tar():
    dropped, hidden = torch.randn(3, 5, 4), torch.randn(3, 5, 4)
    ar = sum(float(v) ** 2 for v in dropped.flatten()) / dropped.numel()
    steps = [
        hidden[n, t, d] - hidden[n, t - 1, d]
        for n in range(3)
        for t in range(1, 5)
        for d in range(4)
    ]
    tar = sum(float(v) ** 2 for v in steps) / len(steps)
    penalty = activation_penalty(dropped, hidden, alpha=2.0, beta=1.0)
    assert penalty.item() == pytest.approx(2.0 * ar + 1.0 * tar, rel=1e-5)


def test_language_model_returns_the_penalty_and_keeps_its_state_dict_keys():
    plain = LanguageModel(30, hidden_size=8, embedding_dim=8, num_layers=2)
    awd = LanguageModel(
        30, hidden_size=8, embedding_dim=8, num_layers=2, embedding_dropout=0.1,
        locked_dropout=True, ar=2.0, tar=1.0, weight_drop=0.5,
    )  # fmt: skip
    assert list(awd.state_dict()) == list(plain.state_dict())
    logits, _, penalty = awd(torch.randint(0, 30, (2, 7)), penalty=True)
    assert logits.shape == (2, 7, 30) and penalty.ndim == 0 and penalty.item() > 0
    awd.eval()
    log_probs, _ = awd.step(torch.tensor([1, 2]), awd.init_state(2))
    assert log_probs.shape == (2, 30)


def test_an_lm_trains_with_every_regulariser_and_variable_bptt(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt", 4000)
    keys = ["model.embedding_dropout=0.1", "model.locked_dropout=true", "model.ar=2",
            "model.tar=1", "model.weight_drop=0.5", "model.hidden_size=16",
            "model.embedding_dim=8", "train.max_steps=5", "train.threads=1",
            "train.variable_bptt=true", "train.bptt=16"]  # fmt: skip
    final = train_run("lm", [str(corpus)], tmp_path / "run", overrides=keys, live=False)
    assert final["valid"]["loss"] > 0


@pytest.mark.parametrize("variable", [True, False])
def test_a_variable_bptt_window_takes_the_rate_in_proportion_to_its_length(tmp_path, variable):
    corpus = write_corpus(tmp_path / "corpus.txt", 4000)
    config = load_config(
        LMConfig, overrides=["train.bptt=16", f"train.variable_bptt={str(variable).lower()}"]
    )
    task = LanguageModelling(config)
    task.prepare(DataSources(train=[str(corpus)]))
    batches = list(task.train_batches(epoch=0, shard=0, num_shards=1))
    lengths = [inputs.shape[1] for inputs, _ in batches]
    assert len(set(lengths)) > 2 if variable else set(lengths[:-1]) == {16}
    expected = [length / 16 if variable else 1.0 for length in lengths]
    assert [task.lr_factor(batch) for batch in batches] == pytest.approx(expected)


def test_weight_drop_is_refused_for_cells_without_it():
    message = raised(lambda: LanguageModel(30, cell="mingru", weight_drop=0.5))
    assert "model.weight_drop: not available for cell 'mingru'" in message

"""`Captioner`: padding never leaks into the loss, step-wise decoding equals the teacher-forced
forward, attention weights are distributions, beam 1 is greedy, a frozen encoder stays put."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnkit.decode import beam_search, greedy
from rnnkit.models.captioner import Captioner, attention_penalty
from rnnkit.models.image_encoder import build_image_encoder

VOCAB, BOS, EOS = 12, 2, 3
CAPTIONS = [[5, 6, 7, 8, 9], [4, 10], [11, 5, 6]]  # words, without bos / eos


pytestmark = pytest.mark.usefixtures("one_thread")


def captioner(attention: str = "soft", cell: str = "lstm", **options) -> Captioner:
    torch.manual_seed(0)
    encoder = build_image_encoder("small", [8, 8])  # 16 x 16 images -> a 4 x 4 grid
    model = Captioner(
        VOCAB,
        bos_id=BOS,
        eos_id=EOS,
        encoder=encoder,
        cell=cell,
        embedding_dim=8,
        hidden_size=16,
        attention=attention,
        **options,
    )
    return model.eval()


def batch(captions):
    """``captions_in`` (bos first) and ``captions_out`` (eos last), padded with 0, and lengths."""
    length = max(len(c) for c in captions) + 1
    rows_in = [[BOS, *c] + [0] * (length - len(c) - 1) for c in captions]
    rows_out = [[*c, EOS] + [0] * (length - len(c) - 1) for c in captions]
    lengths = torch.tensor([len(c) + 1 for c in captions])
    return torch.tensor(rows_in), torch.tensor(rows_out), lengths


def row_losses(model, images, captions):
    """Each caption's summed negative log-likelihood and attention penalty, from one batch."""
    captions_in, captions_out, lengths = batch(captions)
    logits, weights = model(images, captions_in)
    nll = F.cross_entropy(logits.transpose(1, 2), captions_out, ignore_index=0, reduction="none")
    penalty = attention_penalty(weights, lengths) if weights is not None else torch.zeros(1)
    return nll.sum(1), penalty


@pytest.mark.parametrize("attention,cell", [("soft", "lstm"), ("soft", "gru"), ("none", "lstm")])
def test_padding_never_leaks_into_the_loss(attention, cell):
    model = captioner(attention, cell)
    images = torch.randn(3, 3, 16, 16)
    together, penalties = row_losses(model, images, CAPTIONS)
    for row, caption in enumerate(CAPTIONS):
        alone, penalty = row_losses(model, images[row : row + 1], [caption])
        torch.testing.assert_close(alone[0], together[row])
        if attention == "soft":
            torch.testing.assert_close(penalty[0], penalties[row])


def test_stepwise_decoding_equals_the_teacher_forced_forward():
    model = captioner()
    images = torch.randn(3, 3, 16, 16)
    captions_in, _, _ = batch(CAPTIONS)
    logits, weights = model(images, captions_in)
    expected = F.log_softmax(logits, -1)
    state = model.init_state(3, images)
    words = [i for i in range(VOCAB) if i not in (0, BOS)]  # step never writes pad or bos
    for t in range(captions_in.shape[1]):
        log_probs, state = model.step(captions_in[:, t], state)
        torch.testing.assert_close(log_probs[:, words], expected[:, t, words])
        torch.testing.assert_close(state.weights, weights[:, t])
        assert torch.isinf(log_probs[:, [0, BOS]]).all()


def test_attention_weights_are_distributions_over_the_grid():
    model = captioner()
    images = torch.randn(2, 3, 16, 16)
    _, weights = model(images, batch(CAPTIONS[:2])[0])
    assert weights.shape == (2, 6, 16) and (weights >= 0).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 6))
    _, state = model.start(images)
    assert state.grid == (4, 4)
    torch.testing.assert_close(state.weights.sum(-1), torch.ones(2))


def test_the_penalty_is_xu_et_als_regulariser():
    weights = torch.rand(2, 4, 5).softmax(-1)
    lengths = torch.tensor([4, 2])
    expected = [((1 - weights[n, : int(lengths[n])].sum(0)) ** 2).sum() for n in range(2)]
    torch.testing.assert_close(attention_penalty(weights, lengths), torch.stack(expected))


@pytest.mark.parametrize("attention", ["soft", "none"])
def test_beam_of_one_is_greedy_and_beams_follow_their_rows(attention):
    model = captioner(attention)
    images = torch.randn(4, 3, 16, 16)
    log_probs, state = model.start(images)
    greedy_tokens = greedy(model, log_probs, state, 8, eos_id=EOS)
    beam_tokens = [
        h.tokens for h in beam_search(model, log_probs, state, 8, beam_size=1, eos_id=EOS)
    ]
    assert beam_tokens == greedy_tokens
    wide = beam_search(model, log_probs, state, 8, beam_size=3, eos_id=EOS)
    reordered = model.map_state(state, torch.tensor([3, 2, 1, 0]))
    backwards = beam_search(model, log_probs.flip(0), reordered, 8, beam_size=3, eos_id=EOS)
    assert [h.tokens for h in backwards] == [h.tokens for h in reversed(wide)]


def test_a_frozen_encoder_gets_no_gradient_and_keeps_its_statistics():
    model = captioner(freeze_encoder=True).train()
    assert not model.encoder.training and model.output.training
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    captions_in, captions_out, _ = batch(CAPTIONS)
    logits, _ = model(torch.randn(3, 3, 16, 16), captions_in)
    F.cross_entropy(logits.transpose(1, 2), captions_out, ignore_index=0).backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert model.annotation.weight.grad is not None
    after = model.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)

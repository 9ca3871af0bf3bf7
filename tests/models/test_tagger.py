"""The tagger: padded batches give each sentence what it gets alone (with and without a CRF),
character features give unseen words distinct representations, and it overfits one batch."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.tag_schemes import allowed_transitions
from rnnkit.models.char_features import CharWordFeatures
from rnnkit.models.tagger import SequenceTagger

TAGS = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]


def batch(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([5, 2, 4])
    words = torch.randint(1, 30, (3, 5), generator=generator)
    chars = torch.randint(1, 12, (3, 5, 6), generator=generator)
    char_lengths = torch.randint(1, 7, (3, 5), generator=generator)
    for row, length in enumerate(lengths.tolist()):
        char_lengths[row, length:] = 0
    tags = torch.randint(0, len(TAGS), (3, 5), generator=generator)
    return words, lengths, chars, char_lengths, tags


def tagger(crf: bool) -> SequenceTagger:
    torch.manual_seed(3)
    allowed = allowed_transitions(TAGS) if crf else None
    sizes = {"embedding_dim": 8, "hidden_size": 6, "char_embedding_dim": 4, "char_hidden_size": 3}
    return SequenceTagger(30, len(TAGS), num_chars=12, crf=crf, allowed=allowed, **sizes)


@pytest.mark.parametrize("crf", [False, True])
def test_a_padded_batch_tags_each_sentence_as_alone(crf):
    model = tagger(crf).eval()
    words, lengths, chars, char_lengths, _ = batch()
    together = model.decode(model(words, lengths, chars, char_lengths), lengths)
    for row, length in enumerate(lengths.tolist()):
        one = (words[row : row + 1, :length], lengths[row : row + 1])
        emissions = model(*one, chars[row : row + 1, :length], char_lengths[row : row + 1, :length])
        assert model.decode(emissions, one[1]) == [together[row]]
        assert len(together[row]) == length


def test_unseen_words_get_distinct_features_from_their_characters():
    features = CharWordFeatures(12, 4, 3)
    chars = torch.tensor([[[3, 4, 5, 0], [3, 4, 6, 7]]])
    out = features(chars, torch.tensor([[3, 4]]))
    assert out.shape == (1, 2, 6)
    assert not torch.allclose(out[0, 0], out[0, 1])  # same word id (unk), different spelling


@pytest.mark.parametrize("crf", [False, True])
def test_the_tagger_overfits_one_batch(crf):
    model = tagger(crf)
    model.dropout.p = 0.0
    words, lengths, chars, char_lengths, _ = batch()
    tags = torch.tensor([[1, 2, 3, 0, 4], [4, 0, 0, 0, 0], [0, 1, 3, 0, 0]])  # valid IOBES
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(120):
        loss = model(words, lengths, chars, char_lengths, tags)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    decoded = model.decode(model(words, lengths, chars, char_lengths), lengths)
    assert decoded == [row[:n] for row, n in zip(tags.tolist(), lengths.tolist(), strict=True)]

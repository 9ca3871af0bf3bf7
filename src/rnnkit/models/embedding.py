"""The token embedding every task model starts with: learned from scratch, or initialised from
pretrained vectors (`rnnkit.data.embeddings`) and then frozen or fine-tuned."""

from __future__ import annotations

from torch import Tensor, nn


def token_embedding(
    vocab_size: int,
    dim: int,
    *,
    padding_idx: int | None = 0,
    pretrained: Tensor | None = None,
    freeze: bool = False,
) -> nn.Embedding:
    """An ``nn.Embedding(vocab_size, dim)``; with ``pretrained`` ``(vocab_size, dim)`` its
    weights start as those rows, and ``freeze`` keeps them fixed in training.

    The padding row is zero either way and gets no gradient (``padding_idx``).
    """
    embedding = nn.Embedding(vocab_size, dim, padding_idx=padding_idx)
    if pretrained is not None:
        if tuple(pretrained.shape) != (vocab_size, dim):
            raise ValueError(
                f"pretrained vectors of shape {tuple(pretrained.shape)} do not fit an embedding "
                f"of {vocab_size} tokens x {dim}"
            )
        embedding.weight.data.copy_(pretrained)
        if padding_idx is not None:
            embedding.weight.data[padding_idx].zero_()
    embedding.weight.requires_grad_(not freeze)
    return embedding


def output_layer(
    features: int, embedding: nn.Embedding, *, tie: bool
) -> tuple[nn.Linear | None, nn.Linear]:
    """``(projection, output)``: the layer giving vocabulary scores from ``features`` values, and
    the linear map ``features -> E`` that comes before it when its weights are tied to
    ``embedding`` (Press & Wolf 2017, Inan et al. 2017) and the sizes differ (else None)."""
    vocab_size, dim = embedding.weight.shape
    projection = nn.Linear(features, dim) if tie and features != dim else None
    output = nn.Linear(dim if tie else features, vocab_size)
    if tie:
        output.weight = embedding.weight
    return projection, output

"""`SequenceTagger`: many-to-many — a tag for every token (named entities, parts of speech).

Word embedding (learned or pretrained) and, optionally, character-level word features
(`rnnkit.models.char_features`) -> dropout -> a bidirectional stacked rnnkit layer -> a linear
layer giving each token a score per tag (the emissions) -> either an independent softmax per
token, or a linear-chain CRF (`rnnkit.models.crf`) that scores whole tag sequences and forbids
the transitions invalid in the tag scheme — the BiLSTM-CRF of Lample et al. 2016.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.char_features import CharWordFeatures
from rnnkit.models.crf import CRF
from rnnkit.models.embedding import token_embedding
from rnnkit.models.recurrent import build_recurrent

Allowed = tuple[Tensor, Tensor, Tensor]


class SequenceTagger(nn.Module):
    """Tags every token of a sentence.

    Args:
        vocab_size: word ids ``0 .. V-1``, 0 the padding.
        num_tags: ``L``.
        num_chars: character ids for the character features; 0 for none.
        cell: the recurrent cell, a key of `rnnkit.models.recurrent.CELLS`.
        embedding_dim: word embedding size.
        hidden_size: ``H``, per direction.
        num_layers: stacked recurrent layers.
        dropout: on the word representations, between layers and before the output layer.
        char_embedding_dim: character embedding size.
        char_hidden_size: per direction of the character BiLSTM.
        crf: decode with a CRF; ``allowed`` then holds its start / transition / end masks
            (`rnnkit.data.tag_schemes.allowed_transitions`), or None to allow everything.
        layer_norm: layer-normalised cells.
        forget_bias: initial forget-gate bias (cells without a forget gate ignore it).
        pretrained: ``(V, E)`` initial word embedding, or None. freeze_embeddings: keep it.

    Shapes: ``forward(words (N, T), lengths (N,), chars (N, T, C), char_lengths (N, T))``
    gives the emissions ``(N, T, L)``; with ``tags`` ``(N, T)`` it gives the mean loss instead
    (CRF negative log-likelihood per sentence, or cross-entropy per token), so a wrapped model
    (DistributedDataParallel) computes its loss inside its forward.
    """

    def __init__(
        self,
        vocab_size: int,
        num_tags: int,
        *,
        num_chars: int = 0,
        cell: str = "lstm",
        embedding_dim: int = 100,
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.5,
        char_embedding_dim: int = 25,
        char_hidden_size: int = 25,
        crf: bool = False,
        allowed: Allowed | None = None,
        layer_norm: bool = False,
        forget_bias: float | None = 1.0,
        pretrained: Tensor | None = None,
        freeze_embeddings: bool = False,
    ) -> None:
        super().__init__()
        self.embedding = token_embedding(
            vocab_size, embedding_dim, pretrained=pretrained, freeze=freeze_embeddings
        )
        self.chars = (
            CharWordFeatures(num_chars, char_embedding_dim, char_hidden_size) if num_chars else None
        )
        features = embedding_dim + (self.chars.out_features if self.chars is not None else 0)
        self.dropout = nn.Dropout(dropout)
        self.rnn = build_recurrent(
            cell,
            features,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            bidirectional=True,
            layer_norm=layer_norm,
            forget_bias=forget_bias,
        )
        self.emissions = nn.Linear(self.rnn.out_features, num_tags)
        self.crf = CRF(num_tags, allowed) if crf else None

    def forward(
        self,
        words: Tensor,
        lengths: Tensor,
        chars: Tensor | None = None,
        char_lengths: Tensor | None = None,
        tags: Tensor | None = None,
    ) -> Tensor:
        """Emissions ``(N, T, L)``, or the mean loss when ``tags`` are given."""
        x = self.embedding(words)  # (N, T, E)
        if self.chars is not None:
            if chars is None or char_lengths is None:
                raise ValueError("this tagger reads characters: pass chars and char_lengths")
            x = torch.cat([x, self.chars(chars, char_lengths)], dim=-1)  # (N, T, E + 2Hc)
        outputs, _ = self.rnn(self.dropout(x), lengths=lengths.cpu())  # (N, T, 2H)
        emissions = self.emissions(self.dropout(outputs)).float()  # (N, T, L)
        return emissions if tags is None else self.loss(emissions, tags, lengths)

    def loss(self, emissions: Tensor, tags: Tensor, lengths: Tensor) -> Tensor:
        """CRF negative log-likelihood per sentence, or cross-entropy per real token; mean."""
        if self.crf is not None:
            return self.crf.nll(emissions, tags, lengths.to(emissions.device), reduction="mean")
        real = torch.arange(tags.shape[1], device=tags.device) < lengths.to(tags.device)[:, None]
        return F.cross_entropy(emissions[real], tags[real])

    def decode(self, emissions: Tensor, lengths: Tensor) -> list[list[int]]:
        """The best tag ids of each sentence, its own length long (Viterbi with a CRF)."""
        if self.crf is not None:
            return self.crf.decode(emissions, lengths.to(emissions.device))
        best = emissions.argmax(-1).tolist()
        return [row[:length] for row, length in zip(best, lengths.tolist(), strict=True)]

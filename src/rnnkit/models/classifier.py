"""`SequenceClassifier`: many-to-one — embedding -> recurrent layers -> pooling -> MLP -> classes.

The text classifier users know from Keras and flair: token embeddings (learned, or pretrained
and frozen or fine-tuned), a stacked, by default bidirectional, rnnkit layer of any cell, the
sequence pooled into one vector (`rnnkit.models.pooling`: last state, mean, max or attention),
and a small MLP giving one logit per class. Softmax over the logits for one label per text;
a sigmoid per class for several (multi-label) — the loss decides, the model is the same.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.embedding import token_embedding
from rnnkit.models.pooling import (
    POOLINGS,
    AttentionPool,
    last_states,
    max_pool,
    mean_pool,
    step_mask,
)
from rnnkit.models.recurrent import build_recurrent


class SequenceClassifier(nn.Module):
    """Classifies a whole sequence of tokens.

    Args:
        vocab_size: ``V``, token ids ``0 .. V-1`` with 0 the padding.
        num_classes: ``C``, the logits per sequence.
        cell: the recurrent cell, a key of `rnnkit.models.recurrent.CELLS`.
        embedding_dim: ``E``.
        hidden_size: ``H``, per direction.
        num_layers: stacked recurrent layers.
        bidirectional: read each sequence both ways (``D = 2``).
        dropout: on the embeddings, between layers, and in the MLP.
        pooling: ``last``, ``mean``, ``max`` or ``attention`` (`rnnkit.models.pooling`).
        mlp_hidden: the MLP's hidden size; 0 for a single linear layer.
        layer_norm: layer-normalised cells.
        forget_bias: initial forget-gate bias (cells without a forget gate ignore it).
        pretrained: ``(V, E)`` initial embedding weights, or None to learn from scratch.
        freeze_embeddings: keep the embedding fixed.

    Shapes: ``forward(tokens (N, T), lengths (N,)) -> logits (N, C)``; ``lengths`` in
    ``[1, T]``. Padded tokens never reach the pooling.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        *,
        cell: str = "lstm",
        embedding_dim: int = 128,
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = True,
        dropout: float = 0.3,
        pooling: str = "max",
        mlp_hidden: int = 128,
        layer_norm: bool = False,
        forget_bias: float | None = 1.0,
        pretrained: Tensor | None = None,
        freeze_embeddings: bool = False,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {pooling!r}; expected one of {', '.join(POOLINGS)}")
        self.pooling = pooling
        self.embedding = token_embedding(
            vocab_size, embedding_dim, pretrained=pretrained, freeze=freeze_embeddings
        )
        self.rnn = build_recurrent(
            cell,
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            bidirectional=bidirectional,
            layer_norm=layer_norm,
            forget_bias=forget_bias,
        )
        features = self.rnn.out_features
        self.attention = AttentionPool(features) if pooling == "attention" else None
        self.dropout = nn.Dropout(dropout)
        if mlp_hidden:
            self.head: nn.Module = nn.Sequential(
                nn.Linear(features, mlp_hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(mlp_hidden, num_classes),
            )
        else:
            self.head = nn.Linear(features, num_classes)

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """Class logits ``(N, C)`` of the sequences ``tokens`` ``(N, T)`` of ``lengths``."""
        return self.head(self.dropout(self.encode(tokens, lengths)))

    def encode(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """The pooled representation ``(N, D*H)`` of each sequence."""
        x = self.dropout(self.embedding(tokens))  # (N, T, E)
        outputs, state = self.rnn(x, lengths=lengths.cpu())  # (N, T, D*H), 0 at padding
        if self.pooling == "last":
            final_h = state[0] if isinstance(state, tuple) else state
            return last_states(final_h, self.rnn.num_directions)
        mask = step_mask(lengths.to(tokens.device), tokens.shape[1])  # (N, T)
        if self.attention is not None:
            return self.attention(outputs, mask)[0]
        return mean_pool(outputs, mask) if self.pooling == "mean" else max_pool(outputs, mask)

    def attention_weights(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        """``(N, T)``: how much each token counts in the pooled vector (attention pooling)."""
        if self.attention is None:
            raise ValueError(f"the model pools by {self.pooling!r}, not by attention")
        outputs, _ = self.rnn(self.embedding(tokens), lengths=lengths.cpu())
        return self.attention(outputs, step_mask(lengths.to(tokens.device), tokens.shape[1]))[1]


def classification_loss(
    logits: Tensor, targets: Tensor, *, multi_label: bool, class_weights: Tensor | None = None
) -> Tensor:
    """Cross-entropy over the classes for one label per sequence (``targets`` ``(N,)`` class
    ids), or one sigmoid cross-entropy per class for several (``targets`` ``(N, C)`` of 0/1,
    ``class_weights`` then weighing the positives); the mean over the batch."""
    if multi_label:
        return F.binary_cross_entropy_with_logits(
            logits.float(), targets.float(), pos_weight=class_weights
        )
    return F.cross_entropy(logits.float(), targets, weight=class_weights)

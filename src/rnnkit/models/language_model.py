"""`LanguageModel`: embedding -> stacked recurrent layers -> dropout -> output layer.

The classic recurrent language model (Mikolov et al. 2010; with dropout on the non-recurrent
connections as in Zaremba et al. 2014, and optionally the output layer tied to the embedding,
Press & Wolf 2017, Inan et al. 2017). It implements the step-wise decoding interface of
`rnnkit.decode` (`init_state`, `step`, `map_state`, `detach_state`), so generation costs one
step per new token, whatever the length of the prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.embedding import output_layer
from rnnkit.models.lm_regularisers import LockedDropout, activation_penalty, embedding_dropout
from rnnkit.models.recurrent import build_recurrent

State = Tensor | tuple[Tensor, ...]


class LanguageModel(nn.Module):
    """Predicts each next token of a sequence from the tokens before it.

    Args:
        vocab_size: ``V``.
        cell: the recurrent cell, a key of `rnnkit.models.recurrent.CELLS`.
        embedding_dim: ``E``. hidden_size: ``H``. num_layers: stacked recurrent layers.
        dropout: on the embeddings, between the layers and before the output layer.
        tie_weights: share the output weights with the embedding (a linear projection
            ``H -> E`` is inserted when ``H != E``).
        layer_norm: layer-normalised cells. forget_bias: initial forget-gate bias (1.0 by
            default; cells without a forget gate ignore it).
        never_emit: token ids `step` gives probability 0 (the padding, ...), so decoding never
            writes them.
        init: how the weights start — ``"torch"``: torch's defaults (the embedding N(0, 1),
            linear and recurrent weights U(-1/sqrt(fan), 1/sqrt(fan))); ``"uniform"``: every
            parameter U(-r, r), biases and the forget gate's included (Zaremba et al. 2014:
            r = 0.1 small, 0.05 medium, 0.04 large); ``"embedding_output"``: the embedding and
            output weights U(-r, r) and the output bias 0, the rest torch's (PyTorch's
            word_language_model example, r = 0.1).
        init_range: ``r``.
        embedding_dropout: drop whole word types with this probability (AWD-LSTM's embedding
            dropout, `rnnkit.models.lm_regularisers`).
        locked_dropout: the dropout on the embeddings, between the layers and before the output
            layer uses one mask per sequence for all its steps (variational, as AWD-LSTM);
            between the layers by the recurrent layer's own ``locked_dropout``.
        ar, tar: weights α, β of activation and temporal activation regularisation, returned by
            ``forward(..., penalty=True)``.
        weight_drop: DropConnect on the recurrent layers' hidden-to-hidden weights (AWD-LSTM;
            `rnnkit.nn.layers.LSTM`'s ``weight_drop``).

    Shapes: ``forward(tokens (N, L), state) -> (logits (N, L, V), state)``; the state is the
    recurrent layer's (``(h, c)`` of ``(num_layers, N, H)`` for an LSTM).
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        cell: str = "lstm",
        embedding_dim: int = 128,
        hidden_size: int = 256,
        num_layers: int = 2,
        dropout: float = 0.2,
        tie_weights: bool = False,
        layer_norm: bool = False,
        forget_bias: float | None = 1.0,
        never_emit: Sequence[int] = (),
        init: str = "torch",
        init_range: float = 0.1,
        embedding_dropout: float = 0.0,
        locked_dropout: bool = False,
        ar: float = 0.0,
        tar: float = 0.0,
        weight_drop: float = 0.0,
    ) -> None:
        super().__init__()
        self.embedding_dropout, self.ar, self.tar = embedding_dropout, ar, tar
        self.never_emit = list(never_emit)
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = build_recurrent(
            cell,
            embedding_dim,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout,
            layer_norm=layer_norm,
            forget_bias=forget_bias,
            weight_drop=weight_drop,
            locked_dropout=locked_dropout,
        )
        self.dropout = LockedDropout(dropout) if locked_dropout else nn.Dropout(dropout)
        self.projection, self.output = output_layer(
            self.rnn.out_features, self.embedding, tie=tie_weights
        )
        self.initialise(init, init_range)

    @torch.no_grad()
    def initialise(self, scheme: str, init_range: float) -> None:
        """Set the weights by ``scheme`` (see the class docstring; ``"torch"`` leaves them)."""
        if scheme == "uniform":
            for parameter in self.parameters():
                parameter.uniform_(-init_range, init_range)
        elif scheme == "embedding_output":
            self.embedding.weight.uniform_(-init_range, init_range)
            self.output.weight.uniform_(-init_range, init_range)
            self.output.bias.zero_()
        elif scheme != "torch":
            raise ValueError(f"init must be torch, uniform or embedding_output, not {scheme!r}")

    def forward(
        self,
        tokens: Tensor,
        state: State | None = None,
        *,
        penalty: bool = False,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, State] | tuple[Tensor, State, Tensor]:
        """Next-token logits ``(N, L, V)`` for ``tokens`` ``(N, L)``, and the final state; with
        ``penalty``, also the AR / TAR penalty (a scalar) of this pass. With ``lengths``
        ``(N,)``, a padded batch: the final state is each row's after its last real token."""
        x = embedding_dropout(self.embedding, tokens, self.embedding_dropout, self.training)
        hidden, state = self.rnn(self.dropout(x), state, lengths=lengths)  # (N, L, H)
        dropped = self.dropout(hidden)
        projected = dropped if self.projection is None else self.projection(dropped)  # (N, L, E)
        logits = self.output(projected)
        if penalty:
            return logits, state, activation_penalty(dropped, hidden, self.ar, self.tar)
        return logits, state

    # --- the step-wise decoding interface ------------------------------------------------
    def init_state(self, batch_size: int) -> State:
        """The zero state for ``batch_size`` sequences."""
        return self.rnn.initial_state(batch_size)

    def step(self, tokens: Tensor, state: State) -> tuple[Tensor, State]:
        """Log-probabilities ``(N, V)`` of the token after ``tokens`` ``(N,)``, and the state."""
        logits, state = self.forward(tokens.unsqueeze(1), state)[:2]
        log_probs = F.log_softmax(logits.squeeze(1).float(), dim=-1)  # (N, V)
        if self.never_emit:
            log_probs[:, self.never_emit] = float("-inf")
        return log_probs, state

    @staticmethod
    def map_state(state: State, index: Tensor) -> State:
        """The state of the batch rows ``index`` (to select or reorder them, e.g. for beams)."""
        if isinstance(state, Tensor):
            return state.index_select(1, index)
        return tuple(part.index_select(1, index) for part in state)

    @staticmethod
    def cat_state(states: Sequence[State]) -> State:
        """The states of several batches as one, their rows in order (the inverse of splitting
        rows off with `map_state`), e.g. to decode sequences started apart in one batch."""
        tuples = [(state,) if isinstance(state, Tensor) else state for state in states]
        joined = tuple(torch.cat(parts, dim=1) for parts in zip(*tuples, strict=True))
        return joined[0] if isinstance(states[0], Tensor) else joined

    @staticmethod
    def detach_state(state: State) -> State:
        """The state cut from the graph, for truncated backpropagation through time."""
        if isinstance(state, Tensor):
            return state.detach()
        return tuple(part.detach() for part in state)

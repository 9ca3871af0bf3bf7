"""`Seq2Seq`: the encoder-decoder with attention (Bahdanau et al. 2015; Luong et al. 2015).

The encoder reads the source with a bidirectional stacked rnnkit layer; each direction has
``H / 2`` units, so its outputs ``m_s`` and the final state of every layer (both directions
concatenated) have ``H``, the decoder's size, and start the decoder as they are. The decoder
writes the target one token at a time::

    x_t     = [E_tgt(y_{t-1}); h~_{t-1}]            (input feeding; h~_0 = 0)
    h_t     = RNN(x_t, h_{t-1})                      (unidirectional, L layers, H units)
    c_t, a_t = attention(h_t, m_1..m_S)              (`rnnkit.models.attention`; a_t: (S,))
    h~_t    = dropout(tanh(W_c [c_t; h_t]))          (the attentional state)
    p(y_t | y_<t, x) = softmax(W_o h~_t)

Without attention (``attention="none"``, Sutskever et al. 2014) ``h~_t = dropout(h_t)``; without
input feeding ``x_t = E_tgt(y_{t-1})`` and training runs the decoder over the whole target in one
kernel call. Scores follow OpenNMT's arrangement for every kind: the attention reads ``h_t``,
the state after the step.

Training is teacher-forced (`forward`); decoding goes through `rnnkit.decode`, for which the
model is a `StepModel` once a source is encoded (`init_state` with the source, `step`,
`map_state`). Each row of a decoding batch has its own limit on new tokens: at its last one the
model gives eos probability 1, so ``max_new_tokens`` of the decoders need only cover the longest.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.attention import Attention
from rnnkit.models.embedding import output_layer, token_embedding
from rnnkit.models.recurrent import build_recurrent

RecurrentState = Tensor | tuple[Tensor, ...]
PAD_ID = 0


class DecoderState(NamedTuple):
    """What the decoder carries from one token to the next, for ``N`` rows (beams)."""

    rnn: RecurrentState  # (L, N, H) each: the decoder layer's state
    feed: Tensor  # (N, H) the previous attentional state h~ (zeros before the first token)
    memory: Tensor  # (N, S, H) the encoder's outputs
    keys: Tensor  # (N, S, K) their share of the attention scores
    mask: Tensor  # (N, S) bool, True at real source positions
    limit: Tensor  # (N,) long, the most tokens each row may generate (eos included)
    generated: int  # tokens generated so far (the tokens fed after bos)


class Seq2Seq(nn.Module):
    """Translates a padded batch of source token ids into target token ids.

    Args:
        source_vocab, target_vocab: vocabulary sizes; id 0 is padding in both.
        bos_id, eos_id: the target's begin / end tokens.
        cell: the recurrent cell, a key of `rnnkit.models.recurrent.CELLS`.
        embedding_dim: ``E``. hidden_size: ``H`` (even: each encoder direction has ``H / 2``).
        num_layers: ``L``, stacked layers in the encoder and in the decoder.
        dropout: on the embeddings, between layers and on the attentional state.
        attention: ``"bahdanau"``, ``"dot"``, ``"general"`` or ``"none"``.
        input_feed: feed ``h~_{t-1}`` to the decoder beside the previous token.
        tie_embeddings: the output layer shares the target embedding's weights (with a linear
            map ``H -> E`` before it when ``H != E``).
        share_embeddings: source and target share one embedding (a joint vocabulary).
        layer_norm, forget_bias: as for every task's recurrent core.
        pretrained: ``(source_vocab, E)`` initial source embedding, or None.

    Shapes: ``forward(source (N, S), source_lengths (N,), target_in (N, T))`` ->
    ``(logits (N, T, V_tgt), attention (N, T, S) or None)``; ``target_in`` starts with bos.
    """

    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        *,
        bos_id: int,
        eos_id: int,
        cell: str = "lstm",
        embedding_dim: int = 256,
        hidden_size: int = 512,
        num_layers: int = 2,
        dropout: float = 0.3,
        attention: str = "general",
        input_feed: bool = True,
        tie_embeddings: bool = False,
        share_embeddings: bool = False,
        layer_norm: bool = False,
        forget_bias: float | None = 1.0,
        pretrained: Tensor | None = None,
    ) -> None:
        super().__init__()
        if hidden_size % 2:
            raise ValueError(
                f"hidden_size must be even (H / 2 per encoder direction), got {hidden_size}"
            )
        if share_embeddings and source_vocab != target_vocab:
            raise ValueError("share_embeddings needs one vocabulary for source and target")
        self.bos_id, self.eos_id = bos_id, eos_id
        self.input_feed = input_feed and attention != "none"
        self.source_embedding = token_embedding(source_vocab, embedding_dim, pretrained=pretrained)
        self.target_embedding = (
            self.source_embedding
            if share_embeddings
            else token_embedding(target_vocab, embedding_dim)
        )
        recurrent = partial(
            build_recurrent,
            cell,
            num_layers=num_layers,
            dropout=dropout,
            layer_norm=layer_norm,
            forget_bias=forget_bias,
        )
        self.encoder = recurrent(embedding_dim, hidden_size // 2, bidirectional=True)
        decoder_input = embedding_dim + (hidden_size if self.input_feed else 0)
        self.decoder = recurrent(decoder_input, hidden_size)
        self.attention = (
            None if attention == "none" else Attention(attention, hidden_size, hidden_size)
        )
        self.combine = (
            None if self.attention is None else nn.Linear(2 * hidden_size, hidden_size, bias=False)
        )
        self.dropout = nn.Dropout(dropout)
        self.projection, self.output = output_layer(
            hidden_size, self.target_embedding, tie=tie_embeddings
        )

    # --- encoder ---------------------------------------------------------------------------
    def encode(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, RecurrentState, Tensor]:
        """``(memory (N, S, H), the decoder's initial state, mask (N, S))`` of a source batch."""
        x = self.dropout(self.source_embedding(source))  # (N, S, E)
        memory, final = self.encoder(x, lengths=lengths.cpu())  # (N, S, H)
        mask = (
            torch.arange(source.shape[1], device=source.device) < lengths.to(source.device)[:, None]
        )
        return memory, _join_directions(final), mask

    # --- decoder ---------------------------------------------------------------------------
    def forward(
        self, source: Tensor, source_lengths: Tensor, target_in: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        """Teacher-forced logits ``(N, T, V)`` and attention ``(N, T, S)`` (None without)."""
        memory, rnn_state, mask = self.encode(source, source_lengths)
        keys = memory if self.attention is None else self.attention.keys(memory)
        embedded = self.dropout(self.target_embedding(target_in))  # (N, T, E)
        if self.input_feed:
            outputs, weights = self._decode_stepwise(embedded, rnn_state, memory, keys, mask)
        else:
            hidden, _ = self.decoder(embedded, rnn_state)  # (N, T, H): one kernel call
            outputs, weights = self._attend(hidden, memory, keys, mask)
        return self._logits(outputs), weights

    def _decode_stepwise(
        self,
        embedded: Tensor,
        rnn_state: RecurrentState,
        memory: Tensor,
        keys: Tensor,
        mask: Tensor,
    ) -> tuple[Tensor, Tensor | None]:
        """The attentional states ``(N, T, H)`` and attention ``(N, T, S)``, one step at a time
        (input feeding makes each step wait for the previous one)."""
        feed = memory.new_zeros(memory.shape[0], memory.shape[2])  # (N, H)
        outputs, weights = [], []
        for token in embedded.unbind(1):  # (N, E) each
            feed, rnn_state, step_weights = self._step(token, feed, rnn_state, memory, keys, mask)
            outputs.append(feed)
            if step_weights is not None:
                weights.append(step_weights)
        return torch.stack(outputs, 1), torch.stack(weights, 1) if weights else None

    def _step(
        self,
        embedded: Tensor,
        feed: Tensor,
        rnn_state: RecurrentState,
        memory: Tensor,
        keys: Tensor,
        mask: Tensor,
    ) -> tuple[Tensor, RecurrentState, Tensor | None]:
        """One decoder step from the embedded token ``(N, E)``: ``(h~ (N, H), state, a (N, S))``
        (``a`` None without attention)."""
        x = torch.cat([embedded, feed], -1) if self.input_feed else embedded  # (N, E [+ H])
        hidden, rnn_state = self.decoder(x.unsqueeze(1), rnn_state)  # (N, 1, H)
        output, weights = self._attend(hidden.squeeze(1), memory, keys, mask)
        return output, rnn_state, weights

    def _attend(
        self, hidden: Tensor, memory: Tensor, keys: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        """``h~ = dropout(tanh(W_c [c; h]))`` and the attention, for ``hidden`` ``(N, [T,] H)``."""
        if self.attention is None or self.combine is None:
            return self.dropout(hidden), None
        context, weights = self.attention(hidden, memory, keys, mask)
        combined = torch.tanh(self.combine(torch.cat([context, hidden], -1)))
        return self.dropout(combined), weights

    def _logits(self, outputs: Tensor) -> Tensor:
        """Vocabulary scores of attentional states ``(..., H)``: ``(..., V)``."""
        if self.projection is not None:
            outputs = self.projection(outputs)
        return self.output(outputs)

    # --- the step-wise decoding interface ---------------------------------------------------
    def init_state(
        self, batch_size: int, source: Tensor, lengths: Tensor, limit: Tensor
    ) -> DecoderState:
        """The state before bos for ``batch_size`` encoded sources ``(N, S)``; ``limit`` ``(N,)``
        caps each row's new tokens (eos included)."""
        if source.shape[0] != batch_size:
            raise ValueError(f"batch_size {batch_size} but {source.shape[0]} sources")
        memory, rnn_state, mask = self.encode(source, lengths)
        keys = memory if self.attention is None else self.attention.keys(memory)
        feed = memory.new_zeros(batch_size, memory.shape[2])
        return DecoderState(rnn_state, feed, memory, keys, mask, limit.to(source.device), -1)

    def start(self, source: Tensor, lengths: Tensor, limit: Tensor) -> tuple[Tensor, DecoderState]:
        """Encode ``source`` and feed bos: the first token's log-probs ``(N, V)`` and the state,
        where every decoder of `rnnkit.decode` starts."""
        state = self.init_state(source.shape[0], source, lengths, limit)
        bos = torch.full((source.shape[0],), self.bos_id, dtype=torch.long, device=source.device)
        return self.step(bos, state)

    def step(self, tokens: Tensor, state: DecoderState) -> tuple[Tensor, DecoderState]:
        """Log-probs ``(N, V)`` of the token after ``tokens`` ``(N,)``, and the state after it."""
        embedded = self.dropout(self.target_embedding(tokens))  # (N, E)
        feed, rnn_state, _ = self._step(
            embedded, state.feed, state.rnn, state.memory, state.keys, state.mask
        )
        log_probs = F.log_softmax(self._logits(feed).float(), dim=-1)  # (N, V)
        log_probs[:, [PAD_ID, self.bos_id]] = float("-inf")  # never written
        generated = state.generated + 1
        at_limit = state.limit <= generated + 1  # (N,) the next token is the row's last
        if bool(at_limit.any()):
            only_eos = torch.full_like(log_probs[0], float("-inf"))
            only_eos[self.eos_id] = 0.0
            log_probs = torch.where(at_limit[:, None], only_eos, log_probs)
        return log_probs, state._replace(rnn=rnn_state, feed=feed, generated=generated)

    @staticmethod
    def map_state(state: DecoderState, index: Tensor) -> DecoderState:
        """The state of the rows ``index`` (select, reorder or repeat them, e.g. for beams)."""
        rnn = (
            state.rnn.index_select(1, index)
            if isinstance(state.rnn, Tensor)
            else tuple(part.index_select(1, index) for part in state.rnn)
        )
        feed, memory, keys, mask, limit = (
            part.index_select(0, index)
            for part in (state.feed, state.memory, state.keys, state.mask, state.limit)
        )
        return DecoderState(rnn, feed, memory, keys, mask, limit, state.generated)

    # --- scoring ---------------------------------------------------------------------------
    @torch.no_grad()
    def score(
        self, source: Tensor, source_lengths: Tensor, target_in: Tensor, target_out: Tensor
    ) -> tuple[Tensor, Tensor | None]:
        """``(log p(y_t | y_<t, x) (N, T), attention (N, T, S) or None)`` of given targets;
        positions where ``target_out`` is padding (0) get log-prob 0."""
        logits, weights = self(source, source_lengths, target_in)
        log_probs = (
            F.log_softmax(logits.float(), -1).gather(-1, target_out.unsqueeze(-1)).squeeze(-1)
        )
        return log_probs.masked_fill(target_out == 0, 0.0), weights


def _join_directions(state: RecurrentState) -> RecurrentState:
    """A bidirectional layer's final state, each part ``(L * 2, N, H / 2)``, as the decoder's
    ``(L, N, H)``: each layer's forward and backward states side by side."""
    if isinstance(state, Tensor):
        return _join_pairs(state)
    return tuple(_join_pairs(part) for part in state)


def _join_pairs(part: Tensor) -> Tensor:
    rows, batch, size = part.shape
    pairs = part.view(rows // 2, 2, batch, size).transpose(1, 2)  # (L, N, 2, H / 2)
    return pairs.reshape(rows // 2, batch, 2 * size)

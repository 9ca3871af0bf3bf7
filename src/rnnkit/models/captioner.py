"""`Captioner`: an image encoder and a recurrent decoder that writes a caption word by word,
with soft attention over the image (Xu et al. 2015, "Show, Attend and Tell") or without it
(Vinyals et al. 2015, "Show and Tell").

The encoder (`rnnkit.models.image_encoder`) turns the image into a feature map ``(N, C, h, w)``;
its ``L = h * w`` positions, projected to the decoder's size ``D = H``, are the annotation
vectors ``a_1 .. a_L`` (one per image region). With ``attention="soft"``::

    ā        = (1 / L) sum_i a_i
    h_0, c_0 = tanh(W_h ā + b_h), tanh(W_c ā + b_c)        (the LSTM's c only; a GRU has h)
    e_ti     = v^T tanh(W_a a_i + U_a h_{t-1} + b_a)         (additive, `attention.Attention`)
    α_t      = softmax_i(e_ti)                               (N, L), sums to 1
    β_t      = σ(w_β^T h_{t-1} + b_β)                        (N, 1), the gating scalar
    z_t      = β_t sum_i α_ti a_i                            (N, D), the context
    h_t      = Cell([E y_{t-1}; z_t], h_{t-1})               (rnnkit's LSTMCell or GRUCell)
    p(y_t | y_<t, I) = softmax(L_o dropout(E y_{t-1} + L_h h_t + L_z z_t))   (deep output)

With ``attention="none"`` the image is the decoder's first input instead, from a zero state:
``h_0 = Cell(W_I ā, 0)``, then ``h_t = Cell(E y_{t-1}, h_{t-1})`` and the output drops
``L_z z_t``. ``y_0`` is bos; the caption ends with eos.

Training is teacher-forced (`forward`), plus Xu et al.'s doubly stochastic regulariser
(`attention_penalty`), which pushes every region to get about as much attention in total over
the caption as any other. Decoding goes through `rnnkit.decode`: once images are encoded
(`init_state`) the model is a `StepModel` (`step`, `map_state`), and the state holds the
attention weights of its last step (``state.weights``, ``state.grid``) for plots.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.attention import Attention
from rnnkit.nn import GRUCell, LSTMCell

CELLS: dict[str, type[LSTMCell] | type[GRUCell]] = {"lstm": LSTMCell, "gru": GRUCell}
ATTENTION = ("soft", "none")
PAD_ID = 0


class CaptionState(NamedTuple):
    """What the decoder carries from one word to the next, for ``N`` rows (images or beams)."""

    rnn: tuple[Tensor, ...]  # (h,) or (h, c), each (N, H)
    memory: Tensor  # (N, L, D) the annotation vectors
    keys: Tensor  # (N, L, A) their share of the attention scores, W_a a_i (no attention: memory)
    weights: Tensor  # (N, L) α of the last step (zeros before the first, and without attention)
    grid: tuple[int, int]  # (h, w): the feature map's positions, L = h * w


class Captioner(nn.Module):
    """Writes captions for images (see the module docstring for the equations).

    Args:
        vocab_size: ``V``, word ids with 0 as padding.
        bos_id, eos_id: the caption's begin and end tokens.
        encoder: an image encoder with ``out_channels`` ``C`` (`build_image_encoder`).
        cell: ``"lstm"`` or ``"gru"``.
        embedding_dim: ``E``. hidden_size: ``H``, also the annotation size ``D``.
        attention: ``"soft"`` (Xu et al.) or ``"none"`` (Vinyals et al.).
        attention_size: ``A``, the hidden size of the attention scores (default ``H``).
        dropout: before the output layer.
        freeze_encoder: keep the encoder's weights fixed and its BatchNorm statistics as they
            are (always in eval mode); it gets no gradient.

    Shapes: ``forward(images (N, 3, S, S), captions_in (N, T))`` -> ``(logits (N, T, V),
    attention (N, T, L) or None)``; ``captions_in`` starts with bos.
    """

    def __init__(
        self,
        vocab_size: int,
        *,
        bos_id: int,
        eos_id: int,
        encoder: nn.Module,
        cell: str = "lstm",
        embedding_dim: int = 128,
        hidden_size: int = 256,
        attention: str = "soft",
        attention_size: int | None = None,
        dropout: float = 0.3,
        freeze_encoder: bool = False,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {tuple(CELLS)}, not {cell!r}")
        if attention not in ATTENTION:
            raise ValueError(f"attention must be one of {ATTENTION}, not {attention!r}")
        self.bos_id, self.eos_id = bos_id, eos_id
        self.encoder, self.freeze_encoder = encoder, freeze_encoder
        if freeze_encoder:
            encoder.requires_grad_(False)
        channels: int = encoder.out_channels  # type: ignore[assignment]
        self.annotation = nn.Linear(channels, hidden_size)  # a_i = W f_i + b
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_ID)
        self.attention: Attention | None = None
        if attention == "soft":
            self.attention = Attention("bahdanau", hidden_size, hidden_size, attention_size)
            self.gate = nn.Linear(hidden_size, 1)  # β
            self.init_h = nn.Linear(hidden_size, hidden_size)
            self.init_c = nn.Linear(hidden_size, hidden_size) if cell == "lstm" else None
            self.context_out = nn.Linear(hidden_size, embedding_dim)  # L_z
            cell_input = embedding_dim + hidden_size
        else:
            self.image_input = nn.Linear(hidden_size, embedding_dim)  # W_I
            cell_input = embedding_dim
        self.cell = CELLS[cell](cell_input, hidden_size)
        self.hidden_out = nn.Linear(hidden_size, embedding_dim)  # L_h
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(embedding_dim, vocab_size)  # L_o

    def train(self, mode: bool = True) -> Captioner:
        """Training mode for everything but a frozen encoder, whose BatchNorm keeps its
        statistics."""
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    # --- encoder -----------------------------------------------------------------------------
    def encode(self, images: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """The annotation vectors ``(N, L, D)`` of ``images (N, 3, S, S)`` and their grid
        ``(h, w)``."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            features = self.encoder(images)  # (N, C, h, w)
        grid = (int(features.shape[2]), int(features.shape[3]))
        return self.annotation(features.flatten(2).transpose(1, 2)), grid  # (N, L, D)

    def _initial_state(self, memory: Tensor, grid: tuple[int, int]) -> CaptionState:
        """The state before bos, from the mean annotation ``ā`` (module docstring)."""
        mean = memory.mean(1)  # (N, D)
        weights = memory.new_zeros(memory.shape[:2])  # (N, L)
        if self.attention is None:
            first = self.cell(self.image_input(mean))  # the image as the first input
            rnn = first if isinstance(first, tuple) else (first,)
            return CaptionState(rnn, memory, memory, weights, grid)
        rnn = (torch.tanh(self.init_h(mean)),)
        if self.init_c is not None:
            rnn = (*rnn, torch.tanh(self.init_c(mean)))
        return CaptionState(rnn, memory, self.attention.keys(memory), weights, grid)

    # --- one step ----------------------------------------------------------------------------
    def _advance(self, embedded: Tensor, state: CaptionState) -> tuple[Tensor, CaptionState]:
        """One word: ``embedded`` ``E y_{t-1}`` ``(N, E)`` -> the output layer's input
        ``E y_{t-1} + L_h h_t [+ L_z z_t]`` ``(N, E)`` and the state after it."""
        if self.attention is None:
            x, weights, context_term = embedded, state.weights, 0.0
        else:
            query = state.rnn[0]  # h_{t-1} (N, H)
            mask = torch.ones(state.weights.shape, dtype=torch.bool, device=query.device)
            context, weights = self.attention(query, state.memory, state.keys, mask)  # (N, D)
            context = torch.sigmoid(self.gate(query)) * context  # z_t = β_t Σ α_ti a_i
            x, context_term = torch.cat([embedded, context], -1), self.context_out(context)
        new = self.cell(x, state.rnn if len(state.rnn) > 1 else state.rnn[0])
        rnn = new if isinstance(new, tuple) else (new,)
        deep = embedded + self.hidden_out(rnn[0]) + context_term  # (N, E)
        return deep, state._replace(rnn=rnn, weights=weights)

    # --- training ----------------------------------------------------------------------------
    def forward(self, images: Tensor, captions_in: Tensor) -> tuple[Tensor, Tensor | None]:
        """Teacher-forced logits ``(N, T, V)`` and attention ``(N, T, L)`` (None without)."""
        state = self._initial_state(*self.encode(images))
        embedded = self.embedding(captions_in)  # (N, T, E)
        outputs, weights = [], []
        for token in embedded.unbind(1):  # (N, E) each
            deep, state = self._advance(token, state)
            outputs.append(deep)
            weights.append(state.weights)
        logits = self.output(self.dropout(torch.stack(outputs, 1)))  # (N, T, V)
        return logits, torch.stack(weights, 1) if self.attention is not None else None

    # --- the step-wise decoding interface ---------------------------------------------------
    def init_state(self, batch_size: int, images: Tensor) -> CaptionState:
        """The state before bos for ``batch_size`` images ``(N, 3, S, S)`` (encoded here)."""
        if images.shape[0] != batch_size:
            raise ValueError(f"batch_size {batch_size} but {images.shape[0]} images")
        return self._initial_state(*self.encode(images))

    def start(self, images: Tensor) -> tuple[Tensor, CaptionState]:
        """Encode ``images`` and feed bos: the first word's log-probs ``(N, V)`` and the state,
        where every decoder of `rnnkit.decode` starts."""
        state = self.init_state(images.shape[0], images)
        bos = torch.full((images.shape[0],), self.bos_id, dtype=torch.long, device=images.device)
        return self.step(bos, state)

    def step(self, tokens: Tensor, state: CaptionState) -> tuple[Tensor, CaptionState]:
        """Log-probs ``(N, V)`` of the word after ``tokens`` ``(N,)``, and the state after it
        (``state.weights``: the attention that word was written with)."""
        deep, state = self._advance(self.embedding(tokens), state)
        log_probs = F.log_softmax(self.output(self.dropout(deep)).float(), dim=-1)  # (N, V)
        log_probs[:, [PAD_ID, self.bos_id]] = float("-inf")  # never written
        return log_probs, state

    @staticmethod
    def map_state(state: CaptionState, index: Tensor) -> CaptionState:
        """The state of the rows ``index`` (select, reorder or repeat them, e.g. for beams)."""
        rnn = tuple(part.index_select(0, index) for part in state.rnn)
        memory, keys, weights = (
            part.index_select(0, index) for part in (state.memory, state.keys, state.weights)
        )
        return CaptionState(rnn, memory, keys, weights, state.grid)


def attention_penalty(weights: Tensor, lengths: Tensor) -> Tensor:
    """Xu et al.'s doubly stochastic regulariser per caption, ``sum_i (1 - sum_t α_ti)^2``
    ``(N,)``, of attention ``weights`` ``(N, T, L)``; only the first ``lengths[n]`` steps of
    row ``n`` count (padding never does)."""
    steps = torch.arange(weights.shape[1], device=weights.device)
    real = steps[None, :] < lengths.to(weights.device)[:, None]  # (N, T)
    total = weights.masked_fill(~real[:, :, None], 0.0).sum(1)  # (N, L): Σ_t α_ti
    return ((1.0 - total) ** 2).sum(-1)

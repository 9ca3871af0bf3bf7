"""Sketch-RNN (Ha & Eck 2017, "A Neural Representation of Sketch Drawings"): a sequence-to-
sequence variational autoencoder over pen strokes.

Sketches are stroke-5 sequences ``S_1..S_{N_max}``, ``S_i = (Δx, Δy, p1, p2, p3)``, a sketch of
``N_s`` points padded with end rows ``(0, 0, 0, 0, 1)`` (`rnnkit.data.sketches`)::

    encoder   h→ | h← = BiRNN(S_1..S_{N_s})               final states of both directions,
                                                          read over the true length only
              μ = W_μ [h→; h←] + b_μ,  σ̂ = W_σ [h→; h←] + b_σ          (B, N_z) each
              z = μ + exp(σ̂ / 2) ⊙ ε,  ε ~ N(0, I)
    decoder   [h_0; c_0] = tanh(W_z z + b_z)              every layer's initial state
              x_i = [S_{i-1}; z],  S_0 = (0, 0, 1, 0, 0)  teacher forcing
              y_i = W_y RNN(x_i, state) + b_y             (B, N_max, 6M + 3)
              -> the mixture of `rnnkit.models.mixture_density` over (Δx_i, Δy_i) and the
                 pen state of S_i

The losses (per sketch, ``(B,)``; the task weights them): ``L_s = -(1/N_max) Σ_{i≤N_s}
log p(Δx_i, Δy_i)`` over the true length, ``L_p = -(1/N_max) Σ_{i≤N_max} log q(pen_i)``
over every step, so the end of the sketch is learnt too (`reconstruction_losses`), and
``L_KL = -(1/(2 N_z)) Σ (1 + σ̂ - μ² - exp σ̂)`` (`kl_divergence`).

Unconditional mode (``latent_size=0``): no encoder and no ``z``; the decoder starts from the
zero state and reads ``x_i = S_{i-1}`` — a language model of strokes, as the paper also trains.

Sampling is step by step (`init_state`, `step`, `sample`): one decoder step per point,
``O(1)`` work each, drawing from the mixture at a temperature until the pen state says "end".
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.mixture_density import (
    Mixture,
    mixture_from_output,
    offset_log_likelihood,
    output_size,
    pen_log_probs,
    sample_mixture,
)
from rnnkit.models.recurrent import build_recurrent

STROKE5 = 5
START = (0.0, 0.0, 1.0, 0.0, 0.0)  # S_0: the pen down at the origin
END = 2  # the pen state "end of sketch", p3
Hidden = Tensor | tuple[Tensor, ...]


class DecoderState(NamedTuple):
    """The decoder's state between steps: its layer's ``hidden`` state (e.g. ``(h, c)``, each
    ``(num_layers, B, H)``) and the latent ``z`` ``(B, N_z)`` (``(B, 0)`` unconditional)."""

    hidden: Hidden
    z: Tensor


class SketchOutput(NamedTuple):
    """A teacher-forced pass: the ``mixture`` of every step (each part ``(B, N_max, ·)``), and
    the posterior's ``mu`` and ``log_var`` (σ̂) ``(B, N_z)``, None when unconditional."""

    mixture: Mixture
    mu: Tensor | None
    log_var: Tensor | None


class SketchRNN(nn.Module):
    """See the module docstring.

    Args:
        latent_size: ``N_z``; 0 for the unconditional (decoder-only) model.
        encoder_size: state size of each direction of the encoder.
        hidden_size: state size of the decoder.
        num_mixtures: ``M``, the bivariate normals of the offset distribution.
        cell: the recurrent cell of encoder and decoder (`rnnkit.models.recurrent.CELLS`).
        num_layers: stacked layers of encoder and decoder.
        dropout: dropout on the decoder's output (and between stacked layers).
        layer_norm: layer-normalised cells.
        forget_bias: initial forget-gate bias of cells that have one.

    Shapes: ``strokes (B, N_max, 5)``, ``lengths (B,)`` (points of each sketch, ``1..N_max``).
    """

    start: Tensor  # S_0, (5,)

    def __init__(
        self,
        *,
        latent_size: int = 64,
        encoder_size: int = 128,
        hidden_size: int = 256,
        num_mixtures: int = 20,
        cell: str = "lstm",
        num_layers: int = 1,
        dropout: float = 0.0,
        layer_norm: bool = False,
        forget_bias: float | None = 1.0,
    ) -> None:
        super().__init__()
        self.latent_size, self.num_mixtures = latent_size, num_mixtures
        layer = partial(
            build_recurrent,
            cell,
            num_layers=num_layers,
            dropout=dropout,
            layer_norm=layer_norm,
            forget_bias=forget_bias,
        )
        self.decoder = layer(STROKE5 + latent_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size, output_size(num_mixtures))
        self.register_buffer("start", torch.tensor(START), persistent=False)
        if self.conditional:
            self.encoder = layer(STROKE5, encoder_size, bidirectional=True)
            self.to_mu = nn.Linear(2 * encoder_size, latent_size)
            self.to_log_var = nn.Linear(2 * encoder_size, latent_size)
            state_size = sum(part.shape[0] * part.shape[2] for part in self._zero_state(1))
            self.to_state = nn.Linear(latent_size, state_size)

    @property
    def conditional(self) -> bool:
        """Whether the model encodes sketches to a latent ``z`` (``latent_size > 0``)."""
        return self.latent_size > 0

    # --- encoder ---------------------------------------------------------------------------
    def encode(self, strokes: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``(μ, σ̂)``, each ``(B, N_z)``, of sketches ``(B, N, 5)`` of ``lengths`` points
        (rows past a sketch's length are never read)."""
        _, final = self.encoder(strokes, lengths=lengths)
        h = final[0] if isinstance(final, tuple) else final  # (2 · layers, B, H)
        last = torch.cat([h[-2], h[-1]], dim=-1)  # (B, 2H): the top layer, both directions
        return self.to_mu(last), self.to_log_var(last)

    @staticmethod
    def latent(mu: Tensor, log_var: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``z = μ + exp(σ̂ / 2) ⊙ ε``, ``ε ~ N(0, I)`` (the reparameterisation trick)."""
        noise = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(log_var / 2) * noise

    # --- decoder ---------------------------------------------------------------------------
    def _zero_state(self, batch_size: int) -> tuple[Tensor, ...]:
        state = self.decoder.initial_state(batch_size)
        return state if isinstance(state, tuple) else (state,)

    def init_state(self, z_or_batch: Tensor | int) -> DecoderState:
        """The decoder's initial state: ``tanh(W_z z + b_z)`` from ``z`` ``(B, N_z)``
        (conditional), or zeros for ``B`` sketches (unconditional)."""
        zeros = self._zero_state(z_or_batch if isinstance(z_or_batch, int) else len(z_or_batch))
        if not self.conditional:
            if not isinstance(z_or_batch, int):
                raise ValueError("an unconditional model starts from a batch size, not z")
            hidden = zeros if len(zeros) > 1 else zeros[0]
            return DecoderState(hidden, self.output.weight.new_zeros(z_or_batch, 0))
        if isinstance(z_or_batch, int):
            raise ValueError("a conditional model starts from z (B, N_z)")
        z = z_or_batch
        flat = torch.tanh(self.to_state(z))  # (B, Σ rows · size)
        sizes = [part.shape[0] * part.shape[2] for part in zeros]
        parts = tuple(
            chunk.reshape(z.shape[0], part.shape[0], part.shape[2]).transpose(0, 1).contiguous()
            for chunk, part in zip(flat.split(sizes, dim=-1), zeros, strict=True)
        )  # each (rows, B, size)
        return DecoderState(parts if len(parts) > 1 else parts[0], z)

    def decode(self, inputs: Tensor, state: DecoderState) -> tuple[Mixture, DecoderState]:
        """The mixtures of the steps after ``inputs`` ``(B, T, 5)`` (each step's input the
        previous point), each part ``(B, T, ·)``, and the state after them."""
        z = state.z.unsqueeze(1).expand(-1, inputs.shape[1], -1)  # (B, T, N_z)
        out, hidden = self.decoder(torch.cat([inputs, z], dim=-1), state.hidden)  # (B, T, H)
        mixture = mixture_from_output(self.output(self.dropout(out)), self.num_mixtures)
        return mixture, DecoderState(hidden, state.z)

    def step(self, point: Tensor, state: DecoderState) -> tuple[Mixture, DecoderState]:
        """One decoder step: the mixture of the next point ``(B, ·)`` after ``point``
        ``(B, 5)``, and the new state."""
        mixture, state = self.decode(point.unsqueeze(1), state)
        return Mixture(*(part.squeeze(1) for part in mixture)), state

    def teacher_forced(self, strokes: Tensor, z_or_batch: Tensor | int) -> Mixture:
        """The mixtures predicting each row of ``strokes`` ``(B, N, 5)`` from the rows
        before it (``S_0`` first), each part ``(B, N, ·)``."""
        start = self.start.expand(len(strokes), 1, STROKE5)  # (B, 1, 5)
        inputs = torch.cat([start, strokes[:, :-1]], dim=1)  # (B, N, 5)
        mixture, _ = self.decode(inputs, self.init_state(z_or_batch))
        return mixture

    def forward(
        self, strokes: Tensor, lengths: Tensor, generator: torch.Generator | None = None
    ) -> SketchOutput:
        """Encode (conditional), draw ``z``, and decode ``strokes`` ``(B, N_max, 5)``
        teacher-forced."""
        if not self.conditional:
            return SketchOutput(self.teacher_forced(strokes, len(strokes)), None, None)
        mu, log_var = self.encode(strokes, lengths)
        z = self.latent(mu, log_var, generator)
        return SketchOutput(self.teacher_forced(strokes, z), mu, log_var)

    # --- sampling --------------------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        num: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        max_length: int = 250,
        start: Tensor | None = None,
    ) -> list[Tensor]:
        """``num`` sketches drawn at ``temperature``, as stroke-3 tensors ``(T_i, 3)`` of at
        most ``max_length`` points (the end row not included).

        A new sketch holds at least one point: at its first step the end of the sketch is
        left out of the pen's distribution (a barely trained model would often end at once).
        With ``start``, a partial sketch as stroke-5 ``(T_0, 5)`` (no end rows), every sketch
        begins with it: the decoder reads it first, then continues; a conditional model also
        draws its ``z`` from the encoding of ``start``, else ``z ~ N(0, I)``.
        """
        prefix = self.start.new_zeros(0, STROKE5) if start is None else start.to(self.start)
        prefix = prefix.unsqueeze(0).expand(num, -1, -1)  # (num, T_0, 5)
        state = self._first_state(num, prefix, generator)
        inputs = torch.cat([self.start.expand(num, 1, STROKE5), prefix], dim=1)
        mixture, state = self.decode(inputs, state)
        last = Mixture(*(part[:, -1] for part in mixture))  # predicts row T_0
        rows, ended = [], torch.zeros(num, dtype=torch.bool, device=prefix.device)
        lengths = torch.full((num,), max_length, device=prefix.device)
        for index in range(prefix.shape[1], max_length):
            if index == 0:  # a sketch has a point: the end is not drawn before the first
                never_end = last.pen_logits.clone()
                never_end[..., END] = -math.inf
                last = last._replace(pen_logits=never_end)
            offsets, pen = sample_mixture(last, temperature, generator)
            lengths[(pen == END) & ~ended] = index
            ended |= pen == END
            if bool(ended.all()):
                break
            point = torch.cat([offsets, F.one_hot(pen, 3).to(offsets)], dim=-1)  # (num, 5)
            rows.append(point)
            last, state = self.step(point, state)
        drawn = torch.cat([prefix, *(row.unsqueeze(1) for row in rows)], dim=1)
        stroke3 = drawn[..., [0, 1, 3]]  # (num, T, 3): dx, dy, p2
        return [stroke3[i, : int(lengths[i])] for i in range(num)]

    def _first_state(
        self, num: int, prefix: Tensor, generator: torch.Generator | None
    ) -> DecoderState:
        if not self.conditional:
            return self.init_state(num)
        if prefix.shape[1] == 0:
            z = torch.randn(num, self.latent_size, generator=generator, device=prefix.device)
            return self.init_state(z)
        lengths = torch.full((num,), prefix.shape[1], dtype=torch.long)
        mu, log_var = self.encode(prefix, lengths)
        return self.init_state(self.latent(mu, log_var, generator))


def reconstruction_losses(
    mixture: Mixture, strokes: Tensor, lengths: Tensor
) -> tuple[Tensor, Tensor]:
    """``(L_s, L_p)`` per sketch, each ``(B,)``: the offsets' negative log-likelihood over the
    true length and the pen states' cross-entropy over all ``N_max`` steps, both divided by
    ``N_max`` (``strokes`` ``(B, N_max, 5)``). Offsets past a sketch's length are never read,
    whatever they hold."""
    n_max = strokes.shape[1]
    real = torch.arange(n_max, device=strokes.device) < lengths.to(strokes.device).unsqueeze(1)
    dx = strokes[..., 0].where(real, 0.0)  # (B, N_max)
    dy = strokes[..., 1].where(real, 0.0)
    log_likelihood = offset_log_likelihood(mixture, dx, dy).where(real, 0.0)
    pen_target = strokes[..., 2:].argmax(dim=-1, keepdim=True)  # (B, N_max, 1)
    pen_log_likelihood = pen_log_probs(mixture).gather(-1, pen_target).squeeze(-1)
    return -log_likelihood.sum(1) / n_max, -pen_log_likelihood.sum(1) / n_max


def kl_divergence(mu: Tensor, log_var: Tensor) -> Tensor:
    """``KL(N(μ, exp σ̂) ‖ N(0, I))`` per latent dimension, per sketch ``(B,)``:
    ``-(1/(2 N_z)) Σ (1 + σ̂ - μ² - exp σ̂)``."""
    return -0.5 * torch.mean(1 + log_var - mu**2 - torch.exp(log_var), dim=-1)

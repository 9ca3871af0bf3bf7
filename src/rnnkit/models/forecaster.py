"""The forecaster: a recurrent encoder over the context window, then the horizon.

Shapes: ``context`` (B, L, F) — at each past step the (scaled) target, the past covariates and
the calendar features; ``known`` (B, H, K) — the calendar features of the H future steps, known
in advance; ``target`` (B, H) — the (scaled) values to forecast. The output is the head's raw
parameters (B, H, P) (`rnnkit.models.forecast_heads`).

Two decoders (``model.decoder``):

- ``direct`` — one shot (as MQ-RNN, Wen et al. 2017): the encoder's last output h_L and the
  flattened future calendar features go through an MLP to H feature vectors, one per step:
  ``f = W_2 relu(W_1 [h_L; k_1 .. k_H])``, reshaped (B, H, D), then the head.
- ``autoregressive`` — as DeepAR (Salinas et al. 2020): a second recurrent layer started from
  the encoder's final state reads ``[z_{t-1}; k_t]`` and emits step t's parameters. Training
  feeds the true previous values (teacher forcing, one kernel call over the horizon);
  forecasting feeds back its own mean, or, for sample paths, its own draws.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from rnnkit.models.forecast_heads import ForecastHead
from rnnkit.models.recurrent import build_recurrent

DecoderName = Literal["direct", "autoregressive"]


class Forecaster(nn.Module):
    """Encoder + decoder + head; see the module docstring.

    Args:
        input_size: F, features per context step (the target first).
        known_size: K, calendar features per step.
        horizon: H, steps forecast at once.
        head: what each step predicts (point or distribution).
        cell, hidden_size, num_layers, dropout, layer_norm, forget_bias: the recurrent layers
            (`rnnkit.models.recurrent.build_recurrent`).
        decoder: ``direct`` or ``autoregressive``.
    """

    def __init__(
        self,
        input_size: int,
        known_size: int,
        horizon: int,
        head: ForecastHead,
        *,
        cell: str = "lstm",
        hidden_size: int = 64,
        num_layers: int = 2,
        dropout: float = 0.1,
        layer_norm: bool = False,
        forget_bias: float | None = 1.0,
        decoder: DecoderName = "direct",
    ) -> None:
        super().__init__()
        self.horizon, self.hidden_size, self.decoder_kind = horizon, hidden_size, decoder
        layers: dict[str, Any] = {
            "num_layers": num_layers,
            "dropout": dropout,
            "layer_norm": layer_norm,
            "forget_bias": forget_bias,
        }
        self.encoder = build_recurrent(cell, input_size, hidden_size, **layers)
        self.dropout = nn.Dropout(dropout)
        if decoder == "direct":
            self.mlp = nn.Sequential(
                nn.Linear(hidden_size + horizon * known_size, hidden_size),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden_size, horizon * hidden_size),
            )
        else:
            self.decoder = build_recurrent(cell, 1 + known_size, hidden_size, **layers)
        self.head = head

    def forward(self, context: Tensor, known: Tensor, target: Tensor | None = None) -> Tensor:
        """Raw parameters (B, H, P). The autoregressive decoder is teacher-forced with
        ``target`` (B, H) when given, else fed back its own means."""
        encoded, state = self.encoder(context)  # (B, L, D)
        if self.decoder_kind == "direct":
            return self._direct(encoded[:, -1], known)
        last = context[:, -1:, 0]  # (B, 1): z_{t-1}, the last context value
        if target is None:
            return self._unroll(last, known, state, self.head.mean)
        previous = torch.cat([last, target[:, :-1]], dim=1)  # (B, H)
        steps, _ = self.decoder(torch.cat([previous.unsqueeze(-1), known], dim=-1), state)
        return self.head(self.dropout(steps))

    def sample_paths(self, context: Tensor, known: Tensor, num_samples: int) -> Tensor:
        """``num_samples`` sample paths (B, S, H) in the model's (scaled) units: each step drawn
        from its marginal (direct), or drawn and fed back (autoregressive). The context is
        encoded once; only the draws are repeated."""
        batch = context.shape[0]
        if self.decoder_kind == "direct":
            params = self.forward(context, known).repeat_interleave(num_samples, dim=0)
            return self.head.sample(params).reshape(batch, num_samples, self.horizon)
        _, state = self.encoder(context)
        paths = self._unroll(
            context[:, -1:, 0].repeat_interleave(num_samples, dim=0),
            known.repeat_interleave(num_samples, dim=0),
            _repeat_state(state, num_samples),
            self.head.sample,
            keep=True,
        )
        return paths.reshape(batch, num_samples, self.horizon)

    def _direct(self, last_output: Tensor, known: Tensor) -> Tensor:
        features = torch.cat([last_output, known.flatten(1)], dim=1)  # (B, D + H·K)
        steps = self.mlp(self.dropout(features)).view(-1, self.horizon, self.hidden_size)
        return self.head(steps)  # (B, H, P)

    def _unroll(
        self, last: Tensor, known: Tensor, state: Any, pick: Any, keep: bool = False
    ) -> Tensor:
        """Run the decoder one step at a time from ``last`` (B, 1), feeding back ``pick`` of
        each step's parameters; the parameters (B, H, P), or the picked values (B, H) with
        ``keep``."""
        previous, params, picked = last, [], []
        for t in range(self.horizon):
            x = torch.cat([previous.unsqueeze(-1), known[:, t : t + 1]], dim=-1)  # (B, 1, 1+K)
            output, state = self.decoder(x, state)
            step = self.head(self.dropout(output))  # (B, 1, P)
            previous = pick(step).to(last.dtype)  # (B, 1)
            params.append(step)
            picked.append(previous)
        return torch.cat(picked, dim=1) if keep else torch.cat(params, dim=1)


def _repeat_state(state: Any, times: int) -> Any:
    """A recurrent state (``(layers, B, H)``, or a tuple of such) with each batch row repeated
    ``times`` times, as `torch.repeat_interleave` repeats the inputs."""
    if isinstance(state, Tensor):
        return state.repeat_interleave(times, dim=1)
    return tuple(part.repeat_interleave(times, dim=1) for part in state)

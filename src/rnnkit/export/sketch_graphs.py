"""Sketch-RNN's export: the encoder, the decoder's start, and one decoder step.

- ``encoder`` (``model.onnx``): ``(strokes (N, T, 5), lengths (N,)) -> (mu (N, N_z),
  sigma_hat (N, N_z))``, `SketchRNN.encode`: the posterior of a padded batch of stroke-5
  sketches (offsets divided by the facts' ``scale``); rows past each sketch's length are never
  read. ``z = mu + exp(sigma_hat / 2) · ε``, ``ε ~ N(0, I)``; ``z ~ N(0, I)`` draws a new
  sketch.
- ``init`` (``model.init.onnx``): ``(z (N, N_z)) -> (h, c)``, the decoder's initial state
  ``tanh(W_z z + b_z)`` (`SketchRNN.init_state`).
- ``step`` (``model.step.onnx``): ``(point (N, 5), z (N, N_z), h, c) -> (logits, mu_x, mu_y,
  log_sigma_x, log_sigma_y, rho_raw (N, M) each, pen_logits (N, 3), h_out, c_out)``,
  `SketchRNN.step`: the mixture over the next point after ``point`` (the first point's input is
  ``S_0 = (0, 0, 1, 0, 0)``).

An unconditional model (``model.latent_size=0``) has the ``step`` graph only, without ``z``,
and starts from the zero state ``(L, N, H)``. A GRU or RNN decoder has ``h`` only.

Drawing, as `SketchRNN.sample` does at a temperature ``τ``: pick a component from
``softmax(logits / τ)``, draw ``(Δx, Δy)`` from its bivariate normal with means ``mu_x, mu_y``,
deviations ``exp(log_sigma) · √τ`` and correlation ``tanh(rho_raw)``, and a pen state from
``softmax(pen_logits / τ)`` (0 down, 1 lifted, 2 end; the first point never ends); feed the
point back as stroke-5 ``(Δx, Δy, one-hot pen)`` until the pen state is "end" or after
``max_length`` points, then multiply the offsets by ``scale``.
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.export.graph import BATCH, TIME, ExportPlan, Graph, Port, random_lengths
from rnnkit.export.state_ports import StatePorts, as_state, as_tuple
from rnnkit.models.mixture_density import PEN_STATES, Mixture
from rnnkit.models.sketch_rnn import END, START, STROKE5, DecoderState, SketchRNN
from rnnkit.tasks.runs import LoadedRun
from rnnkit.tasks.sketch import SketchGeneration

MIXTURE_DOCS = {
    "logits": "component weights before softmax (π̂)",
    "mu_x": "mean Δx of each component",
    "mu_y": "mean Δy of each component",
    "log_sigma_x": "log standard deviation of Δx (σ̂x)",
    "log_sigma_y": "log standard deviation of Δy (σ̂y)",
    "rho_raw": "correlation before tanh (ρ̂)",
    "pen_logits": "pen states (down, lifted, end) before softmax (q̂)",
}


class EncoderGraph(nn.Module):
    """`SketchRNN.encode`: the posterior's ``(μ, σ̂)`` of a padded batch."""

    def __init__(self, model: SketchRNN) -> None:
        super().__init__()
        self.model = model

    def forward(self, strokes: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        return self.model.encode(strokes, lengths)


class InitGraph(nn.Module):
    """`SketchRNN.init_state` of a conditional model: ``z`` -> the decoder's state."""

    def __init__(self, model: SketchRNN) -> None:
        super().__init__()
        self.model = model

    def forward(self, z: Tensor) -> tuple[Tensor, ...]:
        return as_tuple(self.model.init_state(z).hidden)


class StepGraph(nn.Module):
    """`SketchRNN.step`: ``(point, z, *state)``, or ``(point, *state)`` unconditional."""

    def __init__(self, model: SketchRNN) -> None:
        super().__init__()
        self.model = model

    def forward(self, point: Tensor, *tensors: Tensor) -> tuple[Tensor, ...]:
        if self.model.conditional:
            z, hidden = tensors[0], tensors[1:]
        else:
            z, hidden = point.new_zeros(point.shape[0], 0), tensors
        mixture, state = self.model.step(point, DecoderState(as_state(hidden), z))
        return *mixture, *as_tuple(state.hidden)


def random_points(shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """``(*shape, 5)`` stroke-5 points: normal offsets and a random one-hot pen state."""
    offsets = torch.randn(*shape, 2, generator=generator)
    pen = torch.randint(0, PEN_STATES, shape, generator=generator)
    return torch.cat([offsets, F.one_hot(pen, PEN_STATES).float()], dim=-1)


def plan(run: LoadedRun) -> ExportPlan:
    """The encoder, init and step graphs of a sketch run (the step alone, unconditional)."""
    task = cast(SketchGeneration, run.task)
    model = cast(SketchRNN, run.model)
    latent, mixtures = model.latent_size, model.num_mixtures
    state = StatePorts(model.decoder.initial_state)
    z_port = Port("z", (BATCH, latent), "float32", "the latent vector")

    def encoder_example(batch: int, length: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        lengths = random_lengths(batch, length, generator)
        return random_points((batch, length), generator), lengths  # points past lengths: unread

    def init_example(batch: int, _length: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        return (torch.randn(batch, latent, generator=generator),)

    def step_example(batch: int, length: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        z = init_example(batch, length, generator) if model.conditional else ()
        return random_points((batch,), generator), *z, *state.example(batch, generator)

    step = Graph(
        name="step",
        doc="the previous point -> the mixture over the next one",
        module=StepGraph(model),
        inputs=(
            Port("point", (BATCH, STROKE5), "float32", "the previous point, stroke-5 (first: S_0)"),
            *([z_port] if model.conditional else []),
            *state.ports("the decoder's state (first: init's output, or zeros)"),
        ),
        outputs=(
            *(
                Port(
                    name, (BATCH, PEN_STATES if name == "pen_logits" else mixtures), "float32", doc
                )
                for name, doc in MIXTURE_DOCS.items()
            ),
            *state.ports("the decoder's state after the point", "_out"),
        ),
        example=step_example,
    )
    if not model.conditional:
        return ExportPlan([step], _facts(task, model))
    encoder = Graph(
        name="encoder",
        doc="a padded batch of stroke-5 sketches -> the posterior of their latent vectors",
        module=EncoderGraph(model),
        inputs=(
            Port("strokes", (BATCH, TIME, STROKE5), "float32", "stroke-5 points, offsets scaled"),
            Port("lengths", (BATCH,), "int64", "the number of points of each sketch, >= 1"),
        ),
        outputs=(
            Port("mu", (BATCH, latent), "float32", "the posterior's mean"),
            Port("sigma_hat", (BATCH, latent), "float32", "the posterior's log variance"),
        ),
        example=encoder_example,
    )
    init = Graph(
        name="init",
        doc="a latent vector -> the decoder's initial state",
        module=InitGraph(model),
        inputs=(z_port,),
        outputs=state.ports("the decoder's initial state"),
        example=init_example,
    )
    return ExportPlan([encoder, init, step], _facts(task, model))


def _facts(task: SketchGeneration, model: SketchRNN) -> dict[str, Any]:
    return {
        "scale": task.scale,
        "n_max": task.n_max,
        "max_length": task.config.data.max_length,
        "latent_size": model.latent_size,
        "num_mixtures": model.num_mixtures,
        "start_point": list(START),
        "pen_states": ["down", "lifted", "end"],
        "end_pen_state": END,
        "mixture": list(Mixture._fields),
        "sample": (
            "component ~ softmax(logits / τ); (Δx, Δy) ~ N((mu_x, mu_y), σx = exp(log_sigma_x)·√τ, "
            "σy = exp(log_sigma_y)·√τ, ρ = tanh(rho_raw)); pen ~ softmax(pen_logits / τ), never "
            "end at the first point; stop at end or max_length; offsets times scale"
        ),
    }

"""Backpropagation through time made visible.

* `backward` — `bptt`: the gradients of an Elman, LSTM or GRU layer by the chain rule through
  time, derived by hand (full or truncated, with clipping) and checked against autograd; it
  uses the per-step derivatives of `cell_backward` and the per-direction walk of
  `direction_backward`;
* `gradient_flow` — the measuring tool: ‖∂L/∂h_t‖ against the distance from the loss, for any
  unidirectional layer;
* `long_memory` — small models on the long-memory problems of `rnnkit.data.synthetic`;
* `flow_experiment` — the experiment of ``rnnkit diagnose gradient-flow``, built on the two
  before it. The measuring tool depends on no experiment.
"""

from rnnkit.bptt.backward import BPTTResult, backward_into, bptt
from rnnkit.bptt.gradient_flow import GradientFlow, gradient_flow

__all__ = ["BPTTResult", "GradientFlow", "backward_into", "bptt", "gradient_flow"]

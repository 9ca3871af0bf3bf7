r"""`CRF`: a linear-chain conditional random field over per-token label scores.

A linear-chain CRF (Lafferty et al. 2001) on top of a recurrent encoder's emissions, as in the
BiLSTM-CRF tagger of Lample et al. 2016. For a sentence of length ``n`` with emissions
``e_t(y)`` (the encoder's score of label ``y`` at token ``t``) and a tag path ``y_1 .. y_n``:

.. math::
    \begin{aligned}
    s(y) &= \pi_{y_1} + \sum_{t=1}^{n} e_t(y_t) + \sum_{t=2}^{n} A_{y_{t-1} y_t} + \omega_{y_n} \\
    \log Z &= \log \sum_{y'} \exp s(y'), \qquad -\log p(y) = \log Z - s(y) \ \ge 0
    \end{aligned}

with ``π = start``, ``ω = end`` and ``A = transitions`` (``A[i, j]``: label ``j`` follows label
``i``). ``log Z`` comes from the forward algorithm and the best path from Viterbi, both
``O(n L²)``:

.. math::
    \begin{aligned}
    \alpha_1(j) &= \pi_j + e_1(j), &
    \alpha_t(j) &= \operatorname{logsumexp}_i(\alpha_{t-1}(i) + A_{ij}) + e_t(j), &
    \log Z &= \operatorname{logsumexp}_j(\alpha_n(j) + \omega_j) \\
    \delta_1(j) &= \pi_j + e_1(j), &
    \delta_t(j) &= \max_i(\delta_{t-1}(i) + A_{ij}) + e_t(j), &
    \hat y_n &= \operatorname{argmax}_j(\delta_n(j) + \omega_j)
    \end{aligned}

and ``ŷ_{t-1}`` is the ``i`` that attained the max in ``δ_t(ŷ_t)``.

Shapes: ``N`` batch, ``T`` padded length, ``L`` labels. Everything is batch-first: emissions
``(N, T, L)``, tags ``(N, T)`` int64, lengths ``(N,)`` int64 in ``[1, T]``. Positions
``t >= length`` are padding and influence nothing, whatever they hold (NaN included).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

FORBIDDEN = -1e4
"""The score added to a forbidden start, transition or end: never chosen by Viterbi, and a
path through it has probability ``exp(-1e4) ≈ 0``."""

REDUCTIONS = ("mean", "sum", "none")


class CRF(nn.Module):
    """A linear-chain CRF layer: sentence scores, ``log Z``, negative log-likelihood, Viterbi.

    Args:
        num_labels: ``L``.
        allowed: optional boolean masks ``(start (L,), transitions (L, L), end (L,))`` of the
            moves that may occur, e.g. from `rnnkit.data.tag_schemes.allowed_transitions`;
            each forbidden move gets `FORBIDDEN` added to its score (a constant, not learned).
            ``None`` allows everything.

    Parameters ``start (L,)``, ``end (L,)``, ``transitions (L, L)``, initialised uniform in
    ``[-0.1, 0.1]``. The masks are the non-persistent buffers ``allowed_start``,
    ``allowed_transitions`` and ``allowed_end`` (all True without `allowed`), so the state dict
    holds just the three parameters, with or without masks.

    Computation is in float32 at least (bf16 emissions from autocast are upcast; float64 stays
    float64); results have that dtype.

    Example::

        >>> crf = CRF(5)
        >>> emissions, lengths = torch.randn(2, 4, 5), torch.tensor([4, 2])
        >>> crf.nll(emissions, torch.zeros(2, 4, dtype=torch.long), lengths).shape
        torch.Size([])
        >>> [len(path) for path in crf.decode(emissions, lengths)]
        [4, 2]
    """

    allowed_start: Tensor
    allowed_transitions: Tensor
    allowed_end: Tensor

    def __init__(self, num_labels: int, allowed: tuple[Tensor, Tensor, Tensor] | None = None):
        super().__init__()
        if num_labels < 1:
            raise ValueError(f"num_labels must be at least 1, got {num_labels}")
        self.num_labels = num_labels
        self.start = nn.Parameter(torch.empty(num_labels))
        self.end = nn.Parameter(torch.empty(num_labels))
        self.transitions = nn.Parameter(torch.empty(num_labels, num_labels))
        masks = allowed
        if masks is None:
            everything = torch.ones(num_labels, dtype=torch.bool)
            masks = (everything, torch.ones(num_labels, num_labels, dtype=torch.bool), everything)
        names = ("allowed_start", "allowed_transitions", "allowed_end")
        shapes = ((num_labels,), (num_labels, num_labels), (num_labels,))
        for name, mask, shape in zip(names, masks, shapes, strict=True):
            if mask.shape != shape or mask.dtype != torch.bool:
                raise ValueError(
                    f"{name} must be a bool tensor of shape {shape}, "
                    f"got {mask.dtype} {tuple(mask.shape)}"
                )
            self.register_buffer(name, mask.clone(), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for parameter in (self.start, self.end, self.transitions):
            nn.init.uniform_(parameter, -0.1, 0.1)

    def extra_repr(self) -> str:
        return f"num_labels={self.num_labels}"

    def forward(
        self, emissions: Tensor, tags: Tensor, lengths: Tensor, reduction: str = "mean"
    ) -> Tensor:
        """Same as `nll`."""
        return self.nll(emissions, tags, lengths, reduction)

    def nll(
        self, emissions: Tensor, tags: Tensor, lengths: Tensor, reduction: str = "mean"
    ) -> Tensor:
        """Negative log-likelihood ``log Z - s(tags)`` per sentence ``(N,)``, or its
        ``"mean"`` over sentences (the default) or ``"sum"`` (scalars)."""
        if reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {list(REDUCTIONS)}, got {reduction!r}")
        losses = self.log_partition(emissions, lengths) - self.score(emissions, tags, lengths)
        if reduction == "mean":
            return losses.mean()
        return losses.sum() if reduction == "sum" else losses

    def score(self, emissions: Tensor, tags: Tensor, lengths: Tensor) -> Tensor:
        """``s(tags)`` ``(N,)``: start + emissions + transitions + end along each tag path.

        Tags at padded positions are ignored (any value, even out of range)."""
        emissions, mask = self._prepare(emissions, lengths)
        if tags.shape != mask.shape:
            raise ValueError(f"tags must have shape {tuple(mask.shape)}, got {tuple(tags.shape)}")
        start, transitions, end = self._scores(emissions.dtype)
        tags = torch.where(mask, tags.to(emissions.device), 0)
        lengths = lengths.to(emissions.device)
        zero = emissions.new_zeros(())
        emitted = emissions.gather(2, tags.unsqueeze(2)).squeeze(2)  # (N, T)
        moved = transitions[tags[:, :-1], tags[:, 1:]]  # (N, T - 1)
        last = tags.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1)  # (N,)
        return (
            start[tags[:, 0]]
            + torch.where(mask, emitted, zero).sum(1)
            + torch.where(mask[:, 1:], moved, zero).sum(1)
            + end[last]
        )

    def log_partition(self, emissions: Tensor, lengths: Tensor) -> Tensor:
        """``log Z`` ``(N,)`` by the forward algorithm (module docstring)."""
        emissions, mask = self._prepare(emissions, lengths)
        start, transitions, end = self._scores(emissions.dtype)
        alpha = start + emissions[:, 0]  # (N, L)
        for t in range(1, emissions.shape[1]):
            step = torch.logsumexp(alpha.unsqueeze(2) + transitions, dim=1) + emissions[:, t]
            alpha = torch.where(mask[:, t, None], step, alpha)
        return torch.logsumexp(alpha + end, dim=1)

    @torch.no_grad()
    def decode(self, emissions: Tensor, lengths: Tensor) -> list[list[int]]:
        """The best tag path of each sentence by Viterbi (module docstring), as label ids,
        one list per sentence of its own length."""
        emissions, mask = self._prepare(emissions, lengths)
        start, transitions, end = self._scores(emissions.dtype)
        batch, steps, labels = emissions.shape
        stay = torch.arange(labels, device=emissions.device).expand(batch, labels)
        delta = start + emissions[:, 0]  # (N, L)
        backpointers = []  # backpointers[t - 1][n, j]: best label at t - 1 before label j at t
        for t in range(1, steps):
            best, previous = (delta.unsqueeze(2) + transitions).max(dim=1)
            delta = torch.where(mask[:, t, None], best + emissions[:, t], delta)
            backpointers.append(torch.where(mask[:, t, None], previous, stay))
        label = (delta + end).argmax(dim=1)  # (N,): at t = T - 1, carried over any padding
        path = [label]
        for pointers in reversed(backpointers):
            label = pointers.gather(1, label.unsqueeze(1)).squeeze(1)
            path.append(label)
        paths = torch.stack(path[::-1], dim=1).tolist()  # (N, T)
        return [row[:length] for row, length in zip(paths, lengths.tolist(), strict=True)]

    def _prepare(self, emissions: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Emissions in the compute dtype with padding zeroed, and the mask ``(N, T)`` of real
        tokens; ``ValueError`` for wrong shapes or lengths outside ``[1, T]``."""
        if emissions.dim() != 3 or emissions.shape[2] != self.num_labels:
            raise ValueError(
                f"emissions must have shape (N, T, {self.num_labels}), got {tuple(emissions.shape)}"
            )
        batch, steps, _ = emissions.shape
        if lengths.shape != (batch,):
            raise ValueError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
        if batch and (int(lengths.min()) < 1 or int(lengths.max()) > steps):
            raise ValueError(f"lengths must lie in [1, {steps}], got {lengths.tolist()}")
        dtype = torch.promote_types(emissions.dtype, torch.float32)
        positions = torch.arange(steps, device=emissions.device)
        mask = positions < lengths.to(emissions.device).unsqueeze(1)  # (N, T)
        return torch.where(mask.unsqueeze(2), emissions.to(dtype), 0.0), mask

    def _scores(self, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
        """``start``, ``transitions``, ``end`` in `dtype`, `FORBIDDEN` added where not allowed."""
        return (
            penalised(self.start, self.allowed_start, dtype),
            penalised(self.transitions, self.allowed_transitions, dtype),
            penalised(self.end, self.allowed_end, dtype),
        )


def penalised(scores: Tensor, allowed: Tensor, dtype: torch.dtype) -> Tensor:
    """`scores` in `dtype`, plus `FORBIDDEN` where `allowed` is False."""
    return scores.to(dtype) + torch.where(allowed, 0.0, FORBIDDEN).to(dtype)

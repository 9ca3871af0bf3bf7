"""Batches for language modelling with truncated BPTT: parallel streams read a window at a time.

The layout of Zaremba et al. (2014): the corpus is cut into contiguous streams, one per batch
row, and each batch is the next `bptt` tokens of every stream, so a model can carry its hidden
state from one batch to the next.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from rnnkit.errors import UserError


class StreamBatches:
    """Cut a token sequence into ``batch_size * num_shards`` streams and read them in windows.

    With ``S = batch_size * num_shards`` streams of ``T = (N - 1) // S`` steps each (``N`` =
    ``len(ids)``; the tokens past ``S * T + 1`` are dropped), stream ``s`` reads
    ``ids[s*T : (s+1)*T + 1]``: its inputs are the first ``T`` of those tokens and its targets
    the last ``T`` (the inputs shifted by one). Shard ``k`` owns streams
    ``k*batch_size .. (k+1)*batch_size - 1`` as its batch rows, so distributed ranks read
    disjoint inputs, and every shard yields the same number of batches.

    Iterating yields ``(inputs, targets)``, both ``LongTensor`` of shape ``(batch_size, L)``
    with ``L = bptt`` (the last batch may be shorter), each batch continuing where the one
    before stopped. Nothing is random; every epoch yields the same batches — unless
    ``windows`` gives the length of each batch in turn (`variable_windows`).

    Args:
        ids: the token ids of the whole corpus, shape ``(N,)``.
        batch_size: streams (batch rows) per shard, ``B``.
        bptt: steps per batch (the truncation length of backpropagation through time).
        num_shards: number of distributed ranks sharing the corpus.
        shard: this rank, ``0 <= shard < num_shards``.
        windows: the steps of each batch in turn (they may sum past ``T``: the last is cut);
            None: ``bptt`` each.

    >>> batches = StreamBatches(list(range(11)), batch_size=2, bptt=3)
    >>> [x.tolist() for x, _ in batches]
    [[[0, 1, 2], [5, 6, 7]], [[3, 4], [8, 9]]]
    """

    def __init__(
        self,
        ids: Sequence[int] | torch.Tensor,
        batch_size: int,
        bptt: int,
        *,
        num_shards: int = 1,
        shard: int = 0,
        windows: Sequence[int] | None = None,
    ) -> None:
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {batch_size}")
        if bptt < 1:
            raise UserError(f"bptt must be at least 1, got {bptt}")
        if num_shards < 1 or not 0 <= shard < num_shards:
            raise ValueError(f"need 0 <= shard < num_shards, got shard={shard}, {num_shards=}")
        flat = torch.as_tensor(ids, dtype=torch.long)
        if flat.dim() != 1:
            raise ValueError(f"ids must be one-dimensional, got shape {tuple(flat.shape)}")
        num_streams = batch_size * num_shards
        steps = (len(flat) - 1) // num_streams  # T
        if steps < 1:
            raise UserError(
                f"corpus too short: {len(flat)} tokens, but {num_streams + 1} are needed for "
                f"{num_streams} streams (batch_size {batch_size} x {num_shards} shards)"
            )
        rows = slice(shard * batch_size, (shard + 1) * batch_size)
        used = num_streams * steps
        self._inputs = flat[:used].reshape(num_streams, steps)[rows]  # (B, T)
        self._targets = flat[1 : used + 1].reshape(num_streams, steps)[rows]  # (B, T)
        self.batch_size = batch_size
        self.bptt = bptt
        self.starts = _window_starts(self.stream_length, bptt, windows)

    @property
    def stream_length(self) -> int:
        """Steps per stream, ``T``: the number of targets each batch row sees per epoch."""
        return self._inputs.shape[1]

    @property
    def num_tokens(self) -> int:
        """Targets per epoch in this shard, ``batch_size * T``."""
        return self._inputs.numel()

    def __len__(self) -> int:
        return len(self.starts) - 1

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start, stop in zip(self.starts[:-1], self.starts[1:], strict=True):
            window = slice(start, stop)
            yield self._inputs[:, window].contiguous(), self._targets[:, window].contiguous()


def _window_starts(total: int, bptt: int, windows: Sequence[int] | None) -> list[int]:
    """Where each batch starts along the streams, and ``total`` at the end."""
    starts = [0]
    lengths = iter(windows) if windows is not None else None
    while starts[-1] < total:
        step = next(lengths, bptt) if lengths is not None else bptt
        starts.append(min(starts[-1] + max(step, 1), total))
    return starts


def variable_windows(bptt: int, total: int, seed: int, epoch: int) -> list[int]:
    """Random BPTT lengths covering ``total`` steps, as AWD-LSTM draws them (Merity et al.
    2018): a base of ``bptt`` (probability 0.95) or ``bptt / 2``, then ``N(base, 5)``, at
    least 5 steps; the same for every shard, a fresh draw every ``epoch``."""
    rng = np.random.default_rng([seed, epoch, 7])
    lengths: list[int] = []
    while sum(lengths) < total:
        base = bptt if rng.random() < 0.95 else bptt / 2
        lengths.append(max(5, round(rng.normal(base, 5))))
    return lengths


def split_train_valid(text: str, valid_fraction: float = 0.1) -> tuple[str, str]:
    """Split a text into its first ``1 - valid_fraction`` and its last part, by characters.

    The split is contiguous (no shuffling), as language-model validation text should be, and
    falls after the first line break at or past the cut (or, in a text without one there, the
    first space), so no line or word is cut in two and each part can be counted in words.

    Raises:
        UserError: `valid_fraction` is not strictly between 0 and 1, or either part is empty.
    """
    if not 0 < valid_fraction < 1:
        raise UserError(f"valid_fraction must be between 0 and 1, got {valid_fraction}")
    cut = len(text) - round(len(text) * valid_fraction)
    for boundary in ("\n", " "):
        found = text.find(boundary, max(cut - 1, 0))
        if -1 < found < len(text) - 1:
            cut = found + 1
            break
    if not 0 < cut < len(text):
        raise UserError(
            f"a text of {len(text)} characters is too short to split off {valid_fraction:.0%} "
            "for validation"
        )
    return text[:cut], text[cut:]

"""Distributed data-parallel training, as launched by ``torchrun``.

``torchrun --nproc-per-node N -m rnnkit.cli train ...`` (or the ``rnnkit`` script) starts N
processes with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and the rendezvous address in their
environment. Each joins the process group (gloo on CPU, nccl on GPU), wraps the model in
`DistributedDataParallel` (which averages gradients across processes at every step), and reads
its own shard of the data. Only rank 0 evaluates and writes; the others follow its decisions.
Without those variables everything here is a no-op and training runs in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from rnnkit.errors import UserError


@dataclass(frozen=True)
class Cluster:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Whether this process evaluates and writes (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @classmethod
    def join(cls, device_choice: str = "auto") -> Cluster:
        """This process's device (``train.device``: "auto" takes this process's GPU if there
        is one) and the process group torchrun set up, if any (see the module docstring)."""
        device = _device(device_choice, int(os.environ.get("LOCAL_RANK", "0")))
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        if world_size == 1:
            return cls(device=device)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        if not dist.is_initialized():
            dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        return cls(dist.get_rank(), dist.get_world_size(), device)

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` wrapped in DistributedDataParallel when distributed, else itself."""
        if not self.distributed:
            return model
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=device_ids)

    def broadcast(self, values: list[float]) -> list[float]:
        """Rank 0's ``values`` on every rank (decisions such as early stopping must agree)."""
        if not self.distributed:
            return values
        message = [values]
        dist.broadcast_object_list(message, src=0)
        return [float(v) for v in message[0]]

    def mean(self, value: float) -> float:
        """The mean of ``value`` over all ranks, on every rank."""
        if not self.distributed:
            return value
        tensor = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return float(tensor.item()) / self.world_size

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on any rank."""
        if not self.distributed:
            return flag
        tensor = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return bool(tensor.item())

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def leave(self) -> None:
        """Leave the process group (at the end of training)."""
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def _device(choice: str, local_rank: int) -> torch.device:
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError("train.device: 'cuda' was asked for, but torch sees no CUDA device")
    return torch.device("cuda", local_rank)

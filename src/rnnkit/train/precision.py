"""Which devices can train under bfloat16 autocast (``train.precision=bf16``).

bf16 autocast only pays where the hardware computes in bfloat16: a GPU that supports it, or a
CPU with the instructions oneDNN uses for it (AVX-512 or AMX). Elsewhere every bf16 matrix
multiply is emulated, slower than float32, and torch's fused LSTM kernel refuses bf16 input
outright ("could not create a primitive descriptor"), so such a run is refused before it
starts rather than failing in its first step.
"""

from __future__ import annotations

import torch

from rnnkit.errors import UserError


def bf16_supported(device: torch.device) -> bool:
    """Whether ``device`` (a CPU or a CUDA GPU) computes in bfloat16 natively."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def check_precision(precision: str, device: torch.device) -> None:
    """Raise a `UserError` if ``precision`` is bf16 and ``device`` cannot run it."""
    if precision != "bf16" or bf16_supported(device):
        return
    why = (
        "this GPU has no bfloat16 support"
        if device.type == "cuda"
        else "this CPU has no bfloat16 instructions (AVX-512 or AMX): bf16 would be slower "
        "than fp32, and torch's LSTM kernel cannot run it"
    )
    raise UserError(f"train.precision=bf16: {why}; use train.precision=fp32")

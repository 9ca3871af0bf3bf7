"""Capture and restore every global random number generator, in a form `torch.load` trusts.

Resuming a run must continue the same random stream (dropout masks, shuffling, sampling), so the
trainer stores the state of Python's `random`, numpy's global generator and torch's CPU and CUDA
generators in `trainer_state.pt`. That file is only ever read with `weights_only=True`, which
accepts tensors, numbers, strings, lists and dicts but no numpy arrays or tuples of arbitrary
objects, so every state is converted to exactly those types here.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def capture_rng_state() -> dict[str, Any]:
    """Return the state of all global generators as tensors, ints, floats, lists and dicts.

    The result can be saved with `torch.save` and read back with `torch.load(...,
    weights_only=True)`; pass it to `restore_rng_state` to continue the same random streams.
    """
    version, words, gauss_next = random.getstate()
    numpy_state = np.random.get_state(legacy=False)
    return {
        "python": {
            "version": version,
            "state": torch.tensor(words, dtype=torch.int64),  # 625 words < 2**32
            "gauss_next": gauss_next,
        },
        "numpy": {
            "bit_generator": numpy_state["bit_generator"],
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),  # 624 words
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Set all global generators to a state returned by `capture_rng_state`.

    CUDA states are restored for the devices present (a run saved on a GPU can resume on a CPU,
    with the CPU streams reproduced and the CUDA ones naturally lost).
    """
    py = state["python"]
    words = tuple(py["state"].tolist())
    random.setstate((py["version"], words, py["gauss_next"]))
    npy = state["numpy"]
    key = npy["key"].cpu().numpy().astype(np.uint32)
    np.random.set_state(
        {
            "bit_generator": npy["bit_generator"],
            "state": {"key": key, "pos": npy["pos"]},
            "has_gauss": npy["has_gauss"],
            "gauss": npy["gauss"],
        }
    )
    torch.set_rng_state(state["torch"].cpu())  # generator states must be CPU byte tensors
    if torch.cuda.is_available():
        for device, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state.cpu(), device)

"""Checkpoints and run directories: the one place that reads and writes them.

The format. A run directory::

    RUN/
      config.yaml          # the full resolved config; its `task` key names the task
      model.safetensors    # the best model's weights (safetensors: no pickle)
      metrics.json         # that model's evaluation results
      <task files>         # e.g. tokenizer.json, labels.json: whatever the task saves
      manifest.json        # size + SHA-256 of every file above; written last, checked on load
      last/                # the latest checkpoint: the same files plus trainer_state.pt
      metrics.jsonl        # one JSON object per evaluation, append-only

`RUN/` holds the best model so far, which is what inference loads; `RUN/last/` is for
``--resume``. `trainer_state.pt` (optimizer, schedule, RNG states as tensors, position) is read
with ``weights_only=True``: nothing in a run directory is ever unpickled into arbitrary objects.
`manifest.json` is ``{"format": "rnnkit-checkpoint", "version": 1, "files": {NAME: {"size": n,
"sha256": hex}}}``; a checkpoint whose files do not match it was interrupted, truncated or
changed, and is refused before anything in it is read.

The modules: `store` saves a checkpoint crash-safely and loads one (`LoadedCheckpoint`, checked
once, then read through); `manifest` writes and verifies `manifest.json`; `metrics_log` appends
to and reads `metrics.jsonl`; `atomic` has the crash-safe file writes everything here (and the
config and tokenizer files elsewhere) is built on.
"""

from rnnkit.checkpoint.atomic import write_json_atomic, write_text_atomic
from rnnkit.checkpoint.metrics_log import METRICS_LOG_NAME, append_metrics, read_metrics_log
from rnnkit.checkpoint.store import (
    CONFIG_NAME,
    LAST_DIR,
    METRICS_NAME,
    MODEL_NAME,
    TRAINER_STATE_NAME,
    LoadedCheckpoint,
    load_checkpoint,
    save_checkpoint,
)

__all__ = [
    "CONFIG_NAME",
    "LAST_DIR",
    "METRICS_LOG_NAME",
    "METRICS_NAME",
    "MODEL_NAME",
    "TRAINER_STATE_NAME",
    "LoadedCheckpoint",
    "append_metrics",
    "load_checkpoint",
    "read_metrics_log",
    "save_checkpoint",
    "write_json_atomic",
    "write_text_atomic",
]

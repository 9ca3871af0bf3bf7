"""Run directories: saving and loading checkpoints, and the run's metrics log.

Layout of a run directory (see DESIGN.md, "A run directory")::

    RUN/
      config.yaml  model.safetensors  metrics.json  <task files, e.g. tokenizer.json>
      manifest.json          # size + SHA-256 of every file above; written last, checked on load
      last/                  # the latest checkpoint: the same files plus trainer_state.pt
      metrics.jsonl          # one JSON object per evaluation, append-only

`RUN/` itself holds the best model, which is what inference loads; `RUN/last/` is for `--resume`.
Weights are stored with safetensors and `trainer_state.pt` is read with `weights_only=True`:
nothing in a run directory is ever unpickled into arbitrary objects.

Crash safety. Every checkpoint is first written to a staging directory on the same filesystem,
with every file fsynced. `RUN/last` is then replaced as a whole: the old one is renamed aside to
`RUN/.last.old`, the staged one renamed to `RUN/last`, and the old one deleted; a loader that
finds no `last` but an aside copy uses that. The best model shares `RUN/` with `last/` and
`metrics.jsonl`, so it cannot be swapped as a directory: its files are moved in one by one with
`os.replace` and `manifest.json` last. A crash inside that short window leaves new files beside
the old manifest; loading then fails the manifest check (rather than loading a mixture), and
`RUN/last` still holds a complete checkpoint.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from safetensors import SafetensorError

from rnnkit.atomic import (
    append_line,
    fsync_dir,
    fsync_file,
    json_text,
    temp_sibling,
    write_bytes_durable,
)
from rnnkit.errors import UserError
from rnnkit.train.manifest import MANIFEST_NAME, read_manifest, verify_manifest, write_manifest

CONFIG_NAME = "config.yaml"
MODEL_NAME = "model.safetensors"
METRICS_NAME = "metrics.json"
TRAINER_STATE_NAME = "trainer_state.pt"
LAST_DIR = "last"
METRICS_LOG_NAME = "metrics.jsonl"

_RESERVED = {CONFIG_NAME, MODEL_NAME, METRICS_NAME, TRAINER_STATE_NAME, MANIFEST_NAME}
_PICKLE_SUFFIXES = {".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt"}
_NO_PICKLE = (
    "rnnkit never unpickles arbitrary objects from a model directory, because unpickling can "
    "run any code"
)


@dataclass(frozen=True)
class LoadedCheckpoint:
    """What `load_checkpoint` read from a verified checkpoint directory.

    `files` lists every file of the checkpoint (as in its manifest); read the task's own files,
    e.g. `tokenizer.json`, with `read_bytes` / `read_text`.
    """

    path: Path
    config_yaml: str
    metrics: dict[str, Any]
    trainer_state: dict[str, Any] | None
    files: tuple[str, ...]

    def read_bytes(self, name: str) -> bytes:
        """The content of the checkpoint file `name`; `UserError` if the checkpoint lacks it."""
        return self._file(name).read_bytes()

    def read_text(self, name: str) -> str:
        """The content of the checkpoint file `name`, decoded as UTF-8."""
        return _read_text(self._file(name))

    def _file(self, name: str) -> Path:
        if name not in self.files:
            raise UserError(f"this checkpoint has no file {name!r}", path=self.path)
        return self.path / name


def save_checkpoint(
    directory: str | os.PathLike[str],
    *,
    model: torch.nn.Module,
    config_yaml: str,
    files: Mapping[str, bytes | str] | None = None,
    metrics: Mapping[str, Any] | None = None,
    trainer_state: Mapping[str, Any] | None = None,
) -> None:
    """Write a checkpoint into `directory` so that a crash never leaves a half-written one.

    Pass the run directory `RUN` to save the best model, or `RUN/last` for the latest checkpoint
    (with `trainer_state`). A directory named `last` is replaced as a whole by renames; any other
    directory gets its checkpoint files replaced one by one, `manifest.json` last, and keeps its
    other entries (`last/`, `metrics.jsonl`). See the module docstring for the details.

    Args:
        model: saved with `safetensors.torch.save_model` (tied / shared weights are fine).
        config_yaml: the full resolved config (`rnnkit.train.config.dump_config`).
        files: extra files by name, e.g. `{"tokenizer.json": text}`; str is written as UTF-8.
        metrics: the evaluation results of this checkpoint, written to `metrics.json`.
        trainer_state: for resuming: tensors, numbers, strings, lists and dicts only (it is read
            back with `weights_only=True`), e.g. optimizer and scheduler state dicts, the step
            and `capture_rng_state()`.
    """
    target = Path(directory)
    whole_directory = target.name == LAST_DIR
    staging_parent = target.parent if whole_directory else target
    staging_parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(staging_parent)
    staged = temp_sibling(staging_parent / (target.name if whole_directory else "checkpoint"))
    staged.mkdir()
    try:
        contents = _checkpoint_contents(config_yaml, files, metrics)
        names = _write_staged(staged, model, contents, trainer_state)
        if whole_directory:
            _swap_directory(staged, target)
        else:
            _replace_files(staged, target, names)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def load_checkpoint(
    directory: str | os.PathLike[str],
    model: torch.nn.Module | None = None,
    *,
    map_location: str | torch.device = "cpu",
) -> LoadedCheckpoint:
    """Verify the checkpoint in `directory` against its manifest, then load it.

    Loads the weights into `model` (strictly: every key must match) when one is given, and
    `trainer_state.pt` (with `weights_only=True`) when the checkpoint has one. Raises
    `UserError` for a missing directory or manifest, a missing, truncated or changed file, weights
    that do not fit `model`, and for pickled models or trainer states holding arbitrary objects,
    which are refused rather than unpickled.
    """
    path = _existing_checkpoint(Path(directory))
    _refuse_pickled_model(path)
    entries = verify_manifest(path)
    for required in (CONFIG_NAME, MODEL_NAME, METRICS_NAME):
        if required not in entries:
            raise UserError(f"{MANIFEST_NAME} does not list {required}", path=path)
    if model is not None:
        _load_weights(model, path / MODEL_NAME, map_location)
    state = None
    if TRAINER_STATE_NAME in entries:
        state = _load_trainer_state(path / TRAINER_STATE_NAME, map_location)
    config_yaml = _read_text(path / CONFIG_NAME)
    metrics = _parse_json_object(_read_text(path / METRICS_NAME), path / METRICS_NAME)
    return LoadedCheckpoint(path, config_yaml, metrics, state, tuple(sorted(entries)))


def append_metrics(run_dir: str | os.PathLike[str], record: Mapping[str, Any]) -> None:
    """Append `record` as one JSON line to `RUN/metrics.jsonl`, durably (flush + fsync)."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    append_line(Path(run_dir) / METRICS_LOG_NAME, json.dumps(dict(record), ensure_ascii=False))


def read_metrics_log(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """All records of `RUN/metrics.jsonl` (empty if there is none yet), oldest first.

    A last line cut short by a crash during an append is ignored; any other line that is not a
    JSON object raises `UserError` with its line number.
    """
    path = Path(run_dir) / METRICS_LOG_NAME
    try:
        lines = path.read_bytes().split(b"\n")
    except FileNotFoundError:
        return []
    complete, last = lines[:-1], lines[-1]  # `last` is b"" when the file ends with a newline
    records = [
        _parse_json_object(line, path, number)
        for number, line in enumerate(complete, start=1)
        if line.strip()
    ]
    if last.strip():
        with contextlib.suppress(UserError):  # else a partial record from a crashed append
            records.append(_parse_json_object(last, path, len(lines)))
    return records


def _checkpoint_contents(
    config_yaml: str, files: Mapping[str, bytes | str] | None, metrics: Mapping[str, Any] | None
) -> dict[str, bytes]:
    """The small files of a checkpoint by name, as bytes."""
    contents: dict[str, bytes | str] = {
        CONFIG_NAME: config_yaml,
        METRICS_NAME: json_text(dict(metrics or {})),
    }
    for name, content in (files or {}).items():
        if name in _RESERVED or name != Path(name).name or name.startswith("."):
            raise ValueError(f"{name!r} cannot be an extra checkpoint file name")
        contents[name] = content
    return {
        name: content.encode("utf-8") if isinstance(content, str) else bytes(content)
        for name, content in contents.items()
    }


def _write_staged(
    staged: Path,
    model: torch.nn.Module,
    contents: Mapping[str, bytes],
    trainer_state: Mapping[str, Any] | None,
) -> list[str]:
    """Write every file of the checkpoint into `staged`, fsynced, manifest last; return names."""
    for name, data in contents.items():
        write_bytes_durable(staged / name, data)
    safetensors.torch.save_model(model, str(staged / MODEL_NAME))
    by_libraries = [MODEL_NAME]
    if trainer_state is not None:
        torch.save(dict(trainer_state), staged / TRAINER_STATE_NAME)
        by_libraries.append(TRAINER_STATE_NAME)
    for name in by_libraries:  # the libraries do not fsync what they write
        fsync_file(staged / name)
    names = [*contents, *by_libraries]
    write_manifest(staged, names)
    fsync_dir(staged)
    return [*names, MANIFEST_NAME]


def _swap_directory(staged: Path, target: Path) -> None:
    """Replace the directory `target` by `staged` with two renames (old one aside first)."""
    aside = _aside_path(target)
    if target.exists():
        if any(entry.is_dir() for entry in target.iterdir()):
            raise ValueError(
                f"refusing to replace {target}: it holds directories, so it is not a"
                " checkpoint (is it a run directory named 'last'?)"
            )
        if aside.exists():  # a crash after the last swap: `target` is complete, drop the aside
            shutil.rmtree(aside)
        os.rename(target, aside)
    os.rename(staged, target)
    fsync_dir(target.parent)
    shutil.rmtree(aside, ignore_errors=True)


def _replace_files(staged: Path, target: Path, names: list[str]) -> None:
    """Move the staged files into `target` one by one, the manifest last; then drop the files
    the previous manifest listed and the new one does not."""
    try:
        previous = set(read_manifest(target))
    except UserError:
        previous = set()
    for name in sorted(names, key=lambda name: name == MANIFEST_NAME):  # manifest last
        os.replace(staged / name, target / name)
    fsync_dir(target)
    for name in previous - set(names):
        (target / name).unlink(missing_ok=True)


def _remove_stale_staging(parent: Path) -> None:
    """Delete staging directories left behind by saves that crashed (only rank 0 writes)."""
    for entry in parent.glob(".*.tmp-*"):
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)


def _aside_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.old")


def _existing_checkpoint(directory: Path) -> Path:
    """`directory`, or its aside copy when a crash hit between the two renames of a swap."""
    if directory.is_dir():
        return directory
    if _aside_path(directory).is_dir():
        return _aside_path(directory)
    raise UserError("no checkpoint here (not a directory)", path=directory)


def _refuse_pickled_model(directory: Path) -> None:
    """Raise `UserError` if `directory` holds a pickled model instead of model.safetensors."""
    if (directory / MODEL_NAME).exists():
        return
    pickled = sorted(
        entry.name
        for entry in directory.iterdir()
        if entry.suffix in _PICKLE_SUFFIXES and entry.name != TRAINER_STATE_NAME
    )
    if pickled:
        raise UserError(
            f"holds a pickled model ({', '.join(pickled)}) but no {MODEL_NAME}: {_NO_PICKLE}. "
            "If you trust the file, load it yourself and save the model with "
            "rnnkit.train.save_checkpoint, which stores weights as safetensors",
            path=directory,
        )


def _load_weights(model: torch.nn.Module, path: Path, map_location: str | torch.device) -> None:
    """Load safetensors weights into `model`; every key must match."""
    try:
        missing, unexpected = safetensors.torch.load_model(
            model, path, strict=False, device=str(map_location)
        )
    except (RuntimeError, SafetensorError) as exc:
        reason = str(exc).strip().splitlines()[-1].strip()
        raise UserError(f"the weights do not fit the model: {reason}", path=path) from None
    problems = [
        f"{label} {_name_list(keys)}"
        for label, keys in (("missing keys", missing), ("unexpected keys", unexpected))
        if keys
    ]
    if problems:
        raise UserError(f"the weights do not fit the model: {'; '.join(problems)}", path=path)


def _load_trainer_state(path: Path, map_location: str | torch.device) -> dict[str, Any]:
    """Read trainer_state.pt with `weights_only=True`, refusing arbitrary objects."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        culprit = re.search(r"GLOBAL (\S+)", str(exc))
        what = f" ({culprit.group(1)})" if culprit else ""
        raise UserError(
            f"holds an object that is not a tensor or plain value{what}: {_NO_PICKLE}; a trainer "
            "state may hold only tensors, numbers, strings, lists and dicts",
            path=path,
        ) from None
    if not isinstance(state, dict):
        raise UserError(f"expected a dict of trainer state, got {type(state).__name__}", path=path)
    return state


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"not valid UTF-8 ({exc.reason})", path=path) from None


def _parse_json_object(text: str | bytes, path: Path, line: int | None = None) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UserError(f"not valid JSON ({exc})", path=path, line=line) from None
    if not isinstance(value, dict):
        raise UserError("expected a JSON object", path=path, line=line)
    return value


def _name_list(names: list[str] | set[str], limit: int = 5) -> str:
    shown = sorted(names)[:limit]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(shown) + more

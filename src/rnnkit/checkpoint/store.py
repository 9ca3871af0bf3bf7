"""Saving checkpoints so that a crash never leaves a half-written one, and loading them after
one check of their manifest. The format is described in `rnnkit.checkpoint`.

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

from rnnkit.checkpoint.atomic import (
    fsync_dir,
    fsync_file,
    json_text,
    temp_sibling,
    write_bytes_durable,
)
from rnnkit.checkpoint.manifest import MANIFEST_NAME, read_manifest, verify_manifest, write_manifest
from rnnkit.checkpoint.metrics_log import parse_json_object
from rnnkit.errors import UserError

CONFIG_NAME = "config.yaml"
MODEL_NAME = "model.safetensors"
METRICS_NAME = "metrics.json"
TRAINER_STATE_NAME = "trainer_state.pt"
LAST_DIR = "last"

_RESERVED = {CONFIG_NAME, MODEL_NAME, METRICS_NAME, TRAINER_STATE_NAME, MANIFEST_NAME}
_PICKLE_SUFFIXES = {".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt"}
_NO_PICKLE = (
    "rnnkit never unpickles arbitrary objects from a model directory, because unpickling can "
    "run any code"
)


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A checkpoint directory whose files were checked against its manifest when
    `load_checkpoint` returned it; read everything in it through this object.

    `files` lists every file of the checkpoint (as in its manifest). Read the weights with
    `load_weights`, the trainer state with `load_trainer_state`, and a task's own files, e.g.
    `tokenizer.json`, with `read_bytes` / `read_text`.
    """

    path: Path
    config_yaml: str
    metrics: dict[str, Any]
    files: tuple[str, ...]

    def load_weights(
        self, model: torch.nn.Module, map_location: str | torch.device = "cpu"
    ) -> None:
        """Load the weights into ``model``; every key must match (else a `UserError`)."""
        _load_weights(model, self.path / MODEL_NAME, map_location)

    def load_trainer_state(self, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        """`trainer_state.pt`, read with ``weights_only=True``; a `UserError` if there is none."""
        if TRAINER_STATE_NAME not in self.files:
            raise UserError(
                f"the checkpoint has no {TRAINER_STATE_NAME} to resume from", path=self.path
            )
        return _load_trainer_state(self.path / TRAINER_STATE_NAME, map_location)

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


def load_checkpoint(directory: str | os.PathLike[str]) -> LoadedCheckpoint:
    """Verify the checkpoint in `directory` against its manifest (presence, size and SHA-256 of
    every file), read its config and metrics, and return it.

    Raises `UserError` for a missing directory or manifest, a missing, truncated or changed
    file, and for a pickled model, which is refused rather than unpickled.
    """
    path = _existing_checkpoint(Path(directory))
    _refuse_pickled_model(path)
    entries = verify_manifest(path)
    for required in (CONFIG_NAME, MODEL_NAME, METRICS_NAME):
        if required not in entries:
            raise UserError(f"{MANIFEST_NAME} does not list {required}", path=path)
    config_yaml = _read_text(path / CONFIG_NAME)
    metrics = parse_json_object(_read_text(path / METRICS_NAME), path / METRICS_NAME)
    return LoadedCheckpoint(path, config_yaml, metrics, tuple(sorted(entries)))


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
    _match_umask(staged / MODEL_NAME)  # safetensors creates it private (0600), unlike the rest
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


def _match_umask(path: Path) -> None:
    """Give ``path`` the permissions a new file gets under the process's umask."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


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
            "rnnkit.checkpoint.save_checkpoint, which stores weights as safetensors",
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


def _name_list(names: list[str] | set[str], limit: int = 5) -> str:
    shown = sorted(names)[:limit]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(shown) + more

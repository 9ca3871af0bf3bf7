"""A checkpoint's `manifest.json` (its layout is in `rnnkit.checkpoint`): written last, so a
checkpoint whose files do not match it was interrupted while being written, truncated, or
changed by hand; `verify_manifest` finds that before any file is loaded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from rnnkit.checkpoint.atomic import json_text, write_bytes_durable
from rnnkit.errors import UserError

MANIFEST_NAME = "manifest.json"
FORMAT_NAME = "rnnkit-checkpoint"
FORMAT_VERSION = 1


def write_manifest(directory: Path, names: list[str]) -> None:
    """Hash the files `names` in `directory` and write its `manifest.json` (not atomically:
    `directory` is a staging directory that nobody reads yet)."""
    files = {name: _describe(directory / name) for name in sorted(names)}
    manifest = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "files": files}
    write_bytes_durable(directory / MANIFEST_NAME, json_text(manifest).encode("utf-8"))


def read_manifest(directory: Path) -> dict[str, dict[str, Any]]:
    """Return the file entries of the manifest in `directory`, checking its form (not the files).

    Raises `UserError` when the manifest is missing, is not valid JSON, is not an rnnkit
    manifest, or comes from a newer format version.
    """
    path = directory / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise UserError(
            f"no {MANIFEST_NAME}, so this is not a complete rnnkit checkpoint "
            "(its save was interrupted, or it was not written by rnnkit)",
            path=directory,
        ) from None
    except ValueError as exc:
        raise UserError(f"not valid JSON ({exc})", path=path) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise UserError("not an rnnkit checkpoint manifest", path=path)
    version = manifest.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise UserError(
            f"checkpoint format version {version!r} is newer than this rnnkit reads "
            f"({FORMAT_VERSION}); upgrade rnnkit",
            path=path,
        )
    return _checked_entries(manifest.get("files"), path)


def verify_manifest(directory: Path) -> dict[str, dict[str, Any]]:
    """Check every file listed in the manifest of `directory` (presence, size, SHA-256).

    Returns the manifest's entries. Raises `UserError` naming the first file that is missing,
    has the wrong size or the wrong hash.
    """
    entries = read_manifest(directory)
    for name, expected in entries.items():
        path = directory / name
        if not path.is_file():
            raise UserError(f"listed in {MANIFEST_NAME} but missing", path=path)
        size = path.stat().st_size
        if size != expected["size"]:
            raise UserError(
                f"size ({size} bytes) does not match the manifest ({expected['size']} bytes; "
                "the file was truncated or changed)",
                path=path,
            )
        if _sha256(path) != expected["sha256"]:
            raise UserError(
                "SHA-256 does not match the manifest (the file was changed or truncated)",
                path=path,
            )
    return entries


def _checked_entries(files: object, path: Path) -> dict[str, dict[str, Any]]:
    """The manifest's `files` mapping, after checking each entry's form and name."""
    if not isinstance(files, dict):
        raise UserError("'files' must map file names to their size and sha256", path=path)
    for name, entry in files.items():
        plain_name = name not in ("", ".", "..") and "/" not in name and "\\" not in name
        well_formed = (
            isinstance(entry, dict)
            and isinstance(entry.get("size"), int)
            and isinstance(entry.get("sha256"), str)
        )
        if not (plain_name and well_formed):
            raise UserError(
                f"bad entry {name!r}: expected a file name with size and sha256", path=path
            )
    return files


def _describe(path: Path) -> dict[str, Any]:
    return {"size": path.stat().st_size, "sha256": _sha256(path)}


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()

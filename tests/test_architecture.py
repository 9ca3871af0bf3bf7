"""The import arrows of docs/architecture.md hold: each package imports only the packages it
may, so the layering stays what the documentation says."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rnnkit

PACKAGE = Path(rnnkit.__file__).parent
# package -> the rnnkit packages it may import ("rnnkit" is the top level, for __version__)
ALLOWED: dict[str, set[str]] = {
    "nn": set(),
    "models": {"nn", "errors"},
    "checkpoint": {"errors"},
    "data": {"checkpoint", "errors"},
    "train": {"checkpoint", "errors"},
    "bptt": {"nn", "models", "data", "errors"},
    "tasks": {"train", "models", "data", "checkpoint", "decode", "errors"},
    "serve": {"tasks", "decode", "data", "models", "errors", "rnnkit"},
    "export": {"tasks", "models", "data", "nn", "checkpoint", "errors", "rnnkit"},
    "cli": {"tasks", "bptt", "data", "checkpoint", "export", "serve", "errors", "rnnkit"},
    "decode": set(),
    "errors": set(),
}


def imported_packages(path: Path) -> set[str]:
    """The rnnkit packages (second name of ``rnnkit.X.…``) that the module at ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = (
                [node.module]
                if "." in node.module
                else [f"{node.module}.{a.name}" for a in node.names]
            )
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "rnnkit":
                found.add(parts[1] if len(parts) > 1 else "rnnkit")
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.parent != PACKAGE or p.stem != "__init__")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_one_way(path: Path):
    relative = path.relative_to(PACKAGE)
    package = relative.parts[0].removesuffix(".py")
    assert package in ALLOWED, f"{relative}: a new package; add it to docs/architecture.md"
    forbidden = imported_packages(path) - ALLOWED[package] - {package}
    assert not forbidden, f"{relative} imports {sorted(forbidden)}"

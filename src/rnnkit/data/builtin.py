"""Corpora every machine has without a download, named ``builtin:NAME`` wherever a data file
is expected (``rnnkit train lm --data builtin:python-docs``).

* ``python-docs``: the docstrings of the Python standard library installed with the running
  interpreter — about a megabyte of English technical prose, read from the source files with
  `ast` (nothing is imported or executed). The text depends a little on the Python version.
* ``reber``: strings of the embedded Reber grammar (Hochreiter & Schmidhuber 1997), one per
  line, for next-symbol prediction; see `rnnkit.data.synthetic`.
"""

from __future__ import annotations

import ast
import inspect
import sysconfig
from collections.abc import Callable
from pathlib import Path

from rnnkit.errors import UserError

PREFIX = "builtin:"
PYTHON_DOCS_LIMIT = 1_200_000  # characters: enough for a character model, quick to read


def python_docs(limit: int = PYTHON_DOCS_LIMIT) -> str:
    """Docstrings of the standard library's modules, classes and functions, in file order.

    Files are read in sorted order and each docstring is dedented, so the text is the same on
    every machine with the same Python version.
    """
    root = Path(sysconfig.get_paths()["stdlib"])
    pieces: list[str] = []
    size = 0
    for path in sorted(root.glob("*.py")):
        for doc in _docstrings(path):
            pieces.append(doc)
            size += len(doc) + 2
        if size >= limit:
            break
    if not pieces:
        raise UserError(f"no docstrings found under {root}", path=str(root))
    return "\n\n".join(pieces)[:limit] + "\n"


def _docstrings(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, OSError):
        return []  # a file this interpreter cannot parse has nothing for the corpus
    nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef | ast.FunctionDef))]
    docs = (ast.get_docstring(node, clean=False) for node in nodes)
    return [inspect.cleandoc(doc) for doc in docs if doc and len(doc) > 40]


def reber() -> str:
    """2,000 strings of the embedded Reber grammar, one per line (seed 0)."""
    from rnnkit.data.synthetic import reber_text

    return reber_text(2000, seed=0)


CORPORA: dict[str, Callable[[], str]] = {"python-docs": python_docs, "reber": reber}


def is_builtin(source: str | Path) -> bool:
    return str(source).startswith(PREFIX)


def builtin_text(source: str | Path) -> str:
    """The text of ``builtin:NAME``; a `UserError` listing the names for an unknown one."""
    name = str(source).removeprefix(PREFIX)
    if name not in CORPORA:
        raise UserError(f"unknown built-in corpus {name!r}; choose one of: {', '.join(CORPORA)}")
    return CORPORA[name]()

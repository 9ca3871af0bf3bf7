"""Built-in corpora: present on every machine, the same on every call, named clearly."""

from __future__ import annotations

import pytest

from rnnkit.data.builtin import builtin_text, is_builtin, python_docs
from rnnkit.data.synthetic import legal_next
from rnnkit.errors import UserError


def test_python_docs_is_deterministic_prose():
    small = python_docs(limit=20_000)
    assert small == python_docs(limit=20_000)
    assert len(small) == 20_001 and small.endswith("\n")
    assert small.count(" the ") > 20  # English prose, not code


def test_reber_corpus_holds_grammatical_strings():
    lines = builtin_text("builtin:reber").splitlines()
    assert len(lines) == 2000
    for line in lines[:200]:
        legal_next(line)  # raises ValueError for a string outside the grammar


def test_unknown_builtin_names_the_choices():
    assert is_builtin("builtin:reber") and not is_builtin("reber.txt")
    with pytest.raises(UserError, match="python-docs, reber"):
        builtin_text("builtin:shakespeare")

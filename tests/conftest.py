"""Fixtures shared across the test suite."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

WORDS = "the cell state carries memory through the sequence and the gates decide what to keep"


def write_corpus(path: Path, characters: int, seed: int = 0) -> Path:
    """A small deterministic text of words and line breaks, for language-model runs."""
    rng = random.Random(seed)
    lines, size = [], 0
    while size < characters:
        line = " ".join(rng.choice(WORDS.split()) for _ in range(rng.randint(3, 9))) + "."
        lines.append(line)
        size += len(line) + 1
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """About 6,000 characters of training text."""
    return write_corpus(tmp_path / "train.txt", 6000)

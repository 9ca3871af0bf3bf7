"""Where inference commands read their input: a file named on the command line, or ``-`` for
standard input."""

from __future__ import annotations

import sys

STDIN = "-"


def read_input(source: str) -> tuple[str, str]:
    """``(text, name)`` of ``source``: a UTF-8 file, or standard input for ``-`` (named
    ``stdin`` in messages)."""
    from rnnkit.data.readers import decode_text, read_text

    if source == STDIN:
        return decode_text(sys.stdin.buffer.read(), "stdin"), "stdin"
    return read_text(source), source

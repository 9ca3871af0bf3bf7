"""The one exception type for mistakes a user can fix: bad input files, configs, arguments.

The CLI prints a `UserError` as a single line (``file:line: what is wrong``) and exits with
status 2; library callers catch it like any ``ValueError``.
"""

from __future__ import annotations

from os import PathLike


class UserError(ValueError):
    """A problem in what the user supplied, located in a file (and line) where that applies.

    >>> str(UserError("not valid UTF-8", path="train.txt", line=12))
    'train.txt:12: not valid UTF-8'
    """

    def __init__(
        self, message: str, *, path: str | PathLike[str] | None = None, line: int | None = None
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(self._format())

    def _format(self) -> str:
        if self.path is None:
            return self.message
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"

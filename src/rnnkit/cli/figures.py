"""Figures the inference commands save (``--attention-plot``, ``--plot``): the path checked
before any work, the file written atomically in the format its suffix names."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rnnkit.errors import UserError


def check_figure_path(path: Path) -> None:
    """Refuse, before any work, a figure that could not be saved: a folder, a missing parent
    folder, or a suffix matplotlib cannot write."""
    from matplotlib.figure import Figure

    if path.is_dir() or not path.parent.is_dir():
        raise UserError("not a file in an existing folder", path=path)
    suffix = path.suffix.lstrip(".").lower()
    if suffix not in Figure().canvas.get_supported_filetypes():
        raise UserError("name the plot file .png, .svg or .pdf", path=path)


def save_figure(figure: Any, path: Path) -> None:
    """Write the matplotlib ``figure`` to ``path`` (checked by `check_figure_path`) and close
    it; a failed write is a `UserError` and leaves no partial file."""
    import matplotlib.pyplot as plt

    from rnnkit.checkpoint.atomic import write_bytes_atomic

    buffer = io.BytesIO()
    figure.savefig(buffer, format=path.suffix.lstrip(".").lower())
    plt.close(figure)
    try:
        write_bytes_atomic(path, buffer.getvalue())
    except OSError as error:
        raise UserError(f"cannot write the plot: {error.strerror}", path=path) from None

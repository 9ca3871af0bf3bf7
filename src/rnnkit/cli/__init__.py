"""The ``rnnkit`` command (typer): thin — it parses, calls the library, prints.

`app` holds the root and the training and inference commands, `diagnose` the measurements of
``rnnkit diagnose``, `demo` what ``rnnkit demo`` runs. User errors print as one line with exit
status 2 (`main`).
"""

from rnnkit.cli.app import app, main

__all__ = ["app", "main"]

"""``rnnkit predict RUN [FILE|-] [--json]``: a trained classifier's label for each text, or a
tagger's tags for each sentence, printed as the task formats them (or as JSON lines)."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from rnnkit.errors import UserError

STDIN = "-"


def predict(
    run: Annotated[Path, typer.Argument(help="A classify or tag run directory.")],
    source: Annotated[
        str,
        typer.Argument(
            help="Input file (classify: one text per line, or CSV/TSV/JSONL as in training; "
            "tag: CoNLL, CoNLL-U, or one tokenised sentence per line), or - for stdin."
        ),
    ] = STDIN,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per input.")
    ] = False,
) -> None:
    """Label new inputs with a trained classifier or tagger."""
    from rnnkit.tasks import Predicts, load_run

    loaded = load_run(run)
    if not isinstance(loaded.task, Predicts):
        raise UserError(f"a {loaded.task.name} model does not predict labels", path=run)
    with _readable(source) as path:
        records = loaded.task.predict(loaded.model, path)
    for record in records:
        if as_json:
            typer.echo(json.dumps(record, ensure_ascii=False))
        else:
            typer.echo(loaded.task.format_prediction(record))


@contextmanager
def _readable(source: str) -> Iterator[str]:
    """The input as a file path: ``source`` itself, or stdin copied to a temporary
    ``stdin.txt`` (so that messages about a bad line name "stdin.txt")."""
    if source != STDIN:
        yield source
        return
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "stdin.txt"
        with path.open("wb") as file:
            shutil.copyfileobj(sys.stdin.buffer, file)
        yield str(path)

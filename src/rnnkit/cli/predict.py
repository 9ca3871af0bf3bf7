"""``rnnkit predict RUN [FILE|-] [--format F] [--json]``: a trained classifier's label for each
text, or a tagger's tags for each sentence, printed as the task formats them (or as JSON
lines)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rnnkit.cli.inputs import STDIN, read_input
from rnnkit.errors import UserError


def predict(
    run: Annotated[Path, typer.Argument(help="A classify or tag run directory.")],
    source: Annotated[
        str,
        typer.Argument(
            help="Input file (classify: one text per non-empty line, or CSV/TSV/JSONL/fastText "
            "as in training; tag: CoNLL, CoNLL-U, or one tokenised sentence per line), or - for "
            "stdin."
        ),
    ] = STDIN,
    input_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="auto (from the suffix and the text), or classify: lines, csv, tsv, jsonl, "
            "fasttext; tag: lines, conll, conllu.",
        ),
    ] = "auto",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per input.")
    ] = False,
) -> None:
    """Label new inputs with a trained classifier or tagger."""
    from rnnkit.tasks import Predicts, load_run

    loaded = load_run(run)
    if not isinstance(loaded.task, Predicts):
        raise UserError(f"a {loaded.task.name} model does not predict labels", path=run)
    text, name = read_input(source)
    for record in loaded.task.predict(loaded.model, text, name, input_format):
        if as_json:
            typer.echo(json.dumps(record, ensure_ascii=False))
        else:
            typer.echo(loaded.task.format_prediction(record))

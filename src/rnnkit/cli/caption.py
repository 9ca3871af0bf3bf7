"""``rnnkit caption RUN IMAGE... [--beam K] [--attention-plot DIR] [--json]``: a caption for each
image, by a trained caption model.

``IMAGE`` is image files (anything Pillow reads: JPEG, PNG, ...), or ``-`` for a list of image
paths on stdin, one per line. Output: one line per image, ``PATH<TAB>CAPTION``; ``--json``
prints one JSON object per image (``image``, ``caption``, ``words``, ``score``; with
``--attention-plot`` also ``attention``, one row of weights per word and the final eos, over
the ``grid`` of ``[h, w]`` image regions). ``--attention-plot DIR`` saves ``DIR/NAME.png`` per
image (``NAME``: the image file's name without its suffix): the image and one panel per word
showing where the model looked (`rnnkit.cli.caption_figures`). A model without attention
(``model.attention=none``) has no maps to plot, and is refused before any work.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from rnnkit.cli.inputs import STDIN
from rnnkit.errors import UserError


def caption(
    run: Annotated[Path, typer.Argument(help="A caption run directory.")],
    images: Annotated[
        list[str], typer.Argument(help="Image files (JPEG, PNG, ...), or - (paths).")
    ],
    beam: Annotated[
        int | None, typer.Option("--beam", help="Beam width (1: greedy; default decode.beam_size).")
    ] = None,
    attention_plot: Annotated[
        Path | None,
        typer.Option(help="Save each image's attention maps as DIR/NAME.png (a folder)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON, one line per image.")
    ] = False,
) -> None:
    """Describe images in a sentence with a trained caption model."""
    from rnnkit.tasks import Captions, load_run

    if beam is not None and beam < 1:
        raise UserError("--beam must be at least 1")
    loaded = load_run(run)
    task = loaded.task
    if not isinstance(task, Captions):
        raise UserError(f"a {task.name} model does not caption images", path=run)
    if attention_plot is not None:
        check_plot_folder(attention_plot, has_attention=getattr(loaded.model, "attention", None))
    if images == [STDIN]:
        images = [line.strip() for line in sys.stdin if line.strip()]
        if not images:
            raise UserError("no image paths on stdin")
    options: dict[str, Any] = {} if beam is None else {"beam_size": beam}
    records = task.caption(loaded.model, images, attention=attention_plot is not None, **options)
    if attention_plot is not None:
        save_plots(records, attention_plot)
        typer.echo(f"attention maps saved in {attention_plot}/", err=True)
    for record in records:
        typer.echo(json.dumps(record) if as_json else f"{record['image']}\t{record['caption']}")


def check_plot_folder(folder: Path, has_attention: object) -> None:
    """Refuse, before any work, plots that could not be made: a model without attention, or a
    folder that is a file."""
    if has_attention is None:
        raise UserError("this model has no attention to plot (model.attention=none)", path=folder)
    if folder.exists() and not folder.is_dir():
        raise UserError("--attention-plot names a folder, and this is a file", path=folder)


def save_plots(records: list[dict[str, Any]], folder: Path) -> None:
    """One figure per record, ``folder/NAME.png``; a name seen before gets ``-2``, ``-3``..."""
    from rnnkit.cli.caption_figures import save_attention_figure

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot make the folder: {error.strerror}", path=folder) from None
    seen: dict[str, int] = {}
    for record in records:
        stem = Path(record["image"]).stem
        seen[stem] = seen.get(stem, 0) + 1
        name = stem if seen[stem] == 1 else f"{stem}-{seen[stem]}"
        save_attention_figure(record, folder / f"{name}.png")

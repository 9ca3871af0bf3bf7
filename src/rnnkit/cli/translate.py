"""``rnnkit translate RUN [FILE|-] [--beam K] [--n-best N] [--replace-unk] [--attention-plot
PNG] [--json]``: one translation per input line, by a trained translate model.

Output: one line per input line (an empty line for an empty one); with ``--n-best N``, ``N``
lines per input, each ``INPUT_LINE<TAB>SCORE<TAB>TRANSLATION``; with ``--json``, one JSON array
of hypotheses per input line (tokens, scores and, with ``--attention-plot``, the attention).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from rnnkit.cli.figures import check_figure_path, save_figure
from rnnkit.cli.inputs import STDIN, read_input
from rnnkit.errors import UserError


def translate(
    run: Annotated[Path, typer.Argument(help="A translate run directory.")],
    source: Annotated[
        str, typer.Argument(help="Input file, one sentence per line, or - for stdin.")
    ] = STDIN,
    beam: Annotated[
        int | None, typer.Option("--beam", help="Beam width (1: greedy; default decode.beam_size).")
    ] = None,
    n_best: Annotated[
        int, typer.Option("--n-best", help="Hypotheses per sentence, printed with scores.")
    ] = 1,
    length_penalty: Annotated[
        float | None,
        typer.Option(help="Rank by log p / length ** L (default decode.length_penalty)."),
    ] = None,
    replace_unk: Annotated[
        bool | None,
        typer.Option(
            "--replace-unk/--keep-unk",
            help="Replace an unknown output word by the most-attended source word.",
        ),
    ] = None,
    attention_plot: Annotated[
        Path | None,
        typer.Option(help="Save the first sentence's attention as a heat map (PNG, SVG, PDF)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON, one line per input.")
    ] = False,
) -> None:
    """Translate each line of a file (or stdin) with a trained translate model."""
    from rnnkit.tasks import Translates, load_run

    if n_best < 1 or (beam is not None and beam < 1):
        raise UserError("--beam and --n-best must be at least 1")
    if beam is not None and n_best > beam:
        raise UserError(f"--n-best {n_best} needs a beam at least as wide (--beam {beam})")
    loaded = load_run(run)
    if not isinstance(loaded.task, Translates):
        raise UserError(f"a {loaded.task.name} model does not translate", path=run)
    if attention_plot is not None:
        check_plot_path(attention_plot, has_attention=getattr(loaded.model, "attention", None))
    settings: dict[str, Any] = {
        "beam_size": beam,
        "n_best": n_best,
        "attention": attention_plot is not None,
    }
    if length_penalty is not None:
        settings["length_penalty"] = length_penalty
    if replace_unk is not None:
        settings["replace_unk"] = replace_unk
    text, name = read_input(source)
    results = loaded.task.translate(loaded.model, text, name, **settings)
    for number, hypotheses in enumerate(results, start=1):
        if as_json:
            typer.echo(json.dumps(hypotheses, ensure_ascii=False))
        elif n_best == 1:
            typer.echo(hypotheses[0]["translation"])
        else:
            for h in hypotheses:
                typer.echo(f"{number}\t{h['score']:.4f}\t{h['translation']}")
    if attention_plot is not None and results:
        save_attention_plot(results[0][0], attention_plot)
        typer.echo(f"attention of sentence 1 saved to {attention_plot}", err=True)


def check_plot_path(path: Path, has_attention: object) -> None:
    """Refuse, before any work, a plot that could not be saved: a model without attention, or a
    path `check_figure_path` refuses."""
    if has_attention is None:
        raise UserError("this model has no attention to plot (model.attention=none)", path=path)
    check_figure_path(path)


def save_attention_plot(record: dict[str, Any], path: Path) -> None:
    """A heat map of ``record["attention"]``: output tokens (rows) by source tokens (columns),
    each ending in eos; written atomically, in the format the suffix names (`check_plot_path`
    has approved it)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [*record["tokens"], "<eos>"]
    columns = [*record["source_tokens"], "<eos>"]
    weights = record["attention"]
    figure, axes = plt.subplots(figsize=(1 + 0.45 * len(columns), 1 + 0.4 * len(rows)))
    image = axes.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    axes.set_xticks(range(len(columns)), columns, rotation=60, ha="right")
    axes.set_yticks(range(len(rows)), rows)
    axes.set_xlabel("source")
    axes.set_ylabel("translation")
    figure.colorbar(image, ax=axes, fraction=0.05)
    figure.tight_layout()
    save_figure(figure, path)

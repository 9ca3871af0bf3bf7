"""``rnnkit diagnose``: measurements that show why a recurrent network learns or does not.

``rnnkit diagnose gradient-flow --out DIR`` measures ‖∂L/∂h_t‖ against the distance from the
loss for several cells on the adding problem (`rnnkit.bptt.flow_experiment.flow_report`) and writes
``DIR/gradient_flow.json`` and ``DIR/gradient_flow.png``. Mounted in `rnnkit.cli` with
``app.add_typer(diagnose_app, name="diagnose")``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import torch
import typer
from rich.console import Console
from rich.table import Table

from rnnkit.bptt.flow_experiment import FlowSettings, flow_report
from rnnkit.bptt.long_memory import LAYERS

EXPLODING = "rnn_relu_large_init"
DEFAULT_CELLS = "rnn,lstm,lstm_fb1,gru,mingru"
SHOWN_DISTANCES = (0, 10, 50, 100, 200, 400)
FLOAT32_TINY = torch.finfo(torch.float32).tiny  # below it a float32 gradient is denormal or 0

diagnose_app = typer.Typer(
    help="Diagnose recurrent networks: how gradients flow back through time.",
    no_args_is_help=True,
    add_completion=False,
)


@diagnose_app.callback()
def _diagnose() -> None:
    """Diagnose recurrent networks: how gradients flow back through time."""


@diagnose_app.command("gradient-flow")
def gradient_flow_command(
    out: Annotated[Path, typer.Option("--out", help="Directory for gradient_flow.json, .png.")],
    cells: Annotated[
        str, typer.Option(help=f"Comma-separated cells, of: {', '.join(LAYERS)}.")
    ] = DEFAULT_CELLS,
    length: Annotated[int, typer.Option(min=2, help="Sequence length T (adding problem).")] = 200,
    hidden: Annotated[int, typer.Option(min=1, help="Hidden size.")] = 128,
    batch: Annotated[int, typer.Option(min=1, help="Sequences measured, and per step.")] = 32,
    seed: Annotated[int, typer.Option(help="Seed of the initialisation and the data.")] = 0,
    train_steps: Annotated[
        int, typer.Option(min=0, help="Also measure after this many Adam steps.")
    ] = 0,
    exploding: Annotated[
        bool, typer.Option(help=f"Add {EXPLODING}: relu Elman, W_hh = 1.5 × orthogonal.")
    ] = True,
    clip_norm: Annotated[
        float, typer.Option(min=0.0, help="Gradient clipping norm in training; 0: no clipping.")
    ] = 1.0,
    lr: Annotated[float, typer.Option(min=0.0, help="Adam learning rate.")] = 1e-3,
) -> None:
    """Plot ‖∂L/∂h_t‖ against the distance from the loss, one line per cell."""
    names = _cell_names(cells, exploding)
    settings = FlowSettings(
        tuple(names), length, hidden, batch, seed, train_steps, lr=lr, clip_norm=clip_norm or None
    )
    report = flow_report(settings)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gradient_flow.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    plot_flow(report, out / "gradient_flow.png")
    _print_summary(report)
    typer.echo(f"wrote {out / 'gradient_flow.json'} and {out / 'gradient_flow.png'}")


def _cell_names(cells: str, exploding: bool) -> list[str]:
    names = [name.strip() for name in cells.split(",") if name.strip()]
    unknown = [name for name in names if name not in LAYERS]
    if unknown or not names:
        raise typer.BadParameter(
            f"unknown cell(s) {', '.join(unknown) or '(none given)'}; "
            f"expected some of {', '.join(LAYERS)}",
            param_hint="--cells",
        )
    return [*names, EXPLODING] if exploding and EXPLODING not in names else names


def plot_flow(report: dict[str, Any], path: Path) -> None:
    """Log-scale gradient norm against distance, a panel at initialisation (and after
    training when the report has one)."""
    from matplotlib.figure import Figure  # Agg canvas, no pyplot state; imported when used

    settings = report["settings"]
    panels = [("at initialisation", report["cells"])]
    if "trained" in report:
        panels.append((f"after {settings['train_steps']} training steps", report["trained"]))
    figure = Figure(figsize=(5.5 * len(panels) + 1.8, 4.5), layout="constrained")
    axes = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (title, curves) in zip(axes, panels, strict=True):
        for cell, norms in curves.items():
            ax.plot(report["distances"], [math.nan if v is None else v for v in norms], label=cell)
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("distance from the loss (steps)")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("‖∂L/∂h_t‖, mean over the batch")
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside right center")
    if axes[0].get_ylim()[0] < FLOAT32_TINY:  # the curves reach float32's floor: mark it
        for ax in axes:
            ax.axhline(FLOAT32_TINY, color="grey", linestyle=":", linewidth=1)
        axes[0].annotate(
            "smallest normal float32", (0, FLOAT32_TINY), xytext=(2, 3),
            textcoords="offset points", fontsize="x-small", color="grey",
        )  # fmt: skip
    figure.suptitle(
        f"Gradient flow, adding problem: T={settings['length']}, H={settings['hidden']}, "
        f"seed {settings['seed']}"
    )
    figure.savefig(path, dpi=120)


def _print_summary(report: dict[str, Any]) -> None:
    distances = [d for d in SHOWN_DISTANCES if d < len(report["distances"])]
    console = Console(width=160)
    clip = report["clipping"]["clip_norm"]
    clipped = {
        cell: f"{_show(effect['before'])} -> {_show(effect['after'])}"
        for cell, effect in report["clipping"]["cells"].items()
    }
    header = f"‖g‖ -> clip {'none' if clip is None else f'{clip:g}'}"
    console.print(_norm_table("at initialisation", report["cells"], distances, header, clipped))
    if "trained" in report:
        steps = report["settings"]["train_steps"]
        losses = {cell: _show(loss) for cell, loss in report["train_loss"].items()}
        title, header = f"after {steps} steps", "train loss, last 10%"
        console.print(_norm_table(title, report["trained"], distances, header, losses))


def _norm_table(
    title: str,
    curves: dict[str, list[float | None]],
    distances: list[int],
    last_header: str,
    last_column: dict[str, str],
) -> Table:
    """One row per cell: the norm at a few distances, then ``last_column``'s entry."""
    table = Table(title=f"‖∂L/∂h‖ by distance from the loss, {title}")
    for column in ["cell", *(f"d={d}" for d in distances), last_header]:
        table.add_column(column, justify="right")
    for cell, norms in curves.items():
        table.add_row(cell, *(_show(norms[d]) for d in distances), last_column[cell])
    return table


def _show(value: float | None) -> str:
    return "inf/nan" if value is None else f"{value:.2e}"

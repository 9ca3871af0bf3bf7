"""The ``rnnkit`` command's root and its training and inference commands: each parses its
arguments, calls the library (`rnnkit.tasks`), prints.

A mistake in what the user supplied (a missing file, a bad config key, a non-UTF-8 byte) is
printed as one line — ``rnnkit: error: FILE:LINE: what is wrong`` — with exit status 2 and no
traceback; ``RNNKIT_DEBUG=1`` shows the traceback too.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

import rnnkit
from rnnkit.errors import UserError

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Recurrent neural networks: train, evaluate and generate from one command.",
)
console = Console(highlight=False)

DataOption = Annotated[
    list[str],
    typer.Option(
        "--data",
        help="Training data: a file (generate, classify: one .txt per category, named by it), "
        "a folder (speech) or builtin:NAME (repeatable).",
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key: --set train.lr=0.001 (repeatable)."),
]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"rnnkit {rnnkit.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Recurrent neural networks: train, evaluate and generate from one command."""


@app.command()
def train(
    task: Annotated[
        str,
        typer.Argument(
            help="The task: lm, classify, tag, translate, forecast, speech, generate, caption "
            "or sketch."
        ),
    ],
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", help="The run directory to write.")],
    valid: Annotated[
        list[str] | None, typer.Option("--valid", help="Validation data file (repeatable).")
    ] = None,
    test: Annotated[
        list[str] | None, typer.Option("--test", help="Test data file (repeatable).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="A YAML config file.")] = None,
    set_: SetOption = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Continue the run in --out, with its saved config. --set / --config may change "
            "how training goes on (train.max_steps, train.epochs, train.lr, ...; each change is "
            "announced), not what is trained: model.*, train.seed, train.optimizer and the "
            "data.* keys of tokens, labels, features and split are errors.",
        ),
    ] = False,
    src: Annotated[
        str | None, typer.Option("--src", help="translate: source suffix (data.src).")
    ] = None,
    tgt: Annotated[
        str | None, typer.Option("--tgt", help="translate: target suffix (data.tgt).")
    ] = None,
) -> None:
    """Train a model; the best one is saved in --out, the latest in --out/last."""
    from rnnkit.tasks import train_run

    languages = [f"data.{key}={value}" for key, value in (("src", src), ("tgt", tgt)) if value]

    metrics = train_run(
        task,
        data,
        out,
        valid=valid or [],
        test=test or [],
        config=config,
        overrides=[*languages, *(set_ or [])],
        resume=resume,
    )
    if metrics:  # only the main process of a distributed run has them
        _print_final(metrics, out)


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="A run directory.")],
    data: Annotated[
        list[str],
        typer.Option("--data", help="Data file to evaluate on (repeatable) or builtin:NAME."),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Change a saved setting for this evaluation (decode.*, how the data is read; "
            "not model.* or the tokenizer's data keys): --set decode.beam_size=1.",
        ),
    ] = None,
    judge: Annotated[
        Path | None,
        typer.Option(
            help="generate runs: a classify run that judges whether samples follow their category."
        ),
    ] = None,
    samples: Annotated[int, typer.Option(help="Samples per category for --judge.")] = 100,
) -> None:
    """Evaluate a trained model on new data: perplexity, accuracy, F1, BLEU, a forecast's
    errors beside the naive baselines, or WER / CER, as fits the task."""
    from rnnkit.cli.tables import print_metrics
    from rnnkit.tasks import GeneratesConditioned, load_run

    loaded = load_run(run, overrides=set_ or [])
    if judge is not None and not isinstance(loaded.task, GeneratesConditioned):
        raise UserError(f"--judge needs a generate run, not {loaded.task.name}", path=run)
    if samples < 1:
        raise UserError("--samples must be at least 1")
    metrics = loaded.task.evaluate_files(loaded.model, data)
    if judge is not None:
        assert isinstance(loaded.task, GeneratesConditioned)
        judging = load_run(judge)
        if judging.task.name != "classify":
            raise UserError(f"a {judging.task.name} run cannot judge samples: --judge takes a "
                            "classify run trained on the same data", path=judge)  # fmt: skip
        metrics |= loaded.task.judge(loaded.model, judging.task, judging.model, samples)
    if as_json:
        typer.echo(json.dumps(metrics))
    else:
        print_metrics(console, metrics, "metrics on " + ", ".join(data))


@app.command()
def generate(
    run: Annotated[Path, typer.Argument(help="A language-model or conditional run directory.")],
    condition: Annotated[
        list[str] | None,
        typer.Option(
            "--condition",
            help="What to write (generate runs): a category, or FIELD=VALUE (repeatable).",
        ),
    ] = None,
    prompt: Annotated[
        str, typer.Option(help="Text to continue (default: a new line, or a new text).")
    ] = "",
    length: Annotated[
        int, typer.Option(help="Tokens to generate (generate runs: the most per text).")
    ] = 200,
    temperature: Annotated[float, typer.Option(help="Sampling temperature, > 0.")] = 1.0,
    top_k: Annotated[int | None, typer.Option(help="Sample among the k likeliest tokens.")] = None,
    top_p: Annotated[float | None, typer.Option(help="Sample within probability mass p.")] = None,
    greedy: Annotated[bool, typer.Option(help="Take the likeliest token every time.")] = False,
    seed: Annotated[int | None, typer.Option(help="Seed, for reproducible samples.")] = None,
    num: Annotated[int, typer.Option(help="Number of samples.")] = 1,
    stop_at_eos: Annotated[
        bool,
        typer.Option(help="End a sample at its first end of sentence (<eos>; always: generate)."),
    ] = False,
    unique: Annotated[
        bool, typer.Option("--unique", help="Drop repeated samples (generate runs).")
    ] = False,
    not_in_training: Annotated[
        bool,
        typer.Option("--not-in-training", help="Drop samples the training data holds (generate)."),
    ] = False,
) -> None:
    """Generate text from a trained language model, or texts of a category from a conditional
    one (rnnkit train generate), one per line."""
    from rnnkit.tasks import Generates, GeneratesConditioned, load_run

    _check_sampling(length, temperature, top_k, top_p, num)
    loaded = load_run(run)
    task = loaded.task
    if not isinstance(task, Generates):
        raise UserError(f"a {task.name} model does not generate text", path=run)
    options: dict[str, object] = {"stop_at_eos": stop_at_eos}
    if isinstance(task, GeneratesConditioned):
        if not condition:
            choices = "; ".join(f"{f}: {', '.join(v)}" for f, v in task.categories().items())
            raise UserError(f"a {task.name} model needs --condition ({choices})", path=run)
        options = {"condition": condition, "unique": unique, "not_in_training": not_in_training}
    elif condition or unique or not_in_training:
        raise UserError(
            f"--condition, --unique and --not-in-training need a generate run, not {task.name}",
            path=run,
        )
    samples = task.generate(
        loaded.model,
        prompt,
        length,
        num=num,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        greedy=greedy,
        seed=seed,
        **options,
    )
    if isinstance(task, GeneratesConditioned):
        typer.echo("\n".join(samples))
        if len(samples) < num:
            typer.echo(
                f"rnnkit: only {len(samples)} of {num} samples were drawn new and non-empty",
                err=True,
            )
        return
    for i, text in enumerate(samples):
        if num > 1:
            console.rule(f"sample {i + 1}")
        typer.echo(text)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Where to save the model.")] = Path("runs/demo"),
    minutes: Annotated[float, typer.Option(help="Training time budget.")] = 2.25,
) -> None:
    """Train a character-level LSTM on the Python docs for a few minutes, then let it write."""
    from rnnkit.cli.demo import run_demo

    result = run_demo(out, minutes)
    for sample in result.samples:
        console.rule("sample")
        typer.echo(sample)
    console.rule()
    _print_final(result.metrics, out)
    typer.echo("\nTry next:")
    typer.echo(f"  rnnkit generate {out} --prompt 'Return ' --temperature 0.7 --num 3")
    typer.echo(f"  rnnkit evaluate {out} --data some_text_file.txt")
    typer.echo("  rnnkit train lm --data your_text.txt --out runs/mine --set model.hidden_size=512")


def _check_sampling(
    length: int, temperature: float, top_k: int | None, top_p: float | None, num: int
) -> None:
    if length < 1 or num < 1:
        raise UserError("--length and --num must be at least 1")
    if temperature <= 0:
        raise UserError(
            f"--temperature must be > 0 (use --greedy for the likeliest text), got {temperature}"
        )
    if top_k is not None and top_k < 1:
        raise UserError(f"--top-k must be at least 1, got {top_k}")
    if top_p is not None and not 0 < top_p <= 1:
        raise UserError(f"--top-p must be in (0, 1], got {top_p}")


def _print_final(metrics: dict[str, object], out: Path) -> None:
    from rnnkit.cli.tables import format_value

    for split in ("valid", "test"):
        values = metrics.get(split)
        if isinstance(values, dict):
            shown = "  ".join(
                f"{k} {format_value(v)}" for k, v in values.items() if isinstance(v, int | float)
            )
            typer.echo(f"{split}: {shown}")
    typer.echo(f"The best model is in {out}/ (latest checkpoint: {out}/last/).")


def _register_commands() -> None:
    """The commands that live in modules of their own."""
    from rnnkit.cli.caption import caption
    from rnnkit.cli.diagnose import diagnose_app
    from rnnkit.cli.draw import draw
    from rnnkit.cli.embed import embed
    from rnnkit.cli.export import export
    from rnnkit.cli.forecast import forecast
    from rnnkit.cli.predict import predict
    from rnnkit.cli.serve import serve
    from rnnkit.cli.transcribe import transcribe
    from rnnkit.cli.translate import translate

    app.command()(predict)
    app.command()(translate)
    app.command()(forecast)
    app.command()(transcribe)
    app.command()(caption)
    app.command()(draw)
    app.command()(embed)
    app.command()(export)
    app.command()(serve)
    app.add_typer(diagnose_app, name="diagnose")


def main() -> None:
    """Entry point of the console script."""
    _register_commands()
    try:
        app()
    except UserError as error:
        if os.environ.get("RNNKIT_DEBUG"):
            raise
        print(f"rnnkit: error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()

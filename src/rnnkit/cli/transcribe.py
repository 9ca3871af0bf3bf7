"""``rnnkit transcribe RUN AUDIO... [--beam K] [--json] [--plot PNG]``: one transcript per
recording, by a trained speech model.

``AUDIO`` is audio files, manifests (``.csv`` / ``.tsv`` / ``.jsonl``, as for training, the
text column optional: each of their recordings is transcribed), or ``-`` for a list of audio
paths on stdin, one per line. ``--set`` changes a saved setting (``decode.words``).
Output: one line per recording, ``PATH<TAB>TRANSCRIPT``; ``--json`` prints one JSON object per
recording. ``--plot`` saves the first recording's log-mel spectrogram with the model's
per-frame posteriors below it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from rnnkit.cli.figures import check_figure_path, save_figure
from rnnkit.cli.inputs import STDIN
from rnnkit.errors import UserError

MANIFESTS = (".csv", ".tsv", ".jsonl")


def transcribe(
    run: Annotated[Path, typer.Argument(help="A speech run directory.")],
    audio: Annotated[
        list[str], typer.Argument(help="Audio files, manifests (.csv/.tsv/.jsonl), or - (paths).")
    ],
    beam: Annotated[
        int | None, typer.Option("--beam", help="Beam width (1: greedy; default decode.beam_size).")
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Save the first recording's spectrogram and posteriors (PNG, SVG, PDF)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, one line per file.")] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Change a saved setting: --set decode.words=words.txt."),
    ] = None,
) -> None:
    """Transcribe recordings with a trained speech model."""
    from rnnkit.tasks import Transcribes, load_run

    if beam is not None and beam < 1:
        raise UserError("--beam must be at least 1")
    if plot is not None:
        check_figure_path(plot)
    loaded = load_run(run, overrides=set_ or [])
    task = loaded.task
    if not isinstance(task, Transcribes):
        raise UserError(f"a {task.name} model does not transcribe audio", path=run)
    utterances = read_recordings(audio, task.sample_rate)
    records = task.transcribe(loaded.model, utterances, beam, posteriors=plot is not None)
    if plot is not None:
        plot_posteriors(loaded.model, utterances[0], records[0], task.class_names(), plot)
    for record in records:
        record.pop("posteriors", None)
        typer.echo(json.dumps(record) if as_json else f"{record['audio']}\t{record['text']}")


def read_recordings(sources: list[str], sample_rate: int) -> list[Any]:
    """The utterances named on the command line (or on stdin for ``-``)."""
    from rnnkit.data.audio import Utterance, load_audio, read_utterances

    if sources == [STDIN]:
        sources = [line.strip() for line in sys.stdin if line.strip()]
        if not sources:
            raise UserError("no audio paths on stdin")
    utterances: list[Utterance] = []
    for source in sources:
        path = Path(source)
        if path.suffix in MANIFESTS:
            utterances += read_utterances(path, sample_rate, with_text=False)
        else:
            utterances.append(Utterance(load_audio(path, sample_rate, source), "", source, source))
    return utterances


def plot_posteriors(
    model: Any, utterance: Any, record: dict[str, Any], names: list[str], path: Path
) -> None:
    """The log-mel spectrogram of ``utterance`` above the per-frame class probabilities."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import torch

    with torch.no_grad():
        audio = torch.from_numpy(utterance.audio)[None]
        feats, _ = model.features(audio, torch.tensor([audio.shape[1]]))
    posteriors = np.array(record["posteriors"])  # (T', C), one row for a classifier
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=False)
    top.imshow(feats[0].T.numpy(), origin="lower", aspect="auto", cmap="magma")
    top.set_title(f"{utterance.name}: {record['text']!r}", fontsize=10)
    top.set_ylabel("mel band")
    if len(posteriors) == 1:  # one label per recording: its probabilities
        bottom.bar(names, posteriors[0])
        bottom.set_ylabel("probability")
    else:
        for index in np.flatnonzero(posteriors.max(axis=0) > 0.2):
            bottom.plot(posteriors[:, index], label=names[index])
        bottom.set_xlabel("frame (after subsampling)")
        bottom.set_ylabel("posterior")
        bottom.legend(loc="upper right", fontsize=7, ncol=4)
    figure.tight_layout()
    save_figure(figure, path)

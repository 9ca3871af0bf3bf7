"""ONNX export of the speech, generate, caption and sketch tasks: tiny runs trained in-process,
exported, and used through ONNX Runtime alone the way a runtime would — a greedy transcription,
greedy generation and captioning loops over the step graphs, a teacher-forced sketch decoder —
giving what the library gives; the JSON description lists the files written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image

from conftest import sketches_of
from rnnkit.data.builtin_audio import builtin_utterances
from rnnkit.data.builtin_scenes import builtin_images
from rnnkit.data.images import load_image
from rnnkit.data.sketches import rescale
from rnnkit.export import export_run
from rnnkit.models.sketch_rnn import START
from rnnkit.tasks import load_run, train_run
from rnnkit.tasks.runs import LoadedRun

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {
    "speech": ["data.sample_rate=8000", "model.hidden_size=16", "model.num_layers=1",
               "data.n_mels=16", "model.subsample=3"],
    "generate": ["model.hidden_size=16", "model.embedding_dim=8", "model.condition_dim=4"],
    "caption": ["data.image_size=16", "model.encoder_channels=[4,8]", "model.hidden_size=16",
                "model.embedding_dim=8", "data.min_freq=1", "decode.max_length=8",
                "train.select_by=loss"],
    "sketch": ["model.hidden_size=16", "model.encoder_size=8", "model.latent_size=4",
               "model.num_mixtures=3", "train.batch_size=20"],
}  # fmt: skip
DATA = {
    "speech": "builtin:tones",
    "generate": "builtin:syllables",
    "caption": "builtin:scenes",
    "sketch": "builtin:doodles",
}
SPEECH_CLASSIFY_MFCC = ["model.output=classify", "data.features=mfcc", "model.conv=2d",
                        "model.cell=gru", "data.normalise=global"]  # fmt: skip
Sessions = dict[str, onnxruntime.InferenceSession]
Outputs = dict[str, np.ndarray]


def trained(tmp_path: Path, task: str, *overrides: str) -> LoadedRun:
    """A run of ``task`` trained for two steps on its built-in data, loaded back."""
    settings = [*TINY[task], *overrides, "train.max_steps=2", "train.threads=1"]
    train_run(task, [DATA[task]], tmp_path / "run", overrides=settings, live=False)
    return load_run(tmp_path / "run")


def exported(run: LoadedRun, folder: Path) -> tuple[dict[str, Any], Sessions]:
    """Export ``run`` to ``folder/model.onnx``: the description, and a session per graph.
    Checks that the description lists exactly the files written, and its check's result."""
    report = export_run(run, folder / "model.onnx")
    description = json.loads(report.description.read_text(encoding="utf-8"))
    graphs = description["graphs"]
    listed = {graph["file"] for graph in graphs.values()} | set(description["assets"].values())
    assert {path.name for path in folder.iterdir()} == listed | {"model.json"}
    assert next(iter(graphs.values()))["file"] == "model.onnx"
    assert all(0 <= d <= 1e-4 for d in description["check"]["max_abs_difference"].values())
    sessions = {
        name: onnxruntime.InferenceSession(
            str(folder / graph["file"]), providers=["CPUExecutionProvider"]
        )
        for name, graph in graphs.items()
    }
    return description, sessions


def run_graph(session: onnxruntime.InferenceSession, **feed: Any) -> Outputs:
    """The outputs of ``session`` by name, for inputs given by name (tensors or arrays)."""
    arrays = {k: v.numpy() if isinstance(v, torch.Tensor) else v for k, v in feed.items()}
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, arrays), strict=True))


def state_names(session: onnxruntime.InferenceSession) -> list[str]:
    """The inputs of a step graph that it gives back updated (``NAME`` -> ``NAME_out``)."""
    outputs = {output.name for output in session.get_outputs()}
    return [port.name for port in session.get_inputs() if port.name + "_out" in outputs]


def advance(outputs: Outputs, names: list[str]) -> Outputs:
    """The state a step graph gave back, named as its inputs."""
    return {name: outputs[name + "_out"] for name in names}


def zero_state(description: dict[str, Any], graph: str, names: list[str], rows: int) -> Outputs:
    """The zero state of ``rows`` rows for the inputs ``names`` of ``graph``, as described."""
    ports = {port["name"]: port["shape"] for port in description["graphs"][graph]["inputs"]}
    return {
        name: np.zeros([rows if axis == "batch" else axis for axis in ports[name]], np.float32)
        for name in names
    }


def greedy(
    step: onnxruntime.InferenceSession,
    first: list[int],
    state: Outputs,
    fixed: dict[str, Any],
    eos: int,
    limit: int,
) -> tuple[list[int], list[Outputs]]:
    """Greedy decoding of one row over ``step``: feed the tokens ``first`` from ``state``,
    then each argmax, until ``eos`` (kept) or ``limit`` tokens; ``fixed`` are inputs of every
    step. The tokens, and the step outputs each was chosen from."""
    names, tokens, chosen_from = state_names(step), [], []
    outputs: Outputs = {}
    for token in first:
        outputs = run_graph(step, token=np.array([token]), **fixed, **state)
        state = advance(outputs, names)
    while len(tokens) < limit and tokens[-1:] != [eos]:
        tokens.append(int(outputs["log_probs"][0].argmax()))
        chosen_from.append(outputs)
        outputs = run_graph(step, token=np.array(tokens[-1:]), **fixed, **state)
        state = advance(outputs, names)
    return tokens, chosen_from


def padded_audio(utterances: list[Any]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(u.audio) for u in utterances])
    audio = np.zeros((len(utterances), lengths.max()), dtype=np.float32)
    for row, utterance in enumerate(utterances):
        audio[row, : len(utterance.audio)] = utterance.audio
    return audio, lengths


@pytest.mark.parametrize(
    "overrides",
    [[], ["model.layer_norm=true"], SPEECH_CLASSIFY_MFCC],
    ids=["ctc", "ctc-layer-norm", "classify-mfcc"],
)
def test_speech_transcribes_raw_audio_as_the_library(tmp_path, overrides):
    run = trained(tmp_path, "speech", *overrides)
    description, sessions = exported(run, tmp_path / "onnx")
    facts = description["facts"]
    assert list(sessions) == ["speech"] and facts["sample_rate"] == 8000
    utterances = builtin_utterances("builtin:tones-test", 8000)[:6]
    audio, lengths = padded_audio(utterances)
    outputs = run_graph(sessions["speech"], audio=audio, lengths=lengths)
    with torch.no_grad():
        scores, frames = run.model(torch.from_numpy(audio), torch.from_numpy(lengths))
    assert outputs["frame_lengths"].tolist() == frames.tolist()
    expected = torch.log_softmax(scores, -1).numpy()
    finite = np.isfinite(outputs["log_probs"])
    np.testing.assert_allclose(outputs["log_probs"][finite], expected[finite], atol=1e-4)
    best = outputs["log_probs"].argmax(-1)
    if facts["output"] == "classify":
        texts = [facts["labels"][i] for i in best]
    else:  # CTC greedy, as the facts describe it
        texts = []
        for path, length in zip(best, outputs["frame_lengths"], strict=True):
            merged = [s for i, s in enumerate(path[:length]) if i == 0 or s != path[i - 1]]
            ids = [int(s) for s in merged if s != facts["blank_id"]]
            texts.append(" ".join(run.task.tokenizer.decode(ids).split()))
    library = run.task.transcribe(run.model, utterances, beam_size=1)
    assert texts == [record["text"] for record in library]
    assert any(texts)


@pytest.mark.parametrize("condition", ["both", "init", "input"])
def test_generate_steps_give_the_library_greedy_texts(tmp_path, condition):
    run = trained(tmp_path, "generate", f"model.condition={condition}")
    description, sessions = exported(run, tmp_path / "onnx")
    facts = description["facts"]
    assert list(sessions) == (["step"] if condition == "input" else ["init", "step"])
    assert facts["initial_state"] == ("zeros" if condition == "input" else "init graph")
    tokenizer, step = run.task.tokenizer, sessions["step"]
    for value_id, value in enumerate(facts["conditions"]["label"]):
        conditions = np.array([[value_id]])
        if "init" in sessions:
            state = run_graph(sessions["init"], conditions=conditions)
        else:
            state = zero_state(description, "step", state_names(step), rows=1)
        fixed = {} if condition == "init" else {"conditions": conditions}
        for prompt in ("", "ka"):
            first = [facts["bos_id"], *tokenizer.encode(prompt)]
            tokens, _ = greedy(step, first, state, fixed, facts["eos_id"], limit=12)
            text = prompt + tokenizer.decode(
                tokens[:-1] if tokens[-1] == facts["eos_id"] else tokens
            )
            library = run.task.generate(run.model, prompt, 12, condition=value, greedy=True)
            assert library == ([text] if text.strip() else [])  # generate drops empty texts


@pytest.mark.parametrize("overrides", [(), ("model.attention=none", "model.cell=gru")],
                         ids=["soft-attention", "no-attention"])  # fmt: skip
def test_caption_steps_give_the_library_greedy_captions(tmp_path, overrides):
    run = trained(tmp_path, "caption", *overrides)
    description, sessions = exported(run, tmp_path / "onnx")
    facts = description["facts"]
    assert list(sessions) == ["encoder", "step"] and facts["image_size"] == 16
    paths = []
    for index, image in enumerate(builtin_images("builtin:scenes-test")[:3]):
        assert isinstance(image.image, Image.Image)
        paths.append(tmp_path / f"{index}.png")
        image.image.save(paths[-1])
    library = run.task.caption(run.model, [str(p) for p in paths], beam_size=1, attention=True)
    step, tokenizer = sessions["step"], run.task.tokenizer
    for path, record in zip(paths, library, strict=True):
        image = load_image(path, facts["image_size"], facts["mean"], facts["std"])
        encoded = run_graph(sessions["encoder"], images=image[None])
        names = state_names(step)
        fixed = {name: x for name, x in encoded.items() if name not in names}
        state = {name: encoded[name] for name in names}
        limit = facts["max_length"] + 1  # eos included
        words, chosen_from = greedy(step, [facts["bos_id"]], state, fixed, facts["eos_id"], limit)
        content = [w for w in words if w != facts["eos_id"]]
        assert [tokenizer.id_to_token(w) for w in content] == record["words"]
        if facts["attention"]:
            weights = [outputs["attention"][0] for outputs in chosen_from]
            assert len(record["attention"]) == len(words)  # eos included
            np.testing.assert_allclose(weights, record["attention"], atol=1e-4)
        else:
            assert "attention" not in record


@pytest.mark.parametrize(
    "overrides",
    [(), ("model.layer_norm=true",), ("model.latent_size=0", "model.cell=gru")],
    ids=["vae", "vae-layer-norm", "unconditional"],
)
def test_sketch_encoder_and_steps_give_the_library_mixtures(tmp_path, overrides):
    run = trained(tmp_path, "sketch", *overrides)
    description, sessions = exported(run, tmp_path / "onnx")
    facts, model = description["facts"], run.model
    conditional = facts["latent_size"] > 0
    assert list(sessions) == (["encoder", "init", "step"] if conditional else ["step"])
    sketches = [rescale(s, 1 / facts["scale"]) for s in sketches_of([7, 3, 12])]
    batch = run.task.collate(sketches)
    strokes, lengths = batch["strokes"], batch["lengths"]
    step = sessions["step"]
    names = state_names(step)
    if conditional:
        encoded = run_graph(sessions["encoder"], strokes=strokes, lengths=lengths)
        with torch.no_grad():
            mu, sigma_hat = model.encode(strokes, lengths)
        np.testing.assert_allclose(encoded["mu"], mu.numpy(), atol=1e-4)
        np.testing.assert_allclose(encoded["sigma_hat"], sigma_hat.numpy(), atol=1e-4)
        z: torch.Tensor | int = torch.from_numpy(encoded["mu"])
        fixed: dict[str, Any] = {"z": encoded["mu"]}
        state = run_graph(sessions["init"], z=encoded["mu"])
    else:
        z, fixed = len(sketches), {}
        state = zero_state(description, "step", names, rows=len(sketches))
    point = np.tile(np.array(facts["start_point"], np.float32), (len(sketches), 1))
    assert facts["start_point"] == list(START)
    steps = []
    for index in range(strokes.shape[1]):
        outputs = run_graph(step, point=point, **fixed, **state)
        steps.append(outputs)
        state, point = advance(outputs, names), strokes[:, index].numpy()
    with torch.no_grad():
        mixture = model.teacher_forced(strokes, z)
    for name, part in zip(facts["mixture"], mixture, strict=True):
        got = np.stack([outputs[name] for outputs in steps], axis=1)
        np.testing.assert_allclose(got, part.numpy(), atol=1e-4, err_msg=name)

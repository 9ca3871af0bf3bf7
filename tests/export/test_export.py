"""``rnnkit export`` for classify, tag, lm, translate and forecast: the graphs run in ONNX
Runtime give what the library gives (probabilities, CRF tags, greedy text, greedy
translations), files appear only when every check passed, and what cannot be exported says
why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest
import torch

from conftest import assert_one_line_error, run_main
from rnnkit import decode
from rnnkit.errors import UserError
from rnnkit.export import export_run, onnx_files
from rnnkit.export.viterbi import viterbi
from rnnkit.tasks import load_run, train_run
from rnnkit.tasks.lm import continue_prompt
from rnnkit.tasks.supervised import pad

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = ["model.hidden_size=8", "train.threads=1", "train.max_steps=2"]
EMBEDDED = [*SMALL, "model.embedding_dim=8"]
RUNS = {
    "classify": ("builtin:sentiment", [*EMBEDDED, "model.mlp_hidden=8", "train.batch_size=8"]),
    "tag": ("builtin:ner", [*EMBEDDED, "model.char_hidden_size=4", "train.batch_size=8"]),
    "lm": ("builtin:reber", [*EMBEDDED, "model.num_layers=2", "train.bptt=8"]),
    "translate": ("builtin:dates", [*EMBEDDED, "data.tokenizer=char", "train.batch_size=4"]),
    "forecast": ("builtin:load", [*SMALL, "model.decoder=autoregressive", "data.horizon=4"]),
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each task's tiny run, loaded, and exported to ``OUT/TASK/model.onnx``."""

    def make(task: str):
        root = tmp_path_factory.mktemp(task)
        data, overrides = RUNS[task]
        train_run(task, [data], root / "run", overrides=overrides, live=False)
        run = load_run(root / "run")
        return run, export_run(run, root / "out" / "model.onnx")

    return {task: make(task) for task in RUNS}


def session(path) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_the_description_lists_every_file_written_and_its_graphs(exported):
    _, report = exported["lm"]
    described = json.loads(report.description.read_text())
    folder = report.description.parent
    assert described["task"] == "lm"
    assert {g["file"] for g in described["graphs"].values()} == {"model.onnx", "model.step.onnx"}
    assert described["assets"] == {"tokenizer.json": "model.tokenizer.json"}
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["model.json", "model.onnx", "model.step.onnx", "model.tokenizer.json"]
    )
    for graph, written in zip(described["graphs"].values(), report.graphs, strict=True):
        inputs = [i.name for i in session(folder / graph["file"]).get_inputs()]
        assert inputs == [port["name"] for port in graph["inputs"]]
        assert described["check"]["max_abs_difference"][written.name] <= 1e-4


def test_classifier_probabilities_equal_predict_on_a_padded_batch(exported):
    run, report = exported["classify"]
    texts = ["a wonderful film", "dull", "the plot was slow and the acting worse than that"]
    records = run.task.predict(run.model, "\n".join(texts) + "\n", "stdin", "lines")
    tokens, lengths = pad([run.task.tokenizer.encode(text) for text in texts])
    feed = {"tokens": tokens.numpy(), "lengths": lengths.numpy()}
    probabilities = session(report.graphs[0].path).run(["probabilities"], feed)[0]
    labels = json.loads(report.description.read_text())["facts"]["labels"]
    for record, row in zip(records, probabilities, strict=True):
        assert labels[int(row.argmax())] == record["label"]
        expected = [record["probabilities"][label] for label in labels]
        np.testing.assert_allclose(row, expected, atol=1e-5)


def test_viterbi_on_exported_emissions_gives_the_taggers_tags(exported):
    run, report = exported["tag"]
    task, tagger = run.task, run.model
    sentences = [["John", "lives", "in", "Paris", "."], ["Hello"], ["Mary", "met", "Bob"]]
    batch = task.collate([task._example(tokens, []) for tokens in sentences])
    with torch.no_grad():
        emissions = tagger(batch["words"], batch["lengths"], batch["chars"], batch["char_lengths"])
    feed = {name: batch[name].numpy() for name in ("words", "lengths", "chars", "char_lengths")}
    exported_emissions = session(report.graphs[0].path).run(None, feed)[0]
    crf = json.loads(report.description.read_text())["facts"]["crf"]
    scores = [np.asarray(crf[key], dtype=np.float32) for key in ("start", "transitions", "end")]
    tags = viterbi(exported_emissions, batch["lengths"].numpy(), *scores)
    assert tags == tagger.decode(emissions, batch["lengths"])


def test_numpy_viterbi_equals_the_crf_decoder_on_random_scores(exported):
    crf = exported["tag"][0].model.crf
    generator = torch.Generator().manual_seed(0)
    emissions = torch.randn(6, 7, crf.num_labels, generator=generator)
    lengths = torch.tensor([7, 1, 3, 6, 2, 7])
    start, transitions, end = (s.detach().numpy() for s in crf._scores(torch.float32))
    assert viterbi(emissions.numpy(), lengths.numpy(), start, transitions, end) == crf.decode(
        emissions, lengths
    )


def test_greedy_generation_through_the_step_graph_equals_the_library(exported):
    run, report = exported["lm"]
    task, steps = run.task, session(report.graphs[1].path)
    prompt, length = "BT", 12
    state = [np.zeros(x.shape, np.float32) for x in run.model.init_state(1)]
    ids, generated = task.tokenizer.encode(prompt), []
    for position in range(len(ids) + length - 1):
        token = ids[position] if position < len(ids) else generated[-1]
        feed = {"token": np.array([token]), "h": state[0], "c": state[1]}
        log_probs, *state = steps.run(None, feed)
        if position >= len(ids) - 1:
            generated.append(int(log_probs[0].argmax()))
    text = continue_prompt(task.tokenizer, prompt, task.render(generated))
    assert text == task.generate(run.model, prompt, length, greedy=True)[0]


def test_the_sequence_graph_scores_a_padded_batch_as_the_step_graph_does(exported):
    _, report = exported["lm"]
    sequence, steps = (session(graph.path) for graph in report.graphs)
    tokens = np.array([[4, 5, 6, 7, 8], [6, 5, 0, 0, 0]])
    zeros = [np.zeros((2, 2, 8), np.float32)] * 2
    log_probs, h, c = sequence.run(None, {"tokens": tokens, "lengths": np.array([5, 2]),
                                          "h": zeros[0], "c": zeros[1]})  # fmt: skip
    state = [z[:, 1:] for z in zeros]
    for t in range(2):
        stepped, *state = steps.run(None, {"token": tokens[1:, t], "h": state[0], "c": state[1]})
        emitted = np.isfinite(stepped[0])  # the step graph never emits padding
        np.testing.assert_allclose(log_probs[1, t][emitted], stepped[0][emitted], atol=1e-5)
    np.testing.assert_allclose(h[:, 1:], state[0], atol=1e-5)  # the state after the last real
    np.testing.assert_allclose(c[:, 1:], state[1], atol=1e-5)


def test_greedy_translation_through_encoder_and_decoder_step_equals_the_library(exported):
    run, report = exported["translate"]
    task, model = run.task, run.model
    encoder, steps = (session(graph.path) for graph in report.graphs)
    sources = ["March 3rd, 2021", "1 Jan 1975"]
    source, lengths = pad([[*task.source_tokenizer.encode(s), task.source_tokenizer.eos_id]
                           for s in sources])  # fmt: skip
    limit = torch.tensor([9, 9])
    with torch.no_grad():
        started = model.start(source, lengths, limit)
        expected = decode.greedy(model, *started, 9, eos_id=model.eos_id)
    names = [o.name for o in encoder.get_outputs()]
    encoded = encoder.run(None, {"source": source.numpy(), "lengths": lengths.numpy()})
    state = dict(zip(names, encoded, strict=True))
    token, got = np.full(2, model.bos_id), [[], []]
    for t in range(9):
        outputs = steps.run(None, {"token": token, **state})
        log_probs = outputs[0]
        if t == 8:  # the last allowed token is eos, as the library's limit makes it
            log_probs = np.where(np.arange(log_probs.shape[1]) == model.eos_id, 0.0, -np.inf)[None]
        token = log_probs.argmax(1)
        for row in range(2):
            if not got[row] or got[row][-1] != model.eos_id:
                got[row].append(int(token[row]))
        state.update(zip(["h", "c", "feed"], outputs[1:], strict=True))
    assert got == expected


def test_forecast_facts_name_what_a_runtime_needs(exported):
    run, report = exported["forecast"]
    facts = json.loads(report.description.read_text())["facts"]
    assert facts["horizon"] == 4 and facts["decoder"] == "autoregressive"
    assert facts["context_length"] == run.task.config.data.context_length
    assert report.graphs[0].max_difference <= 1e-4
    assert (report.description.parent / "model.series.json").is_file()


def test_a_layer_norm_classifier_exports_its_time_loop_as_an_onnx_loop(tmp_path):
    data, overrides = RUNS["classify"]
    train_run("classify", [data], tmp_path / "run", live=False,
              overrides=[*overrides, "model.layer_norm=true"])  # fmt: skip
    report = export_run(load_run(tmp_path / "run"), tmp_path / "out" / "model.onnx")
    assert report.graphs[0].max_difference <= 1e-4  # checked at every length and batch size
    nodes = {node.op_type for node in onnx.load(report.graphs[0].path).graph.node}
    assert "Loop" in nodes and "LSTM" not in nodes


def test_a_layer_norm_language_model_exports_both_graphs(tmp_path):
    data, overrides = RUNS["lm"]
    train_run("lm", [data], tmp_path / "run", live=False,
              overrides=[*overrides, "model.layer_norm=true"])  # fmt: skip
    report = export_run(load_run(tmp_path / "run"), tmp_path / "out" / "model.onnx")
    assert [(g.name, g.path.name) for g in report.graphs] == [
        ("lm", "model.onnx"),
        ("step", "model.step.onnx"),
    ]
    assert max(g.max_difference for g in report.graphs) <= 1e-4


def test_a_graph_beyond_the_tolerance_leaves_no_file_nor_folder(exported, tmp_path):
    run, _ = exported["lm"]
    with pytest.raises(UserError, match=r"differs from PyTorch by .* nothing was written"):
        export_run(run, tmp_path / "new" / "folders" / "model.onnx", tolerance=0.0)
    assert list(tmp_path.iterdir()) == []


def test_a_new_export_removes_the_graphs_an_earlier_one_left(exported, tmp_path):
    lm, _ = exported["lm"]
    export_run(lm, tmp_path / "model.onnx")
    (tmp_path / "notes.txt").write_text("mine")
    report = export_run(exported["classify"][0], tmp_path / "model.onnx")
    written = {report.description, *report.assets, *(g.path for g in report.graphs)}
    assert set(tmp_path.iterdir()) == written | {tmp_path / "notes.txt"}
    assert not (tmp_path / "model.step.onnx").exists()


def test_a_missing_extra_names_the_install_command(monkeypatch):
    def missing(name):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(onnx_files.importlib, "import_module", missing)
    with pytest.raises(UserError, match=r"pip install 'rnnkit\[onnx\]'"):
        onnx_files.require_onnx()


def test_the_command_prints_each_graph(exported, tmp_path):
    run, _ = exported["classify"]
    script = Path(sys.executable).parent / "rnnkit"
    done = subprocess.run([script, "export", run.checkpoint.path, "--out", tmp_path / "c.onnx"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert "classifier\tmax |ONNX Runtime - PyTorch| = " in done.stdout
    assert (tmp_path / "c.labels.json").is_file()


def test_an_unknown_format_is_a_one_line_error(exported, tmp_path, monkeypatch, capsys):
    run, _ = exported["classify"]
    args = ("export", str(run.checkpoint.path), "--out", str(tmp_path / "c.onnx"))
    status, _, err = run_main(monkeypatch, capsys, *args, "--format", "tflite")
    assert_one_line_error(status, err, "unknown format 'tflite'; choose one of: onnx")
    assert list(tmp_path.iterdir()) == []

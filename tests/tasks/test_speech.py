"""The speech task in the library: it learns the built-in tone digits within the test's budget,
a padded batch transcribes as each recording alone, isolated words are classified, and a word
list constrains the beam search."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
import torch

from conftest import raised
from rnnkit.data.builtin_audio import builtin_utterances
from rnnkit.tasks import load_run, train_run

FAST = ["data.sample_rate=8000", "model.hidden_size=48", "model.num_layers=1", "data.n_mels=32",
        "train.lr=0.005", "model.subsample=3", "train.threads=1"]  # fmt: skip


@pytest.fixture(scope="module")
def tones_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("speech") / "run"
    final = train_run(
        "speech", ["builtin:tones"], out, test=["builtin:tones-test"], live=False,
        overrides=[*FAST, "train.epochs=12"],
    )  # fmt: skip
    return out, final


def test_learns_the_builtin_tone_digits(tones_run):
    _, final = tones_run
    assert final["test"]["wer"] < 0.15, final["test"]
    assert final["test"]["utterances"] == 200


def test_a_padded_batch_transcribes_as_each_recording_alone(tones_run):
    loaded = load_run(tones_run[0])
    utterances = builtin_utterances("builtin:tones-test", 8000)[:12]
    together = loaded.task.transcribe(loaded.model, utterances, beam_size=1)
    alone = [loaded.task.transcribe(loaded.model, [u], beam_size=1)[0] for u in utterances]
    assert [r["text"] for r in together] == [r["text"] for r in alone]
    lengths = torch.tensor([len(u.audio) for u in utterances[:2]])
    batch = torch.zeros(2, int(lengths.max()))
    for row, u in enumerate(utterances[:2]):
        batch[row, : len(u.audio)] = torch.from_numpy(u.audio)
    with torch.no_grad():
        scores, frames = loaded.model(batch, lengths)
        for row, u in enumerate(utterances[:2]):
            single, _ = loaded.model(torch.from_numpy(u.audio)[None], lengths[row : row + 1])
            torch.testing.assert_close(scores[row, : frames[row]], single[0], atol=1e-4, rtol=1e-4)


def test_beam_search_and_a_word_list(tones_run, tmp_path):
    loaded = load_run(tones_run[0], overrides=["decode.beam_size=4"])
    utterances = builtin_utterances("builtin:tones-test", 8000)[:20]
    greedy = loaded.task.transcribe(loaded.model, utterances, beam_size=1)
    beam = loaded.task.transcribe(loaded.model, utterances)
    agree = sum(g["text"] == b["text"] for g, b in zip(greedy, beam, strict=True))
    assert agree >= 18  # peaked posteriors: the beam mostly confirms greedy
    words = tmp_path / "words.txt"
    words.write_text("1\n2\n", encoding="utf-8")
    constrained = load_run(tones_run[0], overrides=[f"decode.words={words}"])
    for record in constrained.task.transcribe(constrained.model, utterances, beam_size=4):
        assert set(record["text"].split()) <= {"1", "2"}
    words.write_text("12x\n", encoding="utf-8")
    bad = load_run(tones_run[0], overrides=[f"decode.words={words}"])
    assert "'12x' has symbols the model cannot write" in raised(
        lambda: bad.task.transcribe(bad.model, utterances[:1], beam_size=2)
    )


def test_isolated_words_in_a_labelled_folder_are_classified(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "digits"
    folder.mkdir()
    for index in range(60):
        digit = index % 3
        t = np.arange(int(rng.uniform(0.15, 0.3) * 8000)) / 8000
        audio = 0.3 * np.sin(2 * np.pi * (400 + 400 * digit) * t) + rng.normal(0, 0.02, len(t))
        soundfile.write(folder / f"{digit}_speaker_{index}.wav", audio.astype(np.float32), 8000)
    final = train_run(
        "speech", [str(folder)], tmp_path / "run", live=False,
        overrides=[*FAST, r"data.label_pattern=^(\d)_", "train.epochs=6",
                   "data.valid_fraction=0.2"],
    )  # fmt: skip
    assert final["valid"]["utterance_accuracy"] >= 0.9, final["valid"]
    loaded = load_run(tmp_path / "run")
    assert loaded.task.classifies and loaded.task.labels == ["0", "1", "2"]

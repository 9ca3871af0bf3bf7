"""``rnnkit train speech``, ``evaluate`` and ``transcribe`` through the real console script on a
manifest of generated recordings, and the one-line errors of bad input."""

from __future__ import annotations

import json

import soundfile
from test_classify_tag import rnnkit

from rnnkit.data.builtin_audio import builtin_utterances

TINY = ["--set", "data.sample_rate=8000", "--set", "model.hidden_size=16", "--set",
        "model.num_layers=1", "--set", "data.n_mels=16", "--set", "train.max_steps=4",
        "--set", "train.threads=1"]  # fmt: skip


def manifest(tmp_path, count=24):
    """``count`` built-in recordings written as wav files with a CSV manifest."""
    (tmp_path / "clips").mkdir()
    lines = ["path,text"]
    for index, utterance in enumerate(builtin_utterances("builtin:tones", 8000)[:count]):
        soundfile.write(tmp_path / "clips" / f"{index}.wav", utterance.audio, 8000)
        lines.append(f"clips/{index}.wav,{utterance.text}")
    path = tmp_path / "train.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_train_evaluate_and_transcribe(tmp_path):
    data, out = manifest(tmp_path), str(tmp_path / "run")
    trained = rnnkit("train", "speech", "--data", str(data), "--out", out, *TINY)
    assert trained.returncode == 0, trained.stderr
    assert "CTC over" in trained.stdout and "valid: loss" in trained.stdout
    evaluated = json.loads(rnnkit("evaluate", out, "--data", str(data), "--json").stdout)
    assert {"wer", "cer", "utterance_accuracy"} <= set(evaluated) and evaluated["utterances"] == 24

    clips = [str(tmp_path / "clips" / f"{i}.wav") for i in range(3)]
    plot = tmp_path / "posteriors.png"
    transcribed = rnnkit("transcribe", out, *clips, "--beam", "3", "--plot", str(plot))
    assert transcribed.returncode == 0, transcribed.stderr
    assert [line.split("\t")[0] for line in transcribed.stdout.splitlines()] == clips
    assert plot.read_bytes().startswith(b"\x89PNG")
    from_manifest = rnnkit("transcribe", out, str(data), "--json")
    records = [json.loads(line) for line in from_manifest.stdout.splitlines()]
    assert len(records) == 24 and records[0]["audio"] == clips[0]
    from_stdin = rnnkit("transcribe", out, "-", stdin="\n".join(clips[:2]) + "\n")
    assert len(from_stdin.stdout.splitlines()) == 2
    words, paths = tmp_path / "words.txt", tmp_path / "paths.csv"
    words.write_text("1\n2\n", encoding="utf-8")
    paths.write_text("path\n" + "\n".join(clips) + "\n", encoding="utf-8")
    constrained = rnnkit("transcribe", out, str(paths), "--set", f"decode.words={words}")
    assert constrained.returncode == 0, constrained.stderr
    for line in constrained.stdout.splitlines():
        assert set(line.split("\t")[1].split()) <= {"1", "2"}


def test_bad_input_gets_one_line(tmp_path):
    data, out = manifest(tmp_path, count=4), str(tmp_path / "run")
    data.write_text(data.read_text(encoding="utf-8") + "clips/nope.wav,1 2\n", encoding="utf-8")
    refused = rnnkit("train", "speech", "--data", str(data), "--out", out, *TINY)
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"rnnkit: error: {data}:6: no such audio file")
    folder = rnnkit("train", "speech", "--data", str(tmp_path / "clips"), "--out", out, *TINY)
    assert folder.returncode == 2 and "set data.label_pattern" in folder.stderr
    beam = rnnkit("transcribe", out, str(tmp_path / "clips" / "0.wav"), "--beam", "0")
    assert beam.returncode == 2 and "--beam must be at least 1" in beam.stderr

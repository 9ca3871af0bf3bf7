"""Reading utterances: manifests in three formats and labelled folders, wav in several sample
formats, mono mix-down and resampling, and errors that name the manifest line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from conftest import raised
from rnnkit.data.audio import read_utterances, resample
from rnnkit.data.builtin_audio import builtin_utterances


def tone(seconds=0.25, rate=8000, hz=440.0):
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT"])
def test_csv_manifest_reads_every_wav_format(tmp_path, subtype):
    (tmp_path / "clips").mkdir()
    soundfile.write(tmp_path / "clips" / "a.wav", tone(), 8000, subtype=subtype)
    (tmp_path / "m.csv").write_text("path,text\nclips/a.wav,Hello there\n", encoding="utf-8")
    (utterance,) = read_utterances(tmp_path / "m.csv", 8000)
    assert utterance.text == "Hello there" and utterance.line == 2
    np.testing.assert_allclose(utterance.audio, tone(), atol=1e-4)


def test_tsv_and_jsonl_manifests_stereo_mixed_down_and_resampled(tmp_path):
    stereo = np.stack([tone(rate=16000), np.zeros(4000, dtype=np.float32)], axis=1)
    soundfile.write(tmp_path / "s.wav", stereo, 16000)
    (tmp_path / "m.tsv").write_text("text\taudio\nhi\ts.wav\n", encoding="utf-8")
    (tsv,) = read_utterances(tmp_path / "m.tsv", 8000)
    assert len(tsv.audio) == 2000  # 0.25 s at 8 kHz
    expected = resample(stereo.mean(axis=1), 16000, 8000)
    np.testing.assert_allclose(tsv.audio, expected, atol=1e-4)
    line = json.dumps({"audio": "s.wav", "text": "hi"})
    (tmp_path / "m.jsonl").write_text(f"\n{line}\n", encoding="utf-8")
    (jsonl,) = read_utterances(tmp_path / "m.jsonl", 8000)
    assert jsonl.line == 2 and jsonl.text == "hi"


def test_a_folder_is_labelled_by_the_file_names(tmp_path):
    for name in ("3_jackson_0.wav", "7_george_1.wav"):
        soundfile.write(tmp_path / name, tone(), 8000)
    utterances = read_utterances(tmp_path, 8000, label_pattern=r"^(\d)_")
    assert [u.text for u in utterances] == ["3", "7"]
    assert "set data.label_pattern" in raised(lambda: read_utterances(tmp_path, 8000))
    message = raised(lambda: read_utterances(tmp_path, 8000, label_pattern=r"^x(\d)"))
    assert message.startswith(str(tmp_path / "3_jackson_0.wav"))


def test_bad_entries_name_the_manifest_line(tmp_path):
    soundfile.write(tmp_path / "ok.wav", tone(), 8000)
    (tmp_path / "notes.wav").write_text("not audio", encoding="utf-8")
    soundfile.write(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 8000)
    manifest = tmp_path / "m.csv"
    for row, expected in [
        ("missing.wav,x", "m.csv:3: no such audio file"),
        ("notes.wav,x", "m.csv:3: " + str(tmp_path / "notes.wav") + " is not a readable audio"),
        ("empty.wav,x", "m.csv:3: " + str(tmp_path / "empty.wav") + " has no samples"),
        ("ok.wav", "m.csv:3: has 1 fields where the header has 2"),
    ]:
        manifest.write_text(f"path,text\nok.wav,fine\n{row}\n", encoding="utf-8")
        assert expected in raised(lambda: read_utterances(manifest, 8000))
    manifest.write_text("file,words\nok.wav,x\n", encoding="utf-8")
    assert "m.csv:1: the header must name a path (or audio) column" in raised(
        lambda: read_utterances(manifest, 8000)
    )
    (tmp_path / "m.jsonl").write_text('{"text": "x"}\n', encoding="utf-8")
    assert "m.jsonl:1: expected" in raised(lambda: read_utterances(tmp_path / "m.jsonl", 8000))


def test_builtin_tones_are_deterministic_digit_strings():
    first, again = (
        builtin_utterances("builtin:tones-test", 8000),
        builtin_utterances("builtin:tones-test", 8000),
    )
    assert len(first) == 200
    assert all(np.array_equal(a.audio, b.audio) for a, b in zip(first, again, strict=True))
    assert all(set(u.text.split()) <= set("0123456789") for u in first)
    assert len(builtin_utterances("builtin:tones-test", 16000)[0].audio) == 2 * len(first[0].audio)
    assert "builtin:tones, builtin:tones-test" in raised(
        lambda: builtin_utterances("builtin:x", 8000)
    )


def test_more_mistakes_are_one_line(tmp_path):
    soundfile.write(tmp_path / "a.wav", tone(), 8000)
    assert "a.wav: is an audio file; give a manifest" in raised(
        lambda: read_utterances(tmp_path / "a.wav", 8000)
    )
    assert "data.label_pattern '^(\\\\d': missing )" in raised(
        lambda: read_utterances(tmp_path, 8000, label_pattern="^(\\d")
    )
    assert "has no group" in raised(lambda: read_utterances(tmp_path, 8000, label_pattern="a"))
    header_only = tmp_path / "h.csv"
    header_only.write_text("path,text\n", encoding="utf-8")
    assert raised(lambda: read_utterances(header_only, 8000)).endswith("h.csv: names no recordings")
    latin = tmp_path / "l.csv"
    latin.write_bytes("path,text\na.wav,caf\xe9\n".encode("latin-1"))
    assert "l.csv:2" in raised(lambda: read_utterances(latin, 8000))


def test_recordings_to_transcribe_need_no_text_column(tmp_path):
    soundfile.write(tmp_path / "a.wav", tone(), 8000)
    (tmp_path / "m.csv").write_text("Path\na.wav\n", encoding="utf-8")
    (utterance,) = read_utterances(tmp_path / "m.csv", 8000, with_text=False)
    assert utterance.text == "" and utterance.name == str(tmp_path / "a.wav")
    assert "and a text column" in raised(lambda: read_utterances(tmp_path / "m.csv", 8000))

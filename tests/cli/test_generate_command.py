"""``rnnkit train generate``, ``generate --condition`` and ``evaluate --judge`` through the real
console script: samples follow the asked category, and the one-line errors of bad requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_classify_tag import rnnkit

from rnnkit.data.builtin_conditioned import ALPHABETS, builtin_conditioned_texts

SMALL = ["--set", "model.embedding_dim=16", "--set", "model.hidden_size=48",
         "--set", "train.threads=1", "--set", "train.lr=0.01"]  # fmt: skip


def write_categories(folder: Path, source: str) -> list[str]:
    """One .txt file per category of a built-in set; their paths."""
    folder.mkdir(exist_ok=True)
    paths = []
    for kind in ALPHABETS:
        texts = [r.text for r in builtin_conditioned_texts(source) if r.conditions == (kind,)]
        path = folder / f"{kind}.txt"
        path.write_text("\n".join(texts) + "\n", encoding="utf-8")
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A model trained on one file per category (the file's stem is the category)."""
    folder = tmp_path_factory.mktemp("generate")
    data = [arg for path in write_categories(folder / "train", "builtin:syllables")
            for arg in ("--data", path)]  # fmt: skip
    out = folder / "run"
    trained = rnnkit("train", "generate", *data, "--out", str(out), *SMALL,
                     "--set", "train.max_steps=250")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    assert "label: sharp, soft" in trained.stdout
    return out


def test_samples_follow_the_asked_category(run):
    for kind, (consonants, vowels) in ALPHABETS.items():
        made = rnnkit("generate", str(run), "--condition", kind, "--num", "30", "--seed", "1")
        assert made.returncode == 0, made.stderr
        letters = "".join(made.stdout.split()).lower()
        inside = sum(letter in consonants + vowels for letter in letters)
        assert len(made.stdout.splitlines()) == 30 and inside / len(letters) > 0.95, made.stdout


def test_a_prompt_starts_every_sample(run):
    made = rnnkit(
        "generate", str(run), "--condition", "label=sharp", "--prompt", "Ki", "--num", "5"
    )
    assert [line[:2] for line in made.stdout.splitlines()] == ["Ki"] * 5


def test_unique_and_not_in_training_drop_repeats_and_memorised_texts(run):
    made = rnnkit("generate", str(run), "--condition", "soft", "--num", "40", "--unique",
                  "--not-in-training", "--seed", "3")  # fmt: skip
    samples = made.stdout.splitlines()
    training = set(json.loads((run / "training_texts.json").read_text(encoding="utf-8")))
    assert len(samples) == len(set(samples)) and not set(samples) & training
    plain = rnnkit("generate", str(run), "--condition", "soft", "--num", "40", "--seed", "3")
    assert set(plain.stdout.splitlines()) & training  # without the flags, some are memorised


def test_per_category_perplexity_is_the_category_alone(run, tmp_path):
    soft, sharp = write_categories(tmp_path, "builtin:syllables-test")
    both = json.loads(
        rnnkit("evaluate", str(run), "--data", soft, "--data", sharp, "--json").stdout
    )
    alone = json.loads(rnnkit("evaluate", str(run), "--data", soft, "--json").stdout)
    assert both["per_category"]["soft"]["loss"] == pytest.approx(alone["loss"], rel=1e-6)
    assert both["per_category"]["soft"]["texts"] == alone["per_category"]["soft"]["texts"] == 150
    assert both["per_category"]["sharp"]["loss"] != pytest.approx(alone["loss"], rel=1e-3)


def test_a_classifier_judges_the_samples(run, tmp_path):
    rows = ["text,label"] + [f"{r.text},{r.conditions[0]}"
                             for r in builtin_conditioned_texts("builtin:syllables")]  # fmt: skip
    table = tmp_path / "names.csv"
    table.write_text("\n".join(rows) + "\n", encoding="utf-8")
    judge = str(tmp_path / "judge")
    trained = rnnkit("train", "classify", "--data", str(table), "--out", judge, *SMALL,
                     "--set", "data.tokenizer=char", "--set", "train.epochs=2")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    soft, _ = write_categories(tmp_path, "builtin:syllables-test")
    judged = rnnkit("evaluate", str(run), "--data", soft, "--judge", judge, "--samples", "40",
                    "--json")  # fmt: skip
    metrics = json.loads(judged.stdout)
    assert metrics["judged_accuracy"] > 0.9 and set(metrics["judged"]) == {"soft", "sharp"}
    assert 0 < metrics["novel"] <= 1 and 0 < metrics["unique"] <= 1


def test_a_classifier_trains_on_the_same_category_files(run, tmp_path):
    files = write_categories(tmp_path, "builtin:syllables")
    judge = str(tmp_path / "judge")
    trained = rnnkit("train", "classify", "--data", files[0], "--data", files[1], "--out", judge,
                     *SMALL, "--set", "data.tokenizer=char", "--set", "train.epochs=1")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    judged = rnnkit("evaluate", str(run), "--data", files[0], "--judge", judge, "--samples", "10")
    assert judged.returncode == 0, judged.stderr
    assert "judged" in judged.stdout and "as_asked" in judged.stdout  # the per-category table


def test_samples_are_never_empty_nor_unknown_tokens(run):
    made = rnnkit("generate", str(run), "--condition", "soft", "--num", "200", "--temperature",
                  "3", "--seed", "0")  # fmt: skip
    samples = made.stdout.split("\n")[:-1]
    assert len(samples) == 200 and all(s.strip() for s in samples)
    assert not any("<unk>" in s or "<pad>" in s for s in samples)


def test_fewer_samples_than_asked_are_said_on_stderr(run):
    made = rnnkit("generate", str(run), "--condition", "soft", "--num", "40", "--length", "1",
                  "--unique")  # fmt: skip
    assert made.returncode == 0, made.stderr
    count = len(made.stdout.splitlines())
    assert 0 < count < 40 and f"only {count} of 40 samples" in made.stderr


def test_bad_requests_are_one_line_errors(run):
    missing = rnnkit("generate", str(run))
    assert missing.returncode == 2
    assert "needs --condition (label: sharp, soft)" in missing.stderr
    unknown = rnnkit("generate", str(run), "--condition", "blue")
    assert "unknown label 'blue'; this model knows: sharp, soft" in unknown.stderr
    field = rnnkit("generate", str(run), "--condition", "colour=soft")
    assert "unknown field 'colour'; no value for label" in field.stderr
    twice = rnnkit("generate", str(run), "--condition", "soft", "--condition", "sharp")
    assert "gives label twice ('soft' and 'sharp')" in twice.stderr
    judge = rnnkit("evaluate", str(run), "--data", "builtin:syllables-test", "--judge", str(run))
    assert f"{run}: a generate run cannot judge samples" in judge.stderr
    assert len(unknown.stderr.splitlines()) == 1

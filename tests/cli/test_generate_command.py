"""``rnnkit train generate``, ``generate --condition`` and ``evaluate --judge`` through the real
console script: samples follow the asked category, and the one-line errors of bad requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_classify_tag import rnnkit

from conftest import raised
from rnnkit.data.builtin_conditioned import ALPHABETS, builtin_conditioned_texts
from rnnkit.tasks import load_run

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


def test_unique_and_not_in_training_drop_repeats_and_memorised_texts(run):
    made = rnnkit("generate", str(run), "--condition", "soft", "--num", "40", "--unique",
                  "--not-in-training", "--seed", "3")  # fmt: skip
    samples = made.stdout.splitlines()
    training = set(json.loads((run / "training_texts.json").read_text(encoding="utf-8")))
    assert len(samples) == 40 == len(set(samples)) and not set(samples) & training
    loaded = load_run(run)
    plain = loaded.task.generate(loaded.model, "", 30, condition="soft", num=40, seed=3)
    assert set(plain) & training  # without the flags, some are memorised


def test_samples_start_with_the_prompt_and_hold_no_special_token(run):
    loaded = load_run(run)
    task, model = loaded.task, loaded.model
    prompted = task.generate(model, "Ki", 30, condition="label=sharp", num=5, seed=0)
    assert [text[:2] for text in prompted] == ["Ki"] * 5
    hot = task.generate(model, "", 30, condition={"label": "soft"}, num=200, temperature=3.0)
    assert len(hot) == 200 and all(text.strip() and "\n" not in text for text in hot)
    assert not any("<unk>" in text or "<pad>" in text for text in hot)


def test_a_condition_names_each_field_once(run):
    task = load_run(run).task
    assert task.condition_ids("soft") == task.condition_ids(["label=soft"]) == [1]
    assert "unknown label 'blue'; this model knows: sharp, soft" in raised(
        lambda: task.condition_ids("blue")
    )
    assert "unknown field 'colour'; no value for label" in raised(
        lambda: task.condition_ids(["colour=soft"])
    )
    assert "gives label twice ('soft' and 'sharp')" in raised(
        lambda: task.condition_ids(["soft", "sharp"])
    )


def test_per_category_perplexity_is_the_category_alone(run, tmp_path):
    soft, sharp = write_categories(tmp_path, "builtin:syllables-test")
    both = json.loads(
        rnnkit("evaluate", str(run), "--data", soft, "--data", sharp, "--json").stdout
    )
    alone = json.loads(rnnkit("evaluate", str(run), "--data", soft, "--json").stdout)
    assert both["per_category"]["soft"]["loss"] == pytest.approx(alone["loss"], rel=1e-6)
    assert both["per_category"]["soft"]["texts"] == alone["per_category"]["soft"]["texts"] == 150
    assert both["per_category"]["sharp"]["loss"] != pytest.approx(alone["loss"], rel=1e-3)


def test_a_classifier_trained_on_the_same_files_judges_the_samples(run, tmp_path):
    files = write_categories(tmp_path / "train", "builtin:syllables")
    judge = str(tmp_path / "judge")
    trained = rnnkit("train", "classify", "--data", files[0], "--data", files[1], "--out", judge,
                     *SMALL, "--set", "data.tokenizer=char", "--set", "train.epochs=2")  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    soft, _ = write_categories(tmp_path, "builtin:syllables-test")
    judged = rnnkit("evaluate", str(run), "--data", soft, "--judge", judge, "--samples", "40")
    assert judged.returncode == 0, judged.stderr
    assert "judged" in judged.stdout and "as_asked" in judged.stdout  # the per-category table
    task = load_run(run)
    judging = load_run(Path(judge))
    metrics = task.task.judge(task.model, judging.task, judging.model, samples=40)
    assert metrics["judged_accuracy"] > 0.9 and set(metrics["judged"]) == {"soft", "sharp"}
    assert 0 < metrics["novel"] <= 1 and 0 < metrics["unique"] <= 1


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
    judge = rnnkit("evaluate", str(run), "--data", "builtin:syllables-test", "--judge", str(run))
    assert f"{run}: a generate run cannot judge samples" in judge.stderr
    assert len(missing.stderr.splitlines()) == len(judge.stderr.splitlines()) == 1

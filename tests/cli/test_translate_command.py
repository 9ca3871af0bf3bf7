"""``rnnkit train translate``, ``evaluate`` and ``translate`` through the real console script on
built-in data and on two files with language suffixes, and the one-line errors of bad input."""

from __future__ import annotations

import json

from test_classify_tag import rnnkit

TINY = ["--set", "model.embedding_dim=16", "--set", "model.hidden_size=16",
        "--set", "model.num_layers=1", "--set", "train.threads=1",
        "--set", "data.tokenizer=char", "--set", "train.max_steps=20"]  # fmt: skip
INPUT = "March 3rd, 2021\n\n12/25/2030\n"


def test_translate_train_evaluate_translate(tmp_path):
    out = str(tmp_path / "run")
    trained = rnnkit("train", "translate", "--data", "builtin:dates", "--out", out, *TINY)
    assert trained.returncode == 0, trained.stderr
    assert "sentence pairs: train 3,600, valid 400" in trained.stdout
    assert "valid: bleu" in trained.stdout
    pairs = tmp_path / "pairs.tsv"
    pairs.write_text("3 March 2021\t2021-03-03\nmar 4 1999\t1999-03-04\n", encoding="utf-8")
    evaluated = rnnkit("evaluate", out, "--data", str(pairs), "--json")
    metrics = json.loads(evaluated.stdout)
    assert {"bleu", "chrf", "perplexity", "exact_match"} <= set(metrics)
    assert metrics["sentences"] == 2

    translated = rnnkit("translate", out, "-", "--beam", "2", stdin=INPUT)
    assert translated.returncode == 0, translated.stderr
    assert len(translated.stdout.splitlines()) == 3
    assert translated.stdout.splitlines()[1] == ""  # an empty line stays empty

    n_best = rnnkit("translate", out, "-", "--beam", "3", "--n-best", "3", stdin=INPUT)
    numbers = [line.split("\t")[0] for line in n_best.stdout.splitlines()]
    assert numbers == ["1", "1", "1", "2", "3", "3", "3"]
    assert all(float(line.split("\t")[1]) <= 0 for line in n_best.stdout.splitlines())

    for bad_plot in (tmp_path / "missing" / "a.png", tmp_path / "a.xyz", tmp_path):
        refused = rnnkit("translate", out, "-", "--attention-plot", str(bad_plot), stdin=INPUT)
        assert refused.returncode == 2 and refused.stdout == "", refused.stderr  # nothing done
    plot = tmp_path / "attention.png"
    as_json = rnnkit("translate", out, "-", "--json", "--attention-plot", str(plot), stdin=INPUT)
    assert as_json.returncode == 0, as_json.stderr
    first = json.loads(as_json.stdout.splitlines()[0])[0]
    assert first["source"] == "March 3rd, 2021" and len(first["attention"]) >= 1
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_two_files_with_language_suffixes(tmp_path):
    (tmp_path / "train.de").write_text("eins\nzwei\ndrei\n" * 4, encoding="utf-8")
    (tmp_path / "train.en").write_text("one\ntwo\nthree\n" * 4, encoding="utf-8")
    prefix, out = str(tmp_path / "train"), str(tmp_path / "run")
    trained = rnnkit(
        "train", "translate", "--data", prefix, "--valid", prefix, "--src", "de", "--tgt", "en",
        "--out", out, *TINY,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    evaluated = rnnkit("evaluate", out, "--data", prefix, "--json")
    assert json.loads(evaluated.stdout)["sentences"] == 12


def test_bad_translate_inputs_are_one_line_errors(tmp_path):
    (tmp_path / "train.de").write_text("eins\nzwei\ndrei\n", encoding="utf-8")
    (tmp_path / "train.en").write_text("one\ntwo\n", encoding="utf-8")
    prefix = str(tmp_path / "train")
    args = ["--src", "de", "--tgt", "en", "--out", str(tmp_path / "run"), *TINY]
    mismatched = rnnkit("train", "translate", "--data", prefix, *args)
    assert mismatched.returncode == 2
    assert "train.de has 3 lines" in mismatched.stderr and "train.en has 2" in mismatched.stderr
    assert "Traceback" not in mismatched.stderr
    unknown = rnnkit("train", "translate", "--data", "builtin:dates", "--out", str(tmp_path / "x"),
                     "--set", "model.attention=luong")  # fmt: skip
    assert unknown.returncode == 2 and "model.attention" in unknown.stderr
    not_a_run = rnnkit("translate", str(tmp_path), "-", stdin="x\n")
    assert not_a_run.returncode == 2 and "not a run directory" in not_a_run.stderr
    out_is_a_file = rnnkit("train", "translate", "--data", prefix + ".de", "--out", prefix + ".en")
    assert out_is_a_file.returncode == 2 and "--out must name a folder" in out_is_a_file.stderr

"""``rnnkit embed``: train word2vec on a text file, write the vectors, show neighbours."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from rnnkit.cli.embed import embed
from rnnkit.data.vector_files import read_vectors
from rnnkit.errors import UserError

SCRIPT = Path(sys.executable).parent / "rnnkit"
# 3 sentences (the blank line is none) of 4, 3 and 7 tokens; 8 distinct words: "cat" 3 times,
# "The", "the", "sat" and "." twice, "ran", "dog" and "on" once
CORPUS = "The cat sat.\n\nthe cat ran\nThe dog sat on the cat.\n"
FAST = ["--dim", "8", "--epochs", "2", "--window", "2"]

app = typer.Typer()
app.command()(embed)


def run(*args: str) -> typer.testing.Result:
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return path


def test_embed_writes_the_kept_words_and_reports_the_corpus(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub" / "vectors.txt"
    result = run("--data", str(corpus), "--out", str(out), "--min-count", "2", *FAST)
    assert result.exit_code == 0, result.output
    assert "corpus: 3 sentences, 14 tokens, 8 words" in result.stdout
    assert "vocabulary: 5 of 8 words kept (min count 2)" in result.stdout
    assert f"wrote 5 vectors to {out}" in result.stdout
    vectors = read_vectors(out)
    assert sorted(vectors.words) == sorted(["The", "the", "cat", "sat", "."])
    assert vectors.dim == 8
    # default neighbours: the 3 most frequent words of 3+ letters: "cat", then 3 of the 2-timers
    rows = [line.split("│")[1].strip() for line in result.stdout.splitlines() if "│" in line]
    assert rows[0] == "cat" and len(rows) == 3 and set(rows[1:]) < {"The", "the", "sat"}


def test_lowercase_binary_and_most_similar(corpus: Path, tmp_path: Path) -> None:
    from gensim.models import KeyedVectors

    out = tmp_path / "vectors.bin"
    args = ["--data", str(corpus), "--data", str(corpus), "--out", str(out), "--binary"]
    args += ["--lowercase", "--min-count", "4", "--most-similar", "The", "--most-similar", "dog"]
    result = run(*args, *FAST, "--architecture", "cbow")
    assert result.exit_code == 0, result.output
    assert "corpus: 6 sentences, 28 tokens, 7 words" in result.stdout
    keyed = KeyedVectors.load_word2vec_format(str(out), binary=True)
    assert sorted(keyed.index_to_key) == [".", "cat", "sat", "the"]  # 4, 6, 4 and 8 times
    assert "'dog' is not in the word vectors" in result.stdout  # 2 < 4: not kept
    rows = [line.split("│")[1].strip() for line in result.stdout.splitlines() if "│" in line]
    assert rows == ["the", "dog"]  # "The" looked up lower-cased


def test_same_seed_same_file(corpus: Path, tmp_path: Path) -> None:
    outputs = []
    for name, seed in [("a.txt", "1"), ("b.txt", "1"), ("c.txt", "2")]:
        args = ["--data", str(corpus), "--out", str(tmp_path / name), "--seed", seed]
        result = run(*args, "--min-count", "1", *FAST)
        assert result.exit_code == 0, result.output
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1] != outputs[2]
    assert np.isfinite(read_vectors(tmp_path / "a.txt").vectors).all()


@pytest.mark.parametrize("option", ["--dim", "--window", "--min-count", "--epochs"])
def test_numbers_below_one_are_usage_errors(corpus: Path, tmp_path: Path, option: str) -> None:
    result = run("--data", str(corpus), "--out", str(tmp_path / "v.txt"), option, "0")
    assert result.exit_code == 2
    assert not (tmp_path / "v.txt").exists()


@pytest.mark.parametrize(
    ("name", "binary", "fragment"),
    [("v.txt", True, "--binary needs an --out ending in .bin"), ("v.bin", False, "add --binary")],
)
def test_format_and_suffix_must_agree(
    corpus: Path, tmp_path: Path, name: str, binary: bool, fragment: str
) -> None:
    args = ["--data", str(corpus), "--out", str(tmp_path / name), *(["--binary"] * binary)]
    result = run(*args)
    assert isinstance(result.exception, UserError)
    assert fragment in str(result.exception)


def test_a_missing_file_is_a_user_error(tmp_path: Path) -> None:
    result = run("--data", str(tmp_path / "absent.txt"), "--out", str(tmp_path / "v.txt"))
    assert isinstance(result.exception, UserError)
    assert str(result.exception) == f"{tmp_path / 'absent.txt'}: no such file"


def test_min_count_too_high_is_a_user_error(corpus: Path, tmp_path: Path) -> None:
    result = run("--data", str(corpus), "--out", str(tmp_path / "v.txt"), "--min-count", "50")
    assert isinstance(result.exception, UserError)
    assert "lower min_count (--min-count)" in str(result.exception)
    assert not (tmp_path / "v.txt").exists()


def test_embed_through_the_console_script(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "vectors.txt"
    args = ["embed", "--data", str(corpus), "--out", str(out), "--min-count", "2", *FAST]
    done = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "corpus: 3 sentences, 14 tokens, 8 words" in done.stdout
    assert len(read_vectors(out)) == 5

"""Tests for rnnkit.data.embeddings: reading and writing word vectors, aligning them with a
vocabulary, and nearest neighbours."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.data.embeddings import Alignment, WordVectors, align_to_vocab
from rnnkit.data.vector_files import read_vectors, write_word2vec_binary, write_word2vec_text
from rnnkit.errors import UserError

W2V_TEXT = "3 4\nthe 0.5 -1 2 0.25\ncat 1e-2 0 0 -3.5\nSat 7 8 9 10\n"
EXPECTED = {
    "the": [0.5, -1.0, 2.0, 0.25],
    "cat": [0.01, 0.0, 0.0, -3.5],
    "Sat": [7.0, 8.0, 9.0, 10.0],
}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def assert_vectors(vectors: WordVectors, expected: dict[str, list[float]]) -> None:
    assert vectors.words == list(expected)
    assert vectors.vectors.dtype == np.float32
    assert vectors.vectors.shape == (len(expected), len(next(iter(expected.values()))))
    for word, values in expected.items():
        np.testing.assert_array_equal(vectors.vectors[vectors.index[word]], np.float32(values))


# --- reading -----------------------------------------------------------------------------------
def test_word2vec_text_format(tmp_path: Path) -> None:
    vectors = read_vectors(write(tmp_path / "v.txt", W2V_TEXT))
    assert_vectors(vectors, EXPECTED)
    assert vectors.dim == 4 and len(vectors) == 3 and "cat" in vectors and "dog" not in vectors


def test_glove_text_format_has_no_header(tmp_path: Path) -> None:
    glove = "".join(f"{w} {' '.join(map(str, v))}\n" for w, v in EXPECTED.items())
    assert_vectors(read_vectors(write(tmp_path / "glove.6B.4d.txt", glove)), EXPECTED)


def test_glove_with_two_values_is_not_taken_for_a_header(tmp_path: Path) -> None:
    vectors = read_vectors(write(tmp_path / "g.txt", "a 1 2\nb 3 4\n"))
    assert_vectors(vectors, {"a": [1, 2], "b": [3, 4]})


def test_crlf_trailing_spaces_blank_lines_and_words_with_spaces(tmp_path: Path) -> None:
    # gensim writes a trailing space; GloVe 840B has words such as ". . ."
    text = "2 2\r\nx 1 2 \r\n\r\n. . . 3 4\r\n"
    assert_vectors(read_vectors(write(tmp_path / "v.txt", text)), {"x": [1, 2], ". . .": [3, 4]})


def test_tabs_and_runs_of_spaces_separate_fields(tmp_path: Path) -> None:
    vectors = read_vectors(write(tmp_path / "v.txt", "x\t1  2\n  y 3\t 4\n"))
    assert_vectors(vectors, {"x": [1, 2], "y": [3, 4]})


def test_non_breaking_space_stays_part_of_a_word(tmp_path: Path) -> None:
    vectors = read_vectors(write(tmp_path / "v.txt", "a\u00a0b 1 2\n"))
    assert vectors.words == ["a\u00a0b"]


def test_a_repeated_word_keeps_its_first_vector(tmp_path: Path) -> None:
    text = "3 2\nx 1 2\ny 3 4\nx 5 6\n"  # the header counts the repeat as an entry
    assert_vectors(read_vectors(write(tmp_path / "v.txt", text)), {"x": [1, 2], "y": [3, 4]})


def binary_entry(word: str, values: list[float], newline: bool = True) -> bytes:
    packed = struct.pack(f"<{len(values)}f", *values)
    return word.encode("utf-8") + b" " + packed + (b"\n" if newline else b"")


def test_word2vec_binary_format_written_with_struct(tmp_path: Path) -> None:
    data = b"3 4\n" + binary_entry("the", EXPECTED["the"])
    data += binary_entry("cat", EXPECTED["cat"], newline=False)  # the newline is optional
    data += binary_entry("Sat", EXPECTED["Sat"])
    path = tmp_path / "v.bin"
    path.write_bytes(data)
    assert_vectors(read_vectors(path), EXPECTED)
    assert_vectors(read_vectors(path.rename(tmp_path / "v.data"), binary=True), EXPECTED)


def test_word2vec_binary_format_written_by_gensim(tmp_path: Path) -> None:
    from gensim.models import KeyedVectors

    words = [f"w{i}é" for i in range(300)]
    values = np.random.default_rng(0).standard_normal((300, 7)).astype(np.float32)
    keyed = KeyedVectors(7)
    keyed.add_vectors(words, values)
    keyed.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    keyed.save_word2vec_format(str(tmp_path / "g.txt"), binary=False)
    for name in ("g.bin", "g.txt"):
        vectors = read_vectors(tmp_path / name)
        assert vectors.words == words
        # gensim's text format keeps float32 exactly too (repr of each value)
        np.testing.assert_array_equal(vectors.vectors, values)


def test_binary_file_larger_than_one_read_chunk(tmp_path: Path) -> None:
    count, dim = 3000, 100  # 1.2 MB: more than the 1 MiB chunk
    values = np.arange(count * dim, dtype=np.float32).reshape(count, dim)
    data = b"%d %d\n" % (count, dim)
    data += b"".join(f"word{i} ".encode() + values[i].tobytes() + b"\n" for i in range(count))
    (tmp_path / "big.bin").write_bytes(data)
    vectors = read_vectors(tmp_path / "big.bin")
    assert vectors.words[-1] == "word2999"
    np.testing.assert_array_equal(vectors.vectors, values)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("2 3\na 1 2 3\nb 1 2\n", 3, "expected 3 values after the word, found 2"),
        ("2 3\na 1 2 3\nb 1 2 3 4\n", 3, "expected 3 values after the word, found 4"),
        ("a 1 2 3\nb 1 2\n", 2, "expected 3 values after the word, found 2"),  # GloVe
        ("2 3\na 1 2 3\nb 1 x 3\n", 3, "'x' is not a number"),
        ("3 2\na 1 2\nb 3 4\n", 1, "announces 3 entries but the file holds 2"),
        ("1 2\na 1 2\nb 3 4\n", 3, "more entries than the 1 the header"),
        ("2 0\n", 1, "bad header"),
        ("a\n", 1, "expected a word and its values"),
    ],
)
def test_malformed_text_files_name_the_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    path = write(tmp_path / "bad.txt", text)
    with pytest.raises(UserError, match=fragment) as error:
        read_vectors(path)
    assert error.value.path == str(path) and error.value.line == line
    assert str(error.value).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize(("text", "fragment"), [("", "file is empty"), ("0 5\n", "no word")])
def test_files_without_vectors(tmp_path: Path, text: str, fragment: str) -> None:
    for name in ("v.txt", "v.bin"):
        with pytest.raises(UserError, match=fragment):
            read_vectors(write(tmp_path / name, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file"):
        read_vectors(tmp_path / "absent.txt")


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"2 2\n" + binary_entry("a", [1, 2]) + b"b " + b"\0" * 5, "entry 2 of 2 .*truncated"),
        (b"2 2\n" + binary_entry("a", [1, 2]), "entry 2 of 2: the file ends"),
        (b"1 2\n" + binary_entry("a", [1, 2]) + binary_entry("b", [3, 4]), "more data after"),
        (b"2 2\n" + binary_entry("a", [1, 2]) + b"\xff " + b"\0" * 8, "entry 2 of 2: .*UTF-8"),
        (b"hello world\n", "not a word2vec binary file"),
    ],
)
def test_malformed_binary_files_name_the_entry(tmp_path: Path, data: bytes, fragment: str) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(data)
    with pytest.raises(UserError, match=fragment) as error:
        read_vectors(path)
    assert str(error.value).startswith(f"{path}:")


# --- writing -----------------------------------------------------------------------------------
def test_text_round_trip_is_exact_and_gensim_reads_it(tmp_path: Path) -> None:
    from gensim.models import KeyedVectors

    words = ["the", "Straße", ". . .", "42"]
    values = np.random.default_rng(1).standard_normal((4, 6)).astype(np.float32) * 1e3
    path = tmp_path / "out.txt"
    write_word2vec_text(path, WordVectors(words, values))
    assert path.read_text(encoding="utf-8").splitlines()[0] == "4 6"
    back = read_vectors(path)
    assert back.words == words
    np.testing.assert_array_equal(back.vectors, values)
    write_word2vec_text(path, WordVectors(words[:2], values[:2]))  # replaces the file
    keyed = KeyedVectors.load_word2vec_format(str(path), binary=False)
    assert keyed.index_to_key == words[:2]
    np.testing.assert_array_equal(keyed.vectors, values[:2])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temporary left


def test_binary_round_trip_and_gensim_reads_it(tmp_path: Path) -> None:
    from gensim.models import KeyedVectors

    words = ["a", "bé", "c"]
    values = np.array([[1.5, -2], [0, 3.25], [1e-7, 1e7]], dtype=np.float32)
    write_word2vec_binary(tmp_path / "v.bin", WordVectors(words, values))
    back = read_vectors(tmp_path / "v.bin")
    assert back.words == words
    np.testing.assert_array_equal(back.vectors, values)
    keyed = KeyedVectors.load_word2vec_format(str(tmp_path / "v.bin"), binary=True)
    assert keyed.index_to_key == words
    np.testing.assert_array_equal(keyed.vectors, values)


def test_binary_refuses_a_word_with_a_space(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot write"):
        write_word2vec_binary(tmp_path / "v.bin", WordVectors(["a b"], np.ones((1, 2))))
    assert not list(tmp_path.iterdir())


# --- nearest neighbours ------------------------------------------------------------------------
def hand_made() -> WordVectors:
    #         a: 0°, b: 45°, c: 90°, d: 180°, and e is a's direction at another length
    values = [[1, 0], [1, 1], [0, 2], [-3, 0], [5, 0]]
    return WordVectors(["a", "b", "Cat", "d", "e"], np.array(values, dtype=np.float32))


def test_most_similar_by_cosine() -> None:
    near = hand_made().most_similar("a", k=10)
    assert [w for w, _ in near] == ["e", "b", "Cat", "d"]  # the word itself left out
    np.testing.assert_allclose([s for _, s in near], [1.0, 2**-0.5, 0.0, -1.0], atol=1e-6)
    assert [w for w, _ in hand_made().most_similar("d", k=2)] == ["Cat", "b"]


def test_most_similar_of_an_unknown_word_suggests_a_case_match() -> None:
    with pytest.raises(UserError, match=r"'cat' is not in the word vectors; did you mean 'Cat'"):
        hand_made().most_similar("cat")
    with pytest.raises(UserError, match=r"'zebra' is not in the word vectors$"):
        hand_made().most_similar("zebra")


# --- alignment ---------------------------------------------------------------------------------
def test_align_exact_lowercase_skipped_and_missing_rows() -> None:
    words = ["PARIS", "Paris", "London", "the", "paris"]
    values = np.arange(10, dtype=np.float32).reshape(5, 2)
    vectors = WordVectors(words, values)
    tokens = ["<pad>", "Paris", "PaRiS", "london", "The", "berlin", "<unk>"]
    alignment = align_to_vocab(vectors, tokens, skip={0, 6})
    weights = alignment.weights
    assert weights.dtype == torch.float32 and weights.shape == (7, 2)
    assert weights[0].tolist() == [0, 0] and weights[6].tolist() == [0, 0]  # skipped
    assert weights[1].tolist() == [2, 3]  # exact "Paris", not "paris"
    assert weights[2].tolist() == [8, 9]  # "paris", the lower-case form, before "PARIS"
    assert weights[3].tolist() == [4, 5]  # "London", the first word whose lower case matches
    assert weights[4].tolist() == [6, 7]  # "the"
    assert weights[5].abs().sum() > 0  # random
    assert (alignment.exact, alignment.lowercase, alignment.total) == (1, 3, 5)
    assert alignment.found == 4
    assert alignment.summary() == "embeddings: 4 / 5 words found (1 exact, 3 lower-cased)"


def test_summary_groups_thousands() -> None:
    alignment = Alignment(torch.zeros(1, 1), exact=37_010, lowercase=1_102, total=40_000)
    expected = "embeddings: 38,112 / 40,000 words found (37,010 exact, 1,102 lower-cased)"
    assert alignment.summary() == expected


def test_missing_rows_are_seeded_normal_with_the_found_std() -> None:
    rng = np.random.default_rng(5)
    scales = np.array([0.1, 1.0, 10.0], dtype=np.float32)
    found = (rng.standard_normal((500, 3)) * scales + 100).astype(np.float32)  # mean far from 0
    vectors = WordVectors([f"w{i}" for i in range(500)], found)
    tokens = [f"w{i}" for i in range(500)] + [f"unknown{i}" for i in range(2000)]
    alignment = align_to_vocab(vectors, tokens, seed=3)
    random_rows = alignment.weights[500:].numpy()
    assert (alignment.exact, alignment.lowercase, alignment.total) == (500, 0, 2500)
    np.testing.assert_allclose(random_rows.std(axis=0), found.std(axis=0), rtol=0.1)
    np.testing.assert_allclose(random_rows.mean(axis=0) / scales, 0, atol=0.1)  # mean 0
    again = align_to_vocab(vectors, tokens, seed=3).weights
    other = align_to_vocab(vectors, tokens, seed=4).weights
    assert torch.equal(alignment.weights, again)
    assert not torch.equal(alignment.weights[500:], other[500:])
    assert torch.equal(alignment.weights[:500], other[:500])


def test_skip_outside_the_tokens_is_an_error() -> None:
    with pytest.raises(ValueError, match="outside"):
        align_to_vocab(hand_made(), ["a"], skip={1})

"""The tag task on the user's own files: IOB1 read and written back as IOB1, CoNLL-U parts
of speech without a CRF, unseen tags named with their line."""

from __future__ import annotations

import pytest

from rnnkit.data.builtin_labeled import builtin_tagged_sentences
from rnnkit.errors import UserError
from rnnkit.tasks import load_run, train_run

TINY = ["model.embedding_dim=16", "model.hidden_size=16", "model.char_hidden_size=8",
        "train.threads=1", "train.batch_size=16", "train.lr=0.01"]  # fmt: skip


def write_iob1(path, count: int = 300) -> None:
    """builtin:ner rewritten in IOB1 (I- opens a chunk; B- only between same-type chunks)."""
    lines = []
    for sentence in builtin_tagged_sentences("builtin:ner")[:count]:
        for token, tag in zip(sentence.tokens, sentence.tags, strict=True):
            lines.append(f"{token} {tag.replace('B-', 'I-')}")
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")


def test_iob1_in_iob1_out(tmp_path):
    train = tmp_path / "train.iob"
    write_iob1(train)
    final = train_run("tag", [str(train)], tmp_path / "run",
                      overrides=[*TINY, "train.epochs=4"], live=False)  # fmt: skip
    assert final["valid"]["f1"] > 0.9
    run = load_run(tmp_path / "run")
    assert run.task.scheme == "iob1"
    [record] = run.task.predict(run.model, "Anna Berg works for Orion Labs in Lima .\n", "stdin")
    assert record["tags"] == ["I-PER", "I-PER", "O", "O", "I-ORG", "I-ORG", "O", "I-LOC", "O"]


def test_conllu_parts_of_speech_without_crf(tmp_path):
    rows = []
    for n, sentence in enumerate(builtin_tagged_sentences("builtin:pos")[:200]):
        rows.append(f"# sent_id = {n}")
        for i, (token, tag) in enumerate(zip(sentence.tokens, sentence.tags, strict=True), 1):
            rows.append(f"{i}\t{token}\t_\t{tag}\t_\t_\t0\tdep\t_\t_")
        rows.append("")
    train = tmp_path / "train.conllu"
    train.write_text("\n".join(rows), encoding="utf-8")
    final = train_run("tag", [str(train)], tmp_path / "run",
                      overrides=[*TINY, "train.epochs=8"], live=False)  # fmt: skip
    assert final["valid"]["accuracy"] > 0.9 and "f1" not in final["valid"]
    assert load_run(tmp_path / "run").model.crf is None


def test_a_tag_unseen_in_training_names_file_and_line(tmp_path):
    train = tmp_path / "train.conll"
    train.write_text("Anna B-PER\nsleeps O\n\n" * 20, encoding="utf-8")
    valid = tmp_path / "valid.conll"
    valid.write_text("Anna B-PER\n\nOslo B-LOC\n", encoding="utf-8")
    with pytest.raises(
        UserError, match=r"valid\.conll:3: tag 'B-LOC' \(as S-LOC inside\) was not seen"
    ):
        train_run("tag", [str(train)], tmp_path / "run", valid=[str(valid)], overrides=TINY)

"""The translate task: it learns the built-in dates, a batch translates as each sentence alone,
n-best lists and attention come back whole, training pairs are filtered and counted, unknown
words are replaced from the source, and a resumed run equals an uninterrupted one."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.data.tokenizers import WordTokenizer
from rnnkit.errors import UserError
from rnnkit.tasks import load_run, train_run
from rnnkit.tasks.translate import TranslateConfig, Translation
from rnnkit.tasks.translation_output import render, token_texts
from rnnkit.train.config import load_config
from rnnkit.train.task import DataSources

DATES = ["data.tokenizer=char", "model.embedding_dim=64", "model.hidden_size=128",
         "model.num_layers=1", "model.dropout=0.1", "train.batch_size=64", "train.threads=2",
         "train.eval_every=150", "train.max_steps=300"]  # fmt: skip
TINY = ["data.tokenizer=char", "model.embedding_dim=8", "model.hidden_size=8",
        "model.num_layers=1", "train.threads=1", "train.batch_size=4"]  # fmt: skip
INPUT = "March 3rd, 2021\nthe 5th of june, 1999\n\n12/25/2030\nWed, 1 Jan 1975\n"
EXPECTED = ["2021-03-03", "1999-06-05", "", "2030-12-25", "1975-01-01"]


@pytest.fixture(scope="module")
def dates_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("translate") / "dates"
    final = train_run("translate", ["builtin:dates"], out, valid=["builtin:dates-test"],
                      overrides=DATES, live=False)  # fmt: skip
    return out, final


def test_learns_the_builtin_dates_to_near_perfect_sequence_accuracy(dates_run):
    out, final = dates_run
    assert final["valid"]["exact_match"] > 0.95
    assert final["valid"]["bleu"] > 90
    run = load_run(out)
    translations = run.task.translate(run.model, INPUT, "stdin", beam_size=3)
    assert [best[0]["translation"] for best in translations] == EXPECTED


@pytest.mark.parametrize("beam", [1, 4])
def test_a_batch_translates_as_each_sentence_alone(dates_run, beam):
    run = load_run(dates_run[0])
    text = INPUT * 3
    together = run.task.translate(run.model, text, "in", beam_size=beam, n_best=beam)
    alone = run.task.translate(run.model, text, "in", beam_size=beam, n_best=beam, batch_size=1)
    for many, one in zip(together, alone, strict=True):
        assert [h["translation"] for h in many] == [h["translation"] for h in one]
        assert [h["score"] for h in many] == pytest.approx([h["score"] for h in one], abs=1e-4)


def test_n_best_lists_are_ranked_and_carry_attention_over_source_and_eos(dates_run):
    run = load_run(dates_run[0])
    results = run.task.translate(run.model, INPUT, "in", beam_size=4, n_best=3, attention=True)
    assert [len(best) for best in results] == [3, 3, 1, 3, 3]  # an empty line has one answer
    for best in results:
        scores = [h["score"] for h in best]
        assert scores == sorted(scores, reverse=True)
        for h in best:
            rows = torch.tensor(h["attention"])  # (output tokens + eos, source tokens + eos)
            assert rows.shape == (len(h["tokens"]) + 1, len(h["source_tokens"]) + 1)
            torch.testing.assert_close(rows.sum(1), torch.ones(len(rows)))


def test_evaluate_files_scores_bleu_and_chrf_on_new_files(dates_run):
    run = load_run(dates_run[0])
    metrics = run.task.evaluate_files(run.model, ["builtin:dates-test"])
    assert metrics["sentences"] == 500 and metrics["bleu"] > 90 and metrics["chrf"] > 90


def task(*overrides: str) -> Translation:
    return Translation(load_config(TranslateConfig, overrides=[*TINY, *overrides]))


def test_empty_and_over_long_training_pairs_are_dropped_and_counted(tmp_path):
    rows = ["ab\tba"] * 6 + ["\tx", "y\t", "abcdefg\tgf", "ab\tabcdefghij"]
    data = tmp_path / "pairs.tsv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    translation = task("data.max_length=6")
    translation.prepare(DataSources(train=[str(data)], valid=[str(data)]))
    assert len(translation.examples["train"]) == 6
    assert len(translation.examples["valid"]) == 10  # evaluation data is never filtered
    assert "dropped 2 empty and 2 over-long training pairs" in translation.summary()
    with pytest.raises(UserError, match="every training pair"):
        task("data.max_length=1").prepare(DataSources(train=[str(data)]))


def test_a_joint_vocabulary_shares_tokenizer_and_embedding(tmp_path):
    translation = task("data.joint_vocab=true")
    translation.prepare(DataSources(train=["builtin:numbers"]))
    assert translation.source_tokenizer is translation.target_tokenizer
    model = translation.build_model()
    assert model.source_embedding is model.target_embedding
    with pytest.raises(UserError, match="even"):
        task("model.hidden_size=7").build_model()


def test_unknown_words_take_the_most_attended_source_word():
    tokenizer = WordTokenizer.train("ein hund . a dog .")
    source = ["der", "Rhododendron", "blüht"]
    ids = [tokenizer.token_to_id("a"), tokenizer.unk_id, tokenizer.token_to_id(".")]
    attention = [[0.9, 0.1, 0.0, 0.0], [0.1, 0.2, 0.7, 0.0], [0.0, 0.0, 0.0, 1.0]]
    assert token_texts(ids, tokenizer) == ["a", "<unk>", "."]
    replaced = token_texts(ids, tokenizer, source, attention)
    assert replaced == ["a", "blüht", "."]
    # attention on the source's eos (past its tokens) leaves <unk> as it is
    assert token_texts(ids[1:2], tokenizer, source, [[0.0, 0.0, 0.0, 1.0]]) == ["<unk>"]
    assert render(ids, replaced, tokenizer) == "a blüht."


def test_resumed_training_equals_uninterrupted(tmp_path):
    data = tmp_path / "pairs.tsv"
    data.write_text("".join(f"{n}\t{n[::-1]}\n" for n in ["12", "345", "6789", "10"] * 4))
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train_run("translate", [str(data)], straight, overrides=[*TINY, "train.epochs=2"])
    train_run("translate", [str(data)], resumed, overrides=[*TINY, "train.epochs=1"])
    train_run("translate", [str(data)], resumed, overrides=[*TINY, "train.epochs=2"], resume=True)
    expected = load_file(straight / "last" / "model.safetensors")
    got = load_file(resumed / "last" / "model.safetensors")
    for name in expected:
        assert torch.equal(expected[name], got[name]), name


def test_the_metric_that_picks_the_best_model_is_a_setting():
    assert (task().metric, task().higher_is_better) == ("bleu", True)
    chosen = task("train.select_by=exact_match")
    assert (chosen.metric, chosen.higher_is_better) == ("exact_match", True)
    assert task("train.select_by=loss").higher_is_better is False


def test_unknown_builtin_names_and_a_lone_suffix_are_refused():
    with pytest.raises(UserError, match="choose one of: builtin:dates"):
        task().read_records(["builtin:date"])
    with pytest.raises(UserError, match=r"data\.src and data\.tgt"):
        task("data.src=de").read_records(["train"])

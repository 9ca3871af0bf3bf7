"""Language models on any tokenizer: samples are clean text (padding and begin-of-sentence are
never written, end-of-sentence is the line break it stands for or ends the sample on request),
and word perplexity and bits per character count the text, not the tokens."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.data.tokenizers import WhitespaceTokenizer
from rnnkit.tasks import load_run, train_run
from rnnkit.tasks.lm import LanguageModelling, LMConfig
from rnnkit.train.config import load_config


def test_a_barely_trained_model_writes_no_special_token_text(corpus, tmp_path, tiny_lm):
    train_run("lm", [str(corpus)], tmp_path / "run", overrides=[*tiny_lm, "train.max_steps=5"])
    run = load_run(tmp_path / "run")
    samples = run.task.generate(run.model, "the", 400, num=4, seed=1, temperature=2.0)
    for sample in samples:
        assert "<pad>" not in sample and "<bos>" not in sample and "<eos>" not in sample
    never = [run.task.tokenizer.pad_id, run.task.tokenizer.bos_id]
    log_probs, _ = run.model.step(torch.tensor([5, 6]), run.model.init_state(2))
    assert torch.all(log_probs[:, never] == float("-inf"))


def whitespace_task() -> LanguageModelling:
    task = LanguageModelling(load_config(LMConfig, overrides=["data.tokenizer=whitespace"]))
    task.tokenizer = WhitespaceTokenizer.train("a b\nc\n")
    return task


def test_end_of_sentence_is_a_line_break_or_the_end_of_a_stopped_sample():
    task = whitespace_task()
    a, b, c, eos = (task.tokenizer.token_to_id(t) for t in ("a", "b", "c", "<eos>"))
    assert task.render([a, b, eos, c, eos, a]) == "a b\nc\na"
    assert task.render([a, eos], stopped_at_eos=True) == "a"
    assert task.render([a, eos], stopped_at_eos=False) == "a\n"


def test_stop_at_eos_ends_every_sample_at_its_first_end_of_sentence(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("a b c\n" * 200, encoding="utf-8")
    overrides = ["data.tokenizer=whitespace", "model.embedding_dim=8", "model.hidden_size=16",
                 "train.batch_size=4", "train.bptt=8", "train.threads=1", "train.max_steps=150",
                 "train.lr=0.01"]  # fmt: skip
    train_run("lm", [str(text)], tmp_path / "run", overrides=overrides)
    run = load_run(tmp_path / "run")
    stopped = run.task.generate(run.model, "a", 50, greedy=True, stop_at_eos=True)
    assert stopped == ["a b c"]
    running = run.task.generate(run.model, "a", 9, greedy=True)
    assert running == ["a b c\na b c\na b"]


def test_word_perplexity_and_bits_per_char_count_the_text_not_the_tokens(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("the cat sat\non the mat\n" * 30, encoding="utf-8")
    for tokenizer in ("char", "whitespace"):
        out = tmp_path / tokenizer
        overrides = [f"data.tokenizer={tokenizer}", "model.embedding_dim=8",
                     "model.hidden_size=16", "train.max_steps=3", "train.threads=1"]  # fmt: skip
        train_run("lm", [str(text)], out, overrides=overrides)
        run = load_run(out)
        metrics = run.task.evaluate_files(run.model, [str(text)])
        tokens = len(run.task.tokenizer.encode(text.read_text(encoding="utf-8")))
        nll = metrics["loss"] * tokens
        words, characters = 30 * (6 + 2), 30 * len("the cat sat\non the mat\n")
        assert metrics["word_perplexity"] == pytest.approx(math.exp(nll / words))
        assert metrics["bits_per_char"] == pytest.approx(nll / characters / math.log(2))
        if tokenizer == "whitespace":  # one token a word, one <eos> a line
            assert tokens == words
            assert metrics["word_perplexity"] == pytest.approx(metrics["ppl"])

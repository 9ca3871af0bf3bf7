"""Speech metrics against rates worked out by hand and against jiwer: corpus-level WER and CER,
empty references and hypotheses, and the Levenshtein distance."""

from __future__ import annotations

import random

import jiwer
import pytest

from rnnkit.tasks.speech_metrics import edit_distance, speech_scores

VOCABULARY = ["the", "cat", "sat", "on", "a", "mat"]


def test_one_inserted_word():
    scores = speech_scores(["the cat sat"], ["the cat sat down"])
    assert scores["wer"] == pytest.approx(1 / 3)
    assert scores["cer"] == pytest.approx(5 / 11)  # " down" inserted into 11 characters
    assert scores["utterance_accuracy"] == 0.0


def test_one_substituted_word_is_one_character():
    scores = speech_scores(["the cat sat", "on a mat"], ["the bat sat", "on a mat"])
    assert scores["wer"] == pytest.approx(1 / 6)
    assert scores["cer"] == pytest.approx(1 / 19)
    assert scores["utterance_accuracy"] == 0.5


def test_rates_are_over_the_corpus_not_means_of_sentence_rates():
    references, hypotheses = ["a b c d", "e"], ["a b c d", "f"]
    scores = speech_scores(references, hypotheses)
    assert scores["wer"] == pytest.approx(1 / 5)  # the mean of the sentence rates is 1/2
    assert scores["cer"] == pytest.approx(1 / 8)  # "a b c d" has 7 characters
    assert scores["wer"] == pytest.approx(jiwer.wer(references, hypotheses))
    assert scores["cer"] == pytest.approx(jiwer.cer(references, hypotheses))


def test_an_empty_reference_counts_its_hypothesis_as_insertions():
    scores = speech_scores(["", "a b c d"], ["x y", "a b c d"])
    assert scores["wer"] == pytest.approx(2 / 4)
    assert scores["cer"] == pytest.approx(3 / 7)
    assert scores["utterance_accuracy"] == 0.5
    assert speech_scores(["  "], [""]) == {"wer": 0.0, "cer": 0.0, "utterance_accuracy": 1.0}
    assert speech_scores([""], ["x y"])["wer"] == 2.0  # no reference words: the edit count


def test_empty_hypotheses_delete_every_word():
    scores = speech_scores(["the cat", "sat"], ["", ""])
    assert scores == {"wer": 1.0, "cer": 1.0, "utterance_accuracy": 0.0}


def test_an_utterance_is_right_when_its_words_are():
    scores = speech_scores([" the  cat "], ["the cat"])
    assert scores["wer"] == 0.0
    assert scores["utterance_accuracy"] == 1.0


def test_the_scores_match_jiwer_on_random_corpora():
    generator = random.Random(0)
    references = [
        " ".join(generator.choices(VOCABULARY, k=generator.randint(1, 8))) for _ in range(30)
    ]
    hypotheses = [
        " ".join(generator.choices(VOCABULARY, k=generator.randint(0, 8))) for _ in range(30)
    ]
    scores = speech_scores(references, hypotheses)
    assert scores["wer"] == pytest.approx(jiwer.wer(references, hypotheses))
    assert scores["cer"] == pytest.approx(jiwer.cer(references, hypotheses))


def test_mismatched_or_empty_corpora_are_refused():
    with pytest.raises(ValueError, match="as many"):
        speech_scores(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="at least one"):
        speech_scores([], [])


def test_edit_distance_by_hand():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == edit_distance("abc", "") == 3
    assert edit_distance([], []) == 0
    assert edit_distance(["a", "b"], ["b", "a"]) == 2


def test_edit_distance_matches_jiwer_on_random_word_lists():
    generator = random.Random(1)
    for _ in range(200):
        a = generator.choices(VOCABULARY, k=generator.randint(1, 10))
        b = generator.choices(VOCABULARY, k=generator.randint(0, 10))
        output = jiwer.process_words(" ".join(a), " ".join(b))
        assert edit_distance(a, b) == output.substitutions + output.deletions + output.insertions
        assert edit_distance(b, a) == edit_distance(a, b)

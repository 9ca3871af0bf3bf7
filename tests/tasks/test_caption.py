"""The ``caption`` task's pieces: captions normalised into words, validation images held out
with all their captions, batches, BLEU against a varying number of references, and encoder
weights read only when a run starts."""

from __future__ import annotations

import pytest
import sacrebleu
import torch
from PIL import Image

from conftest import write
from rnnkit.tasks.caption import Captioning
from rnnkit.tasks.caption_config import CaptionConfig
from rnnkit.tasks.caption_metrics import caption_scores
from rnnkit.train.config import load_config
from rnnkit.train.task import DataSources

TINY = ["data.min_freq=1", "data.image_size=16", "model.encoder_channels=[4]", "train.threads=1"]


def task(*overrides: str) -> Captioning:
    return Captioning(load_config(CaptionConfig, overrides=[*TINY, *overrides]))


@pytest.fixture
def captions_file(tmp_path):
    """Ten images, the i-th with i % 3 + 1 captions."""
    lines = []
    for i in range(10):
        Image.new("RGB", (20, 12), (20 * i, 0, 0)).save(tmp_path / f"{i}.png")
        lines += [f"{i}.png#{k}\tA Dog, number {i}!" for k in range(i % 3 + 1)]
    return write(tmp_path, "captions.txt", "\n".join(lines) + "\n")


def test_validation_holds_out_images_with_all_their_captions(captions_file):
    captioning = task("data.valid_fraction=0.2")
    captioning.prepare(DataSources(train=[captions_file]))
    train, valid = captioning.examples["train"], captioning.examples["valid"]
    assert len(train) == 8 and len(valid) == 2
    assert not {e.image.name for e in train} & {e.image.name for e in valid}
    assert all(len(e.captions) == int(e.image.name[-5]) % 3 + 1 for e in train + valid)
    assert len(captioning.pairs) == sum(len(e.captions) for e in train)
    assert train[0].pixels is None  # image files are decoded per batch
    assert captioning.config.data.image_size == 16


def test_captions_become_lowercase_words_and_batches_run_from_bos_to_eos(captions_file):
    captioning = task()
    captioning.prepare(DataSources(train=[captions_file], valid=[captions_file]))
    example = captioning.examples["train"][4]
    assert example.references == ["a dog number 4"] * 2
    tokenizer = captioning.tokenizer
    assert tokenizer is not None and tokenizer.decode(example.captions[0]) == "a dog number 4"
    batch = captioning.collate([(example, 0), (captioning.examples["train"][1], 1)])
    assert batch["images"].shape == (2, 3, 16, 16) and batch["lengths"].tolist() == [5, 5]
    assert batch["captions_in"][0, 0] == tokenizer.bos_id
    assert batch["captions_out"][0, 4] == tokenizer.eos_id
    assert (
        "images: train 10 (19 captions), valid 10 (19 captions); vocabulary 17"
        in captioning.summary()
    )


def test_bleu_against_fewer_references_leaves_the_missing_ones_out():
    hypotheses = ["a red circle above a blue square", "a green square and a red triangle"]
    references = [
        ["a red circle above a blue square", "a blue square below a red circle"],
        ["a red triangle and a green square"],
    ]
    scores = caption_scores(hypotheses, references)
    repeated = [[refs[0], refs[-1]] for refs in references]  # a duplicate reference adds nothing
    for order in range(1, 5):
        streams = [list(stream) for stream in zip(*repeated, strict=True)]
        expected = sacrebleu.BLEU(max_ngram_order=order).corpus_score(hypotheses, streams).score
        assert scores[f"bleu{order}"] == pytest.approx(expected)
    assert scores["exact_match"] == 0.5
    perfect = caption_scores(["a b c d e"], [["x y", "a b c d e"]])
    assert perfect["bleu4"] == pytest.approx(100.0) and perfect["exact_match"] == 1.0


def test_encoder_weights_start_a_new_run_only(captions_file, tmp_path):
    captioning = task()
    captioning.prepare(DataSources(train=[captions_file]))
    weights = {
        k: torch.full_like(v, 0.5) for k, v in captioning.build_model().encoder.state_dict().items()
    }
    torch.save(weights, tmp_path / "encoder.pt")
    fresh = task(f"model.encoder_weights={tmp_path / 'encoder.pt'}")
    fresh.prepare(DataSources(train=[captions_file]))
    assert torch.equal(
        fresh.build_model().encoder.blocks[0][0].weight, weights["blocks.0.0.weight"]
    )
    (tmp_path / "encoder.pt").unlink()  # a saved run no longer needs the file
    loaded = task(f"model.encoder_weights={tmp_path / 'encoder.pt'}")
    loaded.tokenizer = captioning.tokenizer
    assert loaded.build_model() is not None

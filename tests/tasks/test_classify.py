"""The classify task on the user's own files: training, held-out split, unseen labels,
multi-label, prediction in input order."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.errors import UserError
from rnnkit.tasks import load_run, train_run

TINY = ["model.embedding_dim=16", "model.hidden_size=16", "model.mlp_hidden=16",
        "train.threads=1", "train.batch_size=16", "train.lr=0.01"]  # fmt: skip


def write_csv(path, rows, header="text,label"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_learns_the_builtin_sentiment_and_predicts_in_input_order(tmp_path):
    final = train_run("classify", ["builtin:sentiment"], tmp_path / "run",
                      overrides=[*TINY, "train.epochs=3"], live=False)  # fmt: skip
    assert final["valid"]["accuracy"] > 0.9
    run = load_run(tmp_path / "run")
    records = run.task.predict(
        run.model, "the plot was not boring\nthe screen is awful\n" * 3, "in"
    )
    assert [r["label"] for r in records] == ["positive", "negative"] * 3
    assert all(sum(r["probabilities"].values()) == pytest.approx(1) for r in records)
    fasttext = run.task.predict(run.model, "__label__x the plot was not boring\n", "stdin")
    assert fasttext[0]["text"] == "the plot was not boring"  # the label is not read as words


def test_a_label_unseen_in_training_names_file_and_line(tmp_path):
    train = write_csv(tmp_path / "train.csv", ["good film,pos", "bad film,neg"] * 10)
    valid = write_csv(tmp_path / "valid.csv", ["good,pos", "meh,neutral"])
    with pytest.raises(UserError, match=r"valid\.csv:3: label 'neutral' was not seen"):
        train_run("classify", [str(train)], tmp_path / "run", valid=[str(valid)], overrides=TINY)


def test_the_held_out_split_is_stratified(tmp_path):
    rows = [f"text {i},{'rare' if i < 20 else 'common'}" for i in range(200)]
    train = write_csv(tmp_path / "train.csv", rows)
    final = train_run("classify", [str(train)], tmp_path / "run",
                      overrides=[*TINY, "train.max_steps=1"], live=False)  # fmt: skip
    support = {k: v["support"] for k, v in final["valid"]["per_class"].items()}
    assert support == {"common": 18, "rare": 2}


def test_multi_label_jsonl(tmp_path):
    lines = [{"text": "red car", "label": ["red", "car"]}, {"text": "blue car", "label": ["car"]},
             {"text": "red sky", "label": ["red"]}] * 20  # fmt: skip
    train = tmp_path / "train.jsonl"
    train.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    final = train_run("classify", [str(train)], tmp_path / "run", live=False,
                      overrides=[*TINY, "data.multi_label=true", "train.epochs=15"])  # fmt: skip
    assert final["valid"]["micro_f1"] > 0.9
    with pytest.raises(UserError, match=r"data\.multi_label=true"):
        train_run("classify", [str(train)], tmp_path / "single", overrides=TINY)


@pytest.mark.parametrize("bucket", ["true", "false"])
def test_resumed_training_equals_uninterrupted(tmp_path, bucket):
    settings = [*TINY, "train.epochs=2", f"data.bucket={bucket}"]
    train_run("classify", ["builtin:sentiment"], tmp_path / "straight", overrides=settings)
    train_run("classify", ["builtin:sentiment"], tmp_path / "resumed",
              overrides=[*TINY, "train.epochs=1", f"data.bucket={bucket}"])  # fmt: skip
    train_run("classify", ["builtin:sentiment"], tmp_path / "resumed", overrides=settings,
              resume=True)  # fmt: skip
    straight = load_file(tmp_path / "straight" / "last" / "model.safetensors")
    resumed = load_file(tmp_path / "resumed" / "last" / "model.safetensors")
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name


def test_pretrained_vectors_fill_their_rows_and_stay_frozen(tmp_path):
    train = write_csv(tmp_path / "train.csv", ["good film,pos", "Bad film,neg"] * 10)
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("2 3\ngood 1 2 3\nbad -1 0.5 4\n", encoding="utf-8")
    settings = [*(s for s in TINY if "embedding_dim" not in s), f"model.embeddings={vectors}",
                "model.freeze_embeddings=true", "train.max_steps=3"]  # fmt: skip
    train_run("classify", [str(train)], tmp_path / "run", overrides=settings)
    run = load_run(tmp_path / "run")
    vocab = run.task.tokenizer.vocab
    weight = run.model.embedding.weight
    assert weight.shape[1] == 3  # the vectors' size, whatever model.embedding_dim said
    torch.testing.assert_close(weight[vocab.index("good")], torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(weight[vocab.index("bad")], torch.tensor([-1.0, 0.5, 4.0]))
    assert not weight.requires_grad


def test_an_embedding_dim_that_contradicts_the_vectors_is_refused(tmp_path):
    train = write_csv(tmp_path / "train.csv", ["good film,pos", "bad film,neg"] * 10)
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("1 3\ngood 1 2 3\n", encoding="utf-8")
    settings = [*TINY, f"model.embeddings={vectors}"]  # TINY sets model.embedding_dim=16
    with pytest.raises(UserError, match=r"model\.embedding_dim is 16, but the vectors"):
        train_run("classify", [str(train)], tmp_path / "run", overrides=settings)


def test_balanced_class_weights_are_n_over_c_times_the_count(tmp_path):
    from rnnkit.tasks.classify import Classification, ClassifyConfig
    from rnnkit.train import DataSources
    from rnnkit.train.config import load_config

    train = write_csv(tmp_path / "train.csv", ["a text,big"] * 6 + ["b text,small"] * 2)
    valid = write_csv(tmp_path / "valid.csv", ["a text,big"])
    task = Classification(load_config(ClassifyConfig, overrides=["model.class_weights=balanced"]))
    task.prepare(DataSources(train=[str(train)], valid=[str(valid)]))
    expected = {"big": 8 / (2 * 6), "small": 8 / (2 * 2)}  # N / (C * count)
    weights = dict(zip(task.labels.tokens, task.class_weights.tolist(), strict=True))
    assert weights == pytest.approx(expected)


def test_whitespace_tokens_are_the_texts_own(tmp_path):
    train = write_csv(tmp_path / "train.csv", ["good film <unk>,pos", "bad film,neg"] * 10)
    train_run("classify", [str(train)], tmp_path / "run", live=False,
              overrides=[*TINY, "data.tokenizer=whitespace", "train.max_steps=2"])  # fmt: skip
    tokenizer = load_run(tmp_path / "run").task.tokenizer
    assert sorted(tokenizer.vocab.tokens[4:]) == ["bad", "film", "good"]  # <unk> is the unknown id
    assert tokenizer.encode("good <unk>") == [tokenizer.token_to_id("good"), tokenizer.unk_id]

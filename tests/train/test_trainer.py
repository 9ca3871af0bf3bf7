"""The trainer on the language-model task: exact resume, stopping rules, truncated BPTT."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.checkpoint import read_metrics_log
from rnnkit.errors import UserError
from rnnkit.tasks.lm import LanguageModelling
from rnnkit.tasks.runs import train_run
from rnnkit.train import precision
from rnnkit.train.precision import bf16_supported

TINY = [
    "model.embedding_dim=8",
    "model.hidden_size=16",
    "model.dropout=0.3",
    "train.batch_size=4",
    "train.bptt=16",
    "train.threads=1",
]


def run(corpus: Path, out: Path, *settings: str, resume: bool = False) -> dict:
    return train_run(
        "lm", [str(corpus)], out, overrides=[*TINY, *settings], resume=resume, live=False
    )


def weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(directory / "model.safetensors")


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.equal(wa[name], wb[name]), name


def test_two_epochs_equal_one_epoch_resumed_for_one(corpus, tmp_path):
    run(corpus, tmp_path / "straight", "train.epochs=2")
    run(corpus, tmp_path / "resumed", "train.epochs=1")
    run(corpus, tmp_path / "resumed", "train.epochs=2", resume=True)
    assert_same_weights(tmp_path / "straight" / "last", tmp_path / "resumed" / "last")
    log = read_metrics_log(tmp_path / "resumed")
    assert [r["epoch"] for r in log] == [1.0, 2.0]


def test_resume_in_the_middle_of_an_epoch_is_exact(corpus, tmp_path):
    """The carried hidden state and the position in the epoch come back too."""
    run(corpus, tmp_path / "straight", "train.max_steps=40", "train.epochs=5")
    run(corpus, tmp_path / "resumed", "train.max_steps=17", "train.epochs=5")
    assert read_metrics_log(tmp_path / "resumed")[-1]["step"] == 17
    run(corpus, tmp_path / "resumed", "train.max_steps=40", resume=True)
    assert_same_weights(tmp_path / "straight" / "last", tmp_path / "resumed" / "last")


def test_final_metrics_and_files(corpus, tmp_path):
    test_file = corpus.with_name("test.txt")
    test_file.write_text(corpus.read_text()[:800], encoding="utf-8")
    out = tmp_path / "run"
    final = train_run(
        "lm",
        [str(corpus)],
        out,
        test=[str(test_file)],
        overrides=[*TINY, "train.epochs=1"],
        live=False,
    )
    assert set(final) >= {"valid", "test"}
    assert set(final["test"]) == {"loss", "ppl", "bpc", "word_perplexity", "bits_per_char"}
    torch.testing.assert_close(
        torch.tensor(final["test"]["ppl"]), torch.tensor(final["test"]["loss"]).exp()
    )
    saved = (out / "metrics.json").read_text()
    assert '"test"' in saved
    for name in ("config.yaml", "model.safetensors", "tokenizer.json", "manifest.json"):
        assert (out / name).is_file() and (out / "last" / name).is_file()


def test_max_steps_and_early_stopping(corpus, tmp_path):
    run(corpus, tmp_path / "steps", "train.max_steps=7", "train.eval_every=3")
    assert [r["step"] for r in read_metrics_log(tmp_path / "steps")] == [3, 6, 7]
    # a learning rate so small that no weight changes: stop after `patience` evaluations
    run(
        corpus,
        tmp_path / "patience",
        "train.lr=1e-30",
        "train.eval_every=2",
        "train.patience=2",
        "train.epochs=50",
    )
    log = read_metrics_log(tmp_path / "patience")
    assert len(log) <= 4


def test_plateau_schedule_anneals_when_validation_stalls(corpus, tmp_path):
    run(
        corpus,
        tmp_path / "run",
        "train.lr=1e-9",
        "train.lr_schedule=plateau",
        "train.lr_gamma=0.5",
        "train.eval_every=2",
        "train.max_steps=8",
    )
    lrs = [r["lr"] for r in read_metrics_log(tmp_path / "run")]
    assert lrs[-1] < lrs[0]


def test_truncated_bptt_detaches_the_carried_state(corpus, tmp_path, monkeypatch):
    seen = []
    original = LanguageModelling.loss

    def spy(self, model, batch, carry):
        if carry is not None:
            seen.append(any(part.requires_grad for part in carry))
        return original(self, model, batch, carry)

    monkeypatch.setattr(LanguageModelling, "loss", spy)
    run(corpus, tmp_path / "run", "train.max_steps=4")
    assert seen == [False, False, False]  # state carried into batches 2-4, never the graph


CPU = torch.device("cpu")


def lstm_runs_under_bf16_autocast() -> bool:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        try:
            torch.nn.LSTM(4, 8)(torch.randn(3, 2, 4))
        except RuntimeError:
            return False
    return True


def test_bf16_support_is_what_torchs_lstm_kernel_can_run():
    assert bf16_supported(CPU) == lstm_runs_under_bf16_autocast()


@pytest.mark.skipif(not bf16_supported(CPU), reason="this CPU has no native bfloat16")
def test_bf16_autocast_trains(corpus, tmp_path):
    final = run(corpus, tmp_path / "run", "train.precision=bf16", "train.max_steps=3")
    assert torch.isfinite(torch.tensor(final["valid"]["loss"]))


def test_bf16_without_hardware_support_is_refused_before_writing(corpus, tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "bf16_supported", lambda device: False)
    with pytest.raises(UserError, match=r"use train\.precision=fp32"):
        run(corpus, tmp_path / "run", "train.precision=bf16")
    assert not (tmp_path / "run").exists()

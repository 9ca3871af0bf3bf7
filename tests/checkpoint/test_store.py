"""Tests for rnnkit.checkpoint.store (and its helpers): round trips, integrity, crash safety."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from rnnkit.checkpoint import (
    LoadedCheckpoint,
    append_metrics,
    load_checkpoint,
    read_metrics_log,
    save_checkpoint,
    write_json_atomic,
)
from rnnkit.errors import UserError
from rnnkit.train.rng import capture_rng_state, restore_rng_state

CONFIG = "task: toy\ntrain:\n  lr: 0.001\n"


class TiedLM(nn.Module):
    """A tiny language model whose output layer shares the embedding's weight tensor."""

    def __init__(self, vocab: int = 11, dim: int = 6) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, dim, batch_first=True)
        self.decoder = nn.Linear(dim, vocab)
        self.decoder.weight = self.embedding.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.rnn(self.embedding(tokens))
        return self.decoder(hidden)


def make_model(seed: int) -> TiedLM:
    torch.manual_seed(seed)
    return TiedLM()


def save(directory: Path, model: nn.Module, **kwargs: Any) -> None:
    kwargs.setdefault("config_yaml", CONFIG)
    save_checkpoint(directory, model=model, **kwargs)


def assert_same_parameters(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def load(directory: Path, model: nn.Module | None = None) -> LoadedCheckpoint:
    """`load_checkpoint`, then the weights into ``model`` when one is given."""
    loaded = load_checkpoint(directory)
    if model is not None:
        loaded.load_weights(model)
    return loaded


def load_error(directory: Path, model: nn.Module | None = None) -> str:
    with pytest.raises(UserError) as caught:
        load(directory, model)
    return str(caught.value)


# --- round trips ---------------------------------------------------------------------------


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = make_model(0)
    files = {"tokenizer.json": '{"vocab": ["a", "é"]}', "vocab.bin": bytes(range(256))}
    save(tmp_path, model, files=files, metrics={"loss": 1.25, "step": 7})
    fresh = make_model(1)
    loaded = load(tmp_path, fresh)
    assert_same_parameters(fresh, model)
    assert loaded.config_yaml == CONFIG
    assert loaded.metrics == {"loss": 1.25, "step": 7}
    assert "trainer_state.pt" not in loaded.files
    assert loaded.read_text("tokenizer.json") == files["tokenizer.json"]
    assert loaded.read_bytes("vocab.bin") == files["vocab.bin"]
    assert set(loaded.files) == {
        "config.yaml",
        "model.safetensors",
        "metrics.json",
        *files,
    }
    with pytest.raises(UserError, match=r"no file 'merges\.txt'"):
        loaded.read_bytes("merges.txt")


def test_tied_weights_survive(tmp_path: Path) -> None:
    model = make_model(0)
    save(tmp_path, model)
    fresh = make_model(1)
    load(tmp_path, fresh)
    assert fresh.decoder.weight is fresh.embedding.weight
    assert torch.equal(fresh.embedding.weight, model.embedding.weight)
    assert not torch.equal(make_model(1).embedding.weight, model.embedding.weight)


def adam_step(model: nn.Module, optimizer: torch.optim.Optimizer, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 11, (3, 5), generator=generator)
    optimizer.zero_grad()
    model(tokens).logsumexp(-1).mean().backward()
    optimizer.step()


def test_optimizer_state_resumes_identically(tmp_path: Path) -> None:
    model = make_model(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    adam_step(model, optimizer, seed=1)
    state = {"optimizer": optimizer.state_dict(), "step": 1, "rng": capture_rng_state()}
    save(tmp_path / "last", model, trainer_state=state)

    resumed = make_model(5)
    resumed_optimizer = torch.optim.Adam(resumed.parameters(), lr=0.5)
    loaded = load(tmp_path / "last", resumed)
    assert loaded.load_trainer_state()["step"] == 1
    resumed_optimizer.load_state_dict(loaded.load_trainer_state()["optimizer"])

    adam_step(model, optimizer, seed=2)
    adam_step(resumed, resumed_optimizer, seed=2)
    assert_same_parameters(resumed, model)


def test_rng_state_restores_every_generator(tmp_path: Path) -> None:
    def draw() -> list[float]:
        return [
            random.random(),
            random.gauss(0, 1),
            *np.random.rand(3).tolist(),
            float(np.random.normal()),
            *torch.rand(3).tolist(),
            float(torch.randn(())),
        ]

    random.gauss(0, 1)  # leaves a cached Gaussian in Python's state
    np.random.normal()  # and in numpy's
    state = capture_rng_state()
    torch.save(state, tmp_path / "rng.pt")
    first = draw()
    assert draw() != first  # the generators move on
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert draw() == first


# --- integrity -----------------------------------------------------------------------------


def test_tampered_byte_is_detected(tmp_path: Path) -> None:
    save(tmp_path, make_model(0))
    path = tmp_path / "model.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    message = load_error(tmp_path, make_model(1))
    assert message == (
        f"{path}: SHA-256 does not match the manifest (the file was changed or truncated)"
    )


@pytest.mark.parametrize("name", ["model.safetensors", "config.yaml", "trainer_state.pt"])
def test_truncated_file_is_detected(tmp_path: Path, name: str) -> None:
    save(tmp_path / "last", make_model(0), trainer_state={"step": torch.tensor(3)})
    path = tmp_path / "last" / name
    path.write_bytes(path.read_bytes()[:-10])
    message = load_error(tmp_path / "last")
    assert message.startswith(f"{path}: ")
    assert "does not match the manifest" in message
    assert "truncated" in message


def test_missing_manifest(tmp_path: Path) -> None:
    save(tmp_path, make_model(0))
    (tmp_path / "manifest.json").unlink()
    message = load_error(tmp_path, make_model(0))
    assert message.startswith(f"{tmp_path}: no manifest.json")


def test_missing_listed_file(tmp_path: Path) -> None:
    save(tmp_path, make_model(0), files={"tokenizer.json": "{}"})
    (tmp_path / "tokenizer.json").unlink()
    assert (
        load_error(tmp_path)
        == f"{tmp_path / 'tokenizer.json'}: listed in manifest.json but missing"
    )


def test_manifest_from_a_newer_format_is_refused(tmp_path: Path) -> None:
    save(tmp_path, make_model(0))
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["version"] += 1
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert "newer than this rnnkit reads" in load_error(tmp_path)


def test_missing_directory(tmp_path: Path) -> None:
    assert "no checkpoint here" in load_error(tmp_path / "nope")


def test_weights_that_do_not_fit_the_model(tmp_path: Path) -> None:
    save(tmp_path, nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)))
    message = load_error(tmp_path, nn.Sequential(nn.Linear(3, 4)))
    assert "unexpected keys 1.bias, 1.weight" in message
    message = load_error(
        tmp_path, nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2), nn.ReLU(), nn.Linear(2, 2))
    )
    assert "missing keys 3.bias, 3.weight" in message
    assert "do not fit" in load_error(tmp_path, nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2)))


# --- no unpickling -------------------------------------------------------------------------


def _touch(path: str) -> None:
    Path(path).write_text("the payload ran")


class Payload:
    """Unpickling this calls `_touch`: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return (_touch, (str(self.marker),))


def test_pickled_object_in_trainer_state_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "marker.txt"
    run = tmp_path / "run"
    save(run / "last", make_model(0), trainer_state={"step": 1, "evil": Payload(marker)})
    loaded = load(run / "last", make_model(0))  # the weights are fine
    with pytest.raises(UserError) as caught:
        loaded.load_trainer_state()
    message = str(caught.value)
    assert "never unpickles arbitrary objects" in message
    assert message.startswith(f"{run / 'last' / 'trainer_state.pt'}: ")
    assert not marker.exists()
    torch.load(run / "last" / "trainer_state.pt", weights_only=False)  # the payload is live:
    assert marker.exists()  # a plain torch.load would have run it


@pytest.mark.parametrize("name", ["model.pt", "pytorch_model.bin", "weights.pkl"])
def test_pickled_model_file_is_refused(tmp_path: Path, name: str) -> None:
    torch.save(make_model(0).state_dict(), tmp_path / name)
    message = load_error(tmp_path, make_model(0))
    assert name in message
    assert "never unpickles arbitrary objects" in message
    assert "safetensors" in message


# --- layout and crash safety ---------------------------------------------------------------


def test_best_save_keeps_last_and_log_and_drops_stale_files(tmp_path: Path) -> None:
    save(tmp_path / "last", make_model(0), trainer_state={"step": 1})
    append_metrics(tmp_path, {"step": 1})
    save(tmp_path, make_model(0), files={"old_vocab.txt": "a\nb\n"})
    save(tmp_path, make_model(1))
    assert sorted(os.listdir(tmp_path)) == [
        "config.yaml",
        "last",
        "manifest.json",
        "metrics.json",
        "metrics.jsonl",
        "model.safetensors",
    ]
    assert_same_parameters(make_model(1), _loaded_model(tmp_path))
    assert load_checkpoint(tmp_path / "last").load_trainer_state() == {"step": 1}


def _loaded_model(directory: Path) -> nn.Module:
    model = make_model(7)
    load(directory, model)
    return model


def _failing_on_call(real: Callable[..., Any], failing_call: int) -> Callable[..., Any]:
    calls = 0

    def wrapper(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == failing_call:
            raise OSError("simulated crash")
        return real(*args)

    return wrapper


@pytest.mark.parametrize("failing_rename", [1, 2])
def test_interrupted_last_save_leaves_the_previous_loadable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_rename: int
) -> None:
    save(tmp_path / "last", make_model(0), trainer_state={"step": 1})
    with monkeypatch.context() as patch:
        patch.setattr(os, "rename", _failing_on_call(os.rename, failing_rename))
        with pytest.raises(OSError, match="simulated crash"):
            save(tmp_path / "last", make_model(1), trainer_state={"step": 2})
    loaded = load(tmp_path / "last", model := make_model(9))
    assert loaded.load_trainer_state() == {"step": 1}
    assert_same_parameters(model, make_model(0))

    save(tmp_path / "last", make_model(2), trainer_state={"step": 3})  # recovers and tidies up
    assert load_checkpoint(tmp_path / "last").load_trainer_state() == {"step": 3}
    assert os.listdir(tmp_path) == ["last"]


def test_crash_between_the_renames_falls_back_to_the_aside_copy(tmp_path: Path) -> None:
    save(tmp_path / "last", make_model(0), trainer_state={"step": 1})
    os.rename(tmp_path / "last", tmp_path / ".last.old")  # as if the crash came right after
    assert load_checkpoint(tmp_path / "last").load_trainer_state() == {"step": 1}


def test_interrupted_best_save_is_detected_not_mixed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    save(tmp_path / "last", make_model(0), trainer_state={"step": 1})
    save(tmp_path, make_model(0), metrics={"loss": 2.0})
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", _failing_on_call(os.replace, 3))
        with pytest.raises(OSError, match="simulated crash"):
            save(tmp_path, make_model(1), config_yaml="task: toy\n", metrics={"loss": 1.0})
    assert "does not match the manifest" in load_error(tmp_path, make_model(0))
    assert load_checkpoint(tmp_path / "last").load_trainer_state() == {"step": 1}
    save(tmp_path, make_model(1), metrics={"loss": 1.0})  # the next save repairs it
    assert load_checkpoint(tmp_path).metrics == {"loss": 1.0}
    assert not [name for name in os.listdir(tmp_path) if ".tmp-" in name]


def test_a_directory_named_last_that_is_a_run_is_not_swapped(tmp_path: Path) -> None:
    run = tmp_path / "last"
    save(run / "last", make_model(0), trainer_state={"step": 1})
    with pytest.raises(ValueError, match="holds directories"):
        save(run, make_model(1))
    assert load_checkpoint(run / "last").load_trainer_state() == {"step": 1}


@pytest.mark.parametrize("name", ["model.safetensors", "manifest.json", "../escape.txt", ".hidden"])
def test_extra_file_names_are_checked(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="cannot be an extra checkpoint file name"):
        save(tmp_path, make_model(0), files={name: "x"})


# --- metrics log and atomic JSON -----------------------------------------------------------


def test_metrics_log_ignores_a_truncated_last_line(tmp_path: Path) -> None:
    records = [{"step": i, "loss": 1.0 / (i + 1), "split": "valid"} for i in range(3)]
    for record in records:
        append_metrics(tmp_path, record)
    with open(tmp_path / "metrics.jsonl", "a", encoding="utf-8") as log:
        log.write('{"step": 3, "lo')  # a crash in the middle of an append
    assert read_metrics_log(tmp_path) == records
    append_metrics(tmp_path, {"step": 4})
    assert read_metrics_log(tmp_path) == [*records, {"step": 4}]


def test_metrics_log_reports_a_corrupt_middle_line(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\nnot json\n{"step": 2}\n')
    with pytest.raises(UserError) as caught:
        read_metrics_log(tmp_path)
    assert (caught.value.path, caught.value.line) == (str(tmp_path / "metrics.jsonl"), 2)


def test_metrics_log_absent_is_empty(tmp_path: Path) -> None:
    assert read_metrics_log(tmp_path) == []


def test_write_json_atomic_keeps_the_old_file_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "metrics.json"
    write_json_atomic(path, {"loss": 1.0})
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", _failing_on_call(os.replace, 1))
        with pytest.raises(OSError):
            write_json_atomic(path, {"loss": 0.5})
    assert json.loads(path.read_text()) == {"loss": 1.0}
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_the_weights_get_the_same_permissions_as_the_other_files(tmp_path: Path) -> None:
    save(tmp_path, make_model(0))
    modes = {
        name: (tmp_path / name).stat().st_mode & 0o777
        for name in ("model.safetensors", "config.yaml")
    }
    assert modes["model.safetensors"] == modes["config.yaml"]

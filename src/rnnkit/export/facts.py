"""The facts about a run's tokenizer and labels that a runtime needs beside the graphs."""

from __future__ import annotations

from typing import Any

from rnnkit.data.tokenizers import Tokenizer


def tokenizer_facts(tokenizer: Tokenizer) -> dict[str, Any]:
    """The tokenizer's kind, vocabulary size and special token ids (the tokenizer itself is
    the ``tokenizer.json`` asset: `rnnkit.data.tokenizers.load_tokenizer` reads it)."""
    return {
        "kind": tokenizer.kind,
        "vocab_size": tokenizer.vocab_size,
        "pad_id": tokenizer.pad_id,
        "unk_id": tokenizer.unk_id,
        "bos_id": tokenizer.bos_id,
        "eos_id": tokenizer.eos_id,
    }

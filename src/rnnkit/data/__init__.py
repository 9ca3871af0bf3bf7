"""Data for rnnkit: read text, turn it into token ids, and batch the ids for training."""

from __future__ import annotations

from rnnkit.data.batching import StreamBatches, split_train_valid
from rnnkit.data.readers import iter_lines, read_text
from rnnkit.data.tokenizers import (
    TOKENIZER_KINDS,
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    WordTokenizer,
    build_tokenizer,
    load_tokenizer,
    tokenizer_from_json,
)
from rnnkit.data.vocab import SPECIAL_TOKENS, Vocab

__all__ = [
    "SPECIAL_TOKENS",
    "TOKENIZER_KINDS",
    "BPETokenizer",
    "CharTokenizer",
    "StreamBatches",
    "Tokenizer",
    "Vocab",
    "WordTokenizer",
    "build_tokenizer",
    "iter_lines",
    "load_tokenizer",
    "read_text",
    "split_train_valid",
    "tokenizer_from_json",
]

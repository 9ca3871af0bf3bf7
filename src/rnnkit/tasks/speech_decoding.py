"""From a speech model's scores to transcripts: the best label of a classifying model, or the
CTC labelling of each utterance — greedy (beam 1) or by prefix beam search, optionally only
over the words of a word list (``decode.words``) — turned into text by the run's tokenizer."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnkit.data.readers import read_text
from rnnkit.data.tokenizers import Tokenizer
from rnnkit.errors import UserError
from rnnkit.models.ctc_decoding import WordConstraint, ctc_beam_search, ctc_greedy

BLANK = 0  # the tokenizer's padding id, never a real symbol
EXTRA_SYMBOLS = 4  # symbols per frame the beam search looks at beyond the beam width


class SpeechDecoder:
    """Decodes batches of scores: ``tokenizer`` for CTC output, else ``labels``; ``words`` a
    word-list file (one word per line) that constrains the beam search."""

    def __init__(
        self, tokenizer: Tokenizer | None, labels: list[str], beam_size: int, words: str | None
    ) -> None:
        self.tokenizer, self.labels, self.beam_size = tokenizer, labels, beam_size
        self.constraint = None if words is None or tokenizer is None else lexicon(tokenizer, words)

    def decode(
        self, scores: Tensor, lengths: Tensor, posteriors: bool = False
    ) -> list[dict[str, Any]]:
        """One record per utterance: ``text`` and, with ``posteriors``, the per-frame (CTC) or
        per-utterance (classify) probabilities."""
        records: list[dict[str, Any]]
        if self.tokenizer is None:
            probs = torch.softmax(scores, dim=-1)  # (B, C)
            records = [{"text": self.labels[int(p.argmax())]} for p in probs]
            rows = [[p.tolist()] for p in probs]
        else:
            log_probs = torch.log_softmax(scores, dim=-1)  # (B, T, C)
            never = [self.tokenizer.unk_id, self.tokenizer.bos_id, self.tokenizer.eos_id]
            log_probs[..., never] = -torch.inf  # no transcript holds them
            if self.beam_size == 1 and self.constraint is None:
                labellings = ctc_greedy(log_probs, lengths, BLANK)
            else:
                labellings = ctc_beam_search(
                    log_probs, lengths, self.beam_size, BLANK, self.constraint,
                    symbols_per_frame=self.beam_size + EXTRA_SYMBOLS,
                )  # fmt: skip
            texts = [" ".join(self.tokenizer.decode(ids).split()) for ids in labellings]
            records = [{"text": text} for text in texts]  # spaces as the transcripts have them
            rows = [lp[: int(n)].exp().tolist() for lp, n in zip(log_probs, lengths, strict=True)]
        if posteriors:
            for record, row in zip(records, rows, strict=True):
                record["posteriors"] = row
        return records


def lexicon(tokenizer: Tokenizer, path: str) -> WordConstraint:
    """The words of the file ``path`` as a `WordConstraint` over ``tokenizer``'s symbols:
    character symbols with the space as separator, or word symbols, one each."""
    words = [w for w in read_text([path]).split() if w]
    if not words:
        raise UserError("decode.words: the word list is empty", path=path)
    if tokenizer.kind == "bpe":
        raise UserError("decode.words needs the char, word or whitespace tokenizer, not bpe")
    encoded = [tokenizer.encode(word) for word in words]
    unknown = [w for w, ids in zip(words, encoded, strict=True) if tokenizer.unk_id in ids]
    if unknown:
        raise UserError(
            f"decode.words: {unknown[0]!r} has symbols the model cannot write", path=path
        )
    separator = tokenizer.token_to_id(" ") if tokenizer.kind == "char" else None
    return WordConstraint(encoded, separator)

"""From decoded token ids to text users read and scores they compare: rendering (special
tokens dropped, unknown words replaced by the most-attended source word, words detokenised) and
BLEU / chrF with sacreBLEU.

Rendering by tokenizer: byte-level BPE decodes exactly (spaces are part of its tokens); the word
tokenizer's tokens are detokenised (`rnnkit.data.detokenize`); whitespace tokens are joined by
one space, as pre-tokenised references are; characters are concatenated.
"""

from __future__ import annotations

from collections.abc import Sequence

import sacrebleu

from rnnkit.data.detokenize import detokenize
from rnnkit.data.tokenizers import (
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    WhitespaceTokenizer,
    WordTokenizer,
)


def content_ids(ids: Sequence[int], tokenizer: Tokenizer) -> list[int]:
    """``ids`` up to (not including) the first eos, without padding or bos."""
    kept = []
    for token_id in ids:
        if token_id == tokenizer.eos_id:
            break
        if token_id not in (tokenizer.pad_id, tokenizer.bos_id):
            kept.append(token_id)
    return kept


def token_texts(
    ids: Sequence[int],
    tokenizer: Tokenizer,
    source_tokens: Sequence[str] | None = None,
    attention: Sequence[Sequence[float]] | None = None,
) -> list[str]:
    """The text of each id; with ``source_tokens`` and ``attention`` (a row of weights over
    the source positions per id), an unknown id becomes the source token it attends to most
    (Luong et al. 2015, "Addressing the rare word problem"), where that position is a token."""
    texts = [piece(tokenizer, token_id) for token_id in ids]
    if source_tokens is None or attention is None:
        return texts
    for position, token_id in enumerate(ids):
        if token_id != tokenizer.unk_id:
            continue
        weights = attention[position]
        best = max(range(len(weights)), key=weights.__getitem__)
        if best < len(source_tokens):
            texts[position] = source_tokens[best]
    return texts


def render(ids: Sequence[int], texts: Sequence[str], tokenizer: Tokenizer) -> str:
    """The output sentence of ``ids`` whose token texts are ``texts`` (see the module
    docstring for how each tokenizer joins them), without surrounding spaces."""
    if isinstance(tokenizer, BPETokenizer):
        return tokenizer.decode(ids).strip()
    if isinstance(tokenizer, CharTokenizer):
        return "".join(texts).strip()
    if isinstance(tokenizer, WordTokenizer):
        return detokenize(texts)
    return " ".join(texts)


def piece(tokenizer: Tokenizer, token_id: int) -> str:
    """The text of one token as users read it (a BPE token's bytes decoded: ``" man"``, not
    ``"Ġman"``)."""
    if isinstance(tokenizer, BPETokenizer):
        return tokenizer.decode([token_id])
    return tokenizer.id_to_token(token_id)


def source_token_texts(text: str, tokenizer: Tokenizer) -> list[str]:
    """The tokens of a source sentence as strings, one per id (eos excluded): the words as
    written, unknown ones included, or BPE pieces."""
    if isinstance(tokenizer, BPETokenizer):
        return [piece(tokenizer, token_id) for token_id in tokenizer.encode(text)]
    assert isinstance(tokenizer, CharTokenizer | WordTokenizer | WhitespaceTokenizer)
    return tokenizer.split(text)


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """``{"bleu", "chrf"}``: sacreBLEU's corpus BLEU (13a tokenisation, cased) and chrF of
    detokenised ``hypotheses`` against one raw reference each."""
    refs = [list(references)]
    return {
        "bleu": sacrebleu.corpus_bleu(list(hypotheses), refs).score,
        "chrf": sacrebleu.corpus_chrf(list(hypotheses), refs).score,
    }

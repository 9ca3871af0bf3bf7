"""`Vocab`: the mapping between tokens (strings) and ids (ints), special tokens first.

Used by the character and word tokenizers and by any task that needs a label or tag vocabulary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rnnkit.errors import UserError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, UNK, BOS, EOS)


class Vocab:
    """A fixed list of tokens; a token's id is its position in the list.

    The special tokens come first, in the order given (by default ``<pad>`` = 0, ``<unk>`` = 1,
    ``<bos>`` = 2, ``<eos>`` = 3), then the ordinary tokens. Looking up a token that is not in
    the vocabulary gives the ``<unk>`` id; a vocabulary without ``<unk>`` (e.g. one of tags)
    raises ``KeyError`` instead.

    Args:
        tokens: the ordinary tokens, in id order; no duplicates and no special token.
        specials: the special tokens. `pad_id`, `unk_id`, `bos_id` and `eos_id` find the four
            standard ones by name and are ``None`` for those left out.

    >>> vocab = Vocab(["a", "b"])
    >>> vocab.encode(["b", "z"]), len(vocab)
    ([5, 1], 6)
    """

    def __init__(self, tokens: Iterable[str] = (), *, specials: Sequence[str] = SPECIAL_TOKENS):
        self._tokens = [*specials, *tokens]
        self._specials = tuple(specials)
        self._ids = {token: i for i, token in enumerate(self._tokens)}
        self._unk_id = self._ids.get(UNK)
        if len(self._ids) != len(self._tokens):
            duplicates = sorted(t for t, n in Counter(self._tokens).items() if n > 1)
            raise ValueError(f"vocabulary tokens must be unique; repeated: {duplicates}")

    @classmethod
    def build(
        cls,
        tokens: Iterable[str] | Mapping[str, int],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = SPECIAL_TOKENS,
    ) -> Vocab:
        """Count `tokens` (or take the given counts) and keep the frequent ones.

        Tokens are ordered by count, highest first; equal counts keep the order in which the
        tokens first appear in `tokens` (a mapping's iteration order), so the result is
        deterministic. Occurrences of special tokens are not counted as ordinary tokens.

        Args:
            tokens: a stream of tokens, or a mapping token -> count.
            min_freq: drop tokens seen fewer times than this.
            max_size: keep at most this many ordinary tokens (specials not included).
        """
        if min_freq < 1:
            raise UserError(f"min_freq must be at least 1, got {min_freq}")
        if max_size is not None and max_size < 0:
            raise UserError(f"max_size must be at least 0, got {max_size}")
        counts = tokens if isinstance(tokens, Mapping) else Counter(tokens)
        kept = [t for t, n in counts.items() if n >= min_freq and t not in specials]
        kept.sort(key=lambda token: -counts[token])  # stable: ties keep first-appearance order
        return cls(kept[:max_size], specials=specials)

    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocab):
            return NotImplemented
        return self._tokens == other._tokens and self._specials == other._specials

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, specials={list(self._specials)})"

    @property
    def specials(self) -> tuple[str, ...]:
        """The special tokens, which hold ids ``0 .. len(specials) - 1``."""
        return self._specials

    @property
    def tokens(self) -> list[str]:
        """Every token in id order, specials included (a copy)."""
        return list(self._tokens)

    def index(self, token: str) -> int:
        """The id of `token`; the ``<unk>`` id if it is unknown (``KeyError`` without ``<unk>``)."""
        found = self._ids.get(token, self._unk_id)
        if found is None:
            raise KeyError(token)
        return found

    def token(self, token_id: int) -> str:
        """The token with id `token_id`; ``IndexError`` outside ``0 .. len(self) - 1``."""
        if not 0 <= token_id < len(self._tokens):
            raise IndexError(f"token id {token_id} is outside the vocabulary (size {len(self)})")
        return self._tokens[token_id]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """The ids of `tokens`, unknown ones mapped as `index` maps them."""
        return [self.index(token) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The tokens of `ids`."""
        return [self.token(token_id) for token_id in ids]

    @property
    def pad_id(self) -> int | None:
        """The id of ``<pad>``, or ``None`` if the vocabulary has none."""
        return self._ids.get(PAD)

    @property
    def unk_id(self) -> int | None:
        """The id of ``<unk>``, or ``None`` if the vocabulary has none."""
        return self._unk_id

    @property
    def bos_id(self) -> int | None:
        """The id of ``<bos>``, or ``None`` if the vocabulary has none."""
        return self._ids.get(BOS)

    @property
    def eos_id(self) -> int | None:
        """The id of ``<eos>``, or ``None`` if the vocabulary has none."""
        return self._ids.get(EOS)

    def to_dict(self) -> dict[str, list[str]]:
        """A JSON-ready form: ``{"specials": [...], "tokens": [ordinary tokens in id order]}``."""
        return {"specials": list(self._specials), "tokens": self._tokens[len(self._specials) :]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Vocab:
        """The inverse of `to_dict`."""
        return cls(data["tokens"], specials=data["specials"])

"""Tokenizers: text <-> token ids, one interface for characters, words and byte-level BPE.

Words are found by a regular expression ("word") or, in text already split into tokens, by
whitespace ("whitespace").

Every tokenizer has the special tokens ``<pad>`` = 0, ``<unk>`` = 1, ``<bos>`` = 2 and
``<eos>`` = 3 (the same ids in all kinds), and is saved as one JSON file::

    {"type": "char" | "word" | "whitespace" | "bpe", "format": 1, ...kind-specific fields...}

- char: ``{"lowercase": bool, "normalize_digits": bool, "vocab": {"specials": [...],
  "tokens": [...]}}`` (files without ``normalize_digits`` read as false)
- word: the same plus ``"pattern"`` (a regular expression) and ``"keep_newlines"`` (bool)
- whitespace: the same fields as char
- bpe:  ``{"tokenizer": {...}}``, the HuggingFace ``tokenizers`` JSON, embedded as an object

`load_tokenizer` (a file) and `tokenizer_from_json` (its text) read any of them back;
`build_tokenizer` trains one of a kind named by string.
Decoding renders every id, special ones as their text (``"<unk>"``, ``"<eos>"``): callers that
do not want them drop those ids first.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Self

from tokenizers import Regex, decoders, models, normalizers, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFTokenizer

from rnnkit.checkpoint.atomic import write_text_atomic
from rnnkit.data.readers import PathArg, read_text
from rnnkit.data.vocab import BOS, EOS, PAD, SPECIAL_TOKENS, UNK, Vocab
from rnnkit.errors import UserError

FORMAT_VERSION = 1
DEFAULT_BPE_VOCAB_SIZE = 4096
MIN_BPE_VOCAB_SIZE = len(SPECIAL_TOKENS) + 256  # the specials and one token per byte
WORD_PATTERN = r"\w+|[^\w\s]"  # runs of letters/digits, and each punctuation mark on its own
DIGIT = re.compile(r"\d")
WHITESPACE_TOKEN = re.compile(r"\n|\S+")  # a line break, or a run of non-space characters


def normalize_digits(text: str) -> str:
    """Every decimal digit (any script) replaced by ``0``, so numbers share their tokens."""
    return DIGIT.sub("0", text)


def _join_tokens(tokens: Sequence[str]) -> str:
    """`tokens` joined by one space, except next to a ``"\\n"`` token (no space there)."""
    parts: list[str] = []
    for i, token in enumerate(tokens):
        if i > 0 and "\n" not in (token, tokens[i - 1]):
            parts.append(" ")
        parts.append(token)
    return "".join(parts)


class Tokenizer(ABC):
    """The interface shared by all tokenizers: ``encode(text) -> ids``, ``decode(ids) -> text``.

    Ids run over ``0 .. vocab_size - 1``; the four special tokens hold ids 0 to 3.
    """

    kind: ClassVar[str]  # the "type" written to the JSON file
    pad_id: ClassVar[int] = 0
    unk_id: ClassVar[int] = 1
    bos_id: ClassVar[int] = 2
    eos_id: ClassVar[int] = 3

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """The token ids of `text`, in order."""

    @abstractmethod
    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids`; ``IndexError`` for an id outside the vocabulary."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """The number of ids, special tokens included."""

    @abstractmethod
    def id_to_token(self, token_id: int) -> str:
        """The token (vocabulary entry) of `token_id`; ``IndexError`` if there is none."""

    @abstractmethod
    def token_to_id(self, token: str) -> int | None:
        """The id of the vocabulary entry `token`, or ``None`` if it is not one."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The kind-specific JSON fields (see the module docstring)."""

    @classmethod
    @abstractmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """The inverse of `to_dict`."""

    def to_json(self) -> str:
        """The tokenizer as the JSON text `save` writes and `load_tokenizer` reads."""
        data = {"type": self.kind, "format": FORMAT_VERSION, **self.to_dict()}
        return json.dumps(data, ensure_ascii=False) + "\n"

    def save(self, path: PathArg) -> None:
        """Write the tokenizer to `path` as JSON, atomically (a temporary file, then a rename)."""
        write_text_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: PathArg) -> Self:
        """Read a tokenizer saved by `save`; on a subclass, the file must be of that kind."""
        tokenizer = load_tokenizer(path)
        if not isinstance(tokenizer, cls):
            raise UserError(f"holds a {tokenizer.kind} tokenizer, not a {cls.kind} one", path=path)
        return tokenizer

    def _check_special_ids(self) -> None:
        for expected, token in enumerate(SPECIAL_TOKENS):
            if self.token_to_id(token) != expected:
                raise ValueError(f"special token {token} must have id {expected}")


class _VocabTokenizer(Tokenizer):
    """A tokenizer that splits text into string tokens and looks them up in a `Vocab`."""

    def __init__(
        self, vocab: Vocab | None = None, *, lowercase: bool = False, normalize_digits: bool = False
    ) -> None:
        self.vocab = Vocab() if vocab is None else vocab
        self.lowercase = lowercase
        self.normalize_digits = normalize_digits
        self._check_special_ids()

    @classmethod
    def train(
        cls, text: str, *, min_freq: int = 1, max_size: int | None = None, **options: Any
    ) -> Self:
        """Build the vocabulary from the tokens `split` finds in `text` (order: `Vocab.build`);
        ``options`` are the constructor's keyword arguments (`lowercase`, ...)."""
        return cls(**options)._learn_vocab(text, min_freq, max_size)

    @abstractmethod
    def split(self, text: str) -> list[str]:
        """The string tokens of `text` (unknown ones included, not yet mapped to ``<unk>``)."""

    def _learn_vocab(self, text: str, min_freq: int, max_size: int | None) -> Self:
        """Replace the vocabulary by one built from `text` (see `Vocab.build`); returns self."""
        self.vocab = Vocab.build(self.split(text), min_freq=min_freq, max_size=max_size)
        return self

    def _normalise(self, text: str) -> str:
        text = text.lower() if self.lowercase else text
        return normalize_digits(text) if self.normalize_digits else text

    def encode(self, text: str) -> list[int]:
        return self.vocab.encode(self.split(text))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def id_to_token(self, token_id: int) -> str:
        return self.vocab.token(token_id)

    def token_to_id(self, token: str) -> int | None:
        return self.vocab.index(token) if token in self.vocab else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "lowercase": self.lowercase,
            "normalize_digits": self.normalize_digits,
            "vocab": self.vocab.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            Vocab.from_dict(data["vocab"]),
            lowercase=data["lowercase"],
            normalize_digits=data.get("normalize_digits", False),
        )


class CharTokenizer(_VocabTokenizer):
    """One token per Unicode character (newlines included); unseen characters become ``<unk>``.

    ``decode(encode(s)) == s`` whenever every character of `s` is in the vocabulary (and
    `lowercase` and `normalize_digits` are off).
    """

    kind = "char"

    def split(self, text: str) -> list[str]:
        return list(self._normalise(text))

    def decode(self, ids: Iterable[int]) -> str:
        return "".join(self.vocab.decode(ids))


class WordTokenizer(_VocabTokenizer):
    """Words, numbers and punctuation marks as tokens, found by a regular expression.

    The default `pattern` keeps runs of letters and digits (``\\w+``) and each other non-space
    character as tokens, and drops whitespace. With `keep_newlines` (the default) every ``\\n``
    is a token too, so a language model learns line breaks and generated text reproduces them.

    `decode` joins tokens with one space (none next to a newline), so it is not an exact
    inverse: ``split(decode(encode(s))) == split(s)`` when every token of `s` is known.
    """

    kind = "word"

    def __init__(
        self,
        vocab: Vocab | None = None,
        *,
        lowercase: bool = False,
        normalize_digits: bool = False,
        pattern: str = WORD_PATTERN,
        keep_newlines: bool = True,
    ) -> None:
        super().__init__(vocab, lowercase=lowercase, normalize_digits=normalize_digits)
        self.pattern = pattern
        self.keep_newlines = keep_newlines
        try:
            self._regex = re.compile(rf"\n|(?:{pattern})" if keep_newlines else pattern)
        except re.error as error:
            raise UserError(f"invalid word pattern {pattern!r}: {error}") from None

    def split(self, text: str) -> list[str]:
        matches = self._regex.finditer(self._normalise(text))
        return [token for match in matches if (token := match.group(0))]

    def decode(self, ids: Iterable[int]) -> str:
        return _join_tokens(self.vocab.decode(ids))

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "pattern": self.pattern, "keep_newlines": self.keep_newlines}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            Vocab.from_dict(data["vocab"]),
            lowercase=data["lowercase"],
            normalize_digits=data.get("normalize_digits", False),
            pattern=data["pattern"],
            keep_newlines=data["keep_newlines"],
        )


class WhitespaceTokenizer(_VocabTokenizer):
    """Tokens of pre-tokenised text: whitespace separates them, each line ends in ``<eos>``.

    For corpora that come split into tokens: Penn Treebank and WikiText language-model text,
    the tokenised files of a translation corpus. The tokens of a line are what `str.split`
    finds in it; every ``"\\n"`` encodes as `eos_id`, so a text of N lines (each ending in one)
    holds N ``<eos>``. Other whitespace, ``"\\r"`` and tabs included, only separates tokens.

    A token spelled like a special token (compared after `lowercase`) is never an ordinary
    vocabulary entry: ``<unk>`` encodes as `unk_id` and ``<eos>`` as `eos_id`, like a line
    break; ``<pad>`` and ``<bos>`` encode as `unk_id`, since padding and sentence starts are
    added by the pipeline, never read from the text.

    `decode` joins tokens with one space and renders `eos_id` as ``"\\n"``, with no space around
    it, so ``encode(decode(encode(s))) == encode(s)`` for every `s` (vocabulary from `train`).
    """

    kind = "whitespace"
    _SPECIAL_TEXT: ClassVar[dict[str, str]] = {"\n": EOS, PAD: UNK, BOS: UNK}

    def split(self, text: str) -> list[str]:
        tokens = WHITESPACE_TOKEN.findall(self._normalise(text))
        return [self._SPECIAL_TEXT.get(token, token) for token in tokens]

    def decode(self, ids: Iterable[int]) -> str:
        return _join_tokens(["\n" if token == EOS else token for token in self.vocab.decode(ids)])


class BPETokenizer(Tokenizer):
    """Byte-level byte-pair encoding (GPT-2 style), trained with HuggingFace ``tokenizers``.

    Text is split as UTF-8 bytes, so every string encodes without ``<unk>`` and
    ``decode(encode(s)) == s`` exactly (newlines, tabs and any script included) unless
    `lowercase` was set. Special-token text such as ``"<eos>"`` inside the input is encoded as
    ordinary bytes, never as the special id. `id_to_token` returns the byte-level form
    (``"Ġthe"`` for ``" the"``). Training is deterministic.
    """

    kind = "bpe"

    def __init__(self, tokenizer: HFTokenizer) -> None:
        self._tokenizer = tokenizer
        tokenizer.encode_special_tokens = True  # not saved in the JSON, so set on every load
        self._check_special_ids()

    @classmethod
    def train(
        cls,
        text: str,
        *,
        vocab_size: int = DEFAULT_BPE_VOCAB_SIZE,
        lowercase: bool = False,
        normalize_digits: bool = False,
        min_freq: int = 1,
    ) -> BPETokenizer:
        """Learn merges from `text` until `vocab_size` ids (specials included) or none remain.

        `min_freq` is the least count of a pair that may still be merged.
        """
        if vocab_size < MIN_BPE_VOCAB_SIZE:
            raise UserError(
                f"bpe vocab_size must be at least {MIN_BPE_VOCAB_SIZE}, got {vocab_size}"
            )
        if min_freq < 1:
            raise UserError(f"min_freq must be at least 1, got {min_freq}")
        tokenizer = HFTokenizer(models.BPE())
        steps: list[normalizers.Normalizer] = [normalizers.Lowercase()] if lowercase else []
        if normalize_digits:
            steps.append(normalizers.Replace(Regex(r"\d"), "0"))
        if steps:
            tokenizer.normalizer = normalizers.Sequence(steps)
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_freq,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tokenizer.train_from_iterator([text], trainer)
        return cls(tokenizer)

    def encode(self, text: str) -> list[int]:
        return self._tokenizer.encode(text).ids

    def decode(self, ids: Iterable[int]) -> str:
        ids = list(ids)
        for token_id in ids:
            self.id_to_token(token_id)  # raises IndexError for an unknown id
        return self._tokenizer.decode(ids, skip_special_tokens=False)

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size()

    def id_to_token(self, token_id: int) -> str:
        token = self._tokenizer.id_to_token(token_id) if token_id >= 0 else None
        if token is None:
            raise IndexError(
                f"token id {token_id} is outside the vocabulary (size {self.vocab_size})"
            )
        return token

    def token_to_id(self, token: str) -> int | None:
        return self._tokenizer.token_to_id(token)

    def to_dict(self) -> dict[str, Any]:
        return {"tokenizer": json.loads(self._tokenizer.to_str())}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        try:
            tokenizer = HFTokenizer.from_str(json.dumps(data["tokenizer"]))
        except Exception as error:  # tokenizers raises a bare Exception for a bad definition
            raise ValueError(f"bad tokenizers definition: {error}") from None
        return cls(tokenizer)


TOKENIZER_KINDS: dict[str, type[Tokenizer]] = {
    "char": CharTokenizer,
    "word": WordTokenizer,
    "whitespace": WhitespaceTokenizer,
    "bpe": BPETokenizer,
}


def build_tokenizer(
    kind: str,
    text: str,
    *,
    vocab_size: int | None = None,
    lowercase: bool = False,
    normalize_digits: bool = False,
    min_freq: int = 1,
    max_size: int | None = None,
) -> Tokenizer:
    """Train a tokenizer of `kind` ("char", "word", "whitespace" or "bpe") on `text`.

    `vocab_size` is the total number of ids, special tokens included: for bpe the target size
    (default `DEFAULT_BPE_VOCAB_SIZE`), for the other kinds a cap (default none). `max_size`
    caps the ordinary tokens of the other kinds' vocabularies instead; give one or the other.
    `lowercase` and `normalize_digits` (every digit becomes ``0``) apply before splitting.
    """
    cls = _tokenizer_class(kind)
    if not issubclass(cls, _VocabTokenizer):  # bpe, the one kind without a `Vocab`
        if max_size is not None:
            raise UserError("max_size does not apply to the bpe tokenizer; set vocab_size")
        size = DEFAULT_BPE_VOCAB_SIZE if vocab_size is None else vocab_size
        return BPETokenizer.train(
            text,
            vocab_size=size,
            lowercase=lowercase,
            normalize_digits=normalize_digits,
            min_freq=min_freq,
        )
    if vocab_size is not None:
        if max_size is not None:
            raise UserError("give vocab_size or max_size, not both")
        if vocab_size <= len(SPECIAL_TOKENS):
            raise UserError(f"vocab_size must exceed {len(SPECIAL_TOKENS)}, got {vocab_size}")
        max_size = vocab_size - len(SPECIAL_TOKENS)
    return cls.train(
        text,
        lowercase=lowercase,
        normalize_digits=normalize_digits,
        min_freq=min_freq,
        max_size=max_size,
    )


def load_tokenizer(path: PathArg) -> Tokenizer:
    """Read a tokenizer saved by `Tokenizer.save`, of whatever kind its ``"type"`` names."""
    return tokenizer_from_json(read_text(path), path)


def tokenizer_from_json(text: str, source: PathArg | None = None) -> Tokenizer:
    """The tokenizer in `text` (what `Tokenizer.to_json` wrote); errors name `source`."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"not valid JSON: {error.msg}", path=source, line=error.lineno) from None
    if not isinstance(data, dict):
        raise UserError("not a tokenizer file (expected a JSON object)", path=source)
    cls = _tokenizer_class(data.get("type"), source)
    if data.get("format") != FORMAT_VERSION:
        raise UserError(f"unsupported tokenizer format {data.get('format')!r}", path=source)
    try:
        return cls.from_dict(data)
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"not a valid {cls.kind} tokenizer file: {error!r}", path=source) from None


def _tokenizer_class(kind: object, path: PathArg | None = None) -> type[Tokenizer]:
    """The tokenizer class registered under `kind`; a `UserError` listing the choices if none."""
    if isinstance(kind, str) and kind in TOKENIZER_KINDS:
        return TOKENIZER_KINDS[kind]
    choices = ", ".join(sorted(TOKENIZER_KINDS))
    raise UserError(f"unknown tokenizer type {kind!r}; choose one of: {choices}", path=path)

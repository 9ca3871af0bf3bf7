"""Sequence tagging (``rnnkit train tag``): a tag for every token — entities, parts of speech.

Data: CoNLL column files (``data.token_column``, ``data.tag_column``), CoNLL-U (``.conllu``;
``data.tag_column`` upos or xpos), or ``builtin:ner`` / ``builtin:pos``. Entity tags in IOB1,
IOB2 or IOBES (``data.tag_scheme``, ``auto`` detects it) are converted to IOBES inside and
written back in the input's scheme; other tags (parts of speech) are used as they are.

Model: `rnnkit.models.tagger.SequenceTagger` — word embedding plus character features
(``model.char_features``), a BiLSTM (any ``model.cell``), and a CRF (``model.crf``; by default
on for entity tags) whose forbidden transitions are those invalid in IOBES.

Metrics (`rnnkit.tasks.tagging_metrics`): entity F1 (seqeval, conlleval-compatible) with
per-type scores and token accuracy; for other tags, token accuracy with per-tag scores. The
first picks the best model for entity tags, the second otherwise.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import torch
from pydantic import Field
from torch import Tensor, nn

from rnnkit.checkpoint import LoadedCheckpoint
from rnnkit.data.builtin_labeled import builtin_tagged_sentences, is_builtin
from rnnkit.data.conll import (
    TaggedSentence,
    read_conll,
    read_conll_from_text,
    read_conllu,
    read_conllu_from_text,
    read_tokenized_lines_from_text,
)
from rnnkit.data.input_formats import sentence_format
from rnnkit.data.tag_schemes import allowed_transitions, detect_scheme, from_iobes, to_iobes
from rnnkit.data.tokenizers import normalize_digits
from rnnkit.data.vocab import PAD, UNK, Vocab
from rnnkit.errors import UserError
from rnnkit.models.tagger import SequenceTagger
from rnnkit.tasks.encoder_config import EncoderConfig, LabelledRunConfig, VocabularyConfig
from rnnkit.tasks.supervised import Batch, LabelledTask, in_input_order, pad
from rnnkit.tasks.tagging_metrics import entity_metrics, tag_metrics
from rnnkit.train.config import PositiveInt, Rate

VOCAB_FILE = "tagger_vocab.json"
TAB = "\t"
MAX_WORD_CHARS = 30  # characters of a word its character features read


class TagModelConfig(EncoderConfig):
    """The tagger: the ``model.*`` keys."""

    embedding_dim: PositiveInt = Field(default=100, description="Word embedding size.")
    dropout: Rate = Field(default=0.5, description="Dropout on word features and outputs.")
    crf: bool | None = Field(
        default=None, description="Decode with a CRF (null: on for entity tags, off otherwise)."
    )
    char_features: bool = Field(default=True, description="Word features from characters.")
    char_embedding_dim: PositiveInt = Field(default=25, description="Character embedding size.")
    char_hidden_size: PositiveInt = Field(default=25, description="Character BiLSTM size.")


class TagDataConfig(VocabularyConfig):
    """The sentences and their tags: the ``data.*`` keys."""

    token_column: int = Field(default=0, description="CoNLL: the column of the token.")
    tag_column: int | str = Field(
        default=-1, description="CoNLL: the tag's column; CoNLL-U: upos or xpos (-1: upos)."
    )
    tag_scheme: Literal["auto", "iob1", "iob2", "iobes", "none"] = Field(
        default="auto", description="Entity tag scheme; none: tags without chunks (POS)."
    )


class TagConfig(LabelledRunConfig):
    """The config of a tagging run."""

    task: Literal["tag"] = "tag"
    model: TagModelConfig = Field(default_factory=TagModelConfig, description="The model.")
    data: TagDataConfig = Field(default_factory=TagDataConfig, description="The data.")


@dataclass(frozen=True)
class Example:
    """An encoded sentence: word, character and tag ids."""

    words: list[int]
    chars: list[list[int]]
    tags: list[int]


class Tagging(LabelledTask[tuple[str, TaggedSentence], Example]):
    """The ``tag`` task: see the module docstring."""

    name = "tag"
    config_class = TagConfig
    higher_is_better = True
    unit = "tokens"
    config: TagConfig
    words: Vocab
    characters: Vocab
    tags: Vocab
    scheme: str  # the input's: iob1, iob2, iobes, or none

    @property
    def metric(self) -> str:  # type: ignore[override]
        """Entity F1 for entity tags, token accuracy otherwise."""
        return "accuracy" if self.scheme == "none" else "f1"

    # --- reading ---------------------------------------------------------------------------
    def _read(self, source: Path | str, *, with_tags: bool = True) -> list[TaggedSentence]:
        data = self.config.data
        if is_builtin(source):
            return builtin_tagged_sentences(str(source))
        if Path(source).suffix.lower() == ".conllu":
            column = data.tag_column
            if isinstance(column, int) and column != -1:
                raise UserError("for CoNLL-U set data.tag_column to upos or xpos, not a number")
            field = "upos" if column == -1 else str(column)
            return read_conllu(source, tag_field=field, with_tags=with_tags)
        if isinstance(data.tag_column, str):
            raise UserError(f"data.tag_column {data.tag_column!r} is a CoNLL-U field; "
                            "for CoNLL columns give an index")  # fmt: skip
        return read_conll(
            source, token_column=data.token_column, tag_column=data.tag_column, with_tags=with_tags
        )

    def read_records(self, sources: Sequence[Path | str]) -> list[tuple[str, TaggedSentence]]:
        return [(str(source), s) for source in sources for s in self._read(source)]

    def _word(self, token: str) -> str:
        data = self.config.data
        token = token.lower() if data.lowercase else token
        return normalize_digits(token) if data.normalize_digits else token

    # --- data --------------------------------------------------------------------------------
    def fit(self, records: list[tuple[str, TaggedSentence]]) -> None:
        data, sentences = self.config.data, [sentence for _, sentence in records]
        detected = detect_scheme(s.tags for s in sentences) or "none"
        if data.tag_scheme not in ("auto", detected) and "none" in (data.tag_scheme, detected):
            raise UserError(
                f"data.tag_scheme={data.tag_scheme} but the training tags "
                + ("are not chunk tags" if detected == "none" else f"look like {detected}")
            )
        self.scheme = detected if data.tag_scheme == "auto" else data.tag_scheme
        words = Counter(self._word(t) for s in sentences for t in s.tokens)
        cap = None if data.vocab_size is None else data.vocab_size - 2
        self.words = Vocab.build(words, min_freq=data.min_freq, max_size=cap, specials=(PAD, UNK))
        chars = Counter(c for s in sentences for t in s.tokens for c in t[:MAX_WORD_CHARS])
        self.characters = Vocab.build(chars, specials=(PAD, UNK))
        tags = {t for s in sentences for t in self._internal(s.tags)}
        self.tags = Vocab(sorted(tags), specials=())

    def _internal(self, tags: Sequence[str]) -> list[str]:
        return list(tags) if self.scheme == "none" else to_iobes(tags, self.scheme)

    def encode(self, sentences: list[tuple[str, TaggedSentence]]) -> list[Example]:
        examples = []
        for source, sentence in sentences:
            try:
                internal = self._internal(sentence.tags) if sentence.tags else []
            except ValueError as error:  # e.g. an E- tag when data.tag_scheme says iob2
                raise UserError(
                    f"{error} (data.tag_scheme is {self.scheme})",
                    path=source,
                    line=sentence.lines[0],
                ) from None
            for position, (tag, line) in enumerate(zip(internal, sentence.lines, strict=False)):
                if tag not in self.tags:
                    given = sentence.tags[position]
                    inside = "" if tag == given else f" (as {tag} inside)"
                    raise UserError(
                        f"tag {given!r}{inside} was not seen in training", path=source, line=line
                    )
            examples.append(self._example(sentence.tokens, internal))
        return examples

    def _example(self, tokens: Sequence[str], tags: Sequence[str]) -> Example:
        return Example(
            self.words.encode([self._word(t) for t in tokens]),
            [self.characters.encode(t[:MAX_WORD_CHARS]) for t in tokens],
            self.tags.encode(tags),
        )

    def token_vocab(self) -> Vocab:
        return self.words

    def length(self, example: Example) -> int:
        return len(example.words)

    def load_assets(self, checkpoint: LoadedCheckpoint) -> None:
        saved = json.loads(checkpoint.read_text(VOCAB_FILE))
        self.words = Vocab.from_dict(saved["words"])
        self.characters = Vocab.from_dict(saved["characters"])
        self.tags = Vocab.from_dict(saved["tags"])
        self.scheme = saved["scheme"]

    def assets(self) -> dict[str, bytes | str]:
        saved = {
            "scheme": self.scheme,
            "words": self.words.to_dict(),
            "characters": self.characters.to_dict(),
            "tags": self.tags.to_dict(),
        }
        return {VOCAB_FILE: json.dumps(saved, ensure_ascii=False) + "\n"}

    def _use_crf(self) -> bool:
        crf = self.config.model.crf
        return self.scheme != "none" if crf is None else crf

    def build_model(self) -> SequenceTagger:
        m = self.config.model
        crf = self._use_crf()
        allowed = allowed_transitions(self.tags.tokens) if crf and self.scheme != "none" else None
        return SequenceTagger(
            len(self.words),
            len(self.tags),
            num_chars=len(self.characters) if m.char_features else 0,
            cell=m.cell,
            embedding_dim=m.embedding_dim,
            hidden_size=m.hidden_size,
            num_layers=m.num_layers,
            dropout=m.dropout,
            char_embedding_dim=m.char_embedding_dim,
            char_hidden_size=m.char_hidden_size,
            crf=crf,
            allowed=allowed,
            layer_norm=m.layer_norm,
            forget_bias=m.forget_bias,
            pretrained=self.pretrained,
            freeze_embeddings=m.freeze_embeddings,
        )

    def summary(self) -> str:
        sizes = ", ".join(f"{split} {len(e):,}" for split, e in self.examples.items())
        scheme = (
            "no chunks" if self.scheme == "none" else f"IOBES inside, {self.scheme} in the data"
        )
        crf = "CRF" if self._use_crf() else "softmax"
        head = (
            f"sentences: {sizes}; {len(self.tags)} tags ({scheme}, {crf}); vocabulary "
            f"{len(self.words):,} words, {len(self.characters):,} characters"
        )
        return "; ".join([head, self.padding_summary(), *self.notes])

    # --- training ------------------------------------------------------------------------------
    def collate(self, examples: list[Example]) -> Batch:
        words, lengths = pad([e.words for e in examples])
        tags, _ = pad([e.tags or [0] * len(e.words) for e in examples])
        longest = max(len(chars) for e in examples for chars in e.chars)
        chars = torch.zeros(*words.shape, longest, dtype=torch.long)
        char_lengths = torch.zeros(words.shape, dtype=torch.long)
        for row, example in enumerate(examples):
            for column, ids in enumerate(example.chars):
                chars[row, column, : len(ids)] = torch.tensor(ids, dtype=torch.long)
                char_lengths[row, column] = len(ids)
        return {
            "words": words,
            "lengths": lengths,
            "chars": chars,
            "char_lengths": char_lengths,
            "tags": tags,
        }

    def loss(self, model: nn.Module, batch: Batch, carry: Any) -> tuple[Tensor, int, None]:
        loss = model(
            batch["words"], batch["lengths"], batch["chars"], batch["char_lengths"], batch["tags"]
        )
        return loss, int(batch["lengths"].sum()), None

    # --- evaluation and prediction -------------------------------------------------------------
    @torch.no_grad()
    def decode(self, model: nn.Module, examples: list[Example]) -> list[list[str]]:
        """The predicted (internal) tags of each example, in input order."""
        tagger = cast(SequenceTagger, model).eval()
        device = next(tagger.parameters()).device

        def predict_batch(indices: list[int]) -> list[list[str]]:
            batch = self.collate([examples[i] for i in indices])
            emissions = tagger(
                batch["words"].to(device),
                batch["lengths"],
                batch["chars"].to(device),
                batch["char_lengths"].to(device),
            )
            return [self.tags.decode(ids) for ids in tagger.decode(emissions, batch["lengths"])]

        return in_input_order([len(e.words) for e in examples], predict_batch)

    def metrics(self, model: nn.Module, examples: list[Example]) -> dict[str, Any]:
        predicted = self.decode(model, examples)
        gold = [self.tags.decode(e.tags) for e in examples]
        if self.scheme == "none":
            return tag_metrics(gold, predicted, self.tags.tokens)
        return entity_metrics(gold, predicted)

    def _read_unlabelled(self, text: str, name: str, input_format: str) -> list[TaggedSentence]:
        """Prediction input: CoNLL-U, CoNLL or one tokenised sentence per line."""
        chosen = sentence_format(text, name, input_format)
        if chosen == "conllu":
            return read_conllu_from_text(text, name, with_tags=False)
        if chosen == "conll":
            column = self.config.data.token_column
            return read_conll_from_text(text, name, token_column=column, with_tags=False)
        return read_tokenized_lines_from_text(text, name)

    def predict(
        self, model: nn.Module, text: str, name: str, input_format: str = "auto"
    ) -> list[dict[str, Any]]:
        """One record per sentence: ``{"tokens", "tags", "rows", "comments"}``, the tags in the
        scheme of the training data, ``rows`` the input lines of the tokens and ``comments`` the
        CoNLL-U comment lines before them. The input is CoNLL, CoNLL-U or one tokenised sentence
        per line (`input_format`, `rnnkit.data.input_formats`)."""
        sentences = self._read_unlabelled(text, name, input_format)
        examples = [self._example(s.tokens, []) for s in sentences]
        predicted = self.decode(model, examples)
        return [
            {
                "tokens": list(s.tokens),
                "tags": tags if self.scheme == "none" else from_iobes(tags, self.scheme),
                "rows": list(s.rows),
                "comments": list(s.comments),
            }
            for s, tags in zip(sentences, predicted, strict=True)
        ]

    def format_prediction(self, record: dict[str, Any]) -> str:
        """The sentence's comments and input lines, each with the predicted tag appended (after
        a tab, or a space where the line separates its columns by spaces), then a blank line."""
        lines = [
            f"{row}{' ' if ' ' in row and TAB not in row else TAB}{tag}"
            for row, tag in zip(record["rows"], record["tags"], strict=True)
        ]
        return "\n".join([*record.get("comments", []), *lines]) + "\n"

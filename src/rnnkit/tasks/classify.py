"""Sequence classification (``rnnkit train classify``): one label (or several) per text.

Data: CSV, TSV, JSONL or fastText files (`rnnkit.data.labeled_text`; ``data.text_field``,
``data.label_field``), or ``builtin:sentiment``. Texts are split by the word tokenizer by
default (char and BPE work too); without ``--valid`` a stratified ``data.valid_fraction`` of the
training data is held out. Batches group texts of similar length.

Model: `rnnkit.models.classifier.SequenceClassifier`. Loss: cross-entropy, or one sigmoid per
class with ``data.multi_label`` (a row's labels split by ``data.label_separator``); optional
class weights for imbalanced data (``model.class_weights=balanced``: ``N / (C · count_c)``).

Metrics (`rnnkit.tasks.classification_metrics`): accuracy, macro-F1 (picks the best model),
per-class precision / recall / F1 and the confusion matrix.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from torch import Tensor, nn

from rnnkit.checkpoint import LoadedCheckpoint
from rnnkit.data.builtin_labeled import builtin_labeled_texts, is_builtin
from rnnkit.data.input_formats import text_format
from rnnkit.data.labeled_text import (
    LabeledText,
    read_labeled_texts,
    read_labeled_texts_from_text,
    read_text_lines_from_text,
)
from rnnkit.data.tokenizers import (
    CharTokenizer,
    Tokenizer,
    WhitespaceTokenizer,
    WordTokenizer,
    build_tokenizer,
    tokenizer_from_json,
)
from rnnkit.data.vocab import Vocab
from rnnkit.errors import UserError
from rnnkit.models.classifier import SequenceClassifier, classification_loss
from rnnkit.tasks.classification_metrics import multi_label_metrics, single_label_metrics
from rnnkit.tasks.encoder_config import EncoderConfig, LabelledRunConfig, VocabularyConfig
from rnnkit.tasks.supervised import Batch, LabelledTask, in_input_order, pad
from rnnkit.train.config import NonNegativeInt, PositiveInt

TOKENIZER_FILE, LABELS_FILE = "tokenizer.json", "labels.json"


class ClassifyModelConfig(EncoderConfig):
    """The classifier: the ``model.*`` keys."""

    bidirectional: bool = Field(default=True, description="Read each text both ways.")
    pooling: Literal["last", "mean", "max", "attention"] = Field(
        default="max", description="How the outputs of all steps become one vector."
    )
    mlp_hidden: NonNegativeInt = Field(default=128, description="MLP hidden size; 0: linear.")
    class_weights: Literal["none", "balanced"] = Field(
        default="none", description="balanced: weigh each class by N / (C * count)."
    )


class ClassifyDataConfig(VocabularyConfig):
    """The texts, their labels and their tokens: the ``data.*`` keys."""

    tokenizer: Literal["char", "word", "whitespace", "bpe"] = Field(
        default="word", description="Token unit."
    )
    lowercase: bool = Field(default=True, description="Lower-case the text first.")
    text_field: str = Field(default="text", description="CSV/TSV column or JSON key of the text.")
    label_field: str = Field(default="label", description="Column or key of the label(s).")
    multi_label: bool = Field(default=False, description="Several labels per text.")
    label_separator: str = Field(
        default=",", description="Splits a CSV/TSV label field into labels (multi_label)."
    )
    max_length: PositiveInt | None = Field(
        default=400, description="Tokens kept per text (the rest is cut; null: all)."
    )


class ClassifyConfig(LabelledRunConfig):
    """The config of a classification run."""

    task: Literal["classify"] = "classify"
    model: ClassifyModelConfig = Field(default_factory=ClassifyModelConfig, description="Model.")
    data: ClassifyDataConfig = Field(default_factory=ClassifyDataConfig, description="Data.")


@dataclass(frozen=True)
class Example:
    """An encoded text: its token ids, label ids and where it came from."""

    ids: list[int]
    labels: list[int]
    source: str
    line: int


class Classification(LabelledTask[tuple[str, LabeledText], Example]):
    """The ``classify`` task: see the module docstring."""

    name = "classify"
    config_class = ClassifyConfig
    metric = "macro_f1"
    higher_is_better = True
    unit = "texts"
    config: ClassifyConfig
    tokenizer: Tokenizer
    labels: Vocab

    # --- data ------------------------------------------------------------------------------
    def _read(self, sources: Sequence[Path | str]) -> list[tuple[str, LabeledText]]:
        data, records = self.config.data, []
        for source in sources:
            if is_builtin(source):
                read = builtin_labeled_texts(str(source))
            else:
                read = read_labeled_texts(
                    source,
                    text_field=data.text_field,
                    label_field=data.label_field,
                    label_separator=data.label_separator if data.multi_label else None,
                )
            records += [(str(source), record) for record in read]
        if not records:
            raise UserError("no examples in " + ", ".join(map(str, sources)))
        return records

    def _read_unlabelled(self, text: str, name: str, input_format: str) -> list[LabeledText]:
        """Prediction input: one text per line, or a file like the training data."""
        data, chosen = self.config.data, text_format(text, name, input_format)
        if chosen == "lines":
            return read_text_lines_from_text(text, name)
        return read_labeled_texts_from_text(
            text,
            name,
            file_format=chosen,
            text_field=data.text_field,
            label_field=data.label_field,
            label_separator=data.label_separator if data.multi_label else None,
            require_labels=False,
        )

    def read_records(self, sources: Sequence[Path | str]) -> list[tuple[str, LabeledText]]:
        return self._read(sources)

    def fit(self, records: list[tuple[str, LabeledText]]) -> None:
        data = self.config.data
        self.tokenizer = build_tokenizer(
            data.tokenizer,
            "\n".join(record.text for _, record in records),
            vocab_size=data.vocab_size,
            lowercase=data.lowercase,
            normalize_digits=data.normalize_digits,
            min_freq=data.min_freq,
        )
        counts = Counter(label for _, record in records for label in record.labels)
        self.labels = Vocab(sorted(counts), specials=())
        self._check_single_label(records)

    def _check_single_label(self, records: list[tuple[str, LabeledText]]) -> None:
        if self.config.data.multi_label:
            return
        for source, record in records:
            if len(record.labels) > 1:
                raise UserError(
                    f"{len(record.labels)} labels on one text; set data.multi_label=true to "
                    "train with several labels per text",
                    path=source,
                    line=record.line,
                )

    def encode(self, records: list[tuple[str, LabeledText]]) -> list[Example]:
        limit = self.config.data.max_length
        examples = []
        for source, record in records:
            unknown = [label for label in record.labels if label not in self.labels]
            if unknown:
                raise UserError(
                    f"label {unknown[0]!r} was not seen in training (known: "
                    f"{', '.join(self.labels.tokens)})",
                    path=source,
                    line=record.line,
                )
            ids = self.tokenizer.encode(record.text)[:limit] or [self.tokenizer.unk_id]
            examples.append(Example(ids, self.labels.encode(record.labels), source, record.line))
        return examples

    def token_vocab(self) -> Vocab:
        if not isinstance(self.tokenizer, CharTokenizer | WordTokenizer | WhitespaceTokenizer):
            raise UserError("model.embeddings needs the word, whitespace or char tokenizer")
        return self.tokenizer.vocab

    def stratum(self, example: Example) -> str:
        return self.labels.token(example.labels[0])

    def length(self, example: Example) -> int:
        return len(example.ids)

    def load_assets(self, checkpoint: LoadedCheckpoint) -> None:
        self.tokenizer = tokenizer_from_json(
            checkpoint.read_text(TOKENIZER_FILE), checkpoint.path / TOKENIZER_FILE
        )
        self.labels = Vocab.from_dict(json.loads(checkpoint.read_text(LABELS_FILE)))

    def assets(self) -> dict[str, bytes | str]:
        return {
            TOKENIZER_FILE: self.tokenizer.to_json(),
            LABELS_FILE: json.dumps(self.labels.to_dict(), ensure_ascii=False) + "\n",
        }

    def build_model(self) -> SequenceClassifier:
        m = self.config.model
        return SequenceClassifier(
            self.tokenizer.vocab_size,
            len(self.labels),
            cell=m.cell,
            embedding_dim=m.embedding_dim,
            hidden_size=m.hidden_size,
            num_layers=m.num_layers,
            bidirectional=m.bidirectional,
            dropout=m.dropout,
            pooling=m.pooling,
            mlp_hidden=m.mlp_hidden,
            layer_norm=m.layer_norm,
            forget_bias=m.forget_bias,
            pretrained=self.pretrained,
            freeze_embeddings=m.freeze_embeddings,
        )

    def summary(self) -> str:
        sizes = ", ".join(f"{split} {len(e):,}" for split, e in self.examples.items())
        parts = [
            f"texts: {sizes}; {len(self.labels)} labels; {self.config.data.tokenizer} "
            f"vocabulary {self.tokenizer.vocab_size:,}; {self.padding_summary()}",
            *self.notes,
        ]
        return "; ".join(parts)

    # --- training ----------------------------------------------------------------------------
    def collate(self, examples: list[Example]) -> Batch:
        tokens, lengths = pad([e.ids for e in examples])
        if not all(e.labels for e in examples):  # prediction input
            return {"tokens": tokens, "lengths": lengths}
        if self.config.data.multi_label:
            targets = torch.zeros(len(examples), len(self.labels))
            for row, example in enumerate(examples):
                targets[row, example.labels] = 1.0
        else:
            targets = torch.tensor([e.labels[0] for e in examples])
        return {"tokens": tokens, "lengths": lengths, "targets": targets}

    @cached_property
    def class_weights(self) -> Tensor | None:
        """The loss's class weights under ``model.class_weights`` (None for ``none``), counted
        once from the training examples."""
        if self.config.model.class_weights == "none":
            return None
        counts = torch.zeros(len(self.labels))
        for example in self.examples["train"]:
            counts[example.labels] += 1
        total = len(self.examples["train"])
        if self.config.data.multi_label:  # pos_weight: negatives per positive
            return (total - counts) / counts.clamp(min=1)
        return total / (len(self.labels) * counts.clamp(min=1))

    def loss(self, model: nn.Module, batch: Batch, carry: Any) -> tuple[Tensor, int, None]:
        logits = model(batch["tokens"], batch["lengths"])
        weights = None if self.class_weights is None else self.class_weights.to(logits.device)
        loss = classification_loss(
            logits,
            batch["targets"],
            multi_label=self.config.data.multi_label,
            class_weights=weights,
        )
        return loss, len(batch["lengths"]), None

    # --- evaluation and prediction -------------------------------------------------------------
    @torch.no_grad()
    def probabilities(self, model: nn.Module, examples: list[Example]) -> np.ndarray:
        """``(N, C)``: each class's probability (softmax, or sigmoid when multi-label)."""
        model.eval()
        device = next(model.parameters()).device

        def predict_batch(indices: list[int]) -> list[np.ndarray]:
            batch = self.collate([examples[i] for i in indices])
            logits = model(batch["tokens"].to(device), batch["lengths"]).float()
            probs = logits.sigmoid() if self.config.data.multi_label else logits.softmax(-1)
            return list(probs.cpu().numpy())

        return np.stack(in_input_order([len(e.ids) for e in examples], predict_batch))

    def metrics(self, model: nn.Module, examples: list[Example]) -> dict[str, Any]:
        probs = self.probabilities(model, examples)
        if self.config.data.multi_label:
            gold = np.zeros_like(probs, dtype=bool)
            for row, example in enumerate(examples):
                gold[row, example.labels] = True
            return multi_label_metrics(gold, probs >= 0.5, self.labels.tokens)
        gold_ids = [e.labels[0] for e in examples]
        return single_label_metrics(gold_ids, probs.argmax(1).tolist(), self.labels.tokens)

    def predict(
        self, model: nn.Module, text: str, name: str, input_format: str = "auto"
    ) -> list[dict[str, Any]]:
        """One record per input text: ``{"text", "label", "probability", "probabilities"}``
        (with several labels: ``"labels"``, those of probability >= 0.5). The input is one text
        per line, or a CSV / TSV / JSONL / fastText file like the training data (`input_format`,
        `rnnkit.data.input_formats`)."""
        records = [("", record) for record in self._read_unlabelled(text, name, input_format)]
        limit = self.config.data.max_length
        examples = [
            Example(self.tokenizer.encode(r.text)[:limit] or [self.tokenizer.unk_id], [], s, r.line)
            for s, r in records
        ]
        probs = self.probabilities(model, examples)
        results = []
        for (_, record), row in zip(records, probs, strict=True):
            by_label = {label: float(p) for label, p in zip(self.labels.tokens, row, strict=True)}
            best = int(row.argmax())
            result: dict[str, Any] = {"text": record.text, "label": self.labels.token(best)}
            result["probability"] = float(row[best])
            if self.config.data.multi_label:
                result["labels"] = [label for label, p in by_label.items() if p >= 0.5]
            results.append(result | {"probabilities": by_label})
        return results

    def format_prediction(self, record: dict[str, Any]) -> str:
        """One output line: the label (or labels, comma-separated) and its probability."""
        if self.config.data.multi_label:
            return ",".join(record["labels"]) or "-"
        return f"{record['label']}\t{record['probability']:.4f}"

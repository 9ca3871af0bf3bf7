"""Machine translation (``rnnkit train translate``), or any sequence-to-sequence job on parallel
text: transliteration, spelling correction, date normalisation.

Data (`rnnkit.data.parallel`): ``--data P --src de --tgt en`` reads ``P.de`` and ``P.en``
(``data.src``, ``data.tgt``); without them ``P`` is a TSV of ``source<TAB>target``; or
``builtin:dates`` / ``builtin:numbers``. Training pairs with an empty side or more than
``data.max_length`` tokens on a side are dropped and counted in the log. Source and target have
tokenizers of their own (``data.tokenizer``: bpe, word, whitespace for pre-tokenised text, char),
or one for both (``data.joint_vocab``, which also shares the embedding). The source gets an eos;
the target is read as ``bos y_1 .. y_n`` and predicted as ``y_1 .. y_n eos``.

Model: `rnnkit.models.seq2seq.Seq2Seq`, trained teacher-forced with (label-smoothed)
cross-entropy per target token. Evaluation: token perplexity, and BLEU / chrF (sacreBLEU) of the
detokenised output against the raw references, decoded with ``decode.eval_beam_size`` (greedy
by default, cheap); BLEU picks the best model. ``rnnkit translate`` and ``rnnkit evaluate``
decode with ``decode.beam_size``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from rnnkit.checkpoint import LoadedCheckpoint
from rnnkit.data.builtin_parallel import PREFIX as BUILTIN_PREFIX
from rnnkit.data.builtin_parallel import builtin_parallel
from rnnkit.data.parallel import SentencePair, read_parallel, read_source_lines
from rnnkit.data.tokenizers import (
    Tokenizer,
    build_tokenizer,
    tokenizer_from_json,
)
from rnnkit.data.vocab import Vocab
from rnnkit.errors import UserError
from rnnkit.models.seq2seq import Seq2Seq
from rnnkit.tasks.encoder_config import EncoderConfig, LabelledRunConfig, VocabularyConfig
from rnnkit.tasks.supervised import EVAL_BATCH_SIZE, Batch, LabelledTask, pad
from rnnkit.tasks.translation_decoding import TranslationSettings, translate_examples
from rnnkit.tasks.translation_output import corpus_scores
from rnnkit.train.config import (
    ConfigModel,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    Rate,
    TrainConfig,
)
from rnnkit.train.task import DataSources

SOURCE_TOKENIZER, TARGET_TOKENIZER = "source_tokenizer.json", "target_tokenizer.json"
AttentionName = Literal["bahdanau", "dot", "general", "none"]  # `rnnkit.models.attention`


class TranslateModelConfig(EncoderConfig):
    """The encoder-decoder: the ``model.*`` keys."""

    embedding_dim: PositiveInt = Field(default=256, description="Token embedding size.")
    hidden_size: PositiveInt = Field(
        default=512, description="Decoder size; each encoder direction has half (even)."
    )
    num_layers: PositiveInt = Field(default=2, description="Layers in encoder and decoder.")
    attention: AttentionName = Field(
        default="general",
        description="bahdanau (additive), dot or general (Luong), or none.",
    )
    input_feed: bool = Field(default=True, description="Feed the attentional state back in.")
    tie_embeddings: bool = Field(
        default=False, description="Output layer shares the target embedding's weights."
    )
    label_smoothing: Rate = Field(default=0.1, description="Label smoothing of the loss.")


class TranslateDataConfig(VocabularyConfig):
    """The parallel text and its tokens: the ``data.*`` keys."""

    src: str | None = Field(default=None, description="Source suffix: --data P reads P.SRC.")
    tgt: str | None = Field(default=None, description="Target suffix: --data P reads P.TGT.")
    tokenizer: Literal["bpe", "word", "whitespace", "char"] = Field(
        default="bpe", description="Token unit of both sides."
    )
    joint_vocab: bool = Field(
        default=False, description="One tokenizer and embedding for source and target."
    )
    max_length: PositiveInt | None = Field(
        default=100, description="Training pairs with more tokens on a side are dropped."
    )


class TranslateDecodeConfig(ConfigModel):
    """How translations are searched for: the ``decode.*`` keys."""

    beam_size: PositiveInt = Field(default=5, description="Beam of translate and evaluate.")
    eval_beam_size: PositiveInt = Field(
        default=1, description="Beam of the evaluations during training (1: greedy)."
    )
    length_penalty: float = Field(
        default=1.0, description="Rank hypotheses by log p / length ** length_penalty."
    )
    max_ratio: PositiveFloat = Field(
        default=2.0, description="At most max_ratio * source tokens + max_extra new tokens."
    )
    max_extra: NonNegativeInt = Field(default=10, description="See max_ratio.")
    replace_unk: bool = Field(
        default=False, description="An unknown output word becomes the most-attended source one."
    )


SELECTION_METRICS = {"bleu": True, "chrf": True, "exact_match": True, "loss": False}  # higher?


class TranslateTrainConfig(TrainConfig):
    """Training, with the validation metric that picks the best model: the ``train.*`` keys."""

    select_by: Literal["bleu", "chrf", "exact_match", "loss"] = Field(
        default="bleu",
        description="Validation metric that picks the best model (exact_match or chrf when "
        "outputs are a few tokens long, where BLEU has no 4-grams and stays 0).",
    )


class TranslateConfig(LabelledRunConfig):
    """The config of a translation run."""

    task: Literal["translate"] = "translate"
    train: TranslateTrainConfig = Field(
        default_factory=TranslateTrainConfig, description="How to train."
    )
    model: TranslateModelConfig = Field(default_factory=TranslateModelConfig, description="Model.")
    data: TranslateDataConfig = Field(default_factory=TranslateDataConfig, description="Data.")
    decode: TranslateDecodeConfig = Field(
        default_factory=TranslateDecodeConfig, description="Decoding."
    )


@dataclass(frozen=True)
class Example:
    """An encoded pair: source ids (eos-terminated), target ids (without bos / eos; empty for
    input to translate), and the pair it came from."""

    source: list[int]
    target: list[int]
    pair: SentencePair


class Translation(LabelledTask[SentencePair, Example]):
    """The ``translate`` task: see the module docstring."""

    name = "translate"
    config_class = TranslateConfig
    unit = "tokens"
    config: TranslateConfig
    source_tokenizer: Tokenizer
    target_tokenizer: Tokenizer
    dropped = ""  # the training pairs dropped, for the log

    @property
    def metric(self) -> str:  # type: ignore[override]
        """``train.select_by``: BLEU unless the config says otherwise."""
        return self.config.train.select_by

    @property
    def higher_is_better(self) -> bool:  # type: ignore[override]
        return SELECTION_METRICS[self.metric]

    # --- data ------------------------------------------------------------------------------
    def read_records(self, sources: Sequence[Path | str]) -> list[SentencePair]:
        data, pairs = self.config.data, []
        if bool(data.src) != bool(data.tgt):
            raise UserError("give both language suffixes, data.src and data.tgt (--src, --tgt)")
        for source in sources:
            if str(source).startswith(BUILTIN_PREFIX):
                read = builtin_parallel(str(source))  # unknown names: an error with the choices
                pairs += [SentencePair(s, t, str(source), n) for n, (s, t) in enumerate(read, 1)]
            else:
                pairs += read_parallel(source, data.src, data.tgt)
        if not pairs:
            raise UserError("no sentence pairs in " + ", ".join(map(str, sources)))
        return pairs

    def fit(self, records: list[SentencePair]) -> None:
        sources = "\n".join(pair.source for pair in records)
        targets = "\n".join(pair.target or "" for pair in records)
        if self.config.data.joint_vocab:
            self.source_tokenizer = self.target_tokenizer = self._tokenizer(
                sources + "\n" + targets
            )
        else:
            self.source_tokenizer = self._tokenizer(sources)
            self.target_tokenizer = self._tokenizer(targets)

    def _tokenizer(self, text: str) -> Tokenizer:
        data = self.config.data
        return build_tokenizer(
            data.tokenizer,
            text,
            vocab_size=data.vocab_size,
            lowercase=data.lowercase,
            normalize_digits=data.normalize_digits,
            min_freq=data.min_freq,
        )

    def encode(self, records: list[SentencePair]) -> list[Example]:
        eos = self.source_tokenizer.eos_id
        return [
            Example(
                [*self.source_tokenizer.encode(pair.source), eos],
                self.target_tokenizer.encode(pair.target) if pair.target else [],
                pair,
            )
            for pair in records
        ]

    def prepare(self, sources: DataSources, saved: LoadedCheckpoint | None = None) -> None:
        """Read and encode the data (`LabelledTask.prepare`), then drop the training pairs with
        an empty side or a side longer than ``data.max_length`` tokens."""
        super().prepare(sources, saved)
        train, limit = self.examples["train"], self.config.data.max_length or math.inf
        sides = [(len(e.source) - 1, len(e.target)) for e in train]  # tokens, eos not counted
        kept = [
            e
            for e, lengths in zip(train, sides, strict=True)
            if min(lengths) > 0 and max(lengths) <= limit
        ]
        if not kept:
            raise UserError("every training pair is empty or longer than data.max_length")
        if len(kept) < len(train):
            empty = sum(1 for lengths in sides if min(lengths) == 0)
            too_long = len(train) - len(kept) - empty
            self.dropped = f"dropped {empty:,} empty and {too_long:,} over-long training pairs"
        self.examples["train"] = kept

    def token_vocab(self) -> Vocab:
        vocab = getattr(self.source_tokenizer, "vocab", None)
        if not isinstance(vocab, Vocab):
            raise UserError("model.embeddings needs the word, whitespace or char tokenizer")
        return vocab

    def length(self, example: Example) -> int:
        return max(len(example.source), len(example.target) + 1)

    def load_assets(self, checkpoint: LoadedCheckpoint) -> None:
        self.source_tokenizer, self.target_tokenizer = (
            tokenizer_from_json(checkpoint.read_text(name), checkpoint.path / name)
            for name in (SOURCE_TOKENIZER, TARGET_TOKENIZER)
        )

    def assets(self) -> dict[str, bytes | str]:
        return {
            SOURCE_TOKENIZER: self.source_tokenizer.to_json(),
            TARGET_TOKENIZER: self.target_tokenizer.to_json(),
        }

    def build_model(self) -> Seq2Seq:
        m = self.config.model
        if m.hidden_size % 2:
            raise UserError(
                f"model.hidden_size must be even (half for each encoder direction), got "
                f"{m.hidden_size}"
            )
        tokenizer = self.target_tokenizer
        return Seq2Seq(
            self.source_tokenizer.vocab_size,
            tokenizer.vocab_size,
            bos_id=tokenizer.bos_id,
            eos_id=tokenizer.eos_id,
            cell=m.cell,
            embedding_dim=m.embedding_dim,
            hidden_size=m.hidden_size,
            num_layers=m.num_layers,
            dropout=m.dropout,
            attention=m.attention,
            input_feed=m.input_feed,
            tie_embeddings=m.tie_embeddings,
            share_embeddings=self.config.data.joint_vocab,
            layer_norm=m.layer_norm,
            forget_bias=m.forget_bias,
            pretrained=self.pretrained,
        )

    def summary(self) -> str:
        sizes = ", ".join(f"{split} {len(e):,}" for split, e in self.examples.items())
        data = self.config.data
        vocab = (
            f"joint {data.tokenizer} vocabulary {self.source_tokenizer.vocab_size:,}"
            if data.joint_vocab
            else f"{data.tokenizer} vocabularies: source {self.source_tokenizer.vocab_size:,}, "
            f"target {self.target_tokenizer.vocab_size:,}"
        )
        parts = [f"sentence pairs: {sizes}", vocab, self.padding_summary(), self.dropped]
        return "; ".join(part for part in [*parts, *self.notes] if part)

    # --- training ----------------------------------------------------------------------------
    def collate(self, examples: list[Example]) -> Batch:
        tokenizer = self.target_tokenizer
        source, source_lengths = pad([e.source for e in examples])
        target_in, _ = pad([[tokenizer.bos_id, *e.target] for e in examples])
        target_out, _ = pad([[*e.target, tokenizer.eos_id] for e in examples])
        return {
            "source": source,
            "source_lengths": source_lengths,
            "target_in": target_in,
            "target_out": target_out,
        }

    def loss(self, model: nn.Module, batch: Batch, carry: Any) -> tuple[Tensor, int, None]:
        device = batch["source"].device
        logits, _ = model(batch["source"], batch["source_lengths"], batch["target_in"])
        target = batch["target_out"].to(device)
        loss = F.cross_entropy(
            logits.flatten(0, 1).float(),
            target.flatten(),
            ignore_index=self.target_tokenizer.pad_id,
            label_smoothing=self.config.model.label_smoothing,
        )
        return loss, int((target != self.target_tokenizer.pad_id).sum()), None

    # --- evaluation and translation ----------------------------------------------------------
    @torch.no_grad()
    def token_loss(self, model: nn.Module, examples: list[Example]) -> float:
        """Mean negative log-likelihood per target token (eos included), teacher-forced."""
        model.eval()
        device = next(model.parameters()).device
        total, count = 0.0, 0
        for start in range(0, len(examples), EVAL_BATCH_SIZE):
            batch = self.collate(examples[start : start + EVAL_BATCH_SIZE])
            log_probs, _ = _seq2seq(model).score(
                batch["source"].to(device),
                batch["source_lengths"],
                batch["target_in"].to(device),
                batch["target_out"].to(device),
            )
            total -= float(log_probs.sum())
            count += int((batch["target_out"] != self.target_tokenizer.pad_id).sum())
        return total / max(count, 1)

    def settings(self, beam_size: int | None = None, **changes: Any) -> TranslationSettings:
        """The decoding settings of the config's ``decode`` section, with ``changes``; the
        beam is ``beam_size`` (None: ``decode.beam_size``), widened to ``n_best`` if narrower."""
        d = self.config.decode
        return TranslationSettings(
            beam_size=max(beam_size or d.beam_size, changes.get("n_best", 1)),
            length_penalty=d.length_penalty,
            max_ratio=d.max_ratio,
            max_extra=d.max_extra,
            replace_unk=d.replace_unk,
        )._replace(**changes)

    def metrics(self, model: nn.Module, examples: list[Example]) -> dict[str, Any]:
        return self._metrics(model, examples, self.settings(self.config.decode.eval_beam_size))

    def _metrics(
        self, model: nn.Module, examples: list[Example], settings: TranslationSettings
    ) -> dict[str, Any]:
        loss = self.token_loss(model, examples)
        results = translate_examples(
            _seq2seq(model), examples, self.source_tokenizer, self.target_tokenizer, settings
        )
        hypotheses = [best[0].text for best in results]
        scores = corpus_scores(hypotheses, [e.pair.target or "" for e in examples])
        exact = sum(h == e.pair.target for h, e in zip(hypotheses, examples, strict=True))
        return {
            **scores,
            "exact_match": exact / len(examples),
            "loss": loss,
            "perplexity": math.exp(min(loss, 50.0)),
            "sentences": len(examples),
        }

    def evaluate_files(self, model: nn.Module, paths: Sequence[Path | str]) -> dict[str, Any]:
        """Metrics on new parallel data, decoded with ``decode.beam_size``."""
        examples = self.encode(self.read_records(paths))
        return self._metrics(model, examples, self.settings())

    def translate(
        self, model: nn.Module, text: str, name: str, **settings: Any
    ) -> list[list[dict[str, Any]]]:
        """The translations of each line of ``text`` (read from ``name``), ``n_best`` per line
        (best first), as JSON-ready records: ``source``, ``translation``, ``score`` (the
        length-normalised log-probability), ``log_prob``, ``tokens``, ``source_tokens``
        (the pieces the model saw) and, when ``attention=True``, ``attention`` (one row of
        weights over the source tokens and eos per output token, eos included)."""
        examples = self.encode(read_source_lines(text, name))
        results = translate_examples(
            _seq2seq(model),
            examples,
            self.source_tokenizer,
            self.target_tokenizer,
            self.settings(**settings),
        )
        return [[t.record() for t in best] for best in results]


def _seq2seq(model: nn.Module) -> Seq2Seq:
    """``model`` as the `Seq2Seq` it is (inference and evaluation get it unwrapped)."""
    if not isinstance(model, Seq2Seq):
        raise TypeError(f"expected a Seq2Seq model, got {type(model).__name__}")
    return model

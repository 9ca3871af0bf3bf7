"""Speech recognition (``rnnkit train speech``): audio in, text out.

Data (`rnnkit.data.audio`): manifests (CSV / TSV ``path,text``, JSONL ``{"audio", "text"}``),
a folder of wav files labelled by ``data.label_pattern``, or ``builtin:tones``. Transcripts are
normalised (lower-cased, punctuation stripped, spaces collapsed) and split into the output
symbols of ``data.tokenizer`` (characters by default; the tokenizer's padding id 0 is CTC's
blank). When every training transcript is one word (``model.output=auto``), the model
classifies whole utterances instead.

Model: `rnnkit.models.speech.SpeechRecognizer`, trained with the CTC loss
(``zero_infinity``) or cross-entropy. Evaluation: word and character error rates and utterance
accuracy (`rnnkit.tasks.speech_metrics`) of greedy transcripts during training
(``decode.eval_beam_size``), of the prefix beam search (``decode.beam_size``) in ``rnnkit
evaluate`` and ``rnnkit transcribe``; the WER picks the best model.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.checkpoint import LoadedCheckpoint
from rnnkit.data.audio import Utterance, read_utterances
from rnnkit.data.builtin_audio import PREFIX as BUILTIN_PREFIX
from rnnkit.data.builtin_audio import builtin_utterances
from rnnkit.data.tokenizers import Tokenizer, build_tokenizer, tokenizer_from_json
from rnnkit.errors import UserError
from rnnkit.models.speech import SpeechRecognizer
from rnnkit.models.speech_features import LogMel, SpecAugment
from rnnkit.tasks.speech_config import SpeechConfig
from rnnkit.tasks.speech_decoding import SpeechDecoder
from rnnkit.tasks.speech_metrics import speech_scores
from rnnkit.tasks.supervised import (
    EVAL_BATCH_SIZE,
    Batches,
    bucketing_summary,
    in_input_order,
    train_and_valid,
    training_batches,
)
from rnnkit.train.config import RunConfig
from rnnkit.train.task import DataSources, Task

TOKENIZER_FILE, LABELS_FILE = "tokenizer.json", "labels.json"
PUNCTUATION = re.compile(r"[^\w\s']")


@dataclass
class Example:
    """An utterance ready for batches: ``audio`` (S,), ``target`` symbol ids (CTC) or one
    label id, and the normalised ``text``."""

    audio: Tensor
    target: list[int]
    text: str


class SpeechRecognition(Task):
    """Transcribe utterances (CTC), or label them (one word each)."""

    name = "speech"
    config_class = SpeechConfig
    metric = "wer"
    unit = "utterances"
    config: SpeechConfig

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        self.tokenizer: Tokenizer | None = None
        self.labels: list[str] = []  # classify: the labels, in id order
        self.examples: dict[str, list[Example]] = {}

    # --- data --------------------------------------------------------------------------------
    def read(self, sources: Sequence[Path | str]) -> list[Utterance]:
        """The utterances of manifests, folders and ``builtin:NAME`` sets."""
        data, utterances = self.config.data, []
        for source in sources:
            text = str(source)
            if text.startswith(BUILTIN_PREFIX):
                utterances += builtin_utterances(text, data.sample_rate)
            else:
                utterances += read_utterances(source, data.sample_rate, data.label_pattern)
        return utterances

    def normalise(self, text: str) -> str:
        """A transcript as the model learns it: lower-cased, punctuation stripped (``data.*``),
        runs of spaces made one."""
        data = self.config.data
        if data.lowercase:
            text = text.lower()
        if data.punctuation == "strip":
            text = PUNCTUATION.sub(" ", text)
        return " ".join(text.split())

    @property
    def classifies(self) -> bool:
        return bool(self.labels)

    def fit(self, utterances: list[Utterance]) -> None:
        """The output symbols (or labels) from the training transcripts."""
        texts = [self.normalise(u.text) for u in utterances]
        output = self.config.model.output
        if output == "classify" or (output == "auto" and all(len(t.split()) == 1 for t in texts)):
            self.labels = sorted(set(texts))
            return
        data = self.config.data
        self.tokenizer = build_tokenizer(
            data.tokenizer, " ".join(texts), vocab_size=data.vocab_size
        )

    def encode(self, utterances: list[Utterance]) -> list[Example]:
        examples = []
        for u in utterances:
            text = self.normalise(u.text)
            examples.append(Example(torch.from_numpy(u.audio), self._target(text, u), text))
        return examples

    def _target(self, text: str, utterance: Utterance) -> list[int]:
        if self.tokenizer is not None:
            return self.tokenizer.encode(text)
        if text not in self.labels:
            raise UserError(
                f"label {text!r} was not in the training data (labels: "
                f"{', '.join(self.labels[:20])})",
                path=utterance.source,
                line=utterance.line,
            )
        return [self.labels.index(text)]

    def prepare(self, sources: DataSources, saved: LoadedCheckpoint | None = None) -> None:
        train = self.read(sources.train)
        if saved is not None:
            self.load_assets(saved)
        else:
            self.fit(train)
        valid = self.encode(self.read(sources.valid)) if sources.valid else None
        config = self.config
        self.examples = train_and_valid(
            self.encode(train), valid, self.stratum, config.data.valid_fraction, config.train.seed
        )
        if sources.test:
            self.examples["test"] = self.encode(self.read(sources.test))

    def stratum(self, example: Example) -> str:
        """The held-out split draws evenly from each label of a classifying model."""
        return example.text if self.classifies else "all"

    # --- run assets and model ------------------------------------------------------------------
    def assets(self) -> dict[str, bytes | str]:
        if self.tokenizer is not None:
            return {TOKENIZER_FILE: self.tokenizer.to_json()}
        return {LABELS_FILE: json.dumps(self.labels, ensure_ascii=False)}

    def load_assets(self, checkpoint: LoadedCheckpoint) -> None:
        if (checkpoint.path / TOKENIZER_FILE).is_file():
            text = checkpoint.read_text(TOKENIZER_FILE)
            self.tokenizer = tokenizer_from_json(text, checkpoint.path / TOKENIZER_FILE)
        else:
            self.labels = json.loads(checkpoint.read_text(LABELS_FILE))

    def feature_extractor(self) -> LogMel:
        data = self.config.data
        rate = data.sample_rate
        window, hop = round(rate * data.window_ms / 1000), round(rate * data.hop_ms / 1000)
        mfcc = data.n_mfcc if data.features == "mfcc" else 0
        return LogMel(rate, window, hop, data.n_mels, mfcc=mfcc)

    def build_model(self) -> SpeechRecognizer:
        m, data = self.config.model, self.config.data
        classes = (
            len(self.labels) if self.classifies else cast(Tokenizer, self.tokenizer).vocab_size
        )
        model = SpeechRecognizer(
            self.feature_extractor(),
            classes,
            output="classify" if self.classifies else "ctc",
            normalise=data.normalise,
            spec_augment=SpecAugment() if data.spec_augment else None,
            subsample=m.subsample,
            conv=m.conv,
            cell=m.cell,
            hidden_size=m.hidden_size,
            num_layers=m.num_layers,
            dropout=m.dropout,
            layer_norm=m.layer_norm,
        )
        if model.global_norm is not None and "train" in self.examples:
            batch = self.collate(self.examples["train"][:512])
            feats, lengths = model.features(batch["audio"], batch["lengths"])
            model.global_norm.fit(feats, lengths)
        return model

    def summary(self) -> str:
        sizes = ", ".join(f"{split} {len(e):,}" for split, e in self.examples.items())
        rate = self.config.data.sample_rate
        hours = sum(len(e.audio) for e in self.examples["train"]) / rate / 3600
        if self.classifies:
            output = f"{len(self.labels)} labels (one per utterance)"
        else:
            output = f"CTC over {cast(Tokenizer, self.tokenizer).vocab_size} symbols"
        lengths = [len(e.audio) for e in self.examples["train"]]
        padding = bucketing_summary(
            lengths, self.config.train.batch_size, self.config.train.seed, self.config.data.bucket
        )
        return f"utterances: {sizes} ({hours:.2f} h of training audio); {output}; {padding}"

    # --- training ----------------------------------------------------------------------------
    def collate(self, examples: list[Example]) -> dict[str, Tensor]:
        """``audio`` (B, S) zero-padded, ``lengths`` (B,), ``targets`` (all symbol ids
        concatenated, or one label each) and ``target_lengths`` (B,)."""
        lengths = torch.tensor([len(e.audio) for e in examples])
        audio = torch.zeros(len(examples), int(lengths.max()))
        for row, example in enumerate(examples):
            audio[row, : len(example.audio)] = example.audio
        targets = [i for e in examples for i in e.target]
        return {
            "audio": audio,
            "lengths": lengths,
            "targets": torch.tensor(targets, dtype=torch.long),
            "target_lengths": torch.tensor([len(e.target) for e in examples]),
        }

    def train_batches(self, epoch: int, shard: int, num_shards: int) -> Batches:
        train, config = self.examples["train"], self.config
        return training_batches(
            [len(e.audio) for e in train],
            config.train.batch_size,
            lambda indices: self.collate([train[i] for i in indices]),
            seed=config.train.seed,
            epoch=epoch,
            shard=shard,
            num_shards=num_shards,
            by_length=config.data.bucket,
        )

    def loss(
        self, model: nn.Module, batch: dict[str, Tensor], carry: Any
    ) -> tuple[Tensor, int, None]:
        scores, frame_lengths = model(batch["audio"], batch["lengths"])
        return self.batch_loss(scores, frame_lengths, batch), len(batch["lengths"]), None

    def batch_loss(self, scores: Tensor, frame_lengths: Tensor, batch: dict[str, Tensor]) -> Tensor:
        """CTC (blank = the tokenizer's padding id 0, infinite losses of impossible alignments
        zeroed) or cross-entropy."""
        if self.classifies:
            return F.cross_entropy(scores.float(), batch["targets"])
        log_probs = F.log_softmax(scores.float(), dim=-1).transpose(0, 1)  # (T, B, C)
        return F.ctc_loss(
            log_probs,
            batch["targets"],
            frame_lengths,
            batch["target_lengths"],
            blank=0,
            zero_infinity=True,
        )

    # --- evaluation and transcription ----------------------------------------------------------
    def splits(self) -> list[str]:
        return [split for split in ("valid", "test") if split in self.examples]

    def decoder(self, beam_size: int) -> SpeechDecoder:
        words = self.config.decode.words
        return SpeechDecoder(self.tokenizer, self.labels, beam_size, words)

    @torch.no_grad()
    def run(
        self,
        model: nn.Module,
        examples: list[Example],
        beam_size: int,
        *,
        scored: bool = True,
        posteriors: bool = False,
    ) -> tuple[list[dict[str, Any]], float]:
        """One record per example (``text``; ``posteriors`` (T, C) when asked), in input order,
        and the mean loss against the examples' targets (``scored``; else nan)."""
        model.eval()
        device = next(model.parameters()).device
        decoder = self.decoder(beam_size)
        losses: list[float] = []

        def batch_records(indices: list[int]) -> list[dict[str, Any]]:
            batch = self.collate([examples[i] for i in indices])
            batch = {key: value.to(device) for key, value in batch.items()}
            scores, frame_lengths = model(batch["audio"], batch["lengths"])
            if scored:
                losses.append(float(self.batch_loss(scores, frame_lengths, batch)) * len(indices))
            return decoder.decode(scores.float().cpu(), frame_lengths.cpu(), posteriors)

        records = in_input_order([len(e.audio) for e in examples], batch_records, EVAL_BATCH_SIZE)
        return records, sum(losses) / len(examples) if losses else float("nan")

    def metrics(self, model: nn.Module, examples: list[Example], beam_size: int) -> dict[str, Any]:
        records, loss = self.run(model, examples, beam_size)
        scores = speech_scores([e.text for e in examples], [r["text"] for r in records])
        return {"loss": loss, **scores, "utterances": len(examples)}

    def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]:
        return self.metrics(model, self.examples[split], self.config.decode.eval_beam_size)

    def evaluate_files(self, model: nn.Module, paths: Sequence[Path | str]) -> dict[str, Any]:
        examples = self.encode(self.read(paths))
        return self.metrics(model, examples, self.config.decode.beam_size)

    def transcribe(
        self,
        model: nn.Module,
        utterances: list[Utterance],
        beam_size: int | None = None,
        posteriors: bool = False,
    ) -> list[dict[str, Any]]:
        """One JSON-ready record per utterance: its ``audio`` file, the ``text`` and, with
        ``posteriors``, the per-frame probabilities of each output class (a list of T rows)."""
        shortest = cast(SpeechRecognizer, model).min_samples
        for u in utterances:
            if len(u.audio) < shortest:
                raise UserError(
                    f"too short to transcribe: {len(u.audio)} samples, and the model needs at "
                    f"least {shortest} ({shortest / self.sample_rate * 1000:g} ms)",
                    path=u.name,
                )
        examples = [Example(torch.from_numpy(u.audio), [], "") for u in utterances]
        beam = beam_size or self.config.decode.beam_size
        records, _ = self.run(model, examples, beam, scored=False, posteriors=posteriors)
        return [{"audio": u.name, **r} for u, r in zip(utterances, records, strict=True)]

    @property
    def sample_rate(self) -> int:
        return self.config.data.sample_rate

    def class_names(self) -> list[str]:
        """The output classes, for plots: the labels, or the symbols with the blank as ``-``."""
        if self.classifies:
            return self.labels
        tokenizer = cast(Tokenizer, self.tokenizer)
        names = [tokenizer.id_to_token(i) for i in range(1, tokenizer.vocab_size)]
        return ["-"] + [name if name.strip() else "space" for name in names]

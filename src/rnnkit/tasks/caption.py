"""Image captioning (``rnnkit train caption``): an image in, a sentence describing it out.

Data: captions files (`rnnkit.data.captions`: Flickr8k's ``IMAGE#N<TAB>CAPTION`` or CSV
``image,caption``, several captions per image, images found in ``data.images``) or
``builtin:scenes`` / ``builtin:scenes-test`` (`rnnkit.data.builtin_scenes`). Without
``--valid``, ``data.valid_fraction`` of the training *images* (with all their captions) is held
out, so no validation image is ever trained on. Images are resized to ``data.image_size``
squares (64 for the built-in scenes, 224 for photos, unless set) and normalised by
``data.mean`` / ``data.std`` (`rnnkit.data.images`). Generated images are converted once and
kept in memory as ``uint8`` tensors; image files are decoded when a batch needs them (each
epoch), which keeps memory flat for large photo collections at the cost of decoding again.

Captions are normalised — lower-cased (``data.lowercase``), punctuation dropped, words
(``[\\w']+``) separated by one space — and split into words; words seen fewer than
``data.min_freq`` times in training become ``<unk>``. A caption is read as ``bos y_1 .. y_n``
and predicted as ``y_1 .. y_n eos``.

Training: each epoch sees every (image, caption) pair once, in batches of captions of similar
length (``data.bucket``). The loss is the cross-entropy per caption word (eos included) plus
``model.attention_reg`` times Xu et al.'s attention regulariser per caption, divided by the
words of the batch (`rnnkit.models.captioner`).

Evaluation: ``loss`` (per word, teacher-forced, without the regulariser) and ``ppl``; the beam
search (``decode.beam_size``) writes one caption per image, scored by ``bleu1`` .. ``bleu4``
against all of the image's references and ``exact_match`` (`caption_metrics`). ``train.select_by``
picks the best model: BLEU-4 by default, since it measures what is wanted (the written
captions); ``loss`` is cheaper when decoding is slow.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from rnnkit.checkpoint import LoadedCheckpoint
from rnnkit.data.builtin_scenes import PREFIX as BUILTIN_PREFIX
from rnnkit.data.builtin_scenes import builtin_images
from rnnkit.data.captions import CaptionedImage, read_captions
from rnnkit.data.images import normalise, open_image, pixels
from rnnkit.data.tokenizers import Tokenizer, build_tokenizer, tokenizer_from_json
from rnnkit.models.captioner import Captioner, attention_penalty
from rnnkit.models.image_encoder import build_image_encoder, load_encoder_weights
from rnnkit.tasks.caption_config import BUILTIN_IMAGE_SIZE, PHOTO_IMAGE_SIZE, CaptionConfig
from rnnkit.tasks.caption_decoding import Described, describe
from rnnkit.tasks.caption_metrics import caption_scores
from rnnkit.tasks.supervised import (
    EVAL_BATCH_SIZE,
    Batch,
    Batches,
    pad,
    train_and_valid,
    training_batches,
)
from rnnkit.train.config import RunConfig
from rnnkit.train.task import DataSources, Task

TOKENIZER_FILE = "tokenizer.json"
WORD = re.compile(r"[\w']+")


@dataclass(frozen=True)
class Example:
    """An image ready for batches: the image and its references as read, its pixels
    ``uint8 (3, S, S)`` when kept in memory (None: decoded from its file when needed), and each
    caption as normalised text and as word ids (no bos / eos)."""

    image: CaptionedImage
    pixels: Tensor | None
    references: list[str]
    captions: list[list[int]]


class Captioning(Task):
    """The ``caption`` task: see the module docstring."""

    name = "caption"
    config_class = CaptionConfig
    unit = "tokens"
    config: CaptionConfig

    def __init__(self, config: RunConfig) -> None:
        super().__init__(config)
        self.tokenizer: Tokenizer | None = None
        self.examples: dict[str, list[Example]] = {}
        self.pairs: list[tuple[int, int]] = []  # the training (image, caption) indices
        self.skipped = 0  # captions left out for a missing image (data.skip_missing)
        self.fresh = False  # prepared for a new run: the encoder starts from encoder_weights

    @property
    def metric(self) -> str:  # type: ignore[override]
        """``train.select_by``: BLEU-4 unless the config says otherwise."""
        return self.config.train.select_by

    @property
    def higher_is_better(self) -> bool:  # type: ignore[override]
        return self.metric != "loss"

    # --- data --------------------------------------------------------------------------------
    def read(self, sources: Sequence[Path | str]) -> list[CaptionedImage]:
        """The captioned images of captions files and ``builtin:NAME`` sets."""
        data, images = self.config.data, []
        for source in sources:
            if str(source).startswith(BUILTIN_PREFIX):
                images += builtin_images(str(source))
            else:
                found, skipped = read_captions(source, data.images, skip_missing=data.skip_missing)
                images += found
                self.skipped += skipped
        return images

    def normalise(self, caption: str) -> str:
        """A caption as the model learns it: (lower-cased) words, one space apart."""
        return " ".join(WORD.findall(caption.lower() if self.config.data.lowercase else caption))

    @property
    def image_size(self) -> int:
        return self.config.data.image_size or PHOTO_IMAGE_SIZE

    def encode(self, images: list[CaptionedImage]) -> list[Example]:
        tokenizer, examples = self._tokenizer(), []
        for image in images:
            held = image.image  # an image file is decoded when needed, one in memory now
            kept = pixels(held, self.image_size) if isinstance(held, Image.Image) else None
            references = [self.normalise(caption) for caption in image.captions]
            captions = [tokenizer.encode(text) for text in references]
            examples.append(Example(image, kept, references, captions))
        return examples

    def prepare(self, sources: DataSources, saved: LoadedCheckpoint | None = None) -> None:
        """Read the images and captions of every split; fit the vocabulary on the training
        captions (or take ``saved``'s); fix ``data.image_size`` if it is unset."""
        train = self.read(sources.train)
        data = self.config.data
        if data.image_size is None:
            builtin = all(str(s).startswith(BUILTIN_PREFIX) for s in sources.train)
            data.image_size = BUILTIN_IMAGE_SIZE if builtin else PHOTO_IMAGE_SIZE
        if saved is not None:
            self.load_assets(saved)
        else:
            texts = "\n".join(self.normalise(c) for image in train for c in image.captions)
            self.tokenizer = build_tokenizer(
                "whitespace", texts, vocab_size=data.vocab_size, min_freq=data.min_freq
            )
        valid = self.encode(self.read(sources.valid)) if sources.valid else None
        seed = self.config.train.seed
        self.examples = train_and_valid(
            self.encode(train), valid, lambda _: "all", data.valid_fraction, seed
        )
        if sources.test:
            self.examples["test"] = self.encode(self.read(sources.test))
        self.pairs = [
            (index, caption)
            for index, example in enumerate(self.examples["train"])
            for caption in range(len(example.captions))
        ]
        self.fresh = saved is None

    def _tokenizer(self) -> Tokenizer:
        if self.tokenizer is None:
            raise RuntimeError("prepare() or load_assets() first")
        return self.tokenizer

    def load_assets(self, checkpoint: LoadedCheckpoint) -> None:
        text = checkpoint.read_text(TOKENIZER_FILE)
        self.tokenizer = tokenizer_from_json(text, checkpoint.path / TOKENIZER_FILE)

    def assets(self) -> dict[str, bytes | str]:
        return {TOKENIZER_FILE: self._tokenizer().to_json()}

    def build_model(self) -> Captioner:
        """A fresh `Captioner`; in a new run its encoder starts from ``model.encoder_weights``."""
        m, tokenizer = self.config.model, self._tokenizer()
        encoder = build_image_encoder(m.encoder, m.encoder_channels)
        if m.encoder_weights is not None and self.fresh:
            load_encoder_weights(encoder, m.encoder_weights)
        return Captioner(
            tokenizer.vocab_size,
            bos_id=tokenizer.bos_id,
            eos_id=tokenizer.eos_id,
            encoder=encoder,
            cell=m.cell,
            embedding_dim=m.embedding_dim,
            hidden_size=m.hidden_size,
            attention=m.attention,
            attention_size=m.attention_size,
            dropout=m.dropout,
            freeze_encoder=m.freeze_encoder,
        )

    def summary(self) -> str:
        sizes = ", ".join(
            f"{split} {len(e):,} ({sum(len(x.captions) for x in e):,} captions)"
            for split, e in self.examples.items()
        )
        size = self.image_size
        where = "in memory" if self.examples["train"][0].pixels is not None else "read per batch"
        parts = [
            f"images: {sizes}",
            f"vocabulary {self._tokenizer().vocab_size:,} (min_freq {self.config.data.min_freq})",
            f"images {size}x{size}, {where}",
        ]
        if self.skipped:
            parts.append(f"{self.skipped:,} captions of missing images skipped")
        return "; ".join(parts)

    # --- training ----------------------------------------------------------------------------
    def images(self, examples: Sequence[Example]) -> Tensor:
        """The normalised images ``float (N, 3, S, S)`` of ``examples``."""
        stacked = torch.stack([self._pixels(e) for e in examples])
        return normalise(stacked, self.config.data.mean, self.config.data.std)

    def _pixels(self, example: Example) -> Tensor:
        if example.pixels is not None:
            return example.pixels
        image = example.image
        where = None if image.source == image.name else image.source
        return pixels(open_image(image.name, where, image.line), self.image_size)

    def collate(self, pairs: Sequence[tuple[Example, int]]) -> Batch:
        """``images`` (B, 3, S, S), ``captions_in`` (B, T) from bos, ``captions_out`` (B, T)
        to eos, and ``lengths`` (B,) (words + 1) of (image, caption index) pairs."""
        tokenizer = self._tokenizer()
        captions = [example.captions[k] for example, k in pairs]
        captions_in, lengths = pad([[tokenizer.bos_id, *c] for c in captions])
        captions_out, _ = pad([[*c, tokenizer.eos_id] for c in captions])
        images = self.images([example for example, _ in pairs])
        return {
            "images": images,
            "captions_in": captions_in,
            "captions_out": captions_out,
            "lengths": lengths,
        }

    def train_batches(self, epoch: int, shard: int, num_shards: int) -> Batches:
        train, pairs, config = self.examples["train"], self.pairs, self.config

        def collate(indices: list[int]) -> Batch:
            return self.collate([(train[pairs[i][0]], pairs[i][1]) for i in indices])

        return training_batches(
            [len(train[i].captions[k]) + 1 for i, k in pairs],
            config.train.batch_size,
            collate,
            seed=config.train.seed,
            epoch=epoch,
            shard=shard,
            num_shards=num_shards,
            by_length=config.data.bucket,
        )

    def loss(self, model: nn.Module, batch: Batch, carry: Any) -> tuple[Tensor, int, None]:
        logits, weights = model(batch["images"], batch["captions_in"])
        total, words = self._nll(logits, batch["captions_out"])
        reg = self.config.model.attention_reg
        if weights is not None and reg > 0:
            total = total + reg * attention_penalty(weights, batch["lengths"]).sum()
        return total / words, words, None

    def _nll(self, logits: Tensor, target: Tensor) -> tuple[Tensor, int]:
        """The summed cross-entropy of ``logits`` (B, T, V) against ``target`` (B, T), padding
        left out, and the words (eos included) it covers."""
        pad_id = self._tokenizer().pad_id
        total = F.cross_entropy(
            logits.flatten(0, 1).float(), target.flatten(), ignore_index=pad_id, reduction="sum"
        )
        return total, int((target != pad_id).sum())

    # --- evaluation and captioning -----------------------------------------------------------
    def splits(self) -> list[str]:
        return [split for split in ("valid", "test") if split in self.examples]

    @torch.no_grad()
    def word_loss(self, model: nn.Module, examples: list[Example]) -> float:
        """Mean negative log-likelihood per caption word (eos included), teacher-forced."""
        model.eval()
        device = next(model.parameters()).device
        pairs = [(e, k) for e in examples for k in range(len(e.captions))]
        total, words = 0.0, 0
        for start in range(0, len(pairs), EVAL_BATCH_SIZE):
            batch = self.collate(pairs[start : start + EVAL_BATCH_SIZE])
            logits, _ = model(batch["images"].to(device), batch["captions_in"].to(device))
            nll, count = self._nll(logits, batch["captions_out"].to(device))
            total, words = total + float(nll), words + count
        return total / max(words, 1)

    def describe(
        self, model: nn.Module, examples: list[Example], beam_size: int, attention: bool = False
    ) -> list[Described]:
        """The caption of each example's image, in order."""
        if not isinstance(model, Captioner):
            raise TypeError(f"expected a Captioner, got {type(model).__name__}")
        device = next(model.parameters()).device
        tokenizer, limit = self._tokenizer(), self.config.decode.max_length
        described = []
        for start in range(0, len(examples), EVAL_BATCH_SIZE):
            images = self.images(examples[start : start + EVAL_BATCH_SIZE]).to(device)
            described += describe(
                model, images, tokenizer, beam_size=beam_size, max_length=limit, attention=attention
            )
        return described

    def metrics(self, model: nn.Module, examples: list[Example], beam_size: int) -> dict[str, Any]:
        loss = self.word_loss(model, examples)
        captions = [d.caption for d in self.describe(model, examples, beam_size)]
        scores = caption_scores(captions, [e.references for e in examples])
        return {"loss": loss, "ppl": math.exp(min(loss, 700.0)), **scores, "images": len(examples)}

    def evaluate(self, model: nn.Module, split: str) -> dict[str, Any]:
        return self.metrics(model, self.examples[split], self.config.decode.beam_size)

    def evaluate_files(self, model: nn.Module, paths: Sequence[Path | str]) -> dict[str, Any]:
        """Metrics on new captions files (or ``builtin:scenes-test``)."""
        return self.metrics(model, self.encode(self.read(paths)), self.config.decode.beam_size)

    def caption(
        self,
        model: nn.Module,
        images: list[str],
        beam_size: int | None = None,
        attention: bool = False,
    ) -> list[dict[str, Any]]:
        """One JSON-ready record per image file: ``image``, ``caption``, its ``words`` and
        ``score`` and, with ``attention``, one row of weights over the ``grid`` (h, w) per word
        and the final eos. The beam is ``beam_size`` (None: ``decode.beam_size``)."""
        examples = [Example(CaptionedImage(n, Path(n), (), n), None, [], []) for n in images]
        beam = beam_size or self.config.decode.beam_size
        described = self.describe(model, examples, beam, attention)
        return [d.record(name) for d, name in zip(described, images, strict=True)]

"""Language modelling (``rnnkit train lm``): predict each next token of a text.

Data: plain-text files (or ``builtin:NAME``), tokenized by characters, words or BPE, cut into
parallel streams and read ``train.bptt`` tokens at a time with the hidden state carried from
one batch to the next (truncated backpropagation through time, Zaremba et al. 2014). Without
``--valid`` the last ``data.valid_fraction`` of the training text is held out for validation.

Metrics: ``loss`` (cross-entropy in nats per token), ``ppl`` (perplexity, ``exp(loss)``), for
character models ``bpc`` (bits per character token, ``loss / ln 2``), and two figures that
compare models of any tokenizer on the same text: ``word_perplexity``, ``exp`` of the text's
negative log-likelihood (``loss`` times its tokens) over its words (whitespace-separated, one
end-of-line counted per line), and ``bits_per_char``, the same total in bits over its characters
(end-of-lines included). With whitespace tokens (one ``<eos>`` a line) the word perplexity is
the perplexity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from rnnkit import decode
from rnnkit.checkpoint import LoadedCheckpoint
from rnnkit.data.batching import StreamBatches, split_train_valid, variable_windows
from rnnkit.data.builtin import builtin_text, is_builtin
from rnnkit.data.readers import read_text
from rnnkit.data.tokenizers import (
    Tokenizer,
    WhitespaceTokenizer,
    WordTokenizer,
    build_tokenizer,
    tokenizer_from_json,
)
from rnnkit.errors import UserError
from rnnkit.models.language_model import LanguageModel, State
from rnnkit.models.recurrent import CellName
from rnnkit.train.config import (
    ConfigModel,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Rate,
    RunConfig,
    TrainConfig,
)
from rnnkit.train.task import DataSources, Task

TOKENIZER_FILE = "tokenizer.json"
EVAL_BATCH_SIZE = 16


class LMModelConfig(ConfigModel):
    """The language model: the ``model.*`` keys."""

    cell: CellName = Field(default="lstm", description="Recurrent cell.")
    embedding_dim: PositiveInt = Field(default=128, description="Token embedding size.")
    hidden_size: PositiveInt = Field(default=512, description="Recurrent state size.")
    num_layers: PositiveInt = Field(default=2, description="Stacked recurrent layers.")
    dropout: Rate = Field(default=0.2, description="Dropout on embeddings, between layers, output.")
    layer_norm: bool = Field(default=False, description="Layer-normalised cells (rnn, lstm, gru).")
    tie_weights: bool = Field(default=False, description="Share output and embedding weights.")
    forget_bias: float | None = Field(
        default=1.0, description="Initial forget-gate bias (lstm, minlstm); null: torch's init."
    )
    init: Literal["torch", "uniform", "embedding_output"] = Field(
        default="torch",
        description="torch's defaults; every weight U(-r, r) (Zaremba et al.); or embedding "
        "and output U(-r, r) (PyTorch's word_language_model).",
    )
    init_range: PositiveFloat = Field(default=0.1, description="r of model.init.")
    embedding_dropout: Rate = Field(
        default=0.0, description="Drop whole word types from the embedding (AWD-LSTM)."
    )
    locked_dropout: bool = Field(
        default=False,
        description="One dropout mask per sequence on the embeddings, between the layers and "
        "on the outputs (variational).",
    )
    ar: NonNegativeFloat = Field(
        default=0.0, description="Activation regularisation weight α (AWD-LSTM: 2)."
    )
    tar: NonNegativeFloat = Field(
        default=0.0, description="Temporal activation regularisation weight β (AWD-LSTM: 1)."
    )
    weight_drop: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="DropConnect on the hidden-to-hidden weights (AWD-LSTM: 0.5).",
    )


class LMDataConfig(ConfigModel):
    """The text and its tokens: the ``data.*`` keys."""

    tokenizer: Literal["char", "word", "whitespace", "bpe"] = Field(
        default="char", description="Token unit."
    )
    vocab_size: PositiveInt | None = Field(
        default=None, description="Vocabulary size (bpe: target size; char/word: a cap)."
    )
    lowercase: bool = Field(default=False, description="Lower-case the text first.")
    min_freq: PositiveInt = Field(default=1, description="Rarer tokens become <unk> (char/word).")
    valid_fraction: Rate = Field(
        default=0.1, description="Share of the training text held out when no --valid is given."
    )


class LMTrainConfig(TrainConfig):
    """Training: the ``train.*`` keys, with the language model's own."""

    variable_bptt: bool = Field(
        default=False,
        description="Draw each batch's BPTT length L around train.bptt (AWD-LSTM): N(bptt, 5), "
        "or N(bptt/2, 5) one time in 20, at least 5; the batch's learning rate is scaled by "
        "L / bptt, so short windows weigh no more than long ones.",
    )


class LMConfig(RunConfig):
    """The config of a language-modelling run."""

    task: Literal["lm"] = "lm"
    train: LMTrainConfig = Field(default_factory=LMTrainConfig, description="How to train.")
    model: LMModelConfig = Field(default_factory=LMModelConfig, description="The model.")
    data: LMDataConfig = Field(default_factory=LMDataConfig, description="The data.")


def read_corpus(sources: Sequence[Path | str]) -> str:
    """The text of data files and ``builtin:NAME`` corpora, concatenated."""
    builtins = [builtin_text(s) for s in sources if is_builtin(s)]
    files = [s for s in sources if not is_builtin(s)]
    return "".join(builtins) + (read_text(files) if files else "")


@dataclass(frozen=True)
class TextSize:
    """How long a text is in the units that make models of any tokenizer comparable."""

    words: int  # whitespace-separated words, plus one end-of-line per line
    characters: int  # end-of-lines included

    @classmethod
    def of(cls, text: str) -> TextSize:
        lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        return cls(max(len(text.split()) + lines, 1), max(len(text), 1))


class LanguageModelling(Task):
    """The ``lm`` task: see the module docstring."""

    name = "lm"
    config_class = LMConfig
    metric = "loss"
    unit = "tokens"
    stops_at_eos: ClassVar[bool] = False  # what `generate` does unless told otherwise
    config: LMConfig
    tokenizer: Tokenizer

    def prepare(self, sources: DataSources, saved: LoadedCheckpoint | None = None) -> None:
        text = read_corpus(sources.train)
        data = self.config.data
        if saved is not None:
            self.load_assets(saved)
        else:
            self.tokenizer = build_tokenizer(
                data.tokenizer,
                text,
                vocab_size=data.vocab_size,
                lowercase=data.lowercase,
                min_freq=data.min_freq,
            )
        texts = {"train": text}
        if sources.valid:
            texts["valid"] = read_corpus(sources.valid)
        else:
            texts["train"], texts["valid"] = split_train_valid(text, data.valid_fraction)
        if sources.test:
            texts["test"] = read_corpus(sources.test)
        self.data: dict[str, list[int]] = {k: self.tokenizer.encode(t) for k, t in texts.items()}
        self.sizes = {split: TextSize.of(text) for split, text in texts.items()}

    def load_assets(self, checkpoint: LoadedCheckpoint) -> None:
        self.tokenizer = tokenizer_from_json(
            checkpoint.read_text(TOKENIZER_FILE), checkpoint.path / TOKENIZER_FILE
        )

    def assets(self) -> dict[str, bytes | str]:
        return {TOKENIZER_FILE: self.tokenizer.to_json()}

    def build_model(self) -> LanguageModel:
        m = self.config.model
        return LanguageModel(
            self.tokenizer.vocab_size,
            cell=m.cell,
            embedding_dim=m.embedding_dim,
            hidden_size=m.hidden_size,
            num_layers=m.num_layers,
            dropout=m.dropout,
            tie_weights=m.tie_weights,
            layer_norm=m.layer_norm,
            forget_bias=m.forget_bias,
            never_emit=(self.tokenizer.pad_id, self.tokenizer.bos_id),
            init=m.init,
            init_range=m.init_range,
            embedding_dropout=m.embedding_dropout,
            locked_dropout=m.locked_dropout,
            ar=m.ar,
            tar=m.tar,
            weight_drop=m.weight_drop,
        )

    def summary(self) -> str:
        sizes = ", ".join(f"{split} {len(ids):,}" for split, ids in self.data.items())
        kind, vocab = self.config.data.tokenizer, self.tokenizer.vocab_size
        return f"{kind} tokens: {sizes}; vocabulary {vocab:,}"

    # --- training ------------------------------------------------------------------------
    def train_batches(self, epoch: int, shard: int, num_shards: int) -> StreamBatches:
        train = self.config.train
        ids = self.data["train"]
        windows = None
        if train.variable_bptt:
            steps = (len(ids) - 1) // (train.batch_size * num_shards)
            windows = variable_windows(train.bptt, steps, train.seed, epoch)
        return StreamBatches(
            ids, train.batch_size, train.bptt, num_shards=num_shards, shard=shard, windows=windows
        )

    def loss(
        self, model: nn.Module, batch: tuple[Tensor, Tensor], carry: State | None
    ) -> tuple[Tensor, int, State]:
        inputs, targets = batch  # (N, L) each
        m = self.config.model
        if m.ar or m.tar:
            logits, state, penalty = model(inputs, carry, penalty=True)  # (N, L, V)
        else:
            (logits, state), penalty = model(inputs, carry), 0.0
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        return loss + penalty, targets.numel(), state

    def lr_factor(self, batch: tuple[Tensor, Tensor]) -> float:
        """``L / bptt`` for a window of ``L`` steps when the windows vary: a step's loss is a
        mean over its tokens, so without it a short window would move the weights as much as
        a long one (Merity et al. 2018 rescale the rate the same way); 1 otherwise."""
        train = self.config.train
        return batch[0].shape[1] / train.bptt if train.variable_bptt else 1.0

    def detach_carry(self, carry: State | None) -> State | None:
        return None if carry is None else LanguageModel.detach_state(carry)

    # --- evaluation ----------------------------------------------------------------------
    def splits(self) -> list[str]:
        return [split for split in ("valid", "test") if split in self.data]

    def evaluate(self, model: nn.Module, split: str) -> dict[str, float]:
        return self._metrics(model, self.data[split], self.sizes[split])

    def evaluate_files(self, model: nn.Module, paths: Sequence[Path | str]) -> dict[str, float]:
        text = read_corpus(paths)
        return self._metrics(model, self.tokenizer.encode(text), TextSize.of(text))

    @torch.no_grad()
    def _metrics(self, model: nn.Module, ids: list[int], size: TextSize) -> dict[str, float]:
        """The metrics of ``model`` on ``ids``, the tokens of a text of ``size`` (see the module
        docstring)."""
        if len(ids) < 2:
            raise UserError("too little text to evaluate: it must hold at least two tokens")
        model.eval()
        device = next(model.parameters()).device
        batches = StreamBatches(ids, min(EVAL_BATCH_SIZE, len(ids) - 1), self.config.train.bptt)
        total, count, state = 0.0, 0, None
        for inputs, targets in batches:
            logits, state = model(inputs.to(device), state)
            total += float(
                F.cross_entropy(
                    logits.flatten(0, 1).float(), targets.to(device).flatten(), reduction="sum"
                )
            )
            count += targets.numel()
        loss = total / count
        metrics = {"loss": loss, "ppl": math.exp(min(loss, 700.0))}
        if self.config.data.tokenizer == "char":
            metrics["bpc"] = loss / math.log(2)
        text_nll = loss * len(ids)  # the mean per token over all the text's tokens
        metrics["word_perplexity"] = math.exp(min(text_nll / size.words, 700.0))
        metrics["bits_per_char"] = text_nll / size.characters / math.log(2)
        return metrics

    # --- generation ----------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        model: LanguageModel,
        prompt: str,
        length: int,
        *,
        num: int = 1,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        greedy: bool = False,
        seed: int | None = None,
        stop_at_eos: bool = False,
    ) -> list[str]:
        """``num`` continuations of ``prompt`` (a newline if empty), ``length`` tokens each, or
        up to the first end-of-sentence token with ``stop_at_eos``.

        The prompt is fed once, token by token; each new token then costs one step. Padding
        is never written; end-of-sentence is written as the line break it stands for."""
        ids = self.prompt_ids(prompt)
        model.eval()
        device = next(model.parameters()).device
        tokens = torch.tensor([ids] * num, device=device)  # (num, P)
        log_probs, state = decode.feed(model, tokens, model.init_state(num))
        eos = self.tokenizer.eos_id if stop_at_eos else None
        if greedy:
            generated = decode.greedy(model, log_probs, state, length, eos_id=eos)
        else:
            generator = torch.Generator(device)
            generator.manual_seed(torch.seed() if seed is None else seed)
            generated = decode.sample(
                model,
                log_probs,
                state,
                length,
                temperature=temperature,
                top_k=top_k,
                top_p=top_p,
                eos_id=eos,
                generator=generator,
            )
        rendered = (self.render(row, stop_at_eos) for row in generated)
        return [continue_prompt(self.tokenizer, prompt, text) for text in rendered]

    def prompt_ids(self, prompt: str) -> list[int]:
        """The ids fed before the first new token: those of ``prompt``, or of a line break if it
        is empty; a `UserError` if there are none."""
        ids = self.tokenizer.encode(prompt or "\n")
        if not ids:
            raise UserError(f"the prompt {prompt!r} holds no token this model knows")
        return ids

    # --- one generated text at a time, for streaming (`rnnkit.serve.streaming`) -----------
    def stream_prompt(
        self, prompt: str, condition: Mapping[str, str]
    ) -> tuple[list[int], list[int]]:
        """The ids to feed before the first new token, and the condition's value ids (none: a
        language model takes no condition, and a `UserError` says so if one is given)."""
        if condition:
            raise UserError("a language model takes no condition")
        return self.prompt_ids(prompt), []

    def stream_state(self, model: LanguageModel, condition_ids: Sequence[int]) -> State:
        """The state of one text before its prompt (the zero state)."""
        return model.init_state(1)

    def continuation(self, prompt: str, ids: list[int], stopped_at_eos: bool = False) -> str:
        """The text generated ``ids`` add after ``prompt``, as `generate` writes it."""
        text = continue_prompt(self.tokenizer, prompt, self.render(ids, stopped_at_eos))
        return text[len(prompt) :]

    def render(self, ids: list[int], stopped_at_eos: bool = False) -> str:
        """The text of generated ``ids``: each end-of-sentence token as a line break (none after
        a sample that stopped there)."""
        eos = self.tokenizer.eos_id
        if stopped_at_eos and ids and ids[-1] == eos:
            ids = ids[:-1]
        lines: list[list[int]] = [[]]
        for token_id in ids:
            if token_id == eos:
                lines.append([])
            else:
                lines[-1].append(token_id)
        return "\n".join(self.tokenizer.decode(line) for line in lines)


def continue_prompt(tokenizer: Tokenizer, prompt: str, continuation: str) -> str:
    """``prompt`` followed by ``continuation``, with the space that word tokens have between
    them."""
    spaced = isinstance(tokenizer, WordTokenizer | WhitespaceTokenizer)
    joins = prompt[-1:].strip() and continuation[:1].strip()
    return prompt + (" " if spaced and joins else "") + continuation

"""Conditional generation (``rnnkit train generate``): texts written to order — "a female name",
"a Russian surname" — the one-to-many shape.

Data (`rnnkit.data.conditioned_text`): one ``.txt`` file per category (the file's stem is the
category: ``--data male.txt --data female.txt``), or a CSV / TSV / JSONL table with a column per
condition field (``data.fields``; ``data.text_field``), or ``builtin:syllables``. Each text is
read as ``<bos> tokens <eos>``; without ``--valid`` a ``data.valid_fraction`` of every category
is held out.

Model: `rnnkit.models.conditional_lm.ConditionalLanguageModel` (``model.condition``: the
category beside every input token, as the initial state, or both). Loss: cross-entropy of every
next token, the end token included, so ``loss`` is in nats per token (per character with the
default char tokenizer, as makemore reports it).

Metrics: ``loss``, ``ppl`` and a ``per_category`` table (loss, perplexity and texts of each
category value). `judge` adds what samples are worth: the share a classifier run assigns to
the asked-for category, and the shares of unique and novel (not in training) samples.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit import decode
from rnnkit.checkpoint import LoadedCheckpoint
from rnnkit.data.builtin_conditioned import builtin_conditioned_texts, is_builtin
from rnnkit.data.conditioned_text import ConditionedText, read_conditioned_texts
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
from rnnkit.models.conditional_lm import ConditionalLanguageModel, State
from rnnkit.tasks.classify import Classification
from rnnkit.tasks.generate_config import GenerateConfig
from rnnkit.tasks.lm import continue_prompt
from rnnkit.tasks.supervised import Batch, LabelledTask, pad
from rnnkit.train.task import Task

TOKENIZER_FILE, CONDITIONS_FILE, TRAINING_TEXTS_FILE = (
    "tokenizer.json",
    "conditions.json",
    "training_texts.json",
)
EVAL_BATCH_SIZE = 128
DRAWS_PER_SAMPLE = 20  # --unique / --not-in-training give up after num * this many draws


@dataclass(frozen=True)
class Example:
    """An encoded text: ``<bos> tokens <eos>`` ids, one value id per condition field, and
    where it came from."""

    ids: list[int]
    conditions: list[int]
    source: str
    line: int


class ConditionalGeneration(LabelledTask[tuple[str, ConditionedText], Example]):
    """The ``generate`` task: see the module docstring."""

    name = "generate"
    config_class = GenerateConfig
    metric = "loss"
    unit = "tokens"
    stops_at_eos: ClassVar[bool] = True  # what `generate` does unless told otherwise
    config: GenerateConfig
    tokenizer: Tokenizer
    values: dict[str, Vocab]  # condition field -> its values
    training_texts: set[str]

    # --- data ------------------------------------------------------------------------------
    def read_records(self, sources: Sequence[Path | str]) -> list[tuple[str, ConditionedText]]:
        data, records = self.config.data, []
        for source in sources:
            if is_builtin(source):
                if data.fields != ["label"]:
                    raise UserError(f"{source} has one condition field, label")
                read = builtin_conditioned_texts(str(source))
            else:
                read = read_conditioned_texts(
                    source, text_field=data.text_field, fields=data.fields
                )
            records += [(str(source), record) for record in read]
        if not records:
            raise UserError("no texts in " + ", ".join(map(str, sources)))
        return records

    def fit(self, records: list[tuple[str, ConditionedText]]) -> None:
        data = self.config.data
        self.tokenizer = build_tokenizer(
            data.tokenizer,
            "\n".join(record.text for _, record in records),
            vocab_size=data.vocab_size,
            lowercase=data.lowercase,
            normalize_digits=data.normalize_digits,
            min_freq=data.min_freq,
        )
        self.values = {
            field: Vocab(sorted({r.conditions[f] for _, r in records}), specials=())
            for f, field in enumerate(data.fields)
        }
        self.training_texts = {self._normalised(r.text) for _, r in records}

    def _normalised(self, text: str) -> str:
        """``text`` as generated texts are compared with it (lower-cased with
        ``data.lowercase``)."""
        return text.lower() if self.config.data.lowercase else text

    def encode(self, records: list[tuple[str, ConditionedText]]) -> list[Example]:
        limit, tokenizer = self.config.data.max_length, self.tokenizer
        examples = []
        for source, record in records:
            conditions = []
            for field, value in zip(self.values, record.conditions, strict=True):
                if value not in self.values[field]:
                    raise UserError(
                        f"{field} {value!r} was not seen in training (known: "
                        f"{', '.join(self.values[field].tokens)})",
                        path=source,
                        line=record.line,
                    )
                conditions.append(self.values[field].index(value))
            ids = [tokenizer.bos_id, *tokenizer.encode(record.text)[:limit], tokenizer.eos_id]
            examples.append(Example(ids, conditions, source, record.line))
        return examples

    def token_vocab(self) -> Vocab:
        if not isinstance(self.tokenizer, CharTokenizer | WordTokenizer | WhitespaceTokenizer):
            raise UserError("model.embeddings needs the word, whitespace or char tokenizer")
        return self.tokenizer.vocab

    def stratum(self, example: Example) -> str:
        return "|".join(map(str, example.conditions))

    def length(self, example: Example) -> int:
        return len(example.ids)

    def load_assets(self, checkpoint: LoadedCheckpoint) -> None:
        self.tokenizer = tokenizer_from_json(
            checkpoint.read_text(TOKENIZER_FILE), checkpoint.path / TOKENIZER_FILE
        )
        saved = json.loads(checkpoint.read_text(CONDITIONS_FILE))
        self.values = {field: Vocab(values, specials=()) for field, values in saved.items()}
        self.training_texts = set(json.loads(checkpoint.read_text(TRAINING_TEXTS_FILE)))

    def assets(self) -> dict[str, bytes | str]:
        values = {field: vocab.tokens for field, vocab in self.values.items()}
        texts = sorted(self.training_texts)
        return {
            TOKENIZER_FILE: self.tokenizer.to_json(),
            CONDITIONS_FILE: json.dumps(values, ensure_ascii=False, indent=1) + "\n",
            TRAINING_TEXTS_FILE: json.dumps(texts, ensure_ascii=False, indent=0) + "\n",
        }

    def build_model(self) -> ConditionalLanguageModel:
        m = self.config.model
        model = ConditionalLanguageModel(
            self.tokenizer.vocab_size,
            [len(vocab) for vocab in self.values.values()],
            condition=m.condition,
            condition_dim=m.condition_dim,
            cell=m.cell,
            embedding_dim=m.embedding_dim,
            hidden_size=m.hidden_size,
            num_layers=m.num_layers,
            dropout=m.dropout,
            layer_norm=m.layer_norm,
            forget_bias=m.forget_bias,
            never_emit=self._never_emitted(),
        )
        if self.pretrained is not None:
            model.embedding.weight.data.copy_(self.pretrained)
        model.embedding.weight.requires_grad_(not m.freeze_embeddings)
        return model

    def _never_emitted(self) -> list[int]:
        """The tokens no sample may hold: padding, the start, the unknown token, and a line
        break (each text is one line; the tokenizer saw the texts joined by them)."""
        tokenizer = self.tokenizer
        never = [tokenizer.pad_id, tokenizer.bos_id, tokenizer.unk_id]
        newline = tokenizer.token_to_id("\n")
        return never if newline is None else [*never, newline]

    def summary(self) -> str:
        sizes = ", ".join(f"{split} {len(e):,}" for split, e in self.examples.items())
        fields = "; ".join(f"{field}: {', '.join(v.tokens)}" for field, v in self.values.items())
        return "; ".join(
            [
                f"texts: {sizes}; {fields}; {self.config.data.tokenizer} vocabulary "
                f"{self.tokenizer.vocab_size:,}; {self.padding_summary()}",
                *self.notes,
            ]
        )

    # --- training --------------------------------------------------------------------------
    def collate(self, examples: list[Example]) -> Batch:
        tokens, lengths = pad([e.ids for e in examples], self.tokenizer.pad_id)
        conditions = torch.tensor([e.conditions for e in examples], dtype=torch.long)
        return {"tokens": tokens, "lengths": lengths, "conditions": conditions}

    def _token_losses(self, model: nn.Module, batch: Batch) -> Tensor:
        """``(N, L-1)``: the loss of every next token (0 at padding)."""
        device = next(model.parameters()).device
        tokens = batch["tokens"].to(device)  # (N, L)
        logits = model(tokens[:, :-1], batch["conditions"].to(device))  # (N, L-1, V)
        targets = tokens[:, 1:]
        return F.cross_entropy(
            logits.transpose(1, 2).float(),
            targets,
            ignore_index=self.tokenizer.pad_id,
            reduction="none",
        )

    def loss(self, model: nn.Module, batch: Batch, carry: Any) -> tuple[Tensor, int, None]:
        count = int((batch["lengths"] - 1).sum())
        return self._token_losses(model, batch).sum() / count, count, None

    # --- evaluation ------------------------------------------------------------------------
    @torch.no_grad()
    def metrics(self, model: nn.Module, examples: list[Example]) -> dict[str, Any]:
        """``loss`` (nats per token), ``ppl``, and their ``per_category`` breakdown."""
        model.eval()
        totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])  # nll, tokens, n
        for start in range(0, len(examples), EVAL_BATCH_SIZE):
            chunk = examples[start : start + EVAL_BATCH_SIZE]
            nll = self._token_losses(model, self.collate(chunk)).sum(1).tolist()
            for example, value in zip(chunk, nll, strict=True):
                for key in ("all", *self._category_names(example.conditions)):
                    totals[key][0] += value
                    totals[key][1] += len(example.ids) - 1
                    totals[key][2] += 1
        loss = totals["all"][0] / totals["all"][1]
        per_category = {
            key: {"loss": nll / tokens, "ppl": _perplexity(nll / tokens), "texts": int(n)}
            for key, (nll, tokens, n) in sorted(totals.items())
            if key != "all"
        }
        return {"loss": loss, "ppl": _perplexity(loss), "per_category": per_category}

    def _category_names(self, condition_ids: Sequence[int]) -> list[str]:
        """How a text's categories are named in tables: ``female``, or ``field=value`` for
        each field when there are several."""
        named = [
            (field, self.values[field].token(i))
            for field, i in zip(self.values, condition_ids, strict=True)
        ]
        if len(named) == 1:
            return [named[0][1]]
        return [f"{field}={value}" for field, value in named]

    # --- generation ------------------------------------------------------------------------
    def categories(self) -> dict[str, list[str]]:
        """Each condition field and its values."""
        return {field: vocab.tokens for field, vocab in self.values.items()}

    def condition_ids(self, condition: Mapping[str, str] | Sequence[str] | str) -> list[int]:
        """The value ids of a condition given as ``{"gender": "female"}``, as ``"female"`` (one
        field) or as ``["gender=female", ...]`` (`rnnkit generate --condition`)."""
        fields = list(self.values)
        pairs = _condition_pairs(condition, fields)
        unknown = [field for field in pairs if field not in self.values]
        missing = [field for field in fields if field not in pairs]
        if unknown or missing:
            problems = [f"unknown field {', '.join(map(repr, unknown))}"] if unknown else []
            problems += [f"no value for {', '.join(missing)}"] if missing else []
            raise UserError(
                f"the condition has {'; '.join(problems)} (this model's fields: "
                f"{', '.join(fields)}; give each as FIELD=VALUE)"
            )
        ids = []
        for field in fields:
            value = pairs[field]
            if value not in self.values[field]:
                known = ", ".join(self.values[field].tokens)
                raise UserError(f"unknown {field} {value!r}; this model knows: {known}")
            ids.append(self.values[field].index(value))
        return ids

    @torch.no_grad()
    def generate(
        self,
        model: ConditionalLanguageModel,
        prompt: str,
        length: int,
        *,
        condition: Mapping[str, str] | Sequence[str] | str = (),
        num: int = 1,
        unique: bool = False,
        not_in_training: bool = False,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        greedy: bool = False,
        seed: int | None = None,
        stop_at_eos: bool = True,
    ) -> list[str]:
        """Up to ``num`` texts under ``condition``, each starting with ``prompt`` and ending at
        its end token (or after ``length`` tokens).

        An empty text is drawn again; ``unique`` drops repeats and ``not_in_training`` the texts
        the training data holds. Drawing goes on until ``num`` are found or ``num ·
        DRAWS_PER_SAMPLE`` were drawn, so fewer than ``num`` come back only when the model has
        no more to give."""
        condition_ids = self.condition_ids(condition)
        prompt_ids = self._prompt_ids(prompt)
        generator = torch.Generator(next(model.parameters()).device)
        generator.manual_seed(torch.seed() if seed is None else seed)
        sampling = None if greedy else {
            "temperature": temperature, "top_k": top_k, "top_p": top_p, "generator": generator
        }  # fmt: skip
        kept: list[str] = []
        seen = set(self.training_texts) if not_in_training else set()
        drawn = 0
        while len(kept) < num and drawn < num * DRAWS_PER_SAMPLE:
            batch = num - len(kept) if greedy else max(num - len(kept), 16)
            texts = self._sample(
                model, prompt_ids, condition_ids, batch, length, sampling, stop_at_eos
            )
            drawn += batch
            for text in (continue_prompt(self.tokenizer, prompt, t) for t in texts):
                key = self._normalised(text)
                if not text.strip() or ((unique or not_in_training) and key in seen):
                    continue
                if unique:
                    seen.add(key)
                kept.append(text)
            if greedy:
                break  # greedy decoding gives the same text every time
        return kept[:num]

    def _sample(
        self,
        model: ConditionalLanguageModel,
        prompt_ids: list[int],
        condition_ids: list[int],
        num: int,
        length: int,
        sampling: dict[str, Any] | None,
        stop_at_eos: bool,
    ) -> list[str]:
        """``num`` texts drawn with the ``sampling`` options of `rnnkit.decode.sample` (None:
        decoded greedily) after the prompt, without it."""
        model.eval()
        device = next(model.parameters()).device
        conditions = torch.tensor([condition_ids] * num, device=device)
        tokens = torch.tensor([prompt_ids] * num, device=device)
        log_probs, state = decode.feed(model, tokens, model.init_state(num, conditions))
        eos = self.tokenizer.eos_id if stop_at_eos else None
        if sampling is None:
            rows = decode.greedy(model, log_probs, state, length, eos_id=eos)
        else:
            rows = decode.sample(model, log_probs, state, length, eos_id=eos, **sampling)
        return [self._text(row) for row in rows]

    def _prompt_ids(self, prompt: str) -> list[int]:
        """The ids fed before the first new token: the start token, then ``prompt``'s."""
        return [self.tokenizer.bos_id, *self.tokenizer.encode(prompt)]

    def _text(self, ids: list[int]) -> str:
        """The text of generated ``ids``, without the end token they may end with."""
        eos_id = self.tokenizer.eos_id
        return self.tokenizer.decode(ids[:-1] if ids[-1:] == [eos_id] else ids)

    # --- one generated text at a time, for streaming (`rnnkit.serve.streaming`) -------------
    def stream_prompt(
        self, prompt: str, condition: Mapping[str, str]
    ) -> tuple[list[int], list[int]]:
        """The ids to feed before the first new token, and the value ids of ``condition``
        (`condition_ids`; ``{"": VALUE}`` names the value of a model's only field)."""
        bare = set(condition) == {""}
        return self._prompt_ids(prompt), self.condition_ids(condition[""] if bare else condition)

    def stream_state(self, model: ConditionalLanguageModel, condition_ids: Sequence[int]) -> State:
        """The state of one text under the condition ``condition_ids`` before its prompt."""
        device = next(model.parameters()).device
        return model.init_state(1, torch.tensor([condition_ids], device=device))

    def continuation(self, prompt: str, ids: list[int], stopped_at_eos: bool = True) -> str:
        """The text generated ``ids`` add after ``prompt``, as `generate` writes it (a final
        end token is dropped whether or not the text stopped there)."""
        return continue_prompt(self.tokenizer, prompt, self._text(ids))[len(prompt) :]

    # --- judging samples ---------------------------------------------------------------------
    def judge(
        self,
        model: ConditionalLanguageModel,
        judge: Task,
        judge_model: nn.Module,
        samples: int = 100,
        seed: int = 0,
    ) -> dict[str, Any]:
        """What ``samples`` texts drawn under each value of the judged field are worth: the
        share the classifier ``judge`` (a ``classify`` run) labels with the asked-for value
        (``judged_accuracy``, and per value in the ``judged`` table),
        and the shares of distinct samples (``unique``) and of samples not in the training
        data (``novel``).

        The judged field is the first whose values the classifier's labels all cover; any
        other field is held at its first value (in sorted order)."""
        if not isinstance(judge, Classification):
            raise UserError(f"a {judge.name} run cannot judge samples; give a classify run")
        field = self._judged_field(judge.labels)
        fixed = {f: vocab.tokens[0] for f, vocab in self.values.items()}
        drawn: list[tuple[str, str]] = []  # (asked value, text)
        for offset, value in enumerate(self.values[field].tokens):
            texts = self.generate(
                model,
                "",
                self.config.data.max_length or 200,
                condition=fixed | {field: value},
                num=samples,
                seed=seed + offset,
            )
            drawn += [(value, " ".join(text.split())) for text in texts]
        judged = [(asked, text) for asked, text in drawn if text]
        lines = "\n".join(text for _, text in judged)
        records = judge.predict(judge_model, lines, "samples", "lines") if judged else []
        right = Counter(
            asked for (asked, _), r in zip(judged, records, strict=True) if r["label"] == asked
        )
        texts = [self._normalised(text) for _, text in drawn]
        return {
            "judged_accuracy": sum(right.values()) / len(drawn),
            "unique": len(set(texts)) / len(texts),
            "novel": sum(text not in self.training_texts for text in texts) / len(texts),
            "judged": {
                value: {"as_asked": right[value] / samples, "samples": samples}
                for value in self.values[field].tokens
            },
        }

    def _judged_field(self, labels: Vocab) -> str:
        """The first condition field whose values are all among the classifier's ``labels``."""
        for field, vocab in self.values.items():
            if set(vocab.tokens) <= set(labels.tokens):
                return field
        fields = "; ".join(f"{f}: {', '.join(v.tokens)}" for f, v in self.values.items())
        raise UserError(
            f"the classifier's labels ({', '.join(labels.tokens)}) do not cover the values of "
            f"any condition field ({fields})"
        )


def _condition_pairs(
    condition: Mapping[str, str] | Sequence[str] | str, fields: list[str]
) -> dict[str, str]:
    """``{field: value}`` of a condition given as a mapping, or as ``"VALUE"`` / ``"FIELD=VALUE"``
    items (a bare value names the only field); a field given twice is a `UserError`."""
    if isinstance(condition, Mapping):
        return dict(condition)
    pairs: dict[str, str] = {}
    for item in [condition] if isinstance(condition, str) else condition:
        field, sep, value = item.partition("=")
        if not sep:
            if len(fields) != 1:
                raise UserError(
                    f"{item!r} names no field; this model has several ({', '.join(fields)}): "
                    "give each as FIELD=VALUE"
                )
            field, value = fields[0], item
        if field in pairs:
            raise UserError(f"the condition gives {field} twice ({pairs[field]!r} and {value!r})")
        pairs[field] = value
    return pairs


def _perplexity(loss: float) -> float:
    return math.exp(min(loss, 700.0))

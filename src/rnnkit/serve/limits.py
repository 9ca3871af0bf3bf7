"""The checks on request content that pydantic cannot make alone: the server's limits
(`rnnkit.serve.settings.ServeSettings`) and inputs that would not survive the trip into the
one-per-line text the library reads.

A text input must be non-empty and one line: the library reads one input per line, so a line
break would split an input in two and shift every answer after it. Each check raises one 422
listing every problem found (`rnnkit.serve.errors`), before any input reaches a batch, so that
a bad request never fails the requests batched with it.
"""

from __future__ import annotations

from collections.abc import Sequence

from rnnkit.serve.errors import problem, raise_problems
from rnnkit.serve.settings import ServeSettings


def text_problem(text: str, max_chars: int) -> str | None:
    """What is wrong with ``text`` as one input line, or None."""
    if not text.strip():
        return "is empty"
    if text.splitlines() != [text]:
        return "holds a line break; send each text as an input of its own"
    if len(text) > max_chars:
        return f"has {len(text):,} characters; the limit is {max_chars:,}"
    return None


def check_count(count: int, settings: ServeSettings, field: str = "inputs") -> None:
    """At most ``max_inputs`` inputs in one request."""
    if count > settings.max_inputs:
        message = f"{count} is over the limit of {settings.max_inputs} per request"
        raise_problems([problem((field,), message)])


def check_texts(texts: Sequence[str], settings: ServeSettings) -> list[str]:
    """``texts`` (the ``inputs`` field), each checked as one line."""
    check_count(len(texts), settings)
    problems = [
        problem(("inputs", i), message)
        for i, text in enumerate(texts)
        if (message := text_problem(text, settings.max_input_chars))
    ]
    raise_problems(problems)
    return list(texts)


def sentence_lines(sentences: Sequence[list[str] | str], settings: ServeSettings) -> list[str]:
    """Each sentence of ``sentences`` (the ``inputs`` field: token lists or strings to split
    on whitespace) as the line of space-separated tokens the tagger reads."""
    check_count(len(sentences), settings)
    lines, problems = [], []
    for i, sentence in enumerate(sentences):
        if isinstance(sentence, str):
            message = text_problem(sentence, settings.max_input_chars)
            tokens = sentence.split()
        else:
            message = _tokens_problem(sentence, settings.max_input_chars)
            tokens = sentence
        if message:
            problems.append(problem(("inputs", i), message))
        lines.append(" ".join(tokens))
    raise_problems(problems)
    return lines


def _tokens_problem(tokens: list[str], max_chars: int) -> str | None:
    if not tokens:
        return "is empty"
    bad = next((j for j, token in enumerate(tokens) if token.split() != [token]), None)
    if bad is not None:
        return f"token {bad} ({tokens[bad]!r}) is empty or holds whitespace"
    return text_problem(" ".join(tokens), max_chars)


def check_generation(prompt: str, max_new_tokens: int, settings: ServeSettings) -> None:
    """A prompt of at most ``max_input_chars`` characters and at most ``max_new_tokens`` to
    generate."""
    problems = []
    if len(prompt) > settings.max_input_chars:
        message = f"has {len(prompt):,} characters; the limit is {settings.max_input_chars:,}"
        problems.append(problem(("prompt",), message))
    if max_new_tokens > settings.max_new_tokens:
        message = f"is {max_new_tokens}; the limit is {settings.max_new_tokens}"
        problems.append(problem(("max_new_tokens",), message))
    raise_problems(problems)

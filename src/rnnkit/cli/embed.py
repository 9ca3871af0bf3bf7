"""``rnnkit embed``: learn word vectors from your own text with word2vec, for rnnkit's models.

``rnnkit embed --data corpus.txt --out vectors.txt`` prints the corpus size, trains word2vec
(`rnnkit.data.word2vec.train_word2vec`), writes the vectors in word2vec text format (binary with
``--binary``) and shows the nearest neighbours of a few words as a sanity check. Registered on
the root app with ``app.command()(embed)``.
"""

from __future__ import annotations

import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from rnnkit.errors import UserError

if TYPE_CHECKING:
    from rnnkit.data.embeddings import WordVectors

console = Console(highlight=False)
NEIGHBOURS = 5  # shown per word
DEFAULT_QUERIES = 3  # words shown when --most-similar is not given


class Architecture(StrEnum):
    """The word2vec model (Mikolov et al., 2013)."""

    skipgram = "skipgram"
    cbow = "cbow"


def embed(
    data: Annotated[
        list[Path],
        typer.Option("--data", help="UTF-8 text to learn from, one sentence a line (repeatable)."),
    ],
    out: Annotated[
        Path, typer.Option("--out", help="The vectors file to write (word2vec text format).")
    ],
    architecture: Annotated[
        Architecture,
        typer.Option(help="skipgram: predict the context from a word; cbow: the reverse."),
    ] = Architecture.skipgram,
    dim: Annotated[int, typer.Option(min=1, help="Values per word vector.")] = 100,
    window: Annotated[
        int, typer.Option(min=1, help="Largest distance between a word and its context.")
    ] = 5,
    min_count: Annotated[
        int, typer.Option(min=1, help="Leave out words that occur fewer times.")
    ] = 5,
    epochs: Annotated[int, typer.Option(min=1, help="Passes over the text.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same vectors.")] = 0,
    lowercase: Annotated[
        bool, typer.Option("--lowercase", help="Lower-case the text first.")
    ] = False,
    binary: Annotated[
        bool, typer.Option("--binary", help="Write word2vec binary format (--out must end .bin).")
    ] = False,
    most_similar: Annotated[
        list[str] | None,
        typer.Option(
            "--most-similar",
            help="Show this word's nearest neighbours (repeatable; default: 3 frequent words).",
        ),
    ] = None,
) -> None:
    """Train word2vec on your own text and write the word vectors."""
    from rnnkit.data.vector_files import write_word2vec_binary, write_word2vec_text
    from rnnkit.data.word2vec import corpus_sentences, train_word2vec

    _check_out(out, binary)
    sentences = corpus_sentences(data, lowercase=lowercase)
    tokens = sum(len(sentence) for sentence in sentences)
    distinct = len({token for sentence in sentences for token in sentence})
    typer.echo(f"corpus: {len(sentences):,} sentences, {tokens:,} tokens, {distinct:,} words")
    start = time.perf_counter()
    vectors = train_word2vec(
        sentences,
        architecture=architecture.value,
        dim=dim,
        window=window,
        min_count=min_count,
        epochs=epochs,
        seed=seed,
    )
    seconds = time.perf_counter() - start
    typer.echo(f"vocabulary: {len(vectors):,} of {distinct:,} words kept (min count {min_count})")
    typer.echo(f"trained {architecture.value}: {dim} dimensions, {epochs} epochs, {seconds:.1f} s")
    out.parent.mkdir(parents=True, exist_ok=True)
    (write_word2vec_binary if binary else write_word2vec_text)(out, vectors)
    kind = "binary" if binary else "text"
    typer.echo(f"wrote {len(vectors):,} vectors to {out} (word2vec {kind} format)")
    queries = [q.lower() if lowercase else q for q in most_similar or []]
    _print_neighbours(vectors, queries or _frequent_words(vectors.words))


def _check_out(out: Path, binary: bool) -> None:
    """Fail before training, not after, on an --out that cannot be written as asked."""
    if out.is_dir():
        raise UserError("is a directory; --out names the vectors file", path=out)
    if binary and out.suffix != ".bin":
        raise UserError(
            "--binary needs an --out ending in .bin (how rnnkit recognises the binary format)",
            path=out,
        )
    if not binary and out.suffix == ".bin":
        raise UserError("a .bin file holds the binary format: add --binary", path=out)


def _frequent_words(words: list[str]) -> list[str]:
    """The first `DEFAULT_QUERIES` words (most frequent first) of 3 letters or more."""
    return [w for w in words if len(w) >= 3 and w.isalpha()][:DEFAULT_QUERIES]


def _print_neighbours(vectors: WordVectors, queries: list[str]) -> None:
    if not queries:
        return
    table = Table(title="nearest neighbours (cosine similarity)")
    table.add_column("word")
    table.add_column("neighbours")
    for word in queries:
        try:
            near = vectors.most_similar(word, NEIGHBOURS)
        except UserError as error:  # the vectors are written: report, do not fail
            table.add_row(Text(word), Text(error.message))
            continue
        shown = "  ".join(f"{other} {similarity:.2f}" for other, similarity in near)
        table.add_row(Text(word), Text(shown))  # Text: a word such as "[red]" is not markup
    console.print(table)

"""Read token-per-line files for tagging; every mistake names file and line.

* CoNLL (`read_conll`) — one token per line, columns separated by whitespace (on tabs only, when
  the line holds a tab), a blank line between sentences; the token and tag columns are chosen by
  index (negative counts from the end). ``-DOCSTART-`` lines (CoNLL-2003) are skipped::

      -DOCSTART- -X- -X- O

      EU NNP B-NP B-ORG
      rejects VBZ B-VP O
      German JJ B-NP B-MISC

* CoNLL-U (`read_conllu`) — ten tab-separated columns ``ID FORM LEMMA UPOS XPOS FEATS HEAD
  DEPREL DEPS MISC``; ``#`` comment lines go with the sentence that follows; a multiword token
  (ID ``3-4``) and an empty node (ID ``5.1``) are skipped, so the tokens are the syntactic words::

      # text = I don't know.
      1	I	I	PRON	PRP	_	4	nsubj	_	_
      2-3	don't	_	_	_	_	_	_	_	_
      2	do	do	AUX	VBP	_	4	aux	_	_
      3	n't	not	PART	RB	_	4	advmod	_	_
      4	know	know	VERB	VB	_	0	root	_	SpaceAfter=No
      5	.	.	PUNCT	.	_	4	punct	_	_

* Tokenised lines (`read_tokenized_lines`) — one sentence per non-empty line, tokens separated
  by whitespace, no tags: input for prediction.

Each sentence keeps the 1-based line and the raw line of every token, so a prediction can be
written back as the input line with the predicted tag appended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rnnkit.data.readers import PathArg, read_text
from rnnkit.errors import UserError

DOCSTART = "-DOCSTART-"
CONLLU_COLUMNS = ("ID", "FORM", "LEMMA", "UPOS", "XPOS", "FEATS", "HEAD", "DEPREL", "DEPS", "MISC")
CONLLU_TAG_FIELDS = {"upos": 3, "xpos": 4}
_WORD_ID = re.compile(r"[0-9]+")
_SKIPPED_ID = re.compile(r"[0-9]+-[0-9]+|[0-9]+\.[0-9]+")  # multiword token, empty node


@dataclass(frozen=True)
class TaggedSentence:
    """A sentence's tokens and tags (empty when read without tags), with where each token is.

    `lines` holds the 1-based file line of each token and `rows` its raw line; `comments` the
    CoNLL-U comment lines before the sentence.
    """

    tokens: tuple[str, ...]
    tags: tuple[str, ...]
    lines: tuple[int, ...]
    rows: tuple[str, ...]
    comments: tuple[str, ...] = ()


def read_conll(
    path: PathArg, *, token_column: int = 0, tag_column: int = -1, with_tags: bool = True
) -> list[TaggedSentence]:
    """Read a CoNLL file of whitespace-separated columns, one token per line.

    `with_tags=False` ignores `tag_column` (a file of one token column is then fine).

    Raises:
        UserError: an unreadable file, a line whose column count differs from the first token
            line's, a column index out of range, an empty token or tag, or no sentences.
    """
    return read_conll_from_text(
        read_text(path),
        str(path),
        token_column=token_column,
        tag_column=tag_column,
        with_tags=with_tags,
    )


def read_conll_from_text(
    text: str, name: str, *, token_column: int = 0, tag_column: int = -1, with_tags: bool = True
) -> list[TaggedSentence]:
    """`read_conll` on `text` already read; `name` is the file named in messages."""
    sentences = _Sentences(with_tags)
    count, count_line = 0, 0  # the number of columns, and the line that set it
    token_index = tag_index = 0
    for number, row in enumerate(_lines(text), start=1):
        if not row.strip():
            sentences.end()
            continue
        columns = [c.strip() for c in row.split("\t")] if "\t" in row else row.split()
        if columns[0] == DOCSTART:
            sentences.end()
            continue
        if not count:
            count, count_line = len(columns), number
            token_index = _index(token_column, "token", count, name, number)
            if with_tags:
                tag_index = _index(tag_column, "tag", count, name, number)
                if tag_index == token_index:
                    message = (
                        f"token and tag are the same column ({token_index}) of {count}; "
                        "read a file of tokens only without tags"
                    )
                    raise UserError(message, path=name, line=number)
        elif len(columns) != count:
            message = (
                f"line has {len(columns)} columns but line {count_line}, the first token line, "
                f"has {count}"
            )
            raise UserError(message, path=name, line=number)
        if not columns[token_index]:
            raise UserError(f"empty token in column {token_index}", path=name, line=number)
        if with_tags and not columns[tag_index]:
            raise UserError(f"empty tag in column {tag_index}", path=name, line=number)
        sentences.add(columns[token_index], columns[tag_index], number, row)
    return sentences.finish(name)


def read_conllu(
    path: PathArg, *, tag_field: str = "upos", with_tags: bool = True
) -> list[TaggedSentence]:
    """Read a CoNLL-U file; the tags are its ``upos`` or ``xpos`` column.

    Raises:
        UserError: an unknown `tag_field`, an unreadable file, a line without 10 columns, a
            malformed ID, an empty FORM, a tag ``_`` (unspecified) when tags are read, a comment
            inside a sentence, or no sentences.
    """
    _tag_index(tag_field)  # before reading: a wrong argument needs no file
    return read_conllu_from_text(
        read_text(path), str(path), tag_field=tag_field, with_tags=with_tags
    )


def read_conllu_from_text(
    text: str, name: str, *, tag_field: str = "upos", with_tags: bool = True
) -> list[TaggedSentence]:
    """`read_conllu` on `text` already read; `name` is the file named in messages."""
    tag_index = _tag_index(tag_field)
    sentences = _Sentences(with_tags)
    comments: list[str] = []
    for number, row in enumerate(_lines(text), start=1):
        if not row.strip():
            if sentences.open:  # comments before no words wait for the next sentence
                sentences.end(comments)
                comments = []
            continue
        if row.startswith("#"):
            if sentences.open:
                message = "comment inside a sentence: comments go before its first word line"
                raise UserError(message, path=name, line=number)
            comments.append(row)
            continue
        columns = row.split("\t")
        if len(columns) != len(CONLLU_COLUMNS):
            message = (
                f"line has {len(columns)} tab-separated columns, CoNLL-U has "
                f"{len(CONLLU_COLUMNS)} ({' '.join(CONLLU_COLUMNS)})"
            )
            if len(columns) == 1 and " " in row.strip():
                message += "; are the columns separated by spaces instead of tabs?"
            raise UserError(message, path=name, line=number)
        word_id, form, tag = columns[0], columns[1], columns[tag_index]
        if _SKIPPED_ID.fullmatch(word_id):
            continue
        if not _WORD_ID.fullmatch(word_id):
            message = f"ID {word_id!r} is not a word index (1), a range (1-2) or a decimal (1.1)"
            raise UserError(message, path=name, line=number)
        if not form.strip():
            raise UserError("empty FORM", path=name, line=number)
        if with_tags and tag.strip() in ("", "_"):
            message = f"{tag_field.upper()} is unspecified ({tag!r}) but tags are read from it"
            raise UserError(message, path=name, line=number)
        sentences.add(form, tag.strip(), number, row)
    sentences.end(comments)
    return sentences.finish(name)


def read_tokenized_lines(path: PathArg) -> list[TaggedSentence]:
    """One whitespace-tokenised sentence per non-empty line, without tags: prediction input."""
    return read_tokenized_lines_from_text(read_text(path), str(path))


def read_tokenized_lines_from_text(text: str, name: str) -> list[TaggedSentence]:
    """`read_tokenized_lines` on `text` already read; `name` is the file named in messages."""
    sentences = []
    for number, row in enumerate(_lines(text), start=1):
        tokens = tuple(row.split())
        if tokens:
            sentences.append(TaggedSentence(tokens, (), (number,) * len(tokens), tokens))
    if not sentences:
        raise UserError("file has no sentences", path=name)
    return sentences


def _lines(text: str) -> list[str]:
    """The lines of `text` split on ``\\n`` only, as `read_text` numbers them."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")


def _index(column: int, role: str, count: int, name: str, line: int) -> int:
    """`column` (negative counts from the end) as an index into `count` columns."""
    if not -count <= column < count:
        message = f"{role} column {column} is out of range: the line has {count} columns"
        raise UserError(message, path=name, line=line)
    return column % count


def _tag_index(tag_field: str) -> int:
    if tag_field not in CONLLU_TAG_FIELDS:
        choices = " or ".join(repr(choice) for choice in CONLLU_TAG_FIELDS)
        raise UserError(f"CoNLL-U tag field must be {choices}, not {tag_field!r}")
    return CONLLU_TAG_FIELDS[tag_field]


@dataclass
class _Sentences:
    """Collects tokens into sentences; `end` closes the sentence being read, if any."""

    with_tags: bool
    done: list[TaggedSentence] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return bool(self.tokens)

    def add(self, token: str, tag: str, line: int, row: str) -> None:
        self.tokens.append(token)
        self.tags.append(tag)
        self.lines.append(line)
        self.rows.append(row)

    def end(self, comments: list[str] | None = None) -> None:
        if self.tokens:
            tags = tuple(self.tags) if self.with_tags else ()
            sentence = TaggedSentence(
                tuple(self.tokens), tags, tuple(self.lines), tuple(self.rows), tuple(comments or ())
            )
            self.done.append(sentence)
        for pending in (self.tokens, self.tags, self.lines, self.rows):
            pending.clear()

    def finish(self, name: str) -> list[TaggedSentence]:
        self.end()
        if not self.done:
            raise UserError("file has no sentences", path=name)
        return self.done

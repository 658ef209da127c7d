"""Splitting texts longer than the encoder's window into overlapping passages.

An encoder reads at most its window (all-MiniLM-L6-v2: 256 word pieces, two of them
special); whatever lies past it is cut off and never searchable. A document longer than
the window becomes passages of at most ``max_tokens`` tokens of the encoder's own
tokenizer, consecutive passages sharing ``overlap`` tokens, cut where a paragraph, a line
or a sentence ends when one lies in the last quarter of a window, never inside a word.

The tokenizer is the model's own (``tokenizers``' offsets, so the count is the one the
model sees); only the windowing is written here. The general splitters of LangChain and
LlamaIndex live in the plugins' frameworks, which the core cannot import, and count tokens
of another tokenizer than the encoder's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from polyvec.documents import Document, as_document
from polyvec.errors import ConfigError, InvalidInputError
from polyvec.filters import SOURCE_KEY, source_of

Offsets = list[tuple[int, int]]
"""The ``(start, end)`` character span of each token of a text."""

_SENTENCE_END = (".", "!", "?", ";", ":")


def is_blank(text: str) -> bool:
    """Whether a text has no passage (only whitespace)."""
    return not text.strip()


def _breaks(text: str, offsets: Offsets, at: int) -> int:
    """How good a cut before token ``at`` is: 3 a paragraph, 2 a line, 1 a sentence end,
    0 between words, -1 inside a word."""
    gap = text[offsets[at - 1][1] : offsets[at][0]]
    if not gap:
        return -1
    if "\n\n" in gap or "\n\r\n" in gap:
        return 3
    if "\n" in gap:
        return 2
    if text[offsets[at - 1][0] : offsets[at - 1][1]].endswith(_SENTENCE_END):
        return 1
    return 0


def windows(text: str, offsets: Offsets, max_tokens: int, overlap: int) -> list[tuple[int, int]]:
    """Character spans of the passages of ``text`` (one span of the whole text if it fits).

    Each span holds at most ``max_tokens`` tokens; the next one starts ``overlap`` tokens
    before the previous one ends (moved forward to the start of a word).
    """
    n = len(offsets)
    if n <= max_tokens:
        return [(0, len(text))]
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end = min(start + max_tokens, n)
        if end < n:  # the best break in the window's last quarter, else the last between words
            floor = start + max(1, (3 * max_tokens) // 4)
            best = max(range(end, floor - 1, -1), key=lambda at: (_breaks(text, offsets, at), at))
            if _breaks(text, offsets, best) < 0:
                best = next(
                    (at for at in range(floor - 1, start, -1) if _breaks(text, offsets, at) >= 0),
                    end,
                )
            end = best
        spans.append((offsets[start][0], offsets[end - 1][1]))
        if end >= n:
            return spans
        following = max(start + 1, end - overlap)
        while following < end and following > 0 and _breaks(text, offsets, following) < 0:
            following += 1  # never start inside a word
        start = following if following < end else end


@dataclass(frozen=True)
class Chunker:
    """Splits documents into passages of at most ``max_tokens`` tokens.

    Attributes:
        offsets: the encoder's tokenizer: token character spans of each text.
        max_tokens: tokens of text per passage (the encoder's window at most); ``None``:
            never split (a text longer than the window is cut by the encoder, and counted).
        overlap: tokens two consecutive passages of a document share.
    """

    offsets: Callable[[Sequence[str]], list[Offsets]] | None
    max_tokens: int | None
    overlap: int = 0

    def __post_init__(self) -> None:
        if self.max_tokens is None:
            return
        if self.offsets is None:
            raise ConfigError("chunking: splitting needs the encoder's tokenizer")
        if self.max_tokens < 1:
            raise ConfigError(f"chunking.max_tokens must be positive, got {self.max_tokens}")
        if not 0 <= self.overlap < self.max_tokens:
            raise ConfigError(
                f"chunking.overlap ({self.overlap}) must be at least 0 and below max_tokens "
                f"({self.max_tokens}): passages would never advance"
            )

    def spans(self, text: str) -> list[tuple[int, int]]:
        if self.max_tokens is None or self.offsets is None:
            return [(0, len(text))]
        return windows(text, self.offsets([text])[0], self.max_tokens, self.overlap)

    def split(self, doc: Document, *, number_always: bool = False) -> list[Document]:
        """A document's passages (none for a blank text).

        Each passage is a source's part: it carries ``frontend["source"]`` (the document's
        own source if it has one, else its id) so that re-ingesting the document replaces
        all of them. A document that fits keeps its id unless ``number_always``; a longer
        one becomes ``<id>#0``, ``<id>#1``, ... with the document's metadata.
        """
        if is_blank(doc.text):
            return []
        spans = self.spans(doc.text)
        frontend = dict(doc.frontend or {})
        if doc.id is not None:
            frontend.setdefault(SOURCE_KEY, str(doc.id))
        if len(spans) == 1 and not number_always:
            return [replace(doc, frontend=frontend or None)]
        if doc.id is None:
            raise ConfigError("chunking: a document split into passages needs an id")
        if doc.embed_text is not None:
            raise InvalidInputError(
                f"chunking: document {doc.id!r} has an embed_text and is longer than "
                f"{self.max_tokens} tokens; split it before setting embed_text per passage"
            )
        return [
            replace(doc, text=doc.text[a:b], id=f"{doc.id}#{n}", frontend=frontend or None)
            for n, (a, b) in enumerate(spans)
        ]


@dataclass(frozen=True)
class Passages:
    """The passages of documents, split lazily and as often as they are iterated.

    Re-iterable when ``documents`` is, so an ingest can check them all before writing
    any, then write them batch by batch, without holding the corpus in memory.
    """

    documents: Iterable[Document | Mapping[str, Any] | str]  # as Pipeline.ingest takes them
    chunker: Chunker
    number_always: bool = False
    # the sources of blank documents iterated so far: no passage now, so replacing them
    # leaves none (Pipeline.replace_sources deletes their stored ones)
    blank_sources: set[str] = field(default_factory=set, compare=False)

    def __iter__(self) -> Iterator[Document]:
        for position, item in enumerate(self.documents):
            doc = as_document(item, position)
            has_source = doc.id is not None or SOURCE_KEY in (doc.frontend or {})
            if has_source and is_blank(doc.text):
                self.blank_sources.add(source_of(doc.frontend, doc.id))
            yield from self.chunker.split(doc, number_always=self.number_always)

"""Reading documents from files for ``polyvec ingest``: text/markdown files or folders
(split into passages that fit the encoder) and BEIR ``corpus.jsonl`` files."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from polyvec.documents import Document
from polyvec.errors import InvalidInputError
from polyvec.eval import read_beir_corpus

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst"}


def split_passages(text: str, max_words: int) -> list[str]:
    """Pack paragraphs (blank-line separated) into passages of at most ~``max_words`` words.

    Encoders truncate long inputs (all-MiniLM-L6-v2 at 256 word pieces), so a whole file
    as one document would lose everything past its first page.
    """
    if max_words <= 0:
        return [text]
    passages: list[str] = []
    current: list[str] = []
    size = 0
    for paragraph in re.split(r"\n\s*\n", text):
        words = paragraph.split()
        if not words:
            continue
        while len(words) > max_words:  # a single very long paragraph
            if current:
                passages.append(" ".join(current))
                current, size = [], 0
            passages.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if size + len(words) > max_words and current:
            passages.append(" ".join(current))
            current, size = [], 0
        current.extend(words)
        size += len(words)
    if current:
        passages.append(" ".join(current))
    return passages


def _text_files(paths: Sequence[Path]) -> Iterator[tuple[Path, Path]]:
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if file.is_file() and file.suffix.lower() in TEXT_SUFFIXES:
                    yield file, path
        elif path.is_file():
            yield path, path.parent
        else:
            raise InvalidInputError(f"{path}: no such file or folder")


def read_documents(paths: Sequence[str | Path], *, max_words: int = 120) -> Iterator[Document]:
    """Documents from files, folders (``.txt``/``.md``/``.rst``) and ``corpus.jsonl`` files.

    A passage's id is ``<relative path>#<n>``, so re-ingesting the same files replaces them.
    """
    resolved = [Path(p) for p in paths]
    for path in resolved:
        if path.is_file() and path.suffix == ".jsonl":
            yield from read_beir_corpus(path)
    for file, base in _text_files([p for p in resolved if p.suffix != ".jsonl"]):
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise InvalidInputError(f"{file}: not UTF-8 text ({err})") from err
        source = file.relative_to(base).as_posix() if file != base else file.name
        for n, passage in enumerate(split_passages(text, max_words)):
            yield Document(text=passage, id=f"{source}#{n}", metadata={"source": source})

"""Reading documents from files for ``polyvec ingest`` and ``polyvec sync``: text/markdown
files or folders (split into passages that fit the encoder) and BEIR ``corpus.jsonl`` files.

A file is a *source*: its id is its path relative to the ingest root (the current folder
unless given), never a bare file name, so ``docs/README.md`` and ``notes/README.md`` are two
sources. A source owns its passages (``<source>#<n>``) as one unit, with the hash of the
file's content, so a re-ingest replaces all of them and a sync re-encodes only what changed.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from polyvec.documents import Document
from polyvec.errors import InvalidInputError
from polyvec.eval import read_beir_corpus
from polyvec.filters import SOURCE_KEY

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


HASH_KEY = "sha256"  # under the payload's ``frontend`` key, beside the source


def text_files(paths: Sequence[Path]) -> Iterator[Path]:
    """The text files among ``paths`` and in their folders, in a stable order.

    Symlinks inside a folder are not followed: a link could lead out of it.
    """
    for path in paths:
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if (
                    file.is_file()
                    and not file.is_symlink()
                    and file.suffix.lower() in TEXT_SUFFIXES
                ):
                    yield file
        elif path.is_file():
            yield path
        else:
            raise InvalidInputError(f"{path}: no such file or folder")


def source_id(file: Path, root: Path) -> str:
    """A file's source id: its path relative to ``root`` (POSIX form), or its absolute path
    when it lies outside ``root``."""
    absolute = Path(os.path.abspath(file))
    try:
        return absolute.relative_to(Path(os.path.abspath(root))).as_posix()
    except ValueError:
        return absolute.as_posix()


@dataclass(frozen=True)
class SourceFile:
    """One file read for ingest: its source id, its content hash and its passages."""

    source: str
    sha256: str
    passages: tuple[Document, ...]


def read_source(file: Path, root: Path, *, max_words: int = 120) -> SourceFile:
    """A text file as a source: passages ``<source>#<n>`` carrying the source and its hash."""
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidInputError(f"{file}: not UTF-8 text ({err})") from err
    source = source_id(file, root)
    digest = hashlib.sha256(raw).hexdigest()
    passages = tuple(
        Document(
            text=passage,
            id=f"{source}#{n}",
            metadata={"source": source},
            frontend={SOURCE_KEY: source, HASH_KEY: digest},
        )
        for n, passage in enumerate(split_passages(text, max_words))
    )
    return SourceFile(source, digest, passages)


def read_documents(
    paths: Sequence[str | Path],
    *,
    max_words: int = 120,
    root: str | Path | None = None,
    skipped: list[Path] | None = None,
) -> Iterator[Document]:
    """Documents from files, folders (``.txt``/``.md``/``.rst``) and ``corpus.jsonl`` files.

    A passage's id is ``<source>#<n>``, the source being the file's path relative to
    ``root`` (default: the current folder). With ``skipped``, a file inside a folder that is
    not UTF-8 text (a binary named ``.txt``, a Latin-1 file) is appended there and left out;
    without it, or for a file named on its own, it is an error.
    """
    resolved = [Path(p) for p in paths]
    base = Path(root) if root is not None else Path.cwd()
    for path in resolved:
        if path.is_file() and path.suffix == ".jsonl":
            yield from read_beir_corpus(path)
    named = {p for p in resolved if p.is_file()}
    for file in text_files([p for p in resolved if p.suffix != ".jsonl"]):
        try:
            yield from read_source(file, base, max_words=max_words).passages
        except InvalidInputError:
            if skipped is None or file in named:
                raise
            skipped.append(file)

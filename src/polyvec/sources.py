"""Reading documents from files for ``polyvec ingest`` and ``polyvec sync``: text/markdown
files or folders and BEIR ``corpus.jsonl`` files.

A file is a *source*: its id is its path relative to the ingest root (the current folder
unless given), never a bare file name, so ``docs/README.md`` and ``notes/README.md`` are two
sources. A file is read as one document carrying its source and the hash of its bytes; the
pipeline's chunker (:meth:`polyvec.pipeline.Pipeline.passages`) splits one longer than the
encoder's window into passages ``<source>#<n>``, which a re-ingest replaces as one unit.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from polyvec.documents import Document
from polyvec.errors import InvalidInputError
from polyvec.eval import read_beir_corpus
from polyvec.filters import SOURCE_HASH_KEY, SOURCE_KEY

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".rst"}


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
    """One text file read for ingest: its source id, its content hash and its document."""

    source: str
    sha256: str
    document: Document


def read_source(file: Path, root: Path) -> SourceFile:
    """A text file as one document: id and ``metadata["source"]`` its source id, and its
    source and the SHA-256 of its bytes under ``frontend``."""
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidInputError(f"{file}: not UTF-8 text ({err})") from err
    source = source_id(file, root)
    digest = hashlib.sha256(raw).hexdigest()
    document = Document(
        text=text,
        id=source,
        metadata={"source": source},
        frontend={SOURCE_KEY: source, SOURCE_HASH_KEY: digest},
    )
    return SourceFile(source, digest, document)


@dataclass(frozen=True)
class DocumentFiles:
    """Documents of files, folders (``.txt``/``.md``/``.rst``) and ``corpus.jsonl`` files,
    read from disk each time they are iterated (so an ingest holds one batch in memory).

    A text file is one document, id its path relative to ``root`` (default: the current
    folder). A file inside a folder that is not UTF-8 text (a binary named ``.txt``, a
    Latin-1 file) is left out and listed in :attr:`skipped`; a file named on its own that
    is not UTF-8 is an error.
    """

    paths: Sequence[str | Path]
    root: str | Path | None = None
    skipped: set[Path] = field(default_factory=set, compare=False)

    def __iter__(self) -> Iterator[Document]:
        resolved = [Path(p) for p in self.paths]
        base = Path(self.root) if self.root is not None else Path.cwd()
        for path in resolved:
            if path.is_file() and path.suffix == ".jsonl":
                yield from read_beir_corpus(path)
        named = {p for p in resolved if p.is_file()}
        for file in text_files([p for p in resolved if p.suffix != ".jsonl"]):
            try:
                yield read_source(file, base).document
            except InvalidInputError:
                if file in named:
                    raise
                self.skipped.add(file)

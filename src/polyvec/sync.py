"""``polyvec sync``: make a collection hold exactly what a folder holds, re-encoding only
what changed.

Each file is a source (see :mod:`polyvec.sources`) stored with the SHA-256 of its bytes. A
sync reads and hashes every file, re-ingests the sources whose hash differs or that are new
(their stale passages deleted), and deletes the sources that lie under the synced folders
but whose files are gone. Unchanged files are not encoded again.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from polyvec.documents import Document
from polyvec.pipeline import Pipeline
from polyvec.sources import read_source, source_id, text_files


@dataclass
class SyncReport:
    """What a sync did, source by source."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    passages: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.changed)} changed, "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed "
            f"({self.passages} passages written)"
        )


def _under(source: str, prefixes: Sequence[str]) -> bool:
    return any(source == p or source.startswith(p.rstrip("/") + "/") for p in prefixes)


def sync(
    pipeline: Pipeline, paths: Sequence[str | Path], *, root: str | Path | None = None
) -> SyncReport:
    """Add new files, re-ingest changed ones and delete vanished ones under ``paths``."""
    base = Path(root) if root is not None else Path.cwd()
    folders = [Path(p) for p in paths]
    stored = pipeline.source_hashes()
    report = SyncReport()
    to_write: list[Document] = []  # a blank one writes no passage and deletes its stored ones
    on_disk: set[str] = set()
    for file in text_files(folders):
        read = read_source(file, base)
        on_disk.add(read.source)
        if stored.get(read.source) == read.sha256:
            report.unchanged.append(read.source)
            continue
        (report.changed if read.source in stored else report.added).append(read.source)
        to_write.append(read.document)
    if to_write:
        report.passages = len(pipeline.replace_sources(pipeline.passages(to_write)))
    prefixes = [source_id(Path(os.fspath(p)), base) for p in folders]
    report.removed = sorted(s for s in stored if _under(s, prefixes) and s not in on_disk)
    pipeline.delete_sources(report.removed)
    return report

"""Shared fixtures: the bundled model loaded once, pipelines on every store backend."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may reach a hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from polyvec import Pipeline
from polyvec.encoders import SentenceTransformerEncoder
from polyvec.fields import Encoded

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LOOPBACK = pytest.mark.allow_hosts(["127.0.0.1"])  # pytest-socket: only the test double
# Every store behaviour runs on Qdrant Edge, qdrant-client's local mode (":memory:") and
# qdrant-client's remote REST path against the loopback double (tests/qdrant_double.py).
BACKENDS = ["edge", "memory", pytest.param("remote", marks=LOOPBACK)]
_DOUBLES: dict[str, Any] = {}  # one double (one engine) per test folder, stopped at the end


class MemoizedEncoder(SentenceTransformerEncoder):
    """The real encoder, remembering each text's outputs: many tests ingest the same texts.

    Every text is encoded on its own side (query/document) exactly once, alone or in a
    batch; token vectors do not depend on batch mates (tests/test_encoders.py checks it
    on the raw encoder), so remembered outputs equal fresh ones.
    """

    def __init__(self, raw: SentenceTransformerEncoder) -> None:
        self.__dict__.update(raw.__dict__)
        self._memo: dict[tuple[bool, str], tuple[np.ndarray, np.ndarray]] = {}

    def encode(self, texts, *, is_query, pooled, tokens):  # type: ignore[no-untyped-def]
        missing = list(dict.fromkeys(t for t in texts if (is_query, t) not in self._memo))
        if missing:
            fresh = super().encode(missing, is_query=is_query, pooled=True, tokens=True)
            for text, p, t in zip(missing, fresh.pooled, fresh.tokens, strict=True):
                self._memo[(is_query, text)] = (p, t)
        rows = [self._memo[(is_query, t)] for t in texts]
        if not rows:
            return super().encode([], is_query=is_query, pooled=pooled, tokens=tokens)
        return Encoded(
            pooled=np.stack([r[0] for r in rows]) if pooled else None,
            tokens=[r[1] for r in rows] if tokens else None,
        )


@pytest.fixture(scope="session")
def raw_encoder() -> SentenceTransformerEncoder:
    """The real bundled all-MiniLM-L6-v2, loaded once for the whole session."""
    return SentenceTransformerEncoder("bundled", device="cpu")


@pytest.fixture(scope="session")
def encoder(raw_encoder: SentenceTransformerEncoder) -> SentenceTransformerEncoder:
    """The same model, remembering outputs per text (see :class:`MemoizedEncoder`)."""
    return MemoizedEncoder(raw_encoder)


def qdrant_double(tmp_path: Path) -> Any:
    """The loopback Qdrant double of a test folder (started on first use)."""
    from tests.qdrant_double import QdrantDouble

    key = str(tmp_path)
    if key not in _DOUBLES:
        _DOUBLES[key] = QdrantDouble().start()
    return _DOUBLES[key]


@pytest.fixture(scope="session", autouse=True)
def _stop_doubles() -> Iterator[None]:
    yield
    for double in _DOUBLES.values():
        double.stop()


def store_config(backend: str, tmp_path: Path, collection: str = "test") -> dict[str, Any]:
    if backend == "remote":  # qdrant-client's REST code path, against the loopback double
        # qdrant-client's version check runs in a thread that would outlive the test (and
        # its loopback permission); tests/test_remote.py exercises it on its own
        return {
            "type": "qdrant",
            "url": qdrant_double(tmp_path).url,
            "collection": collection,
            "check_compatibility": False,
        }
    if backend == "edge":
        return {"type": "edge", "path": str(tmp_path / "edge"), "collection": collection}
    if backend == "qdrant-path":  # qdrant-client local mode on disk: survives a close
        return {"type": "qdrant", "path": str(tmp_path / "qdrant"), "collection": collection}
    return {"type": "qdrant", "location": ":memory:", "collection": collection}


@pytest.fixture
def make_pipeline(
    encoder: SentenceTransformerEncoder, tmp_path: Path
) -> Iterator[Callable[..., Pipeline]]:
    """Build pipelines on a backend (``edge`` in tmp_path or ``memory``); closed at teardown."""
    opened: list[Pipeline] = []

    def make(
        backend: str = "edge", fields: list[dict[str, Any]] | None = None, **config: Any
    ) -> Pipeline:
        config.setdefault("store", store_config(backend, tmp_path))
        config["fields"] = fields or [{"type": "late_interaction"}, {"type": "dense"}]
        pipeline = Pipeline.from_config(config, encoder=config.pop("encoder", encoder))
        opened.append(pipeline)
        return pipeline

    yield make
    for pipeline in opened:
        pipeline.close()


def shared_dataset(name: str) -> Path:
    folder = SHARED_DATA / name
    if not (folder / "corpus.jsonl").exists():
        pytest.skip(f"{folder} is missing: the evaluation collections live in ../shared/data")
    return folder


@contextmanager
def held_by_another_process(collection_folder: Path) -> Iterator[None]:
    """An Edge store folder locked by a child process (as a second `polyvec` would hold it)
    until the block ends."""
    code = (
        "import sys\nfrom filelock import FileLock\n"
        f"lock = FileLock({str(collection_folder / '.lock')!r}, thread_local=False)\n"
        "lock.acquire()\n"
        "print('held', flush=True)\nsys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        yield
    finally:
        child.communicate("")

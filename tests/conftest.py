"""Shared fixtures: the bundled model loaded once, pipelines on every store backend."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing in the tests may reach a hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from polyvec import Pipeline
from polyvec.encoders import SentenceTransformerEncoder

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BACKENDS = ["edge", "memory"]


@pytest.fixture(scope="session")
def encoder() -> SentenceTransformerEncoder:
    """The real bundled all-MiniLM-L6-v2, loaded once for the whole session."""
    return SentenceTransformerEncoder("bundled", device="cpu")


def store_config(backend: str, tmp_path: Path, collection: str = "test") -> dict[str, Any]:
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

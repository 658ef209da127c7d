"""Reopening a collection from its manifest alone (``Pipeline.from_existing``), on every
backend that outlives a pipeline: the same config, the same answers, or a clear refusal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from polyvec import (
    CollectionMismatchError,
    CollectionNotFoundError,
    ConfigError,
    Pipeline,
)
from tests.conftest import LOOPBACK, store_config

FIELDS = [
    {"type": "bm25", "name": "bm25"},
    {"type": "late_interaction", "name": "tokens", "datatype": "float16"},
    {"type": "matryoshka", "name": "small", "dims": [128]},
]
CONFIG = {
    "fields": FIELDS,
    "plans": {
        "fast": "small128:20 -> tokens",
        "hybrid": "rrf(k=2; bm25:20, small128:20 -> tokens:20)",
    },
    "default_plan": "hybrid",
    "chunking": {"max_tokens": 48, "overlap": 8},
}
DOCS = [
    {"id": "a", "text": "Qdrant stores named vectors and sparse vectors per point."},
    {"id": "b", "text": "Late interaction keeps one vector per token and scores by MaxSim."},
    {"id": "c", "text": "Matryoshka embeddings may be cut to a prefix and still work."},
    {
        "id": "d",
        "text": " ".join(
            f"Section {n}: BM25 weighs term {n} by its frequency in passage {n} and by how "
            f"rare it is among the {n * 7} documents of corpus {n}."
            for n in range(1, 9)
        ),
    },
]
QUERIES = ["token vectors MaxSim", "term rarity", "truncated embeddings"]
REOPENABLE = ["edge", "qdrant-path", "remote"]


def _answers(pipeline: Pipeline) -> list[list[tuple[str, float]]]:
    return [
        [(h.id, round(h.score, 5)) for h in pipeline.search(q, k=3, plan=plan)]
        for q in QUERIES
        for plan in (None, "fast", "bm25")
    ]


@LOOPBACK
@pytest.mark.parametrize("backend", REOPENABLE)
def test_from_existing_reopens_the_collection_as_built(backend, encoder, tmp_path: Path) -> None:
    store = store_config(backend, tmp_path)
    with Pipeline.from_config({**CONFIG, "store": store}, encoder=encoder) as built:
        built.ingest(built.passages(DOCS))
        before, count = _answers(built), built.count()
        assert count > len(DOCS)  # "d" was split into passages by the recorded chunking
    with Pipeline.from_existing(store, encoder=encoder) as again:
        assert again.config.fields == built.config.fields
        assert again.config.plans == built.config.plans
        assert again.config.default_plan == "hybrid"
        assert again.config.chunking == built.config.chunking
        assert again.count() == count
        assert list(again.passages(DOCS)) == list(built.passages(DOCS))
        assert _answers(again) == before
        again.ingest([{"id": "e", "text": "A reopened collection takes new documents."}])
        assert again.count() == count + 1


def test_from_existing_on_a_handed_in_client(encoder, tmp_path: Path) -> None:
    """``:memory:`` lives in its client: hand the client in and the collection reopens."""
    from qdrant_client import QdrantClient

    client = QdrantClient(location=":memory:")
    store = {"type": "qdrant", "collection": "kept"}
    with Pipeline.from_config({**CONFIG, "store": store}, encoder=encoder, client=client) as built:
        built.ingest(DOCS)
        before = _answers(built)
    with Pipeline.from_existing(store, encoder=encoder, client=client) as again:
        assert _answers(again) == before
    client.get_collections()  # never closed by polyvec


def test_the_bundled_model_is_rebuilt_from_the_manifest(tmp_path: Path) -> None:
    """Built from config alone (no encoder handed in), a collection reopens with nothing
    but its store: the recorded encoder section loads the same model."""
    store = store_config("edge", tmp_path)
    with Pipeline.from_config({"fields": [{"type": "dense"}], "store": store}) as built:
        built.ingest(DOCS)
        before = [h.id for h in built.search("sparse vectors", k=4)]
    with Pipeline.from_existing(store) as again:
        assert again.config.encoder.model == "bundled"
        assert [h.id for h in again.search("sparse vectors", k=4)] == before


def test_overrides_replace_or_merge_recorded_sections(encoder, tmp_path: Path) -> None:
    store = store_config("edge", tmp_path)
    Pipeline.from_config({**CONFIG, "store": store}, encoder=encoder).close()
    with Pipeline.from_existing(
        store, encoder=encoder, default_plan="fast", chunking={"overlap": 4}
    ) as again:
        assert again.config.default_plan == "fast"
        assert again.config.chunking.max_tokens == 48 and again.config.chunking.overlap == 4
    changed = [FIELDS[0], {"type": "late_interaction", "name": "tokens"}, FIELDS[2]]
    with pytest.raises(
        CollectionMismatchError, match=r"tokens\.datatype: collection has 'float16'"
    ):
        Pipeline.from_existing(store, encoder=encoder, fields=changed)


def test_refusals_name_the_cause_and_change_nothing(encoder, tmp_path: Path) -> None:
    store = store_config("edge", tmp_path)
    with pytest.raises(CollectionNotFoundError, match="no collection"):
        Pipeline.from_existing(store, encoder=encoder)
    assert not (tmp_path / "edge" / "test").exists()

    Pipeline.from_config({**CONFIG, "store": store}, encoder=encoder).close()
    with pytest.raises(ConfigError, match=r"built with an encoder handed in.*encoder="):
        Pipeline.from_existing(store)

    manifest_path = tmp_path / "edge" / "test" / "polyvec.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({k: v for k, v in manifest.items() if k != "config"}))
    with pytest.raises(ConfigError, match="before polyvec recorded its configuration"):
        Pipeline.from_existing(store, encoder=encoder)
    # the collection itself is untouched, and still opens with its config
    with Pipeline.from_config({**CONFIG, "store": store}, encoder=encoder) as again:
        assert again.count() == 0

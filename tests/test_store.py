"""The same store suite on Qdrant Edge and on qdrant-client ``:memory:`` (congruence)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from polyvec import CollectionMismatchError, Document, InvalidInputError, Pipeline, StoreLockedError
from polyvec.encoders import Encoder
from polyvec.fields import Encoded
from tests.conftest import BACKENDS, store_config

DOCS = [
    {
        "id": "1",
        "text": "Qdrant is a vector database written in Rust.",
        "metadata": {"topic": "db", "year": 2021, "score": 4.5},
    },
    {
        "id": "foo",
        "text": "Cats purr when they are content.",
        "metadata": {"topic": "pets", "year": 2019},
    },
    {
        "id": "doc/ä",
        "text": "MaxSim sums, over query tokens, the best matching document token.",
        "metadata": {"topic": "ir", "year": 2020},
    },
    {
        "id": 7,
        "text": "ColBERT introduced late interaction for passage retrieval.",
        "metadata": {"topic": "ir", "year": 2020},
    },
    {
        "id": "x-9",
        "text": "Dogs enjoy long walks in the park.",
        "metadata": {"topic": "pets", "year": 2023},
    },
    {
        "id": "12",
        "text": "Product quantization compresses vectors into short codes.",
        "metadata": {"topic": "ir", "year": 2011},
    },
]
QUERIES = [
    "which database stores vectors?",
    "late interaction retrieval",
    "pets and animals",
    "compressing embeddings",
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_ids_round_trip_exactly(make_pipeline, backend: str) -> None:
    p = make_pipeline(backend)
    assert p.ingest(DOCS) == ["1", "foo", "doc/ä", 7, "x-9", "12"]
    got = p.get(["doc/ä", 7, "1", "missing", "7"])  # "7" (str) is not 7 (int)
    assert [h.id for h in got] == ["doc/ä", 7, "1"]
    assert got[0].metadata == {"topic": "ir", "year": 2020}
    assert isinstance(got[0].metadata["year"], int)
    assert got[0].text == DOCS[2]["text"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_reingest_replaces_and_delete_ignores_unknown(make_pipeline, backend: str) -> None:
    p = make_pipeline(backend)
    p.ingest(DOCS)
    assert p.count() == len(DOCS)
    p.ingest(DOCS)
    assert p.count() == len(DOCS)
    p.ingest([{"id": "foo", "text": "Cats sleep all day.", "metadata": {"topic": "pets"}}])
    assert p.count() == len(DOCS)
    assert p.get(["foo"])[0].text == "Cats sleep all day."
    p.delete(["foo", "never-there"])
    assert p.count() == len(DOCS) - 1
    assert p.get(["foo"]) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_generated_ids_for_documents_without_one(make_pipeline, backend: str) -> None:
    p = make_pipeline(backend)
    mine = Document(text="third")
    ids = p.ingest(["first text", {"text": "second", "id": None}, mine])
    assert len(set(ids)) == 3 and all(isinstance(i, str) for i in ids)
    assert [h.id for h in p.get(ids)] == ids
    assert mine.id is None  # the caller's object is not changed


@pytest.mark.parametrize("backend", BACKENDS)
def test_filters_simple_and_qdrant_forms(make_pipeline, backend: str) -> None:
    from qdrant_client import models

    p = make_pipeline(backend)
    p.ingest(DOCS)
    ir = {h.id for h in p.search("vectors", k=10, filter={"topic": "ir"})}
    assert ir == {"doc/ä", 7, "12"}
    recent = {h.id for h in p.search("anything", k=10, filter={"year": {"$gte": 2020}})}
    assert recent == {"1", "doc/ä", 7, "x-9"}
    either = {h.id for h in p.search("anything", k=10, filter={"topic": ["db", "pets"]})}
    assert either == {"1", "foo", "x-9"}
    native = models.Filter(
        must=[models.FieldCondition(key="metadata.topic", match=models.MatchValue(value="pets"))],
        must_not=[models.FieldCondition(key="metadata.year", range=models.Range(lt=2020))],
    )
    assert {h.id for h in p.search("anything", k=10, filter=native)} == {"x-9"}
    assert p.count({"topic": "pets"}) == 2
    assert {h.id for h in p.search("x", k=10, filter={"topic": {"$nin": ["ir", "pets"]}})} == {"1"}
    assert {h.id for h in p.search("x", k=10, filter={"score": 4.5})} == {"1"}  # floats: a range
    assert {h.id for h in p.search("x", k=10, filter={"year": {"$ne": 2020}})} == {
        "1",
        "foo",
        "x-9",
        "12",
    }
    with pytest.raises(InvalidInputError, match=r"\$like"):
        p.search("x", filter={"topic": {"$like": "i%"}})


def test_backends_are_congruent(make_pipeline, tmp_path: Path) -> None:
    """Identical top-10 ids (and scores) on Edge and :memory: for every plan."""
    edge = make_pipeline("edge")
    memory = make_pipeline("memory")
    many = DOCS + [
        {"id": f"n{i}", "text": f"note {i} about topic {i % 3} and vectors"} for i in range(30)
    ]
    edge.ingest(many)
    memory.ingest(many)
    for plan in ["tokens", "dense", "dense:8 -> tokens"]:
        for q in QUERIES:
            a = edge.search(q, k=10, plan=plan)
            b = memory.search(q, k=10, plan=plan)
            assert [h.id for h in a] == [h.id for h in b], (plan, q)
            assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-4)


def test_exact_maxsim_matches_numpy(make_pipeline, encoder) -> None:

    p = make_pipeline("edge")
    p.ingest(DOCS)
    q = "late interaction retrieval"
    docs = encoder.encode(
        [d["text"] for d in DOCS], is_query=False, pooled=False, tokens=True
    ).tokens
    qt = encoder.encode([q], is_query=True, pooled=False, tokens=True).tokens[0]
    expected = sorted(
        ((float((qt @ d.T).max(axis=1).sum()), DOCS[i]["id"]) for i, d in enumerate(docs)),
        reverse=True,
    )
    hits = p.search(q, k=len(DOCS), plan="tokens")
    assert [h.id for h in hits] == [i for _, i in expected]
    assert [h.score for h in hits] == pytest.approx([s for s, _ in expected], rel=1e-4)
    assert all(0.0 <= h.relevance <= 1.0 for h in hits)


@pytest.mark.parametrize("backend", ["edge", "qdrant-path"])
def test_mismatched_pipeline_is_refused_and_nothing_changes(
    make_pipeline, encoder, tmp_path: Path, backend: str
) -> None:
    p = make_pipeline(backend)
    p.ingest(DOCS)
    p.close()
    store = store_config(backend, tmp_path)
    for fields, what in [
        ([{"type": "late_interaction", "datatype": "float16"}, {"type": "dense"}], "datatype"),
        ([{"type": "late_interaction"}, {"type": "dense", "dim": 128}], "size"),
        ([{"type": "late_interaction"}], "fields"),
    ]:
        with pytest.raises(CollectionMismatchError, match=what):
            Pipeline.from_config({"fields": fields, "store": store}, encoder=encoder)

    class OtherEncoder(type(encoder)):  # same weights, another name: a different encoder
        def __init__(self) -> None:
            self.__dict__.update(encoder.__dict__)
            self.name = "another/model"

    with pytest.raises(CollectionMismatchError, match=r"encoder\.name"):
        Pipeline.from_config(
            {"fields": [{"type": "late_interaction"}, {"type": "dense"}], "store": store},
            encoder=OtherEncoder(),
        )
    with Pipeline.from_config(
        {"fields": [{"type": "late_interaction"}, {"type": "dense"}], "store": store},
        encoder=encoder,
    ) as again:
        assert again.count() == len(DOCS)
        assert again.search(QUERIES[1], k=1)[0].id == 7


def test_pipelines_in_one_process_share_an_embedded_store(
    make_pipeline, encoder, tmp_path: Path
) -> None:
    """A second pipeline (or front end) on the same Edge folder in one process shares the
    open shard: each sees the other's writes, closing one leaves the other working, and a
    pipeline built differently is still refused."""
    fields = [{"type": "late_interaction"}, {"type": "dense"}]
    first = make_pipeline("edge")
    first.ingest([Document(text="Qdrant stores vectors.", id="a")])
    second = Pipeline.from_config(
        {"fields": fields, "store": store_config("edge", tmp_path)}, encoder=encoder
    )
    second.ingest([Document(text="Cats sleep all day.", id="b")])
    assert first.count() == second.count() == 2
    with pytest.raises(CollectionMismatchError):
        Pipeline.from_config(
            {"fields": fields[:1], "store": store_config("edge", tmp_path)}, encoder=encoder
        )
    first.close()
    assert [h.id for h in second.search("vector database", 1)] == ["a"]
    second.close()
    with Pipeline.from_config(
        {"fields": fields, "store": store_config("edge", tmp_path)}, encoder=encoder
    ) as reopened:
        assert reopened.count() == 2


def test_lock_holds_across_processes(make_pipeline, tmp_path: Path) -> None:
    import subprocess
    import sys

    make_pipeline("edge")
    code = (
        "from polyvec.store.edge import EdgeStore\n"
        f"s = EdgeStore({str(tmp_path / 'edge')!r}, 'test')\n"
        "try:\n    s._acquire()\nexcept Exception as e:\n    print(type(e).__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "StoreLockedError"


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_input_is_refused_before_anything_is_written(make_pipeline, backend: str) -> None:
    p = make_pipeline(backend)
    p.ingest(DOCS[:2])
    with pytest.raises(InvalidInputError, match="#1"):
        p.ingest([{"id": "ok", "text": "fine"}, {"id": "bad", "txt": "typo"}])
    with pytest.raises(InvalidInputError, match="ids must be str or int"):
        p.ingest([{"id": 1.5, "text": "float id"}])
    with pytest.raises(InvalidInputError, match="text must be a str"):
        p.ingest([{"id": "n", "text": None}])
    with pytest.raises(InvalidInputError, match="positive int"):
        p.search("x", k=0)
    assert p.count() == 2


def test_collections_built_before_a_setting_existed_still_open(
    make_pipeline, encoder, tmp_path: Path
) -> None:
    """A manifest without a (newer) setting is compatible while the pipeline uses its default."""
    import json

    p = make_pipeline("edge")
    p.ingest(DOCS[:2])
    p.close()
    manifest_path = tmp_path / "edge" / "test" / "polyvec.json"
    manifest = json.loads(manifest_path.read_text())
    for adapter in manifest["adapters"].values():
        adapter.pop("quantization")  # as if written before quantization existed
    manifest["adapters"]["tokens"].pop("pool_factor")
    manifest["fields"]["tokens"].pop("hnsw_m")
    manifest_path.write_text(json.dumps(manifest))
    fields = [{"type": "late_interaction"}, {"type": "dense"}]
    with Pipeline.from_config(
        {"fields": fields, "store": store_config("edge", tmp_path)}, encoder=encoder
    ) as again:
        assert again.count() == 2
    pooled = [{"type": "late_interaction", "pool_factor": 2}, {"type": "dense"}]
    with pytest.raises(
        CollectionMismatchError, match=r"adapters\.tokens\.pool_factor: not in the collection"
    ):
        Pipeline.from_config(
            {"fields": pooled, "store": store_config("edge", tmp_path)}, encoder=encoder
        )


def test_manifest_is_keyed_by_name_and_format_checked(
    make_pipeline, encoder, tmp_path: Path
) -> None:
    """A reordered identical config opens; a format-1 manifest (lists) opens; a newer format
    and a genuinely different config are refused, every difference named."""
    import json

    p = make_pipeline("edge")
    p.ingest(DOCS[:2])
    p.close()
    store = store_config("edge", tmp_path)
    reordered = [{"type": "dense"}, {"type": "late_interaction"}]
    with Pipeline.from_config({"fields": reordered, "store": store}, encoder=encoder) as again:
        assert again.count() == 2
    manifest_path = tmp_path / "edge" / "test" / "polyvec.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["format"] == 2 and set(manifest["fields"]) == {"tokens", "dense"}
    old = dict(manifest, format=1)
    old["fields"] = list(manifest["fields"].values())
    old["adapters"] = list(manifest["adapters"].values())
    old["defaults"] = {}
    manifest_path.write_text(json.dumps(old))
    with Pipeline.from_config({"fields": reordered, "store": store}, encoder=encoder) as again:
        assert again.count() == 2
    manifest_path.write_text(json.dumps(dict(manifest, format=99)))
    with pytest.raises(CollectionMismatchError, match="format 99, newer"):
        Pipeline.from_config({"fields": reordered, "store": store}, encoder=encoder)
    manifest_path.write_text(json.dumps(manifest))
    different = [{"type": "dense", "dim": 64}, {"type": "late_interaction", "datatype": "float16"}]
    with pytest.raises(CollectionMismatchError) as refused:
        Pipeline.from_config({"fields": different, "store": store}, encoder=encoder)
    message = str(refused.value)
    assert "fields.dense.size: collection has 384, pipeline has 64" in message
    assert "fields.tokens.datatype: collection has 'float32', pipeline has 'float16'" in message


# qdrant-client's QdrantLocal leaves its lock file open when it refuses a second client
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_second_local_path_client_is_store_locked(make_pipeline, tmp_path: Path) -> None:
    """qdrant-client's local folder allows one client: the same error as Edge's lock."""
    import gc

    make_pipeline("qdrant-path")
    with pytest.raises(StoreLockedError, match="open in another process"):
        make_pipeline("qdrant-path")
    gc.collect()  # its leaked file is reported here, not in a later test


def test_an_unreadable_manifest_is_a_store_error(make_pipeline, tmp_path: Path) -> None:
    from polyvec import StoreError

    make_pipeline("edge").close()
    (tmp_path / "edge" / "test" / "polyvec.json").write_text("{not json")
    with pytest.raises(StoreError, match="cannot be read"):
        make_pipeline("edge")
    make_pipeline("memory")  # and nothing is left locked or half-open


def test_a_changed_sequence_length_or_prompt_is_refused(tmp_path: Path, raw_encoder) -> None:
    """Cutting texts elsewhere or prompting them changes every vector: named, refused."""
    import json

    from polyvec.encoders import SentenceTransformerEncoder

    store = store_config("edge", tmp_path)
    with Pipeline.from_config(
        {"fields": [{"type": "dense"}], "store": store}, encoder=raw_encoder
    ) as p:
        p.ingest(DOCS[:2])
    shorter = SentenceTransformerEncoder("bundled", device="cpu", max_seq_length=64)
    with pytest.raises(
        CollectionMismatchError,
        match=r"encoder\.max_seq_length: collection has 256, pipeline has 64",
    ):
        Pipeline.from_config({"fields": [{"type": "dense"}], "store": store}, encoder=shorter)
    prompted = SentenceTransformerEncoder("bundled", device="cpu", query_prompt="query: ")
    with pytest.raises(CollectionMismatchError, match=r"encoder\.query_prompt"):
        Pipeline.from_config({"fields": [{"type": "dense"}], "store": store}, encoder=prompted)
    manifest_path = tmp_path / "edge" / "test" / "polyvec.json"
    manifest = json.loads(manifest_path.read_text())
    for key in ("max_seq_length", "query_prompt", "document_prompt"):
        manifest["encoder"].pop(key)  # as written before these were recorded
    manifest_path.write_text(json.dumps(manifest))
    with Pipeline.from_config(
        {"fields": [{"type": "dense"}], "store": store}, encoder=raw_encoder
    ) as p:
        assert p.count() == 2


def test_the_encoder_lock_serves_in_arrival_order() -> None:
    """A writer taking the encoder slice after slice must not starve a waiting search."""
    import threading
    import time

    from polyvec.pipeline import FairLock

    lock = FairLock()
    order: list[str] = []
    writer_holds = threading.Event()

    def writer() -> None:
        for i in range(3):
            with lock:
                order.append(f"w{i}")
                writer_holds.set()
                time.sleep(0.05)

    def reader() -> None:
        writer_holds.wait()
        with lock, lock:  # re-entrant for its holder
            order.append("r")

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert order.index("r") <= 2  # served before the writer's last slice, not after all


class _RandomTokens(Encoder):
    """64 random unit token vectors of 128 dims per text, seeded by the text: a corpus large
    enough for Edge's optimizer (it rewrites segments past ~10 MB of vectors) in a second."""

    name = "random-tokens"
    dim = token_dim = 128

    def encode(
        self, texts: Sequence[str], *, is_query: bool, pooled: bool, tokens: bool
    ) -> Encoded:
        rows = []
        for text in texts:
            rng = np.random.default_rng(zlib.crc32(text.encode()))
            row = rng.standard_normal((64, 128)).astype(np.float32)
            rows.append(row / np.linalg.norm(row, axis=1, keepdims=True))
        return Encoded(
            pooled=np.stack([r.mean(axis=0) for r in rows]) if pooled and rows else None,
            tokens=rows if tokens else None,
        )


def test_optimize_leaves_no_replaced_segment_on_disk(tmp_path: Path) -> None:
    """Edge deletes the segments an optimisation replaced only when it flushes: optimize()
    flushes, so the folder holds the live segments alone, not twice the bytes until close."""
    config = {
        "fields": [{"type": "late_interaction"}],
        "chunking": {"mode": "truncate"},
        "store": store_config("edge", tmp_path),
    }
    with Pipeline.from_config(config, encoder=_RandomTokens()) as p:
        for batch in range(2):
            p.ingest([{"id": f"{batch}-{i}", "text": f"{batch} {i}"} for i in range(400)])
        p.optimize()
        live = p.store.describe()["segments"]
        on_disk = [d for d in tmp_path.rglob("segments/*") if d.is_dir()]
        assert live >= 1 and len(on_disk) == live
        assert p.count() == 800

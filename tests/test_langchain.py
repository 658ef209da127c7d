"""The LangChain plugin: LangChain's own standard suites on both store backends, plus polyvec's.

The standard suites (``langchain_tests``) run unmodified — nothing overridden or skipped —
on Qdrant Edge (a fresh folder per test) and on qdrant-client ``:memory:``.
"""

from __future__ import annotations

import importlib
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores import VectorStore
from langchain_tests.integration_tests import (
    RetrieversIntegrationTests,
    VectorStoreIntegrationTests,
)
from qdrant_client import models

from polyvec import (
    CollectionNotFoundError,
    ConfigError,
    InvalidInputError,
    MissingDependencyError,
    Pipeline,
    PolyvecError,
    registry,
)
from polyvec.encoders import SentenceTransformerEncoder
from polyvec.eval import load_beir
from polyvec.plugins.langchain import EmbeddingsEncoder, PolyvecRetriever, PolyvecVectorStore
from tests.conftest import BACKENDS, LOOPBACK, shared_dataset, store_config

DOCS = [
    Document(
        id="1",
        page_content="Qdrant is a vector database written in Rust.",
        metadata={"topic": "db", "year": 2021},
    ),
    Document(
        id="foo",
        page_content="Cats purr when they are content.",
        metadata={"topic": "pets", "year": 2019},
    ),
    Document(
        id="doc/ä",
        page_content="MaxSim sums, over query tokens, the best matching document token.",
        metadata={"topic": "ir", "year": 2020},
    ),
    Document(
        id="7",
        page_content="ColBERT introduced late interaction for passage retrieval.",
        metadata={"topic": "ir", "year": 2020},
    ),
    Document(
        id="x-9",
        page_content="Dogs enjoy long walks in the park.",
        metadata={"topic": "pets", "year": 2023},
    ),
    Document(
        id="12",
        page_content="Product quantization compresses vectors into short codes.",
        metadata={"topic": "ir", "year": 2011},
    ),
]
FIELDS = [{"type": "late_interaction", "name": "tokens"}, {"type": "dense", "name": "dense"}]


def real_pipeline(encoder: SentenceTransformerEncoder, backend: str, tmp_path: Path) -> Pipeline:
    """A late-interaction + dense pipeline on the bundled model, holding :data:`DOCS`."""
    pipeline = Pipeline.from_config(
        {
            "fields": FIELDS,
            "store": store_config(backend, tmp_path),
            "plans": {"funnel": "dense:4 -> tokens"},
        },
        encoder=encoder,
    )
    PolyvecVectorStore(pipeline).add_documents(DOCS)
    return pipeline


# --- LangChain's standard suites, once per backend ----------------------------------------


class _StandardVectorStore(VectorStoreIntegrationTests):
    """The suite drives the store with ``DeterministicFakeEmbedding(size=6)``."""

    backend: ClassVar[str]
    retrieval_mode: ClassVar[str | None] = None

    @pytest.fixture
    def vectorstore(self, tmp_path: Path) -> Iterator[VectorStore]:
        store = PolyvecVectorStore(
            {"store": store_config(self.backend, tmp_path)},
            embedding=self.get_embeddings(),
            retrieval_mode=self.retrieval_mode,
        )
        try:
            yield store
        finally:
            store.close()


class TestVectorStoreEdge(_StandardVectorStore):
    backend = "edge"


class TestVectorStoreMemory(_StandardVectorStore):
    backend = "memory"


@LOOPBACK
class TestVectorStoreRemote(_StandardVectorStore):
    """qdrant-client's server path (REST) against the loopback double."""

    backend = "remote"


# langchain-qdrant's RetrievalMode.SPARSE and .HYBRID: a bm25 field beside the dense one,
# searched alone or fused with it (RRF) by default.
#
# These suite tests search "foo" and expect "bar" back too (k=2 of two documents, or the
# one left after deleting "foo"): a lexical search finds only documents sharing a query
# term, as langchain-qdrant's sparse mode does. They must fail, and exactly they.
LEXICAL_MISSES = {
    f"{name}{suffix}"
    for name in (
        "test_add_documents",
        "test_deleting_documents",
        "test_deleting_bulk_documents",
        "test_add_documents_with_ids_is_idempotent",
        "test_add_documents_by_id_with_mutation",
    )
    for suffix in ("", "_async")
}


class _SparseSuite(_StandardVectorStore):
    retrieval_mode = "sparse"

    @pytest.fixture(autouse=True)
    def _lexical_misses(self, request: pytest.FixtureRequest) -> None:
        if request.node.originalname in LEXICAL_MISSES:
            reason = "BM25 returns no document without a query term"
            request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


class TestVectorStoreSparseEdge(_SparseSuite):
    backend = "edge"


class TestVectorStoreSparseMemory(_SparseSuite):
    backend = "memory"


class TestVectorStoreHybridEdge(_StandardVectorStore):
    backend, retrieval_mode = "edge", "hybrid"


class TestVectorStoreHybridMemory(_StandardVectorStore):
    backend, retrieval_mode = "memory", "hybrid"


class _StandardRetriever(RetrieversIntegrationTests):
    """The suite builds the retriever itself (``k=3``, ``k=1``) from these parameters."""

    backend: ClassVar[str]

    @pytest.fixture(autouse=True)
    def _filled_pipeline(
        self, encoder: SentenceTransformerEncoder, tmp_path: Path
    ) -> Iterator[None]:
        self.pipeline = real_pipeline(encoder, self.backend, tmp_path)
        try:
            yield
        finally:
            self.pipeline.close()

    @property
    def retriever_constructor(self) -> type[PolyvecRetriever]:
        return PolyvecRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"pipeline": self.pipeline}

    @property
    def retriever_query_example(self) -> str:
        return "late interaction retrieval"


class TestRetrieverEdge(_StandardRetriever):
    backend = "edge"


class TestRetrieverMemory(_StandardRetriever):
    backend = "memory"


@LOOPBACK
class TestRetrieverRemote(_StandardRetriever):
    backend = "remote"


# --- the retriever ---------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def pipeline(request, encoder, tmp_path) -> Iterator[Pipeline]:
    p = real_pipeline(encoder, request.param, tmp_path)
    yield p
    p.close()


def ids(docs: list[Document]) -> list[str | None]:
    return [d.id for d in docs]


def test_retriever_honours_per_call_k_filter_and_plan(pipeline: Pipeline) -> None:
    retriever = PolyvecRetriever.from_pipeline(pipeline, k=2, filter={"topic": "pets"})
    query = "late interaction retrieval"
    assert set(ids(retriever.invoke(query))) == {"x-9", "foo"}  # the field defaults
    assert len(retriever.invoke(query, k=1)) == 1
    got = retriever.invoke(query, k=3, filter={"topic": "ir"})
    assert len(got) == 3 and {d.metadata["topic"] for d in got} == {"ir"}
    recent = retriever.invoke(query, k=6, filter={"year": {"$gte": 2021}})
    assert {d.id for d in recent} == {"1", "x-9"}
    for plan in ("dense", "dense:3 -> tokens"):
        expected = pipeline.search(query, 3, plan=plan)
        assert ids(retriever.invoke(query, k=3, filter=None, plan=plan)) == [h.id for h in expected]
    # the store default plan and limits, overridden per call
    with_default = PolyvecRetriever(pipeline=pipeline, plan="funnel", limits={"dense": 2})
    assert ids(with_default.invoke(query, k=2)) == [
        h.id for h in pipeline.search(query, 2, plan="funnel", limits={"dense": 2})
    ]
    assert ids(with_default.invoke(query, k=2, limits={"dense": 6})) == [
        h.id for h in pipeline.search(query, 2, plan="funnel", limits={"dense": 6})
    ]


async def test_retriever_async_matches_sync(pipeline: Pipeline) -> None:
    retriever = PolyvecRetriever(pipeline=pipeline, k=3)
    query = "which database stores vectors?"
    sync = retriever.invoke(query, plan="dense", filter={"topic": ["db", "ir"]})
    assert await retriever.ainvoke(query, plan="dense", filter={"topic": ["db", "ir"]}) == sync
    assert sync[0].id == "1"


def test_retriever_returns_exactly_what_was_stored(pipeline: Pipeline) -> None:
    got = PolyvecRetriever(pipeline=pipeline, k=6).invoke("anything at all")
    assert sorted(got, key=lambda d: str(d.id)) == sorted(DOCS, key=lambda d: str(d.id))
    assert all(isinstance(d.metadata["year"], int) for d in got)


def test_retriever_refuses_unknown_arguments(pipeline: Pipeline) -> None:
    retriever = PolyvecRetriever(pipeline=pipeline)
    with pytest.raises(InvalidInputError, match="top_k"):
        retriever.invoke("query", top_k=3)
    with pytest.raises(ConfigError, match="nope"):
        retriever.invoke("query", plan="nope")


def test_qdrant_filter_objects_pass_through(pipeline: Pipeline) -> None:
    flt = models.Filter(
        must=[models.FieldCondition(key="metadata.topic", match=models.MatchValue(value="ir"))],
        must_not=[models.FieldCondition(key="metadata.year", range=models.Range(lt=2015))],
    )
    expected = {"doc/ä", "7"}
    assert set(ids(PolyvecRetriever(pipeline=pipeline, filter=flt, k=5).invoke("q"))) == expected
    store = PolyvecVectorStore(pipeline)
    assert set(ids(store.similarity_search("q", k=5, filter=flt))) == expected
    as_json = {"must": [{"key": "metadata.topic", "match": {"value": "pets"}}]}
    assert set(ids(store.similarity_search("q", k=5, filter=as_json))) == {"foo", "x-9"}


def test_late_interaction_through_the_retriever(pipeline: Pipeline) -> None:
    query = "late interaction retrieval"
    retriever = PolyvecRetriever(pipeline=pipeline, plan="tokens", k=3)
    assert ids(retriever.invoke(query)) == [h.id for h in pipeline.search(query, 3, plan="tokens")]
    assert retriever.invoke(query)[0].id == "7"
    # MaxSim sums over query tokens; the store reports the pipeline's [0, 1] relevance
    store = PolyvecVectorStore(pipeline, plan="tokens")
    scored = store.similarity_search_with_relevance_scores(query, k=6)
    assert all(0.0 <= s <= 1.0 for _, s in scored)
    assert [s for _, s in scored] == sorted((s for _, s in scored), reverse=True)
    raw = store.similarity_search_with_score(query, k=1)
    assert raw[0][1] > 1.0  # a sum over query tokens, not a cosine
    with pytest.raises(PolyvecError, match="MaxSim"):
        store._select_relevance_score_fn()
    assert PolyvecVectorStore(pipeline, plan="dense")._select_relevance_score_fn()(1.0000002) == 1.0


def test_retriever_from_yaml(encoder, tmp_path: Path) -> None:
    config = {"fields": FIELDS, "store": store_config("edge", tmp_path)}
    real_pipeline(encoder, "edge", tmp_path).close()
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    retriever = PolyvecRetriever.from_yaml(path, encoder=encoder, k=2, plan="dense")
    try:
        assert ids(retriever.invoke("purring cats"))[0] == "foo"
    finally:
        retriever.close()


# --- the vector store ------------------------------------------------------------------


def fake_store(backend: str, tmp_path: Path, **kwargs: Any) -> PolyvecVectorStore:
    return PolyvecVectorStore(
        {"store": store_config(backend, tmp_path)},
        embedding=DeterministicFakeEmbedding(size=6),
        **kwargs,
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_ids_and_callers_objects_untouched(backend: str, tmp_path: Path) -> None:
    with fake_store(backend, tmp_path) as store:
        docs = [
            Document(page_content="a", metadata={"n": [1]}),
            Document(id="given", page_content="b"),
            Document(page_content="c"),
        ]
        snapshot = [d.model_copy(deep=True) for d in docs]
        got = store.add_documents(docs, ids=["x", None, None])
        assert got[:2] == ["x", "given"] and isinstance(got[2], str) and got[2] not in got[:2]
        assert docs == snapshot
        docs[0].metadata["n"].append(2)  # the store kept its own copy
        assert store.get_by_ids(["x"])[0].metadata == {"n": [1]}
        assert store.add_texts(["d", "e"], [{"k": 1}, {"k": 2}], ids=["d", "e"]) == ["d", "e"]
        assert store.pipeline.count() == 5
        store.delete(filter={"k": 2})
        assert store.get_by_ids(["d", "e", "missing"]) == [
            Document(id="d", page_content="d", metadata={"k": 1})
        ]
        with pytest.raises(InvalidInputError, match="clear"):
            store.delete()
        with pytest.raises(InvalidInputError, match="2 ids for 3"):
            store.add_documents(docs, ids=["a", "b"])


async def test_async_store_methods(tmp_path: Path) -> None:
    with fake_store("edge", tmp_path) as store:
        assert await store.aadd_texts(["foo", "bar", "baz"], ids=["1", "2", "3"]) == ["1", "2", "3"]
        assert ids(await store.asimilarity_search("bar", k=1)) == ["2"]
        scored = await store.asimilarity_search_with_relevance_scores("baz", k=3)
        assert scored[0][0].id == "3" and all(0.0 <= s <= 1.0 for _, s in scored)
        assert (await store.asimilarity_search_with_score("baz", k=1))[0][0].id == "3"
        await store.adelete(["1", "missing"])
        assert ids(await store.aget_by_ids(["1", "2"])) == ["2"]
        await store.adelete(filter={"missing": 1})
        assert store.pipeline.count() == 2


def test_from_texts_from_documents_and_as_retriever(tmp_path: Path) -> None:
    embedding = DeterministicFakeEmbedding(size=6)
    store = PolyvecVectorStore.from_texts(
        ["foo", "bar", "baz"], embedding, [{"g": 1}, {"g": 2}, {"g": 2}], ids=["a", "b", "c"]
    )
    try:
        assert store.embeddings is embedding
        assert store.pipeline.config.store.type == "qdrant"  # ephemeral :memory: by default
        assert list(store.pipeline.vector_fields) == ["dense"]
        retriever = store.as_retriever(search_kwargs={"k": 1, "filter": {"g": 2}, "plan": "dense"})
        assert ids(retriever.invoke("baz")) == ["c"]
        threshold = store.as_retriever(
            search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.999}
        )
        assert ids(threshold.invoke("bar")) == ["b"]
        assert ids(store.as_polyvec_retriever(k=2).invoke("foo"))[0] == "a"
    finally:
        store.close()
    on_edge = PolyvecVectorStore.from_documents(
        [Document(id="d1", page_content="foo")],
        embedding,
        pipeline={"store": store_config("edge", tmp_path)},
    )
    with on_edge:
        assert on_edge.get_by_ids(["d1"]) == [Document(id="d1", page_content="foo")]


def test_embeddings_encoder_fingerprint_is_deterministic(tmp_path: Path) -> None:
    first = EmbeddingsEncoder(DeterministicFakeEmbedding(size=6))
    second = EmbeddingsEncoder(DeterministicFakeEmbedding(size=6))
    assert first.name == "DeterministicFakeEmbedding-6"
    assert first.fingerprint() == second.fingerprint() == first.fingerprint()
    assert (
        first.fingerprint() != EmbeddingsEncoder(DeterministicFakeEmbedding(size=7)).fingerprint()
    )
    encoded = first.encode(["a", "bb"], is_query=False, pooled=True, tokens=False)
    assert encoded.pooled is not None and encoded.pooled.shape == (2, 6)
    assert abs(float((encoded.pooled**2).sum(axis=1)[0]) - 1.0) < 1e-5
    with pytest.raises(ConfigError, match="dense"):
        first.encode(["a"], is_query=True, pooled=False, tokens=True)
    # a fresh instance of the same model reopens a stored collection
    with fake_store("edge", tmp_path) as store:
        store.add_texts(["foo"], ids=["1"])
    with fake_store("edge", tmp_path) as store:
        assert ids(store.similarity_search("foo", k=1)) == ["1"]


def test_ambiguous_or_missing_arguments_are_refused(encoder, tmp_path: Path) -> None:
    embedding = DeterministicFakeEmbedding(size=6)
    with pytest.raises(InvalidInputError, match="nothing to build"):
        PolyvecVectorStore()
    with pytest.raises(ConfigError, match="encoder"):
        PolyvecVectorStore({"encoder": {"model": "bundled"}}, embedding=embedding)
    with pytest.raises(ConfigError, match="token vectors"):
        PolyvecVectorStore(
            {"fields": [{"type": "late_interaction"}], "store": store_config("memory", tmp_path)},
            embedding=embedding,
        )
    pipeline = Pipeline.from_config(
        {"fields": FIELDS, "store": store_config("memory", tmp_path)}, encoder=encoder
    )
    with pipeline:
        with pytest.raises(InvalidInputError, match="both a Pipeline and embedding"):
            PolyvecVectorStore(pipeline, embedding)
        with pytest.raises(ConfigError, match="unknown"):
            PolyvecVectorStore(pipeline, plan="nope")
        store = PolyvecVectorStore(pipeline)
        with pytest.raises(InvalidInputError, match="fetch_k"):
            store.similarity_search("q", fetch_k=3)
        store.close()  # a pipeline passed in is the caller's: still open
        assert pipeline.count() == 0


# --- the optional dependency -----------------------------------------------------------


def test_missing_langchain_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [
        m for m in sys.modules if m == "langchain_core" or m.startswith("langchain_core.")
    ]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "langchain_core", None)
    monkeypatch.delitem(sys.modules, "polyvec.plugins.langchain")
    with pytest.raises(MissingDependencyError, match=r"polyvec\[langchain\]") as info:
        importlib.import_module("polyvec.plugins.langchain")
    assert isinstance(info.value.__cause__, ImportError)
    with pytest.raises(MissingDependencyError, match=r"polyvec\[langchain\]"):
        registry.plugins.resolve("langchain")


def test_registry_resolves_the_plugin() -> None:
    module = registry.plugins.resolve("langchain")
    assert module.PolyvecRetriever is PolyvecRetriever


# --- no drift: the retriever returns exactly what the pipeline returns ----------------------

N_QUERIES = 20
N_DOCS = 150


@pytest.fixture(scope="module")
def scifact_pipeline(encoder, tmp_path_factory) -> Iterator[tuple[Pipeline, list[str]]]:
    dataset = load_beir(shared_dataset("scifact"))
    qids = list(dataset.queries)[:N_QUERIES]
    relevant = {d for q in qids for d in dataset.qrels[q]}
    corpus = list(dataset.corpus())
    docs = [d for d in corpus if d.id in relevant]
    docs += list(itertools.islice((d for d in corpus if d.id not in relevant), N_DOCS - len(docs)))
    pipeline = Pipeline.from_config(
        {
            "fields": FIELDS,
            "store": store_config("edge", tmp_path_factory.mktemp("scifact")),
            "plans": {"funnel": "dense:30 -> tokens"},
        },
        encoder=encoder,
    )
    pipeline.ingest(docs)
    yield pipeline, [dataset.queries[q] for q in qids]
    pipeline.close()


@pytest.mark.parametrize("plan", [None, "funnel"])
async def test_no_drift_on_scifact(scifact_pipeline, plan: str | None) -> None:
    pipeline, queries = scifact_pipeline
    retriever = PolyvecRetriever(pipeline=pipeline, k=10, plan=plan)
    expected = [[h.id for h in pipeline.search(q, 10, plan=plan)] for q in queries]
    assert all(len(e) == 10 for e in expected)
    assert [ids(retriever.invoke(q)) for q in queries] == expected
    assert [ids(await retriever.ainvoke(q)) for q in queries[:3]] == expected[:3]
    store = PolyvecVectorStore(pipeline, plan=plan)
    assert [ids(store.similarity_search(q, k=10)) for q in queries[:3]] == expected[:3]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_delete_by_source_and_never_by_a_string_of_ids(make_pipeline, backend: str) -> None:
    from polyvec import Document as PolyvecDocument

    pipeline = make_pipeline(backend, fields=[{"type": "dense"}])
    pipeline.replace_sources(
        [
            PolyvecDocument(text=f"part {i} of {s}", id=f"{s}#{i}", frontend={"source": s})
            for s in ("a.md", "b.md")
            for i in range(2)
        ]
        + [PolyvecDocument(text="four", id="4"), PolyvecDocument(text="nine", id="9")]
    )
    store = PolyvecVectorStore(pipeline)
    with pytest.raises(InvalidInputError, match="list of ids"):
        store.delete("49")  # type: ignore[arg-type]
    assert pipeline.count() == 6
    store.delete(source="a.md")
    await store.adelete(source=["b.md"])
    assert sorted(d.id for d in store.get_by_ids(["4", "9", "a.md#0", "b.md#1"])) == ["4", "9"]
    with pytest.raises(InvalidInputError, match="ids, filter= or source="):
        store.delete()


def test_a_langchain_qdrant_users_code_runs_with_the_class_name_changed(tmp_path: Path) -> None:
    """``QdrantVectorStore.from_documents(docs, embedding, location=":memory:",
    collection_name="x")`` with polyvec's class; then url=/path=, retrieval_mode, and no
    embedding at all (the bundled model)."""
    QdrantVectorStore = PolyvecVectorStore  # the only line a user changes
    embedding = DeterministicFakeEmbedding(size=8)
    docs = [
        Document(page_content="Cats sleep most of the day.", metadata={"n": 1}),
        Document(page_content="Qdrant stores vectors.", metadata={"n": 2}),
    ]
    store = QdrantVectorStore.from_documents(
        docs, embedding, location=":memory:", collection_name="x"
    )
    with store:
        assert store.pipeline.config.store.collection == "x"
        assert store.similarity_search("Qdrant stores vectors.", k=1)[0].metadata == {"n": 2}
        assert store.plan is None and store.pipeline.plan().describe() == "dense(k)"
    hybrid = QdrantVectorStore.from_documents(
        docs, embedding, path=str(tmp_path / "local"), collection_name="h", retrieval_mode="hybrid"
    )
    with hybrid:
        assert hybrid.plan == "rrf(bm25:100, dense:100)" and "bm25" in hybrid.pipeline.vector_fields
        assert hybrid.similarity_search("cats sleep", k=1)[0].page_content.startswith("Cats")
    with QdrantVectorStore.from_documents(docs, location=":memory:") as bundled:  # no embedding
        assert bundled.pipeline.encoder.name == "bundled"
        assert bundled.similarity_search("vector database", k=1)[0].metadata == {"n": 2}
    with pytest.raises(InvalidInputError, match="one of location=, url= and path="):
        QdrantVectorStore(embedding=embedding, location=":memory:", url="http://x:6333")
    with pytest.raises(InvalidInputError, match="retrieval_mode"):
        QdrantVectorStore(embedding=embedding, retrieval_mode="semantic")


def test_from_existing_collection_reopens_without_the_field_config(tmp_path: Path) -> None:
    """langchain-qdrant's ``from_existing_collection``: the collection's manifest gives the
    fields and plans; the LangChain embedding it was built with is handed in again."""
    embedding = DeterministicFakeEmbedding(size=8)
    docs = [
        Document(page_content="Cats sleep most of the day.", metadata={"n": 1}),
        Document(page_content="Qdrant stores vectors.", metadata={"n": 2}),
    ]
    local = str(tmp_path / "local")
    with PolyvecVectorStore.from_documents(
        docs, embedding, path=local, collection_name="h", retrieval_mode="hybrid"
    ) as built:
        before = built.similarity_search_with_score("cats sleep", k=2)
    with PolyvecVectorStore.from_existing_collection(
        "h", embedding, path=local, retrieval_mode="hybrid"
    ) as again:
        assert set(again.pipeline.vector_fields) == {"dense", "bm25"}
        assert again.similarity_search_with_score("cats sleep", k=2) == before
        assert again.similarity_search("cats", k=1, plan="bm25")[0].metadata == {"n": 1}
    with pytest.raises(ConfigError, match="encoder handed in"):
        PolyvecVectorStore.from_existing_collection("h", path=local)
    with pytest.raises(CollectionNotFoundError, match="no collection"):
        PolyvecVectorStore.from_existing_collection("typo", embedding, path=local)
    # an embedded (Edge) collection built from a config, reopened by its store section
    edge = {"type": "edge", "path": str(tmp_path / "edge"), "collection": "e"}
    config = {"fields": FIELDS, "store": edge, "plans": {"funnel": "dense:4 -> tokens"}}
    with PolyvecVectorStore(config) as built:
        built.add_documents(docs)
    with PolyvecVectorStore.from_existing_collection(
        "e", store={"type": "edge", "path": edge["path"]}, plan="funnel"
    ) as again:
        assert again.pipeline.config.fields == built.pipeline.config.fields
        assert again.similarity_search("vector database", k=1)[0].metadata == {"n": 2}


def test_the_indexing_api_adds_nothing_twice_and_cleans_up(make_pipeline) -> None:
    """langchain_core.indexing.index() with a record manager: a second run over the same
    chunks adds nothing; cleanup="incremental" deletes what a changed source left."""
    from langchain_core.indexing import InMemoryRecordManager, index

    store = PolyvecVectorStore.from_pipeline(make_pipeline("edge"))
    manager = InMemoryRecordManager(namespace="polyvec/test")
    manager.create_schema()
    docs = [
        Document(page_content="Cats sleep.", metadata={"source": "a.md"}),
        Document(page_content="Cats purr.", metadata={"source": "a.md"}),
        Document(page_content="Qdrant stores vectors.", metadata={"source": "b.md"}),
    ]
    first = index(
        docs, manager, store, cleanup="incremental", source_id_key="source", key_encoder="sha256"
    )
    assert first["num_added"] == 3 and store.pipeline.count() == 3
    again = index(
        docs, manager, store, cleanup="incremental", source_id_key="source", key_encoder="sha256"
    )
    assert again["num_added"] == 0 and again["num_skipped"] == 3
    changed = [Document(page_content="Cats nap.", metadata={"source": "a.md"}), docs[2]]
    third = index(
        changed, manager, store, cleanup="incremental", source_id_key="source", key_encoder="sha256"
    )
    assert (third["num_added"], third["num_deleted"]) == (1, 2)
    assert sorted(d.page_content for d in store.similarity_search("cats", k=5)) == [
        "Cats nap.",
        "Qdrant stores vectors.",
    ]


def test_store_wide_limits_give_way_to_a_calls_own_plan(pipeline: Pipeline) -> None:
    """A default {"dense": 2} serves the default plan; a call's plan without a dense stage
    is not refused for it; a call's own limits are still checked against its plan."""
    store = PolyvecVectorStore(pipeline, plan="funnel", limits={"dense": 2})
    assert len(store.similarity_search("late interaction", k=4)) == 2  # dense:2 -> tokens
    assert len(store.similarity_search("late interaction", k=4, plan="tokens")) == 4
    with pytest.raises(ConfigError, match="name no stage of the plan"):
        store.similarity_search("x", k=4, plan="tokens", limits={"dense": 5})
    retriever = store.as_polyvec_retriever(k=4)
    assert len(retriever.invoke("late interaction", plan="tokens")) == 4

"""The LlamaIndex vector store on Qdrant Edge and qdrant-client ``:memory:``.

Every filter operator is checked against hand-written expectations on both backends, and
the ``VectorStoreIndex`` -> retriever -> query engine path runs offline (``MockEmbedding``,
``MockLLM``). "No drift": on a real SciFact subset the LlamaIndex retriever returns exactly
``Pipeline.search``'s top 10.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("llama_index.core", reason="the llamaindex extra is not installed")

import llama_index.core
from llama_index.core import Document as LlamaDocument
from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)

from polyvec import ConfigError, InvalidInputError, MissingDependencyError, Pipeline, registry
from polyvec.eval import load_beir
from polyvec.frontend import relevance
from polyvec.plugins.llamaindex import PolyvecVectorStore, metadata_filters_to_qdrant
from tests.conftest import BACKENDS, shared_dataset, store_config


@pytest.fixture(scope="module", autouse=True)
def offline_llamaindex_settings() -> Iterator[None]:
    """LlamaIndex's global Settings without network: mock LLM and embeddings, no tiktoken."""
    saved = (Settings._llm, Settings._embed_model, llama_index.core.global_tokenizer)
    Settings.llm = MockLLM()
    Settings.embed_model = MockEmbedding(embed_dim=1)
    Settings.tokenizer = str.split
    yield
    Settings._llm, Settings._embed_model, llama_index.core.global_tokenizer = saved


def _node(node_id: str, text: str, source: str | None = None, **metadata: Any) -> TextNode:
    node = TextNode(id_=node_id, text=text, metadata=metadata)
    if source is not None:
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=source)
    return node


def make_nodes() -> list[TextNode]:
    return [
        _node(
            "n1",
            "Cats sleep for most of the day.",
            "docA",
            topic="pets",
            year=2019,
            rating=4.5,
            tags=["animal", "home"],
            title="Sleeping Cats",
            note="",
            published="2019-05-01T00:00:00Z",
        ),
        _node(
            "n2",
            "Dogs need a long walk every day.",
            "docA",
            topic="pets",
            year=2021,
            rating=3.0,
            tags=["animal", "outdoor"],
            title="Walking the dog",
            note="x",
            published="2021-03-10T00:00:00Z",
        ),
        _node(
            "n3",
            "Qdrant stores multivectors and scores them with MaxSim.",
            "docB",
            topic="db",
            year=2023,
            rating=5.0,
            tags=["software"],
            title="Qdrant Internals",
            published="2023-08-20T00:00:00Z",
        ),
        # no source document: node_to_metadata_dict would store ref_doc_id "None"
        _node(
            "n4",
            "ColBERT matches each query token to its best document token.",
            topic="ir",
            year=2020,
            tags=[],
            title="late interaction",
        ),
    ]


ALL_IDS = {"n1", "n2", "n3", "n4"}


def _ids(nodes: Any) -> set[str]:
    return {n.node_id for n in nodes}


def _f(key: str, operator: FilterOperator, value: Any = None) -> MetadataFilter:
    return MetadataFilter(key=key, operator=operator, value=value)


def _all(*filters: Any, condition: FilterCondition = FilterCondition.AND) -> MetadataFilters:
    return MetadataFilters(filters=list(filters), condition=condition)


@dataclass(frozen=True)
class FilterCase:
    filters: MetadataFilters
    expected: set[str]


F = FilterOperator
OPERATOR_CASES = {
    "EQ-str": FilterCase(_all(_f("topic", F.EQ, "pets")), {"n1", "n2"}),
    "EQ-int": FilterCase(_all(_f("year", F.EQ, 2023)), {"n3"}),
    "EQ-float": FilterCase(_all(_f("rating", F.EQ, 4.5)), {"n1"}),
    "NE": FilterCase(_all(_f("topic", F.NE, "pets")), {"n3", "n4"}),
    "NE-missing-key-matches": FilterCase(_all(_f("rating", F.NE, 3.0)), {"n1", "n3", "n4"}),
    "GT": FilterCase(_all(_f("year", F.GT, 2020)), {"n2", "n3"}),
    "GTE": FilterCase(_all(_f("year", F.GTE, 2020)), {"n2", "n3", "n4"}),
    "LT": FilterCase(_all(_f("rating", F.LT, 4.5)), {"n2"}),
    "LTE": FilterCase(_all(_f("rating", F.LTE, 4.5)), {"n1", "n2"}),
    "GT-datetime": FilterCase(
        _all(_f("published", F.GT, "2021-01-01T00:00:00Z")),
        {"n2", "n3"},
    ),
    "IN": FilterCase(_all(_f("topic", F.IN, ["db", "ir"])), {"n3", "n4"}),
    "IN-float": FilterCase(_all(_f("rating", F.IN, [3.0, 5.0])), {"n2", "n3"}),
    "NIN": FilterCase(_all(_f("topic", F.NIN, ["db", "ir"])), {"n1", "n2"}),
    "NIN-missing-key-matches": FilterCase(_all(_f("rating", F.NIN, [3.0, 5.0])), {"n1", "n4"}),
    "ANY": FilterCase(_all(_f("tags", F.ANY, ["outdoor", "software"])), {"n2", "n3"}),
    "ALL": FilterCase(_all(_f("tags", F.ALL, ["animal", "home"])), {"n1"}),
    "CONTAINS": FilterCase(_all(_f("tags", F.CONTAINS, "animal")), {"n1", "n2"}),
    "TEXT_MATCH": FilterCase(
        _all(_f("title", F.TEXT_MATCH, "drant Int")),
        {"n3"},
    ),
    "TEXT_MATCH-is-case-sensitive": FilterCase(
        _all(_f("title", F.TEXT_MATCH, "qdrant")),
        set(),
    ),
    "TEXT_MATCH_INSENSITIVE": FilterCase(
        _all(_f("title", F.TEXT_MATCH_INSENSITIVE, "QDRANT internals")), {"n3"}
    ),
    "TEXT_MATCH_INSENSITIVE-matches-words-not-substrings": FilterCase(
        _all(_f("title", F.TEXT_MATCH_INSENSITIVE, "drant")), set()
    ),
    "IS_EMPTY-missing-or-empty-string": FilterCase(
        _all(_f("note", F.IS_EMPTY)), {"n1", "n3", "n4"}
    ),
    "IS_EMPTY-empty-list": FilterCase(_all(_f("tags", F.IS_EMPTY)), {"n4"}),
}
CONDITION_CASES = {
    "AND": FilterCase(_all(_f("topic", F.EQ, "pets"), _f("year", F.GT, 2020)), {"n2"}),
    "OR": FilterCase(
        _all(_f("topic", F.EQ, "db"), _f("year", F.LT, 2020), condition=FilterCondition.OR),
        {"n1", "n3"},
    ),
    "NOT": FilterCase(
        _all(_f("topic", F.EQ, "pets"), _f("year", F.EQ, 2020), condition=FilterCondition.NOT),
        {"n3"},
    ),
    "AND-of-NOT": FilterCase(
        _all(
            _f("tags", F.CONTAINS, "animal"),
            _all(_f("year", F.GT, 2020), condition=FilterCondition.NOT),
        ),
        {"n1"},
    ),
    "OR-of-ANDs": FilterCase(
        _all(
            _all(_f("topic", F.EQ, "pets"), _f("year", F.GT, 2020)),
            _all(_f("topic", F.EQ, "db")),
            condition=FilterCondition.OR,
        ),
        {"n2", "n3"},
    ),
    "NOT-of-OR": FilterCase(
        _all(
            _all(_f("topic", F.EQ, "db"), _f("rating", F.LT, 4.0), condition=FilterCondition.OR),
            condition=FilterCondition.NOT,
        ),
        {"n1", "n4"},
    ),
}


@pytest.fixture(scope="module", params=BACKENDS)
def filled(request, encoder, tmp_path_factory) -> Iterator[tuple[str, PolyvecVectorStore]]:
    """One store per backend holding ``make_nodes()``, shared by the read-only filter tests."""
    backend = request.param
    pipeline = Pipeline.from_config(
        {
            "fields": [{"type": "late_interaction"}, {"type": "dense"}],
            "store": store_config(backend, tmp_path_factory.mktemp("li")),
        },
        encoder=encoder,
    )
    store = PolyvecVectorStore(pipeline)
    store.add(make_nodes())
    yield backend, store
    pipeline.close()


@pytest.fixture(params=BACKENDS)
def store(request, make_pipeline) -> PolyvecVectorStore:
    """An empty store per test."""
    return PolyvecVectorStore(make_pipeline(request.param))


# --- filters ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", OPERATOR_CASES.values(), ids=OPERATOR_CASES.keys())
def test_filter_operator(filled, case: FilterCase) -> None:
    _, store = filled
    result = store.query(
        VectorStoreQuery(query_str="animals", similarity_top_k=10, filters=case.filters)
    )
    assert set(result.ids or []) == case.expected
    assert _ids(store.get_nodes(filters=case.filters)) == case.expected


@pytest.mark.parametrize("case", CONDITION_CASES.values(), ids=CONDITION_CASES.keys())
def test_filter_conditions_nest(filled, case: FilterCase) -> None:
    _, store = filled
    result = store.query(
        VectorStoreQuery(query_str="animals", similarity_top_k=10, filters=case.filters)
    )
    assert set(result.ids or []) == case.expected
    assert _ids(store.get_nodes(filters=case.filters)) == case.expected


def test_filters_become_typed_qdrant_filters_under_metadata() -> None:
    flt = _all(
        _f("topic", F.EQ, "pets"),
        _all(_f("year", F.GT, 2020), _f("rating", F.EQ, 4.5), condition=FilterCondition.OR),
    )
    typed = metadata_filters_to_qdrant(flt)
    assert typed is not None
    assert typed.model_dump(mode="json", exclude_none=True) == {
        "must": [
            {"key": "metadata.topic", "match": {"value": "pets"}},
            {
                "should": [
                    {"key": "metadata.year", "range": {"gt": 2020}},
                    {"key": "metadata.rating", "range": {"gte": 4.5, "lte": 4.5}},
                ]
            },
        ]
    }
    assert metadata_filters_to_qdrant(None) is None
    assert metadata_filters_to_qdrant(MetadataFilters(filters=[])) is None


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        (MetadataFilter.model_construct(key="k", value="x", operator="regex"), "'regex'"),
        (_f("title", F.GT, "abc"), "GT needs a number or an ISO 8601 datetime"),
        (_f("topic", F.EQ, None), "IS_EMPTY"),
        (_f("tags", F.IN, []), "non-empty list"),
        (_f("title", F.TEXT_MATCH, 3), "TEXT_MATCH needs a non-empty str"),
    ],
    ids=["unknown-operator", "GT-on-text", "EQ-None", "IN-empty", "TEXT_MATCH-int"],
)
def test_untranslatable_filters_are_refused_clearly(flt: MetadataFilter, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        metadata_filters_to_qdrant(MetadataFilters(filters=[flt]))


# --- add / query / get / delete --------------------------------------------------------


def test_nodes_round_trip(store: PolyvecVectorStore) -> None:
    nodes = make_nodes()
    nodes[0].embedding = [0.1, 0.2]  # ignored: polyvec encodes the text itself
    assert store.add(nodes) == ["n1", "n2", "n3", "n4"]
    got = store.get_nodes(["n3", "missing", "n1"])
    assert [n.node_id for n in got] == ["n3", "n1"]
    expected = {n.node_id: n for n in make_nodes()}
    for node in got:
        assert node.model_dump() == expected[node.node_id].model_dump()
    # users' metadata keys sit at the top level of polyvec's metadata, so polyvec filters see them
    assert store.pipeline.count({"topic": "pets"}) == 2


def test_query_ranks_by_relevance_and_honours_top_k(store: PolyvecVectorStore) -> None:
    store.add(make_nodes())
    result = store.query(VectorStoreQuery(query_str="cats sleeping all day", similarity_top_k=2))
    assert result.ids is not None and result.similarities is not None and result.nodes
    assert len(result.ids) == 2 and result.ids[0] == "n1"
    assert [n.node_id for n in result.nodes] == result.ids
    assert result.nodes[0].get_content() == "Cats sleep for most of the day."
    assert all(0.0 <= s <= 1.0 for s in result.similarities)
    assert result.similarities == sorted(result.similarities, reverse=True)


def test_query_restricts_to_doc_ids_and_node_ids(store: PolyvecVectorStore) -> None:
    store.add(make_nodes())

    def ids(**kwargs: Any) -> set[str]:
        query = VectorStoreQuery(query_str="anything", similarity_top_k=10, **kwargs)
        return set(store.query(query).ids or [])

    assert ids(doc_ids=["docA"]) == {"n1", "n2"}
    assert ids(node_ids=["n2", "n4", "unknown"]) == {"n2", "n4"}
    assert ids(doc_ids=["docA"], node_ids=["n2", "n3"]) == {"n2"}
    assert ids(node_ids=[], doc_ids=[]) == ALL_IDS  # what VectorStoreIndex.as_retriever() sends
    assert ids(doc_ids=["None"]) == set()  # n4 has no source document


def test_query_options_and_refusals(store: PolyvecVectorStore) -> None:
    store.add(make_nodes())
    query = VectorStoreQuery(query_str="late interaction token matching", similarity_top_k=3)
    exact = store.query(query, plan="tokens")
    funnel = store.query(query, plan="dense:4 -> tokens", limits={"dense": 4})
    assert exact.ids == funnel.ids  # the funnel sees every document here
    assert exact.ids == [str(h.id) for h in store.pipeline.search(query.query_str or "", 3)]
    with pytest.raises(InvalidInputError, match="unknown option"):
        store.query(query, k=3)
    with pytest.raises(InvalidInputError, match="supports the query modes"):
        store.query(
            VectorStoreQuery(query_str="x", mode=VectorStoreQueryMode.SVM, similarity_top_k=1)
        )
    mmr = VectorStoreQuery(
        query_str=query.query_str,
        mode=VectorStoreQueryMode.MMR,
        similarity_top_k=3,
        mmr_threshold=1.0,
    )
    nearest = store.pipeline.search(query.query_str or "", 3, plan="dense")
    assert store.query(mmr, mmr_prefetch_k=6).ids == [str(h.id) for h in nearest]
    mmr.mmr_threshold = 0.0
    diverse = store.pipeline.search_mmr(query.query_str or "", 3, fetch_k=6, lambda_mult=0.0)
    assert store.query(mmr, mmr_prefetch_k=6).ids == [str(h.id) for h in diverse]
    assert asyncio.run(store.aquery(mmr, mmr_prefetch_k=6)).ids == [str(h.id) for h in diverse]
    with pytest.raises(InvalidInputError, match="384 dimensions, got an array of shape"):
        store.query(VectorStoreQuery(query_embedding=[0.1], similarity_top_k=1))
    with pytest.raises(InvalidInputError, match=r"needs query_str .* or query_embedding"):
        store.query(VectorStoreQuery(similarity_top_k=1))


def test_a_query_embedding_alone_searches_the_dense_field(store: PolyvecVectorStore) -> None:
    """LlamaIndex's query_embedding-only queries: the vector of the dense field, with
    filters, node ids and the mmr mode; the same nodes as the text's own vector finds."""
    store.add(make_nodes())
    text = "how long do cats sleep"
    vector = store.pipeline.encode_queries([text], store.pipeline.plan("dense"))[0]["dense"]
    by_text = [str(h.id) for h in store.pipeline.search(text, 3, plan="dense")]
    query = VectorStoreQuery(query_embedding=vector, similarity_top_k=3)
    result = store.query(query)
    assert result.ids == by_text and asyncio.run(store.aquery(query)).ids == by_text
    assert result.similarities == pytest.approx(
        [relevance(h) for h in store.pipeline.search(text, 3, plan="dense")], abs=1e-5
    )
    pets = MetadataFilters(filters=[MetadataFilter(key="topic", value="pets")])
    filtered = store.query(
        VectorStoreQuery(query_embedding=vector, similarity_top_k=4, filters=pets)
    )
    assert filtered.ids and all(n.metadata["topic"] == "pets" for n in filtered.nodes)
    only = store.query(
        VectorStoreQuery(query_embedding=vector, node_ids=["n3"], similarity_top_k=3)
    )
    assert only.ids == ["n3"]
    mmr = VectorStoreQuery(
        query_embedding=vector, mode=VectorStoreQueryMode.MMR, similarity_top_k=3, mmr_threshold=0.0
    )
    diverse = store.pipeline.search_mmr(text, 3, fetch_k=12, lambda_mult=0.0)
    assert store.query(mmr).ids == [str(h.id) for h in diverse]
    hybrid = VectorStoreQuery(query_embedding=vector, mode=VectorStoreQueryMode.HYBRID)
    with pytest.raises(InvalidInputError, match="hybrid query mode needs query_str"):
        store.query(hybrid)
    with pytest.raises(InvalidInputError, match="plan= needs query_str"):
        store.query(query, plan="tokens")


@pytest.mark.parametrize("backend", BACKENDS)
def test_nodes_are_encoded_with_the_metadata_llamaindex_embeds(
    backend: str, make_pipeline, encoder
) -> None:
    """MetadataMode.EMBED: what LlamaIndex's embed model would read is what polyvec
    encodes (metadata shown, excluded keys left out); the stored text stays the node's."""
    from llama_index.core.schema import MetadataMode

    pipeline = make_pipeline(backend, fields=[{"type": "dense"}])
    store = PolyvecVectorStore(pipeline)
    node = TextNode(
        id_="m",
        text="The report is due on Friday.",
        metadata={"author": "Ada Lovelace", "file": "x.txt"},
        excluded_embed_metadata_keys=["file"],
    )
    embedded = node.get_content(metadata_mode=MetadataMode.EMBED)
    assert "Ada Lovelace" in embedded and "x.txt" not in embedded
    store.add([node])
    want = encoder.encode([embedded], is_query=False, pooled=True, tokens=False).pooled[0]
    # the stored vector is the encoding of the EMBED view: searching with it scores 1
    hit = pipeline.search_vectors([{"dense": want.tolist()}], 1, plan="dense")[0][0]
    assert hit.id == "m" and hit.score == pytest.approx(1.0, abs=1e-5)
    assert hit.text == "The report is due on Friday."
    assert store.get_nodes(node_ids=["m"])[0].get_content() == "The report is due on Friday."
    # a node whose EMBED view is its text alone is encoded from the text, as before
    plain = TextNode(id_="p", text="No metadata here.")
    store.add([plain])
    alone = encoder.encode(["No metadata here."], is_query=False, pooled=True, tokens=False)
    top = pipeline.search_vectors([{"dense": alone.pooled[0].tolist()}], 1, plan="dense")[0][0]
    assert top.id == "p" and top.score == pytest.approx(1.0, abs=1e-5)


def test_delete_by_source_document_never_touches_nodes_without_one(
    store: PolyvecVectorStore,
) -> None:
    store.add(make_nodes())
    store.delete("None")  # what node_to_metadata_dict writes for a node without a source
    store.delete("unknown")
    assert _ids(store.get_nodes()) == ALL_IDS
    store.delete("docA")
    assert _ids(store.get_nodes()) == {"n3", "n4"}


def test_user_metadata_named_like_llamaindex_keys_is_kept(store: PolyvecVectorStore) -> None:
    store.add([_node("own", "a node with its own doc_id key", doc_id="mine")])
    (node,) = store.get_nodes(["own"])
    assert node.metadata == {"doc_id": "mine"} and node.ref_doc_id is None
    assert store.pipeline.get(["own"])[0].metadata == {"doc_id": "mine"}


def test_bookkeeping_stays_out_of_the_users_metadata(store: PolyvecVectorStore) -> None:
    """LlamaIndex's node JSON, type and source id live under the reserved payload key."""
    node = _node("kept", "a node with a source", topic="x")
    node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id="parent")
    store.add([node])
    (hit,) = store.pipeline.get(["kept"])
    assert hit.metadata == {"topic": "x"}
    assert hit.frontend["source"] == "parent" and "node" in hit.frontend
    (again,) = store.get_nodes(["kept"])
    assert again.ref_doc_id == "parent" and again.metadata == {"topic": "x"}


def test_get_nodes_by_ids_filters_both_or_neither(store: PolyvecVectorStore) -> None:
    store.add(make_nodes())
    pets = _all(_f("topic", F.EQ, "pets"))
    assert [n.node_id for n in store.get_nodes(["n2", "n1"])] == ["n2", "n1"]
    assert _ids(store.get_nodes(filters=pets)) == {"n1", "n2"}
    assert [n.node_id for n in store.get_nodes(["n3", "n2"], filters=pets)] == ["n2"]
    assert _ids(store.get_nodes()) == ALL_IDS
    assert store.get_nodes([]) == []


def test_delete_nodes_by_ids_filters_or_both(store: PolyvecVectorStore) -> None:
    store.add(make_nodes())
    store.delete_nodes(["n4", "unknown"])
    assert _ids(store.get_nodes()) == {"n1", "n2", "n3"}
    store.delete_nodes(["n1", "n3"], filters=_all(_f("topic", F.EQ, "pets")))
    assert _ids(store.get_nodes()) == {"n2", "n3"}
    store.delete_nodes(filters=_all(_f("year", F.GTE, 2023)))
    assert _ids(store.get_nodes()) == {"n2"}
    store.delete_nodes([])
    with pytest.raises(InvalidInputError, match="clear"):
        store.delete_nodes()
    assert _ids(store.get_nodes()) == {"n2"}


def test_clear_and_readd_replaces(store: PolyvecVectorStore) -> None:
    store.add(make_nodes())
    store.add([_node("n1", "Cats are replaced.", "docA", topic="pets")])
    assert store.pipeline.count() == 4
    assert store.get_nodes(["n1"])[0].get_content() == "Cats are replaced."
    store.clear()
    assert store.pipeline.count() == 0
    assert store.add([]) == []


async def test_async_twins(store: PolyvecVectorStore) -> None:
    assert await store.async_add(make_nodes()) == ["n1", "n2", "n3", "n4"]
    result = await store.aquery(VectorStoreQuery(query_str="sleeping cats", similarity_top_k=1))
    assert result.ids == ["n1"]
    pets = _all(_f("topic", F.EQ, "pets"))
    assert [n.node_id for n in await store.aget_nodes(["n3", "n1"])] == ["n3", "n1"]
    assert _ids(await store.aget_nodes(filters=pets)) == {"n1", "n2"}
    await store.adelete("docB")
    assert _ids(await store.aget_nodes()) == {"n1", "n2", "n4"}
    await store.adelete_nodes(["n4"])
    await store.adelete_nodes(filters=_all(_f("year", F.EQ, 2019)))
    assert _ids(await store.aget_nodes()) == {"n2"}
    await store.aclear()
    assert await store.aget_nodes() == []


# --- LlamaIndex's own objects on top -----------------------------------------------------


def test_index_retriever_and_query_engine(store: PolyvecVectorStore) -> None:
    index = VectorStoreIndex.from_vector_store(store, embed_model=MockEmbedding(embed_dim=1))
    index.insert_nodes(make_nodes())
    index.insert(LlamaDocument(id_="docC", text="Parrots can learn to mimic human speech."))
    assert store.pipeline.count() == 5

    retriever = index.as_retriever(similarity_top_k=2)
    hits = retriever.retrieve("which bird talks like people?")
    assert hits[0].node.ref_doc_id == "docC" and len(hits) == 2
    assert all(h.score is not None and 0.0 <= h.score <= 1.0 for h in hits)

    filtered = index.as_retriever(
        similarity_top_k=5, filters=_all(_f("topic", F.IN, ["db", "ir"]))
    ).retrieve("vectors")
    assert {h.node.node_id for h in filtered} == {"n3", "n4"}
    planned = index.as_retriever(similarity_top_k=1, vector_store_kwargs={"plan": "dense"})
    assert planned.retrieve("sleeping cats")[0].node.node_id == "n1"

    engine = index.as_query_engine(llm=MockLLM(), similarity_top_k=2)
    response = engine.query("How long do cats sleep?")
    assert response.source_nodes[0].node.node_id == "n1"
    assert str(response)  # MockLLM echoes the prompt: the context went through

    index.delete_ref_doc("docC")
    assert store.pipeline.count() == 4


async def test_async_retriever(store: PolyvecVectorStore) -> None:
    index = VectorStoreIndex.from_vector_store(store, embed_model=MockEmbedding(embed_dim=1))
    await index.ainsert_nodes(make_nodes())
    hits = await index.as_retriever(similarity_top_k=1).aretrieve("a database for vectors")
    assert hits[0].node.node_id == "n3"


def test_documents_ingested_by_the_pipeline_are_readable(make_pipeline) -> None:
    pipeline = make_pipeline("edge")
    pipeline.ingest(
        [{"id": 7, "text": "Late interaction keeps token vectors.", "metadata": {"a": 1}}]
    )
    store = PolyvecVectorStore(pipeline)
    result = store.query(VectorStoreQuery(query_str="token vectors", similarity_top_k=1))
    assert result.ids == ["7"]
    assert result.nodes and result.nodes[0].metadata == {"a": 1}


# --- construction ------------------------------------------------------------------------


def test_constructors(encoder, tmp_path: Path) -> None:
    config = {
        "fields": [{"type": "dense"}],
        "store": store_config("edge", tmp_path),
        "plans": {"quick": "dense"},
    }
    with PolyvecVectorStore.from_config(config, encoder=encoder, plan="quick") as store:
        store.add(make_nodes()[:1])
        assert store.plan == "quick" and store.stores_text and not store.is_embedding_query
        assert store.client is store.pipeline
    # the store closed the pipeline it opened: the embedded store can be opened again
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        f"fields: [{{type: dense}}]\nstore: {{type: edge, path: '{tmp_path / 'edge'}', collection: test}}\n",
        encoding="utf-8",
    )
    with PolyvecVectorStore.from_yaml(path, encoder=encoder, limits=None) as store:
        assert _ids(store.get_nodes()) == {"n1"}
    with pytest.raises(ConfigError, match="unknown"):
        PolyvecVectorStore.from_yaml(path, encoder=encoder, plan="nope")
    with PolyvecVectorStore.from_yaml(path, encoder=encoder) as store:  # released after the error
        assert store.pipeline.count() == 1
    with pytest.raises(InvalidInputError, match=r"polyvec Pipeline"):
        PolyvecVectorStore(42)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cannot read config file"):
        PolyvecVectorStore(tmp_path / "missing.yaml")


def test_missing_llamaindex_names_the_extra(monkeypatch) -> None:
    for name in [m for m in sys.modules if m == "llama_index" or m.startswith("llama_index.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "polyvec.plugins.llamaindex")
    with pytest.raises(MissingDependencyError, match=r"pip install 'polyvec\[llamaindex\]'"):
        importlib.import_module("polyvec.plugins.llamaindex")
    with pytest.raises(MissingDependencyError, match=r"polyvec\[llamaindex\]"):
        registry.plugins.resolve("llamaindex")


# --- no drift on real data ---------------------------------------------------------------

N_QUERIES = 20
N_DOCS = 150


@pytest.fixture(scope="module")
def scifact_small() -> tuple[list[str], list[Any]]:
    """20 judged SciFact test queries; their relevant documents plus distractors, 150 in all."""
    full = load_beir(shared_dataset("scifact"))
    qids = list(full.queries)[:N_QUERIES]
    relevant = {d for q in qids for d in full.qrels[q]}
    corpus = list(full.corpus())
    chosen = [d for d in corpus if d.id in relevant]
    chosen += list(
        itertools.islice((d for d in corpus if d.id not in relevant), N_DOCS - len(chosen))
    )
    return [full.queries[q] for q in qids], chosen


def test_retriever_returns_exactly_the_pipeline_top10_on_scifact(
    make_pipeline, scifact_small
) -> None:
    # Edge only: the store never reaches the backend itself, and qdrant-client's local mode
    # scores MaxSim in Python (slow); the backends' congruence is tests/test_store.py's job.
    queries, docs = scifact_small
    pipeline = make_pipeline("edge")
    pipeline.ingest(docs)
    index = VectorStoreIndex.from_vector_store(
        PolyvecVectorStore(pipeline), embed_model=MockEmbedding(embed_dim=1)
    )
    retriever = index.as_retriever(similarity_top_k=10)
    for query in queries:
        want = pipeline.search(query, 10)  # one query at a time, as the retriever searches
        got = retriever.retrieve(query)
        assert [h.node.node_id for h in got] == [str(h.id) for h in want], query
        assert [h.score for h in got] == pytest.approx([h.relevance for h in want])


def test_nodes_written_by_polyvec_0_1_are_read_and_deleted_by_source(store) -> None:
    """0.1 kept LlamaIndex's bookkeeping inside the metadata; such nodes still work."""
    import json

    from llama_index.core.vector_stores.utils import node_to_metadata_dict

    old = _node("old", "written by polyvec 0.1", topic="x")
    old.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id="docOld")
    metadata = node_to_metadata_dict(old, remove_text=True)
    json.loads(metadata["_node_content"])  # the 0.1 layout: node JSON among the metadata
    store.pipeline.ingest([{"id": "old", "text": old.text, "metadata": metadata}])
    (node,) = store.get_nodes(["old"])
    assert node.ref_doc_id == "docOld" and node.metadata == {"topic": "x"}
    hits = store.query(
        VectorStoreQuery(query_str="polyvec", similarity_top_k=5, doc_ids=["docOld"])
    )
    assert hits.ids == ["old"]
    store.delete("docOld")
    assert store.get_nodes(["old"]) == []


def test_a_store_handed_to_from_config_is_used(encoder, tmp_path: Path) -> None:
    from polyvec.config import EdgeStoreConfig
    from polyvec.store import open_backend

    mine = open_backend(EdgeStoreConfig(path=str(tmp_path / "mine"), collection="c"))
    config = {"fields": [{"type": "dense"}], "store": store_config("edge", tmp_path)}
    with PolyvecVectorStore.from_config(config, encoder=encoder, store=mine) as store:
        assert store.pipeline.store is mine


@pytest.mark.parametrize("backend", BACKENDS)
def test_sparse_and_hybrid_query_modes(make_pipeline, backend: str, tmp_path: Path) -> None:
    """``sparse``: Qdrant's BM25 field; ``hybrid``: RRF of it and the store's plan,
    weighted by ``alpha``; both refused where the pipeline has no sparse field."""
    fields = [{"type": "bm25"}, {"type": "dense"}]
    store = PolyvecVectorStore(make_pipeline(backend, fields=fields))
    store.add(make_nodes())
    text = "late interaction token matching"
    sparse = store.query(
        VectorStoreQuery(query_str=text, mode=VectorStoreQueryMode.SPARSE, similarity_top_k=3)
    )
    assert sparse.ids == [str(h.id) for h in store.pipeline.search(text, 3, plan="bm25")]
    hybrid = VectorStoreQuery(
        query_str=text, mode=VectorStoreQueryMode.HYBRID, similarity_top_k=3, alpha=0.5
    )
    fused = store.pipeline.search(text, 3, plan="rrf(bm25:3, dense:3)")
    assert store.query(hybrid).ids == [str(h.id) for h in fused]
    assert all(0 <= s <= 1 for s in store.query(hybrid).similarities or [])
    hybrid.alpha = 1.5
    with pytest.raises(InvalidInputError, match="alpha"):
        store.query(hybrid)
    other = store_config(backend, tmp_path / "plain", collection="plain")
    plain = PolyvecVectorStore(make_pipeline(backend, fields=[{"type": "dense"}], store=other))
    with pytest.raises(InvalidInputError, match="needs a sparse field"):
        plain.query(VectorStoreQuery(query_str="x", mode=VectorStoreQueryMode.SPARSE))


def test_from_existing_collection_reopens_without_the_field_config(encoder, tmp_path: Path) -> None:
    """A collection reopened by name and store alone: the manifest gives fields and plans."""
    from qdrant_client import QdrantClient

    client = QdrantClient(location=":memory:")
    config = {
        "fields": [{"type": "late_interaction", "name": "tokens"}, {"type": "dense"}],
        "plans": {"funnel": "dense:4 -> tokens"},
        "store": {"type": "qdrant", "collection": "kept"},
    }
    with PolyvecVectorStore(config, client=client, encoder=encoder, plan="funnel") as built:
        built.add(make_nodes())
        query = VectorStoreQuery(query_str="how long do cats sleep", similarity_top_k=3)
        before = built.query(query)
    with PolyvecVectorStore.from_existing_collection(
        "kept", client=client, encoder=encoder, plan="funnel"
    ) as again:
        assert set(again.pipeline.vector_fields) == {"tokens", "dense"}
        result = again.query(query)
        assert result.ids == before.ids and result.similarities == before.similarities
    client.get_collections()  # the handed-in client stays open
    with pytest.raises(ConfigError, match="encoder handed in"):
        PolyvecVectorStore.from_existing_collection("kept", client=client)

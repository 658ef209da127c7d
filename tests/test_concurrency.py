"""100 concurrent async queries through every front end, on the embedded store and on the
server path: each answers what the synchronous call answers, with no error."""

from __future__ import annotations

import asyncio

import pytest
from llama_index.core.vector_stores.types import VectorStoreQuery

from polyvec.plugins.langchain import PolyvecRetriever
from polyvec.plugins.langchain import PolyvecVectorStore as LangChainStore
from polyvec.plugins.llamaindex import PolyvecVectorStore as LlamaIndexStore
from tests.conftest import LOOPBACK

DOCS = [
    {"id": f"d{i}", "text": f"Document {i} about topic {i % 9} and theme {i % 4}."}
    for i in range(40)
]
QUERIES = [f"topic {i % 9} theme {i % 4}" for i in range(100)]


@pytest.mark.parametrize("backend", ["edge", pytest.param("remote", marks=LOOPBACK)])
async def test_a_hundred_concurrent_queries_per_front_end(make_pipeline, backend: str) -> None:
    pipeline = make_pipeline(backend, plans={"funnel": "dense:10 -> tokens"}, default_plan="funnel")
    pipeline.ingest(DOCS)
    expected = [[h.id for h in pipeline.search(q, 3)] for q in QUERIES]

    found = await asyncio.gather(*(pipeline.asearch(q, 3) for q in QUERIES))
    assert [[h.id for h in hits] for hits in found] == expected

    store = LangChainStore(pipeline)
    docs = await asyncio.gather(*(store.asimilarity_search(q, k=3) for q in QUERIES))
    assert [[d.id for d in ds] for ds in docs] == expected

    retriever = PolyvecRetriever(pipeline=pipeline, k=3)
    docs = await asyncio.gather(*(retriever.ainvoke(q) for q in QUERIES))
    assert [[d.id for d in ds] for ds in docs] == expected

    llama = LlamaIndexStore(pipeline)
    results = await asyncio.gather(
        *(llama.aquery(VectorStoreQuery(query_str=q, similarity_top_k=3)) for q in QUERIES)
    )
    assert [r.ids for r in results] == expected

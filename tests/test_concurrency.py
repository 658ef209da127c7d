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


def test_the_encoder_lock_is_fair_and_tells_its_holder_who_waits() -> None:
    """FairLock serves threads in arrival order and reports a waiting thread, so an
    ingest shrinks its encoding slices while a search waits (pipeline._encode_documents)."""
    import threading
    import time

    from polyvec.pipeline import FairLock

    lock, order = FairLock(), []
    with lock:
        assert not lock.contended()
        with lock:  # re-entrant for its holder
            pass
        threads = [threading.Thread(target=lambda n=n: _take(lock, order, n)) for n in range(3)]
        for thread in threads:
            thread.start()
            time.sleep(0.05)  # arrive in order 0, 1, 2
        assert lock.contended()
    for thread in threads:
        thread.join()
    assert order == [0, 1, 2] and not lock.contended()


def _take(lock, order: list[int], n: int) -> None:  # type: ignore[no-untyped-def]
    with lock:
        order.append(n)

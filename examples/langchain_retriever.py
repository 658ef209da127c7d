"""polyvec in LangChain: a vector store and a retriever over one late-interaction pipeline.

Runs offline with the bundled model: python examples/langchain_retriever.py
(needs the extra: pip install 'polyvec[langchain]')
"""

from __future__ import annotations

import asyncio
import tempfile

from langchain_core.documents import Document

from polyvec import Pipeline
from polyvec.plugins.langchain import PolyvecRetriever, PolyvecVectorStore

DOCS = [
    Document(
        id="qdrant",
        page_content="Qdrant is a vector database; it stores multivectors and scores them with MaxSim.",
        metadata={"topic": "db", "year": 2021},
    ),
    Document(
        id="colbert",
        page_content="ColBERT keeps one vector per token and matches each query token to its best document token.",
        metadata={"topic": "ir", "year": 2020},
    ),
    Document(
        id="muvera",
        page_content="MUVERA turns a set of token vectors into one fixed-dimensional encoding.",
        metadata={"topic": "ir", "year": 2024},
    ),
    Document(
        id="cats",
        page_content="Cats sleep for most of the day.",
        metadata={"topic": "pets", "year": 2019},
    ),
]

CONFIG = {
    "fields": [{"type": "late_interaction", "name": "tokens"}, {"type": "dense", "name": "dense"}],
    "plans": {"funnel": "dense:3 -> tokens"},  # dense finds 3 candidates, MaxSim orders them
    "default_plan": "tokens",
}


def show(label: str, docs: list[Document]) -> None:
    print(f"{label:>34}: {[d.id for d in docs]}")


with (
    tempfile.TemporaryDirectory() as folder,
    Pipeline.from_config({**CONFIG, "store": {"type": "edge", "path": folder}}) as pipeline,
):
    # Writing goes through the vector store (LangChain's add_documents; ids kept as given).
    store = PolyvecVectorStore(pipeline)
    store.add_documents(DOCS)

    query = "how does late interaction match tokens?"
    retriever = PolyvecRetriever(pipeline=pipeline, k=2)
    show("retriever (exact MaxSim, k=2)", retriever.invoke(query))
    show("k=3, filter topic=ir", retriever.invoke(query, k=3, filter={"topic": "ir"}))
    show("filter year >= 2021", retriever.invoke(query, filter={"year": {"$gte": 2021}}))
    show("plan 'funnel'", retriever.invoke(query, plan="funnel"))
    show("plan 'dense' (single vector)", retriever.invoke(query, plan="dense"))
    show("async", asyncio.run(retriever.ainvoke(query, k=1)))

    # Relevance in [0, 1] (MaxSim divided by the query's length), from the vector store.
    for doc, relevance in store.similarity_search_with_relevance_scores(query, k=2):
        print(f"{doc.id:>34}: relevance {relevance:.3f}")

    # LangChain's own retriever works too, configured through search_kwargs.
    lc_retriever = store.as_retriever(search_kwargs={"k": 1, "plan": "funnel"})
    show("store.as_retriever(plan=funnel)", lc_retriever.invoke(query))

"""Hybrid retrieval: Qdrant's BM25 fused with late interaction, MMR, and reopening a
collection by name from LangChain and LlamaIndex without repeating its configuration.

Runs offline with the bundled model, on an embedded Qdrant Edge store in a temporary folder:

    python examples/hybrid.py
"""

from __future__ import annotations

import tempfile

from llama_index.core.vector_stores.types import VectorStoreQuery, VectorStoreQueryMode

from polyvec import Pipeline
from polyvec.plugins.langchain import PolyvecVectorStore as LangChainStore
from polyvec.plugins.llamaindex import PolyvecVectorStore as LlamaIndexStore

TEXTS = [
    "BM25 ranks documents by the query terms they contain, weighing rare terms more.",
    "Late interaction keeps one vector per token and scores a document by MaxSim.",
    "Reciprocal rank fusion adds up the inverse ranks a document gets in several lists.",
    "Cats sleep for most of the day, often sixteen hours.",
    "A cat sleeps much of each day and hunts at dawn.",
    "Qdrant stores dense, sparse and multi-vector fields side by side.",
]

with tempfile.TemporaryDirectory() as folder:
    store = {"type": "edge", "path": folder, "collection": "hybrid"}
    config = {
        "fields": [
            {"type": "bm25", "name": "bm25"},
            {"type": "late_interaction", "name": "tokens"},
            {"type": "dense", "name": "dense"},
        ],
        "plans": {"hybrid": "rrf(k=2; bm25:50, dense:50 -> tokens:50)"},
        "default_plan": "hybrid",
        "store": store,
    }
    with Pipeline.from_config(config) as pipeline:
        pipeline.ingest(TEXTS)
        for plan in ("bm25", "tokens", "hybrid"):
            best = pipeline.search("which words does BM25 weigh?", k=1, plan=plan)[0]
            print(f"{plan:>6}: {best.relevance:.2f} {best.text}")

    # later, elsewhere: reopen by name; the manifest gives fields, plans and encoder
    with LangChainStore.from_existing_collection(
        "hybrid", store={"type": "edge", "path": folder}
    ) as langchain_store:
        picked = langchain_store.max_marginal_relevance_search(
            "how long do cats sleep?", k=2, fetch_k=6, lambda_mult=0.3
        )
        print("MMR     :", [d.page_content[:30] for d in picked])

    with LlamaIndexStore.from_existing_collection(
        "hybrid", store={"type": "edge", "path": folder}
    ) as llama_store:
        query = VectorStoreQuery(
            query_str="fusing ranked lists",
            mode=VectorStoreQueryMode.HYBRID,
            alpha=0.5,
            similarity_top_k=1,
        )
        node = llama_store.query(query).nodes[0]
        print("hybrid  :", node.get_content())

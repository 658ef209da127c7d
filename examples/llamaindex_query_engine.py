"""LlamaIndex on polyvec: a VectorStoreIndex, a retriever, a filtered query, a query engine.

polyvec encodes queries itself (late interaction, exact MaxSim here), so the index only
needs a placeholder embed model; MockLLM stands in for a real LLM. Runs offline with the
bundled model: python examples/llamaindex_query_engine.py
"""

from __future__ import annotations

import tempfile

from llama_index.core import VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores import FilterOperator, MetadataFilter, MetadataFilters

from polyvec.plugins.llamaindex import PolyvecVectorStore

NODES = [
    TextNode(
        id_="qdrant",
        text="Qdrant is a vector database; it stores multivectors and scores them with MaxSim.",
        metadata={"topic": "db", "year": 2021},
    ),
    TextNode(
        id_="colbert",
        text="ColBERT keeps one vector per token and matches each query token to its best document token.",
        metadata={"topic": "ir", "year": 2020},
    ),
    TextNode(
        id_="muvera",
        text="MUVERA turns a set of token vectors into one fixed-dimensional encoding.",
        metadata={"topic": "ir", "year": 2024},
    ),
    TextNode(
        id_="cats",
        text="Cats sleep for most of the day.",
        metadata={"topic": "pets", "year": 2019},
    ),
]

with (
    tempfile.TemporaryDirectory() as folder,
    PolyvecVectorStore.from_config(
        {
            "fields": [
                {"type": "late_interaction", "name": "tokens"},
                {"type": "dense", "name": "dense"},
            ],
            "store": {"type": "edge", "path": folder, "collection": "docs"},
            "plans": {"funnel": "dense:100 -> tokens"},
        },
        plan="tokens",  # exact MaxSim; "funnel" would let the dense field pick candidates
    ) as store,
):
    index = VectorStoreIndex.from_vector_store(store, embed_model=MockEmbedding(embed_dim=1))
    index.insert_nodes(NODES)

    query = "how does late interaction match tokens?"
    for hit in index.as_retriever(similarity_top_k=2).retrieve(query):
        print(f"{hit.node.node_id:>8} {hit.score:.3f}")

    recent_ir = MetadataFilters(
        filters=[
            MetadataFilter(key="topic", value="ir"),
            MetadataFilter(key="year", value=2022, operator=FilterOperator.GTE),
        ]
    )
    filtered = index.as_retriever(similarity_top_k=5, filters=recent_ir).retrieve(query)
    print("topic=ir and year>=2022:", [h.node.node_id for h in filtered])

    funnel = index.as_retriever(similarity_top_k=2, vector_store_kwargs={"plan": "funnel"})
    print("funnel plan:", [h.node.node_id for h in funnel.retrieve(query)])

    engine = index.as_query_engine(llm=MockLLM(max_tokens=32), similarity_top_k=2)
    response = engine.query("What does MaxSim compute?")
    print("sources of the answer:", [n.node.node_id for n in response.source_nodes])

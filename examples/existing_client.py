"""Hand polyvec a QdrantClient you already have; LangChain and LlamaIndex share the collection.

polyvec uses the client and never closes it. Here the client is qdrant-client's in-process
``:memory:`` mode so the example runs offline; with a server it is
``QdrantClient(url="http://localhost:6333", api_key=...)`` and nothing else changes.

    python examples/existing_client.py
"""

from __future__ import annotations

from langchain_core.documents import Document
from llama_index.core.vector_stores.types import VectorStoreQuery
from qdrant_client import QdrantClient

from polyvec.plugins.langchain import PolyvecVectorStore as LangChainStore
from polyvec.plugins.llamaindex import PolyvecVectorStore as LlamaIndexStore

CONFIG = {
    "fields": [{"type": "late_interaction", "name": "tokens"}, {"type": "dense", "name": "dense"}],
    "plans": {"funnel": "dense:20 -> tokens"},
    "default_plan": "funnel",
}

client = QdrantClient(":memory:")
with LangChainStore(CONFIG, client=client, collection_name="notes") as langchain_store:
    langchain_store.add_documents(
        [
            Document(id="maxsim", page_content="MaxSim sums each query token's best match."),
            Document(id="fde", page_content="A MUVERA FDE finds candidates for late interaction."),
            Document(id="cats", page_content="Cats sleep for most of the day."),
        ]
    )
    for doc in langchain_store.similarity_search("how is late interaction scored?", k=2):
        print("LangChain :", doc.id, "|", doc.page_content)

# the same collection, through LlamaIndex, on the same client
with LlamaIndexStore(CONFIG, client=client, collection_name="notes") as llama_store:
    result = llama_store.query(
        VectorStoreQuery(query_str="candidates for late interaction", similarity_top_k=1)
    )
    print("LlamaIndex:", result.ids, [round(s, 3) for s in result.similarities or []])

print("the client is still yours:", client.count("notes").count, "points")
client.close()

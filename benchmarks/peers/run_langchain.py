"""LangChain's ``langchain-qdrant`` vector store: dense, and hybrid (dense + BM25, RRF).

Runs in the ``langchain`` venv. ``QdrantVectorStore.from_texts(texts, embedding,
ids=..., path=INDEX)`` builds the collection in qdrant-client's in-process local mode (on
disk, the numpy engine: exact scans, no HNSW), as a LangChain user without a server does.
The ``Embeddings`` given returns the cached pooled vector of the bundled model for a text
(looked up by the text itself), so nothing is encoded. Distance: cosine (LangChain's
default; the vectors are L2-normalised, so it ranks as the dot product).

``--config dense``: ``RetrievalMode.DENSE``. ``--config hybrid``: ``RetrievalMode.HYBRID``,
LangChain's own query (prefetch k=100 from each of dense and sparse, fused by Qdrant's
RRF). The sparse side is ``FastEmbedSparse("Qdrant/bm25")`` when it loads (it downloads
from the Hugging Face hub; tried once per venv, the outcome remembered in
``.fastembed-bm25`` there), else a ``SparseEmbeddings`` built on ``qdrant_edge.Bm25`` with
its defaults (Qdrant's own BM25 tokenizer/stemmer, English) — the config string says which.
Either way the sparse field is created with ``modifier: idf`` (``sparse_vector_params``),
which Qdrant's BM25 vectors need for their IDF factor.

Timed search: ``similarity_search_with_score(query_text, k=100)``; it includes the cached
dense lookup and, for hybrid, computing the query's BM25 vector (microseconds). Threads:
no knob of its own; the BLAS/OpenMP variables are set (see ``common.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common import Cache, Ranking, main

COLLECTION = "peers"
MARKER = Path(__file__).resolve().parents[2] / "polyvec_data/peers/venvs/langchain/.fastembed-bm25"


class CachedEmbeddings:
    """A LangChain ``Embeddings`` answering from the cached pooled vectors, keyed by text."""

    def __init__(self, cache: Cache) -> None:
        self.documents = {
            t: v.tolist() for t, v in zip(cache.doc_texts, cache.doc_pooled, strict=True)
        }
        self.queries = {
            t: v.tolist() for t, v in zip(cache.query_texts, cache.query_pooled, strict=True)
        }

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        # LangChain embeds one probe text ("dummy_text") to learn the size: zeros for it
        return [self.documents.get(t) or [0.0] * 384 for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.queries[text]


def embeddings(cache: Cache) -> Any:
    from langchain_core.embeddings import Embeddings

    class Cached(CachedEmbeddings, Embeddings):
        pass

    return Cached(cache)


def sparse_embeddings() -> tuple[Any, str]:
    """FastEmbedSparse("Qdrant/bm25") if it loads here, else one on ``qdrant_edge.Bm25``."""
    from langchain_qdrant import FastEmbedSparse, SparseEmbeddings, SparseVector

    if not MARKER.exists():
        try:
            FastEmbedSparse(model_name="Qdrant/bm25").embed_query("probe")
            MARKER.write_text("ok\n")
        except Exception as err:  # no hub access: fastembed retries, then raises
            MARKER.write_text(f"failed: {type(err).__name__}: {err}\n")
    if MARKER.read_text().startswith("ok"):
        return FastEmbedSparse(model_name="Qdrant/bm25"), "FastEmbedSparse('Qdrant/bm25')"
    import qdrant_edge

    class EdgeBm25(SparseEmbeddings):
        def __init__(self) -> None:
            self.model = qdrant_edge.Bm25(qdrant_edge.Bm25Config())

        def embed_documents(self, texts: list[str]) -> list[SparseVector]:
            return [self._sparse(self.model.embed_document(t)) for t in texts]

        def embed_query(self, text: str) -> SparseVector:
            return self._sparse(self.model.embed_query(text))

        @staticmethod
        def _sparse(vector: Any) -> SparseVector:
            return SparseVector(indices=list(vector.indices), values=list(vector.values))

    return EdgeBm25(), "qdrant_edge.Bm25 SparseEmbeddings (FastEmbedSparse('Qdrant/bm25') failed)"


def _mode(config: str) -> Any:
    from langchain_qdrant import RetrievalMode

    return {"dense": RetrievalMode.DENSE, "hybrid": RetrievalMode.HYBRID}[config]


def build(cache: Cache, index: Path, config: str, threads: int) -> dict[str, Any]:
    from langchain_qdrant import QdrantVectorStore
    from qdrant_client import models

    options: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    if config == "hybrid":
        options["sparse_embedding"], detail["sparse"] = sparse_embeddings()
        options["sparse_vector_params"] = {"modifier": models.Modifier.IDF}
    store = QdrantVectorStore.from_texts(
        cache.doc_texts,
        embeddings(cache),
        metadatas=[{"doc_id": d} for d in cache.doc_ids],
        ids=list(range(len(cache.doc_ids))),
        collection_name=COLLECTION,
        path=str(index),
        retrieval_mode=_mode(config),
        **options,
    )
    store.client.close()
    (index / "peers-detail.json").write_text(json.dumps(detail))
    return detail


def open_index(cache: Cache, index: Path, config: str, threads: int) -> tuple[Any, Any]:
    from langchain_qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    options: dict[str, Any] = {}
    if config == "hybrid":
        options["sparse_embedding"] = sparse_embeddings()[0]
    store = QdrantVectorStore(
        QdrantClient(path=str(index)),
        COLLECTION,
        embeddings(cache),
        retrieval_mode=_mode(config),
        **options,
    )

    def prepare(i: int) -> str:
        return cache.query_texts[i]

    def search(text: str) -> Ranking:
        hits = store.similarity_search_with_score(text, k=100)
        return [(str(doc.metadata["doc_id"]), float(score)) for doc, score in hits]

    return prepare, search


def describe(config: str, threads: int) -> str:
    if config == "dense":
        return "QdrantVectorStore DENSE (pooled vector, cosine), local mode (path=)"
    sparse = sparse_embeddings()[1] if MARKER.exists() else "?"
    return f"QdrantVectorStore HYBRID (dense + {sparse}, idf; RRF k=100 each), local mode"


if __name__ == "__main__":
    main("langchain-qdrant", build, open_index, describe=describe)

"""fastembed's MUVERA + a plain qdrant-client collection: FDE candidates, exact MaxSim rerank.

Runs in the ``muvera`` venv (``fastembed``, ``qdrant-client``), as Qdrant's MUVERA tutorial
builds it: one collection with two named vectors, ``fde`` (the document's fixed dimensional
encoding, ``fastembed.postprocess.Muvera(dim=384)`` with its defaults k_sim=5, dim_proj=16,
r_reps=20: 10,240 dims, dot product) and ``tokens`` (the raw token vectors, a multivector
compared with MAX_SIM, no HNSW: ``m=0``). A query prefetches ``--config fde<N>``'s N
candidates by the query FDE (``Muvera.process_query``) and reranks them by exact MaxSim of
its token vectors, one Query API call.

The client runs in-process local mode (``QdrantClient(path=...)``): qdrant-client's own
pure-Python/numpy engine (exact scans, no HNSW), which is what a ``pip install
qdrant-client`` user gets without a server. Threads: local mode has no knob of its own;
the BLAS/OpenMP variables are set (see ``common.py``). Timed search: the ``query_points``
call; the query FDE is computed before the timer. The build time includes computing the
document FDEs and upserting them with the token vectors, 64 documents per ``upsert``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from common import Cache, Ranking, main

COLLECTION = "peers"


def _muvera() -> Any:
    from fastembed.postprocess import Muvera

    return Muvera(dim=384)


def build(cache: Cache, index: Path, config: str, threads: int) -> dict[str, Any]:
    from qdrant_client import QdrantClient, models

    muvera = _muvera()
    client = QdrantClient(path=str(index))
    client.create_collection(
        COLLECTION,
        vectors_config={
            "fde": models.VectorParams(
                size=muvera._get_output_dimension(),  # its only size accessor in 0.9.1
                distance=models.Distance.DOT,
            ),
            "tokens": models.VectorParams(
                size=384,
                distance=models.Distance.DOT,
                multivector_config=models.MultiVectorConfig(
                    comparator=models.MultiVectorComparator.MAX_SIM
                ),
                hnsw_config=models.HnswConfigDiff(m=0),
            ),
        },
    )
    points = []
    for i, (doc_id, tokens) in enumerate(zip(cache.doc_ids, cache.doc_tokens, strict=True)):
        fde = np.asarray(muvera.process_document(tokens), np.float32)
        points.append(
            models.PointStruct(
                id=i,
                vector={"fde": fde.tolist(), "tokens": tokens.tolist()},
                payload={"doc_id": doc_id},
            )
        )
        if len(points) == 64:  # bounded memory: token lists are Python floats
            client.upsert(COLLECTION, points)
            points = []
    if points:
        client.upsert(COLLECTION, points)
    client.close()
    return {"fde_dims": int(muvera._get_output_dimension())}


def open_index(cache: Cache, index: Path, config: str, threads: int) -> tuple[Any, Any]:
    from qdrant_client import QdrantClient, models

    limit = int(config.removeprefix("fde"))
    muvera = _muvera()
    client = QdrantClient(path=str(index))

    def prepare(i: int) -> tuple[list[float], list[list[float]]]:
        tokens = cache.query_tokens[i]
        return np.asarray(muvera.process_query(tokens), np.float32).tolist(), tokens.tolist()

    def search(query: tuple[list[float], list[list[float]]]) -> Ranking:
        fde, tokens = query
        hits = client.query_points(
            COLLECTION,
            prefetch=models.Prefetch(query=fde, using="fde", limit=limit),
            query=tokens,
            using="tokens",
            limit=100,
            with_payload=True,
        ).points
        return [(str(h.payload["doc_id"]), float(h.score)) for h in hits if h.payload]

    return prepare, search


def describe(config: str, threads: int) -> str:
    limit = config.removeprefix("fde")
    return (
        f"fastembed Muvera(384; k_sim=5, dim_proj=16, r_reps=20) FDE top {limit} -> exact "
        "MaxSim, qdrant-client local mode (path=)"
    )


if __name__ == "__main__":
    main("fastembed MUVERA + qdrant-client", build, open_index, describe=describe)

"""polyvec itself, on an embedded Qdrant Edge store, fed the same cached vectors as the peers.

Runs in polyvec's venv. ``--config`` is a plan; the collection holds only the fields that
plan reads (so ``index_bytes`` is what that plan needs stored): ``tokens``
(``late_interaction``, float32, exact MaxSim), ``small`` (the same, token pooling factor 2
and turbo8 storage: the compact row), ``dense`` (the pooled vector), ``fde``
(``type: fde`` with its defaults k_sim=5, dim_proj=16, r_reps=20, the same as fastembed's
Muvera) and ``bm25`` (Qdrant's BM25 on the text), with ``chunking: {mode: truncate}``
(one point per document, as ``embed.py`` encoded it). Default plans: ``tokens``,
``dense:100 -> tokens``, ``fde:200 -> tokens``, ``rrf(k=2; bm25:100, dense:100 -> tokens:100)``,
``dense:100 -> small``.

The pipeline's encoder is :class:`CachedVectors`, an ``Encoder`` that answers every text
from the cache (documents by their text, queries by theirs), so nothing is encoded; it
claims the bundled model's sizes. Build: ``Pipeline.ingest`` of the cached documents plus
``optimize()``, timed together. Search: the query's field vectors are made before the
timer by ``pipeline.encode_queries([text], stage)``, which runs the plan's adapters on the
cached raw query outputs (the FDE transform, the BM25 sparse vector); the timed call is
``pipeline.search_vectors([vectors], k=100, plan=stage)``. ``index_bytes``: the Edge store
folder. Threads: polyvec and Qdrant Edge have no thread knob of their own; the run sets
the OpenMP/BLAS variables of ``common.py`` and reports them, Edge uses its own pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from common import Cache, Ranking, main

from polyvec.encoders import Encoder
from polyvec.fields import Encoded

PLANS = [
    "tokens",
    "dense:100 -> tokens",
    "fde:200 -> tokens",
    "rrf(k=2; bm25:100, dense:100 -> tokens:100)",
    "dense:100 -> small",  # the bytes row: pooled (factor 2) 8-bit token vectors
]
FIELDS: dict[str, dict[str, Any]] = {
    "tokens": {"type": "late_interaction", "name": "tokens"},
    "small": {"type": "late_interaction", "name": "small", "pool_factor": 2, "datatype": "turbo8"},
    "dense": {"type": "dense", "name": "dense"},
    "fde": {"type": "fde", "name": "fde"},
    "bm25": {"type": "bm25", "name": "bm25"},
}


class CachedVectors(Encoder):
    """The cached outputs of the bundled model, looked up by text (documents, queries apart)."""

    name = "bundled"

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.documents = {t: i for i, t in enumerate(cache.doc_texts)}
        self.queries = {t: i for i, t in enumerate(cache.query_texts)}

    @property
    def dim(self) -> int | None:
        return 384

    @property
    def token_dim(self) -> int | None:
        return 384

    def fingerprint(self) -> dict[str, Any]:
        return {"name": self.name, "dim": 384, "token_dim": 384, "probe": "peers-cache"}

    def encode(
        self, texts: Sequence[str], *, is_query: bool, pooled: bool, tokens: bool
    ) -> Encoded:
        if is_query:
            rows = [self.queries[t] for t in texts]
            pooled_all, tokens_all = self.cache.query_pooled, self.cache.query_tokens
        else:
            rows = [self.documents[t] for t in texts]
            pooled_all, tokens_all = self.cache.doc_pooled, self.cache.doc_tokens
        return Encoded(
            pooled=np.stack([pooled_all[r] for r in rows]) if pooled and rows else None,
            tokens=[np.ascontiguousarray(tokens_all[r]) for r in rows] if tokens else None,
        )


def config_of(plan: str, index: Path) -> dict[str, Any]:
    from polyvec.plans import parse_plan

    used = parse_plan(plan).fields()
    return {
        "fields": [spec for name, spec in FIELDS.items() if name in used],
        "chunking": {"mode": "truncate"},
        "store": {"type": "edge", "path": str(index), "collection": "peers"},
    }


def build(cache: Cache, index: Path, config: str, threads: int) -> dict[str, Any]:
    from polyvec import Pipeline

    with Pipeline.from_config(config_of(config, index), encoder=CachedVectors(cache)) as pipe:
        docs = [{"id": d, "text": t} for d, t in zip(cache.doc_ids, cache.doc_texts, strict=True)]
        pipe.ingest(docs, progress=False)
        pipe.optimize()
        return {"fields": sorted(pipe.vector_fields), "count": pipe.count()}


def open_index(cache: Cache, index: Path, config: str, threads: int) -> tuple[Any, Any]:
    from polyvec import Pipeline
    from polyvec.filters import SOURCE_KEY

    pipe = Pipeline.from_config(
        config_of(config, index), encoder=CachedVectors(cache), create=False
    )
    stage = pipe.plan(config)

    def prepare(i: int) -> dict[str, Any]:
        return pipe.encode_queries([cache.query_texts[i]], stage)[0]

    def search(vectors: dict[str, Any]) -> Ranking:
        hits = pipe.search_vectors([vectors], k=100, plan=stage)[0]
        return [
            (str((h.frontend or {}).get(SOURCE_KEY, h.id)), float(h.score or 0.0)) for h in hits
        ]

    return prepare, search


def describe(config: str, threads: int) -> str:
    return f"{config} (Qdrant Edge; no thread knob)"


if __name__ == "__main__":
    main("polyvec", build, open_index, describe=describe)

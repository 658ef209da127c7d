"""PyLate 1.6.0's indexes, fed the cached token vectors (no model is loaded or downloaded).

Runs in the ``pylate`` venv (torch 2.11 CUDA wheel, used on CPU; PyLate pins
``sentence-transformers==5.3.0`` and ``fast-plaid<=1.4.6.2110``). Indexes are built directly
with ``index.add_documents(documents_ids, documents_embeddings)`` and searched with PyLate's
documented retriever, ``retrieve.ColBERT(index).retrieve([query_tokens], k=100)``, one query
at a time (the timed call; the query array is made before the timer).

``--config plaid``: ``indexes.PLAID(use_fast=False, nbits=4, embedding_size=384)``, the
Stanford ColBERT PLAID backend PyLate vendors (its own defaults otherwise: k-means 4
iterations, ``ndocs=8192``, ``ncells=8``, ``centroid_score_threshold=0.35``). Its C++
extensions are compiled by torch on first use into ``polyvec_data/peers/torch_extensions``
(``TORCH_EXTENSIONS_DIR``); they are loaded before the build timer starts.
``--config plaid-fast``: ``indexes.PLAID(use_fast=True, nbits=4)`` (PyLate's default
backend, fast-plaid 1.4.6; not in the default run, fast-plaid 1.7 is measured on its own).
``--config voyager``: ``indexes.Voyager(embedding_size=384)`` with PyLate's defaults
(``M=64``, ``ef_construction=200``, ``ef_search=200``): an HNSW over every token vector
(cosine), the retriever takes ``k_token=100`` neighbours per query token and reranks their
documents by exact MaxSim on the token vectors Voyager stores.

Threads: ``torch.set_num_threads(T)`` plus the OpenMP variables of ``common.py``; Voyager's
``add_items`` is called by PyLate without ``num_threads``, so its build uses every core
whatever T is (search is one query at a time).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from common import Cache, Ranking, main

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(ROOT / "polyvec_data/peers/torch_extensions"))


def _index(index: Path, config: str, *, override: bool) -> Any:
    from pylate import indexes

    folder = str(index / "pylate")
    common = {"index_folder": folder, "index_name": "peers", "override": override, "nbits": 4}
    if config == "plaid":  # the Stanford backend
        return indexes.PLAID(**common, use_fast=False, embedding_size=384)
    if config == "plaid-fast":  # the fast-plaid backend
        return indexes.PLAID(**common, use_fast=True, show_progress=False, device="cpu")
    if config == "voyager":
        return indexes.Voyager(
            index_folder=folder, index_name="peers", override=override, embedding_size=384
        )
    raise SystemExit(f"unknown config {config!r}")


def warm(config: str, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    if config == "plaid":  # compile / load Stanford PLAID's C++ extensions (CPU), untimed
        from pylate.indexes.stanford_nlp.modeling import colbert
        from pylate.indexes.stanford_nlp.search.index_storage import IndexScorer
        from pylate.indexes.stanford_nlp.search.strided_tensor import StridedTensor

        colbert.try_load_torch_extensions(False)
        IndexScorer.try_load_torch_extensions(False)
        StridedTensor.try_load_torch_extensions(False)


def build(cache: Cache, index: Path, config: str, threads: int) -> dict[str, Any]:
    import numpy as np

    embeddings = [np.ascontiguousarray(t) for t in cache.doc_tokens]
    _index(index, config, override=True).add_documents(
        documents_ids=cache.doc_ids, documents_embeddings=embeddings
    )
    return {"config": config}


def open_index(cache: Cache, index: Path, config: str, threads: int) -> tuple[Any, Any]:
    from pylate import retrieve

    warm(config, threads)
    retriever = retrieve.ColBERT(index=_index(index, config, override=False))

    def prepare(i: int) -> Any:
        return cache.query_tokens[i].copy()

    def search(query: Any) -> Ranking:
        hits = retriever.retrieve([query], k=100)[0]
        return [(str(h["id"]), float(h["score"])) for h in hits]

    return prepare, search


def describe(config: str, threads: int) -> str:
    return {
        "plaid": "PLAID use_fast=False (Stanford), nbits=4, ndocs=8192, ncells=8, "
        "centroid_score_threshold=0.35",
        "plaid-fast": "PLAID use_fast=True (fast-plaid 1.4.6), nbits=4",
        "voyager": "Voyager HNSW over token vectors M=64 ef_construction=200 ef_search=200, "
        "k_token=100 -> exact MaxSim",
    }.get(config, config)


if __name__ == "__main__":
    main("PyLate 1.6.0", build, open_index, describe=describe, warm=warm)

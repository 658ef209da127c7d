"""fast-plaid (LightOn's Rust PLAID engine): nbits=4, on CPU.

Runs in the ``torch211`` venv (shared with WARP: ``fast-plaid==1.7.0.2110`` pins
``torch==2.11.0``, inside WARP's ``>=2.11,<2.12``). ``FastPlaid(index, device="cpu")
.create(doc_token_tensors, nbits=4, seed=42, start_from_scratch=0)`` with its other
defaults (k-means: 4 iterations, 256 points per centroid). ``start_from_scratch=0``: below
that many documents fast-plaid also keeps the raw float32 embeddings on disk (to rebuild
on update, default 1,000), which would inflate a small subset's bytes; full corpora are
above it anyway. Search: ``search(query_tokens, top_k=100, n_ivf_probe=8,
n_full_scores=4096, show_progress=False)`` (its defaults) one query at a time; the index
is opened in the search process by ``FastPlaid(index, device="cpu")`` and loaded by one
untimed warm-up query.

Threads: ``torch.set_num_threads(T)`` and the OpenMP/Rayon variables of ``common.py``
(``n_processes`` only applies to batches of more than 10 queries). Document ids: passages
are numbered in the order given, so id ``i`` is ``doc_ids[i]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common import Cache, Ranking, main

NBITS = 4


def build(cache: Cache, index: Path, config: str, threads: int) -> dict[str, Any]:
    import torch
    from fast_plaid import search as fp

    torch.set_num_threads(threads)
    docs = [torch.from_numpy(t.copy()) for t in cache.doc_tokens]
    fp.FastPlaid(str(index), device="cpu").create(docs, nbits=NBITS, seed=42, start_from_scratch=0)
    return {"nbits": NBITS}


def open_index(cache: Cache, index: Path, config: str, threads: int) -> tuple[Any, Any]:
    import torch
    from fast_plaid import search as fp

    torch.set_num_threads(threads)
    plaid = fp.FastPlaid(str(index), device="cpu")

    def prepare(i: int) -> Any:
        return torch.from_numpy(cache.query_tokens[i].copy()).unsqueeze(0)

    def search(query: Any) -> Ranking:
        hits = plaid.search(
            query, top_k=100, n_ivf_probe=8, n_full_scores=4096, show_progress=False
        )[0]
        return [(cache.doc_ids[int(i)], float(s)) for i, s in hits]

    return prepare, search


def describe(config: str, threads: int) -> str:
    return f"FastPlaid nbits={NBITS}, cpu; search top_k=100 n_ivf_probe=8 n_full_scores=4096"


if __name__ == "__main__":
    main("fast-plaid", build, open_index, describe=describe)

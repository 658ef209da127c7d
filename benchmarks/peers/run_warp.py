"""XTR-WARP (``xtr-warp-rs``, the Rust WARP engine): nbits=4, on CPU.

Runs in the ``torch211`` venv (torch 2.11, the CUDA wheel from PyPI, used on CPU).
``XTRWarp(index).create(doc_token_tensors, device="cpu", nbits=4, seed=42,
show_progress=False)`` with its other defaults (k-means: 4 iterations, 256 points per
centroid, the corpus-size heuristic for the centroid count); the build time covers k-means,
residual compression and writing the index. One exception: ``codec_sample_max_tokens`` is
capped at ``(2**24 - 1) // dim`` tokens (43,690 at 384 dims; WARP's default is 1,000,000).
``torch.quantile`` refuses inputs beyond 2**24 elements, and WARP's default fails the
build of all of SciFact (1.24 M tokens) with ``quantile() input tensor is too large``; on
the 1,500-document subset its sample stayed under the cap, so the cap changes nothing there.
The documents are handed over as tensors that share the cache's float32 array (``np.load``,
writable): no second copy of the corpus. Results before 2026-12-02 (``peers-full/``, WARP at
10k and 50k in ``scaling-run/``) were built from per-document copies, so their build peak RSS
includes one more copy of the input (12.8 M x 128 float32 is 6.5 GB at 200k documents, and
that copy made the 200k build run out of this box's 24 GB).
``--config nbits4-p<N>`` sets ``num_partitions=N`` instead of the heuristic's count
(``benchmarks/scaling.py --warp-partitions`` uses it where the heuristic's build would not
fit a session: its compression time grows with documents x centroids). A ``-cuda`` suffix
(``nbits4-cuda``, ``nbits4-p8192-cuda``) builds on the GPU (``create(device="cuda")``, which
also picks WARP's Triton k-means), for a build this box cannot finish
(``benchmarks/scaling_warp.py --build-device cuda``); search stays on the CPU. A
``-n<N>`` part (``nbits4-cuda-n32``) searches with ``nprobe=N`` centroids per query token
instead of WARP's choice; its other search settings stay WARP's own (``bound``,
``t_prime``, ``max_candidates``, ``centroid_score_threshold`` from
``optimize_hyperparams``), and the build ignores it (``--search-configs`` searches one
index with several).
Search: ``load(device="cpu", mmap=True)`` (the
default: codes and residuals memory-mapped), then ``search(query_tokens, top_k=100,
num_threads=T)`` one query at a time, with WARP's own per-query hyperparameters
(``bound``, ``nprobe``, ``t_prime`` left to ``optimize_hyperparams``).

Threads: ``torch.set_num_threads(T)`` and ``search(num_threads=T)`` (its knob for CPU
search), with the OpenMP/Rayon variables of ``common.py``. Document ids: WARP numbers
passages in the order given, so id ``i`` is ``doc_ids[i]``. The query tensor is built before
the timer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from common import Cache, Ranking, main

NBITS = 4
QUANTILE_LIMIT = 2**24 - 1  # torch.quantile's largest input (elements)


def _number(config: str, letter: str) -> int | None:
    """N of a config's ``-<letter><N>`` part (``p`` of ``nbits4-p8192`` is 8,192), if any."""
    parts = [p[1:] for p in config.split("-") if p[:1] == letter and p[1:].isdigit()]
    return int(parts[0]) if parts else None


def partitions(config: str) -> int | None:
    """The centroid count a config asks for: ``nbits4-p8192`` is 8,192; ``nbits4`` leaves
    it to WARP's corpus-size heuristic (``2**floor(log2(16 * sqrt(tokens)))``)."""
    return _number(config, "p")


def nprobe(config: str) -> int | None:
    """The centroids probed per query token a config asks for (``-n32``), else WARP's."""
    return _number(config, "n")


def build_device(config: str) -> str:
    """Where a config builds: ``cuda`` for a ``-cuda`` suffix, else ``cpu``."""
    return "cuda" if "cuda" in config.split("-") else "cpu"


def build(cache: Cache, index: Path, config: str, threads: int) -> dict[str, Any]:
    import torch
    from xtr_warp import XTRWarp

    torch.set_num_threads(threads)
    docs = [torch.from_numpy(t) for t in cache.doc_tokens]  # views: no second copy
    codec_sample, count = QUANTILE_LIMIT // docs[0].shape[1], partitions(config)
    device = build_device(config)
    XTRWarp(str(index)).create(
        docs,
        device=device,
        nbits=NBITS,
        seed=42,
        show_progress=False,
        codec_sample_max_tokens=codec_sample,
        num_partitions=count,
    )
    detail = {"nbits": NBITS, "codec_sample_max_tokens": codec_sample, "build_device": device}
    return detail | ({"num_partitions": count} if count else {})


def open_index(cache: Cache, index: Path, config: str, threads: int) -> tuple[Any, Any]:
    import torch
    from xtr_warp import XTRWarp

    torch.set_num_threads(threads)
    warp = XTRWarp(str(index)).load(device="cpu")
    probes = nprobe(config)

    def prepare(i: int) -> Any:
        return torch.from_numpy(cache.query_tokens[i].copy())

    def search(query: Any) -> Ranking:
        hits = warp.search(
            query, top_k=100, num_threads=threads, nprobe=probes, show_progress=False
        )[0]
        return [(cache.doc_ids[int(i)], float(s)) for i, s in hits]

    return prepare, search


def describe(config: str, threads: int) -> str:
    count = partitions(config)
    return (
        f"XTRWarp nbits={NBITS}, cpu, mmap; search top_k=100 num_threads={threads}, "
        "auto bound/nprobe/t_prime; codec_sample_max_tokens 2**24 // dim"
        + (f"; num_partitions={count} (not the heuristic's)" if count else "")
        + ("; built on cuda" if build_device(config) == "cuda" else "")
        + (f"; nprobe={nprobe(config)} (not WARP's choice)" if nprobe(config) else "")
    )


if __name__ == "__main__":
    main("xtr-warp-rs (WARP)", build, open_index, describe=describe)

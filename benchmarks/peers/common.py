"""What every peer runner shares: reading the embedding cache, the two measured phases, the
result file. Standard library and numpy only, so it runs in every peer's own venv.

A runner is ``python run_<peer>.py --cache DIR --index DIR --out FILE --threads T [T ...]
--config C [--build-threads B]``. Its parent process (:func:`main`) starts child processes
of the same script, one after the other: one build, at B threads (default: the largest T),
then one search per T, each with the thread environment variables set before anything is
imported (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
``RAYON_NUM_THREADS``, ``NUMEXPR_NUM_THREADS`` = its thread count; the runner adds its
system's own knob, e.g. ``torch.set_num_threads``). The index is built once and searched
at every thread count (and with each of ``--search-configs``, a runner's search-time
settings, where given), so a 1-thread row costs only its searches; its ``build_s`` is the
build at ``build_threads``:

- **build**: loads the cached document vectors, then times the runner's ``build`` (index
  construction and writing it to the index folder) with ``time.perf_counter``: ``build_s``.
  ``peak_rss_build_mb`` is that process's ``resource.getrusage(RUSAGE_SELF).ru_maxrss``, so
  it includes the cached vectors the system was fed (float32, like the system's input).
- **search**: opens the index from the folder (a fresh process: nothing of the build is
  left in memory), loads the cached query vectors, runs one untimed warm-up query, then
  searches every query one at a time, timing only the search call (query vectors are already
  in memory, converted to the system's input type before the timer): ``search_ms``.
  ``peak_rss_search_mb`` is that process's peak RSS (index opened + query vectors + search).

``index_bytes`` is the space on disk of the whole index folder after the build (every file's
allocated blocks, ``st_blocks * 512``, what ``du`` counts: preallocated but unwritten
regions of sparse files are not counted); ``index_apparent_bytes`` sums ``st_size``. ``rankings`` are the top 100 ``[doc_id, score]`` of each query. The result file
holds ``{"runs": [one result per thread count]}``, or ``{"skipped": reason}``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

DEPTH = 100
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "RAYON_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)


@dataclass
class Cache:
    """The vectors ``embed.py`` wrote (see its docstring), loaded on first use."""

    folder: Path

    def _load(self, name: str) -> np.ndarray:
        return np.load(self.folder / f"{name}.npy")

    def _json(self, name: str) -> Any:
        return json.loads((self.folder / f"{name}.json").read_text())

    @cached_property
    def meta(self) -> dict[str, Any]:
        return dict(self._json("encode"))

    @cached_property
    def doc_ids(self) -> list[str]:
        return list(self._json("doc_ids"))

    @cached_property
    def doc_texts(self) -> list[str]:
        return list(self._json("doc_texts"))

    @cached_property
    def doc_pooled(self) -> np.ndarray:
        return self._load("doc_pooled")

    @cached_property
    def doc_tokens(self) -> list[np.ndarray]:
        """One (tokens, 384) float32 array per document (views of one concatenated array)."""
        flat, offsets = self._load("doc_tokens"), self._load("doc_offsets")
        return [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]

    @cached_property
    def query_ids(self) -> list[str]:
        return list(self._json("query_ids"))

    @cached_property
    def query_texts(self) -> list[str]:
        return list(self._json("query_texts"))

    @cached_property
    def query_pooled(self) -> np.ndarray:
        return self._load("query_pooled")

    @cached_property
    def query_tokens(self) -> list[np.ndarray]:
        flat, offsets = self._load("query_tokens"), self._load("query_offsets")
        return [flat[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


Ranking = list[tuple[str, float]]
# build(cache, index_folder, config, threads) -> what the build reports in ``config`` detail
BuildFn = Callable[[Cache, Path, str, int], dict[str, Any] | None]
# open(cache, index_folder, config, threads) -> (prepare(i) -> query input, search(input) -> Ranking)
# warm(config, threads): one-off set-up kept out of build_s (e.g. compiling C++ extensions)
WarmFn = Callable[[str, int], None]
OpenFn = Callable[[Cache, Path, str, int], tuple[Callable[[int], Any], Callable[[Any], Ranking]]]


def folder_bytes(folder: Path, *, apparent: bool = False) -> int:
    """Bytes the folder's files take on disk (allocated blocks, as ``du``), or their sizes."""
    files = [p.stat() for p in folder.rglob("*") if p.is_file()]
    return sum(s.st_size if apparent else s.st_blocks * 512 for s in files)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def thread_env(threads: int) -> dict[str, str]:
    return {**os.environ, **{var: str(threads) for var in THREAD_VARS}}


def _phase_build(args: argparse.Namespace, build: BuildFn, warm: WarmFn) -> dict[str, Any]:
    cache = Cache(Path(args.cache))
    cache.doc_tokens, cache.doc_pooled  # noqa: B018  (fed to the system, loaded untimed)
    threads = args.threads[0]
    warm(args.config, threads)
    start = time.perf_counter()
    detail = build(cache, Path(args.index), args.config, threads) or {}
    return {
        "build_s": time.perf_counter() - start,
        "peak_rss_build_mb": peak_rss_mb(),
        "detail": detail,
    }


def _phase_search(args: argparse.Namespace, open_index: OpenFn) -> dict[str, Any]:
    cache = Cache(Path(args.cache))
    prepare, search = open_index(cache, Path(args.index), args.config, args.threads[0])
    inputs = [prepare(i) for i in range(len(cache.query_ids))]
    search(inputs[0])  # warm-up, untimed
    times: list[float] = []
    rankings: dict[str, list[list[Any]]] = {}
    for qid, query in zip(cache.query_ids, inputs, strict=True):
        start = time.perf_counter()
        ranking = search(query)
        times.append((time.perf_counter() - start) * 1000)
        rankings[qid] = [[str(d), float(s)] for d, s in ranking[:DEPTH]]
    return {"search_ms": times, "rankings": rankings, "peak_rss_search_mb": peak_rss_mb()}


def main(
    system: str,
    build: BuildFn,
    open_index: OpenFn,
    *,
    describe: Callable[[str, int], str] = lambda config, threads: config,
    skip: Callable[[], str | None] = lambda: None,
    warm: WarmFn = lambda config, threads: None,
    argv: Sequence[str] | None = None,
) -> None:
    """A runner's entry point: the parent runs each phase as a child process."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", required=True)
    parser.add_argument("--index", required=True, help="index folder (emptied first)")
    parser.add_argument("--out", required=True, help="result JSON")
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--config", required=True)
    parser.add_argument("--build-threads", type=int, help="default: the largest --threads")
    parser.add_argument(
        "--search-configs",
        nargs="+",
        help="search the one index with each of these configs (default: --config)",
    )
    parser.add_argument("--phase", choices=["build", "search"], default=None)
    args = parser.parse_args(argv)
    if args.phase is not None:  # a child: its figures go to a side file, not stdout
        if args.phase == "build":
            figures = _phase_build(args, build, warm)
        else:
            figures = _phase_search(args, open_index)
        Path(f"{args.out}.{args.phase}").write_text(json.dumps(figures))
        return

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    reason = skip()
    if reason is not None:
        out.write_text(json.dumps({"system": system, "config": args.config, "skipped": reason}))
        return
    index = Path(args.index)
    if index.exists():
        import shutil

        shutil.rmtree(index)
    index.mkdir(parents=True)
    build_threads = args.build_threads or max(args.threads)

    def child(phase: str, threads: int, config: str = args.config) -> dict[str, Any] | str:
        """One phase in a fresh process; its figures, or why it failed."""
        cmd = [sys.executable, sys.argv[0], *sys.argv[1:], "--phase", phase]
        cmd += ["--threads", str(threads), "--config", config]  # the last of each wins
        done = subprocess.run(
            cmd, env=thread_env(threads), capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            tail = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            return f"{phase} (threads {threads}) failed: {tail}"
        side = Path(f"{args.out}.{phase}")
        figures: dict[str, Any] = json.loads(side.read_text())
        side.unlink()
        return figures

    def skipped(reason: str) -> None:
        out.write_text(json.dumps({"system": system, "config": args.config, "skipped": reason}))

    built = child("build", build_threads)
    if isinstance(built, str):
        return skipped(built)
    index_bytes, apparent = folder_bytes(index), folder_bytes(index, apparent=True)
    cache = Cache(Path(args.cache))
    runs = []
    for config, threads in itertools.product(args.search_configs or [args.config], args.threads):
        searched = child("search", threads, config)
        if isinstance(searched, str):
            return skipped(searched)
        runs.append(
            {
                "system": system,
                "config": describe(config, threads),
                "dataset": cache.folder.name,
                "threads": threads,
                "build_threads": build_threads,
                "n_docs": len(cache.doc_ids),
                "build_s": built["build_s"],
                "index_bytes": index_bytes,
                "index_apparent_bytes": apparent,
                "peak_rss_build_mb": built["peak_rss_build_mb"],
                "peak_rss_search_mb": searched["peak_rss_search_mb"],
                "build_detail": built["detail"],
                "search_ms": searched["search_ms"],
                "rankings": searched["rankings"],
            }
        )
    out.write_text(json.dumps({"runs": runs}))

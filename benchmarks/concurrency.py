"""One writer and four readers on one embedded store (issue #9, item 7).

Readers query the collection from 4 threads for ``--seconds``, first alone (baseline),
then while a writer thread ingests new documents. Reports search latency p50/p95 in both
phases and their ratio, the number of errors, and whether every reader saw the document
count only grow and every hit carry a stored text.

    python benchmarks/concurrency.py [--seconds 30] [--data ../shared/data/scifact]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import threading
import time
from pathlib import Path

from polyvec import Pipeline
from polyvec.eval import load_beir


def readers(pipeline: Pipeline, queries: list[str], seconds: float, threads: int = 4) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    monotonic = True
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def read(offset: int) -> None:
        nonlocal monotonic
        last_count = 0
        for query in itertools.islice(itertools.cycle(queries), offset, None):
            if time.perf_counter() > stop:
                return
            try:
                start = time.perf_counter()
                hits = pipeline.search(query, 10, plan="dense:50 -> tokens")
                elapsed = time.perf_counter() - start
                count = pipeline.count()
                with lock:
                    latencies.append(elapsed)
                    if count < last_count:
                        monotonic = False
                    if any(not h.text for h in hits):
                        errors.append("a hit without its text")
                last_count = count
            except Exception as err:  # counted and reported
                with lock:
                    errors.append(f"{type(err).__name__}: {err}")

    workers = [threading.Thread(target=read, args=(i * 7,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    ordered = sorted(latencies)
    return {
        "queries": len(latencies),
        "p50_ms": 1000 * statistics.median(ordered),
        "p95_ms": 1000 * ordered[int(0.95 * (len(ordered) - 1))],
        "errors": errors,
        "monotonic": monotonic,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default=str(Path(__file__).parents[1].parent / "shared/data/scifact")
    )
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--initial", type=int, default=300)
    args = parser.parse_args()
    dataset = load_beir(args.data)
    docs = list(itertools.islice(dataset.corpus(), 5000))
    queries = list(dataset.queries.values())[:50]
    fields = [{"type": "late_interaction", "name": "tokens"}, {"type": "dense", "name": "dense"}]
    with tempfile.TemporaryDirectory() as folder:
        config = {"fields": fields, "store": {"type": "edge", "path": folder}}
        with Pipeline.from_config(config) as pipeline:
            pipeline.ingest(docs[: args.initial])
            alone = readers(pipeline, queries, args.seconds)
            written = {"docs": 0, "error": None}

            def write() -> None:
                stop = time.perf_counter() + args.seconds
                position = args.initial
                try:
                    while time.perf_counter() < stop and position < len(docs):
                        pipeline.ingest(docs[position : position + 64])
                        position += 64
                        written["docs"] = position - args.initial
                except Exception as err:
                    written["error"] = f"{type(err).__name__}: {err}"

            writer = threading.Thread(target=write)
            writer.start()
            during = readers(pipeline, queries, args.seconds)
            writer.join()
            final = pipeline.count()
    print(
        f"Qdrant Edge, bundled model, plan dense:50 -> tokens, 4 reader threads, {args.seconds:.0f} s per phase"
    )
    print("| phase | queries | p50 ms | p95 ms | errors | count only grew |")
    print("|---|---:|---:|---:|---:|---|")
    for name, r in (("readers alone", alone), ("with one writer ingesting", during)):
        print(
            f"| {name} | {r['queries']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {len(r['errors'])} | {r['monotonic']} |"
        )
    print(f"p95 during ingest / p95 alone: {during['p95_ms'] / alone['p95_ms']:.2f}x")
    print(
        f"writer: {written['docs']} documents ingested meanwhile, error: {written['error']}; final count {final}"
    )
    for e in (alone["errors"] + during["errors"])[:5]:
        print("error:", e)


if __name__ == "__main__":
    main()

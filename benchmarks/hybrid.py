"""BM25, late interaction and their fusion in Qdrant, on BEIR folders (issue #10).

One collection per data set holds three fields: ``bm25`` (Qdrant's BM25, IDF by the
engine), ``tokens`` (the bundled model's token vectors, exact MaxSim) and ``dense`` (its
pooled vector). Every judged query is searched with each plan, one query at a time, and
nDCG@10, Recall@100 and the latency p50 (encode + search) are printed per plan, in one run.
Documents are kept whole (``chunking.mode: truncate``) so the figures compare with the
published single-model references.

    python benchmarks/hybrid.py [--data ../shared/data/scifact ../shared/data/npl] [--store DIR]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from polyvec import Pipeline
from polyvec.eval import evaluate, ingest_corpus, load_beir

PLANS = [
    "bm25",
    "dense",
    "tokens",
    "dense:100 -> tokens",
    "rrf(k=2; bm25:100, dense:100 -> tokens:100)",
    "dbsf(bm25:100, dense:100 -> tokens:100)",
    "rrf(bm25:100, dense:100) -> tokens",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    parser.add_argument("--data", nargs="+", default=[str(shared / "scifact")])
    parser.add_argument("--store", help="store folder (kept; default: a temporary one)")
    parser.add_argument("--plans", nargs="+", default=PLANS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.store or tmp
        for data in args.data:
            dataset = load_beir(data)
            name = Path(data).name
            config = {
                "fields": [
                    {"type": "bm25", "name": "bm25"},
                    {"type": "late_interaction", "name": "tokens"},
                    {"type": "dense", "name": "dense"},
                ],
                "chunking": {"mode": "truncate"},
                "store": {"type": "edge", "path": folder, "collection": f"hybrid-{name}"},
            }
            with Pipeline.from_config(config) as pipeline:
                done = ingest_corpus(pipeline, dataset)
                print(
                    f"{name}: {done.written} documents encoded in {done.seconds:.0f} s, "
                    f"{done.already_stored} already stored; {len(dataset.queries)} queries",
                    flush=True,
                )
                print("| plan | nDCG@10 | Recall@100 | p50 ms |")
                print("|---|---:|---:|---:|")
                for plan in args.plans:
                    result = evaluate(pipeline, dataset, plan=plan)
                    m = result.metrics
                    print(
                        f"| `{plan}` | {m['ndcg@10']:.4f} | {m['recall@100']:.4f} | "
                        f"{result.p50_ms:.1f} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()

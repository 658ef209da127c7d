"""FDE candidate stage + exact MaxSim rerank on SciFact, against exact MaxSim (issue #3).

One collection holds the bundled model's token vectors and two FDEs of them (fastembed's
defaults k_sim=5/dim_proj=16/r_reps=20 = 10,240 dims, and k_sim=4/r_reps=10 = 2,560 dims).
Every plan is evaluated on the 300 judged test queries in the same run; the ratio is
nDCG@10(plan) / nDCG@10(exact MaxSim).

    python benchmarks/fde_scifact.py [--data ../shared/data/scifact] [--limits 25 50 100 200]

Document encodings are cached under benchmarks/.cache (the first run encodes the corpus).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from polyvec import Pipeline
from polyvec.encoders import SentenceTransformerEncoder
from polyvec.eval import evaluate, load_beir

sys.path.insert(0, str(Path(__file__).parent))
from embedding_cache import CachedEncoder


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default=str(Path(__file__).parents[1].parent / "shared/data/scifact")
    )
    parser.add_argument("--limits", type=int, nargs="+", default=[25, 50, 100, 200])
    parser.add_argument("--cache", default=str(Path(__file__).parent / ".cache/scifact-bundled"))
    args = parser.parse_args()

    dataset = load_beir(args.data)
    encoder = CachedEncoder(SentenceTransformerEncoder("bundled"), args.cache)
    docs = list(dataset.corpus())
    config = {
        "fields": [
            {"type": "late_interaction", "name": "tokens"},
            {"type": "fde", "name": "fde", "k_sim": 5, "dim_proj": 16, "r_reps": 20},
            {"type": "fde", "name": "fde_small", "k_sim": 4, "dim_proj": 16, "r_reps": 10},
        ],
    }
    with tempfile.TemporaryDirectory() as folder:
        config["store"] = {"type": "edge", "path": folder, "collection": "scifact_fde"}
        with Pipeline.from_config(config, encoder=encoder) as pipeline:
            start = time.perf_counter()
            pipeline.ingest(docs, progress=True)
            encoder.save()
            pipeline.optimize()
            print(f"built {len(docs)} docs in {time.perf_counter() - start:.0f} s", flush=True)
            exact = evaluate(pipeline, dataset, plan="tokens")
            rows = [("tokens (exact MaxSim)", exact)]
            for field in ("fde", "fde_small"):
                for limit in args.limits:
                    plan = f"{field}:{limit} -> tokens"
                    rows.append((plan, evaluate(pipeline, dataset, plan=plan)))
                    print(f"  {plan}: {rows[-1][1].metrics['ndcg@10']:.4f}", flush=True)
    base = exact.metrics["ndcg@10"]
    print(
        f"\nSciFact test ({len(dataset.queries)} queries, {len(docs)} docs), bundled all-MiniLM-L6-v2, Qdrant Edge"
    )
    print("| plan | candidates (% corpus) | nDCG@10 | x exact | Recall@100 | p50 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for plan, result in rows:
        limit = plan.split(":")[1].split()[0] if ":" in plan else str(len(docs))
        share = 100 * int(limit) / len(docs)
        m = result.metrics
        print(
            f"| {plan} | {limit} ({share:.1f}%) | {m['ndcg@10']:.4f} | {m['ndcg@10'] / base:.3f} | "
            f"{m['recall@100']:.3f} | {result.p50_ms:.0f} |"
        )


if __name__ == "__main__":
    main()

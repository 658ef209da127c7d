"""Exact MaxSim scan vs an FDE plan on Qdrant Edge, synthetic documents (issue #3).

Documents: N sets of 64 random unit vectors (128 dims). For each query a random "topic"
set of 64 vectors is drawn and k near-duplicate documents of it are planted in the corpus
(the topic plus increasing Gaussian noise), so the exact top-k is well defined; the query
is 32 of the topic's vectors plus noise. Both plans run on the same store, queries
interleaved, so the latency ratio is measured side by side.

    python benchmarks/fde_latency.py --docs 10000 50000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np

from polyvec.adapters.fde import FDEAdapter, FDEConfig
from polyvec.adapters.late_interaction import LateInteractionAdapter, LateInteractionConfig
from polyvec.fields import Encoded, EncoderInfo
from polyvec.plans import Stage, parse_plan
from polyvec.store.edge import EdgeStore
from polyvec.store.ids import point_id
from polyvec.store.requests import QueryBuilder, point


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def build(n_docs: int, args: argparse.Namespace, folder: str) -> tuple[EdgeStore, list[dict]]:
    rng = np.random.default_rng(args.seed)
    qrng = np.random.default_rng(args.seed + 1)
    topics = unit(qrng.normal(size=(args.queries, args.tokens, args.dim)))
    slots = qrng.choice(n_docs, size=(args.queries, args.k), replace=False)
    planted: dict[int, np.ndarray] = {}
    for q, row in enumerate(slots):
        for rank, slot in enumerate(row):  # more noise further down the planted list
            noise = args.noise * (1 + rank / args.k) * qrng.normal(size=topics[q].shape)
            planted[int(slot)] = unit(topics[q] + noise)
    info = EncoderInfo("synthetic", None, args.dim)
    late = LateInteractionAdapter(LateInteractionConfig(name="tokens"), info)
    fde = FDEAdapter(
        FDEConfig(
            name="fde",
            k_sim=args.k_sim,
            dim_proj=args.dim_proj,
            r_reps=args.r_reps,
            hnsw=args.hnsw,
            datatype=args.fde_datatype,
            quantization={"type": args.fde_quantization} if args.fde_quantization else None,
        ),
        info,
    )
    store = EdgeStore(folder, f"synthetic{n_docs}")
    store.open(late.vector_fields() + fde.vector_fields(), manifest={})
    start = time.perf_counter()
    for first in range(0, n_docs, args.batch):
        count = min(args.batch, n_docs - first)
        tokens = list(unit(rng.normal(size=(count, args.tokens, args.dim))))
        for i in range(count):
            if first + i in planted:
                tokens[i] = planted[first + i]
        batch = Encoded(tokens=tokens)
        vectors = {**late.encode_documents(batch), **fde.encode_documents(batch)}
        store.upsert(
            [
                point(
                    point_id(first + i),
                    {k: v[i] for k, v in vectors.items()},
                    {"doc_id": first + i},
                )
                for i in range(count)
            ]
        )
    store.optimize()
    print(f"  built {n_docs} docs in {time.perf_counter() - start:.0f} s", flush=True)
    queries = []
    for topic in topics:
        picked = topic[qrng.choice(args.tokens, size=args.query_tokens, replace=False)]
        batch = Encoded(tokens=[unit(picked + args.noise * qrng.normal(size=picked.shape))])
        vectors = {**late.encode_queries(batch), **fde.encode_queries(batch)}
        queries.append({k: v[0] for k, v in vectors.items()})
    return store, queries


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--query-tokens", type=int, default=32)
    parser.add_argument("--noise", type=float, default=0.03)
    parser.add_argument("--plan", default="fde:100 -> tokens")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--k-sim", type=int, default=4)
    parser.add_argument("--dim-proj", type=int, default=16)
    parser.add_argument("--r-reps", type=int, default=10)
    parser.add_argument(
        "--hnsw", action="store_true", help="HNSW on the FDE field (default: exact scan)"
    )
    parser.add_argument("--fde-datatype", default="float32", choices=["float32", "float16"])
    parser.add_argument(
        "--fde-quantization",
        default=None,
        choices=["scalar", "binary"],
        help="quantized FDE copy, rescored",
    )
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    plan = parse_plan(args.plan)
    exact = Stage("tokens")
    rows = []
    for n_docs in args.docs:
        with tempfile.TemporaryDirectory() as folder:
            print(f"{n_docs} documents x {args.tokens} tokens x {args.dim} dims", flush=True)
            store, queries = build(n_docs, args, folder)
            requests = QueryBuilder(store.fields)
            t_exact, t_plan, recalls = [], [], []
            for q in queries:
                start = time.perf_counter()
                truth = [h.id for h in store.query_batch([requests.request(exact, q, args.k)])[0]]
                t_exact.append(time.perf_counter() - start)
                start = time.perf_counter()
                found = [h.id for h in store.query_batch([requests.request(plan, q, args.k)])[0]]
                t_plan.append(time.perf_counter() - start)
                recalls.append(len(set(truth) & set(found)) / len(truth))
            store.close()
        e, p = statistics.median(t_exact) * 1000, statistics.median(t_plan) * 1000
        rows.append((n_docs, e, p, e / p, statistics.mean(recalls)))
    fde_dims = args.r_reps * 2**args.k_sim * args.dim_proj
    print(
        f"\nplan {plan.describe()} (FDE k_sim={args.k_sim} dim_proj={args.dim_proj} r_reps={args.r_reps}: "
        f"{fde_dims} dims {args.fde_datatype}"
        f"{', ' + args.fde_quantization + ' quantized + rescore' if args.fde_quantization else ''}, "
        f"{'HNSW' if args.hnsw else 'exact scan'}); {args.queries} queries, medians"
    )
    print(f"| docs | exact MaxSim p50 ms | plan p50 ms | speed-up | recall@{args.k} vs exact |")
    print("|---:|---:|---:|---:|---:|")
    for n_docs, e, p, ratio, recall in rows:
        print(f"| {n_docs} | {e:.1f} | {p:.1f} | {ratio:.1f}x | {recall:.3f} |")


if __name__ == "__main__":
    main()

"""Bytes per document vs nDCG@10 on SciFact: the compression suite (issue #5).

Every variant is a field of ONE collection built from the same cached encodings of the
bundled all-MiniLM-L6-v2, and every plan is evaluated on the same judged queries in the
same run. Bytes per document are what the collection stores for each field (original
vectors, quantized copies kept beside them, HNSW links), measured by polyvec's own
``bytes_per_document`` (what ``polyvec info`` prints); a plan's bytes are the sum over the
fields it needs stored. Payload (text, metadata) is the same for all and reported apart.

Default corpus: a fixed subset — every document judged for a SciFact test query, then the
first documents of corpus.jsonl in file order up to --docs (default 1,500), with all 300
judged test queries. ``--docs 0`` uses the whole corpus (5,183 documents).

    python benchmarks/compression.py [--docs 1500] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from polyvec import Pipeline
from polyvec.encoders import SentenceTransformerEncoder
from polyvec.eval import evaluate, load_beir

sys.path.insert(0, str(Path(__file__).parent))
from embedding_cache import CachedEncoder

LI = "late_interaction"
FIELDS: list[dict[str, Any]] = [
    {"type": LI, "name": "t_f32"},
    {"type": LI, "name": "t_f16", "datatype": "float16"},
    {"type": LI, "name": "t_turbo8", "datatype": "turbo8"},
    {"type": LI, "name": "t_p2", "pool_factor": 2},
    {"type": LI, "name": "t_p3", "pool_factor": 3},
    {"type": LI, "name": "t_int8", "quantization": {"type": "scalar", "quantile": 0.99}},
    {
        "type": LI,
        "name": "t_bin",
        "quantization": {"type": "binary", "query_encoding": "scalar8bits"},
    },
    {"type": LI, "name": "t_p3_f16", "pool_factor": 3, "datatype": "float16"},
    {"type": LI, "name": "t_p2_turbo8", "pool_factor": 2, "datatype": "turbo8"},
    {"type": LI, "name": "t_p3_turbo8", "pool_factor": 3, "datatype": "turbo8"},
    {"type": "matryoshka", "name": "mrl", "dims": [64, 128, 384]},
    {"type": "fde", "name": "fde", "k_sim": 4, "dim_proj": 16, "r_reps": 10, "datatype": "float16"},
]
# (label, plan, fields whose bytes the plan needs stored)
PLANS: list[tuple[str, str, list[str]]] = [
    ("float32 multivector (exact MaxSim)", "t_f32", ["t_f32"]),
    ("float16 multivector", "t_f16", ["t_f16"]),
    ("turbo8 multivector", "t_turbo8", ["t_turbo8"]),
    ("pool factor 2", "t_p2", ["t_p2"]),
    ("pool factor 3", "t_p3", ["t_p3"]),
    ("int8 scalar + rescore", "t_int8", ["t_int8"]),
    ("binary (asymmetric) + rescore", "t_bin", ["t_bin"]),
    ("pool 3 + float16", "t_p3_f16", ["t_p3_f16"]),
    ("pool 2 + turbo8", "t_p2_turbo8", ["t_p2_turbo8"]),
    ("pool 3 + turbo8", "t_p3_turbo8", ["t_p3_turbo8"]),
    ("Matryoshka 64 (single vector)", "mrl64", ["mrl64"]),
    ("Matryoshka 128 (single vector)", "mrl128", ["mrl128"]),
    ("dense 384 (single vector)", "mrl384", ["mrl384"]),
    (
        "funnel mrl64:1000 -> dense:100 -> MaxSim",
        "mrl64:1000 -> mrl384:100 -> t_f32",
        ["mrl64", "mrl384", "t_f32"],
    ),
    ("funnel dense:50 -> MaxSim", "mrl384:50 -> t_f32", ["mrl384", "t_f32"]),
    ("funnel fde:100 -> MaxSim", "fde:100 -> t_f32", ["fde", "t_f32"]),
    ("combined mrl64:100 -> pool 3 + turbo8", "mrl64:100 -> t_p3_turbo8", ["mrl64", "t_p3_turbo8"]),
    ("combined mrl64:100 -> pool 2 + turbo8", "mrl64:100 -> t_p2_turbo8", ["mrl64", "t_p2_turbo8"]),
]


def subset(dataset: Any, size: int) -> list:
    docs = list(dataset.corpus())
    if size <= 0:
        return docs
    judged = {d for rels in dataset.qrels.values() for d in rels}
    chosen = [d for d in docs if d.id in judged]
    rest = [d for d in docs if d.id not in judged]
    return chosen + rest[: max(0, size - len(chosen))]


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Bytes (log) vs nDCG@10; points are numbered, the legend names them (labels overlap)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 6.5))
    for number, row in enumerate(rows, 1):
        funnel = "funnel" in row["label"] or "combined" in row["label"]
        ax.scatter(
            row["bytes"],
            row["ndcg@10"],
            marker="o" if funnel else "s",
            label=f"{number}. {row['label']}",
        )
        ax.annotate(
            str(number),
            (row["bytes"], row["ndcg@10"]),
            fontsize=8,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xscale("log")
    ax.set_xlabel("bytes per document (vectors + quantized copies + index)")
    ax.set_ylabel("nDCG@10")
    ax.set_title(
        "SciFact, bundled all-MiniLM-L6-v2, Qdrant Edge: bytes vs quality (squares: one field; circles: plans)"
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default=str(Path(__file__).parents[1].parent / "shared/data/scifact")
    )
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--cache", default=str(Path(__file__).parent / ".cache/scifact-bundled"))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    parser.add_argument(
        "--plot-only", action="store_true", help="redraw the PNG from compression.json"
    )
    args = parser.parse_args()
    if args.plot_only:
        out = Path(args.out)
        plot(json.loads((out / "compression.json").read_text()), out / "compression.png")
        return

    dataset = load_beir(args.data)
    docs = subset(dataset, args.docs)
    encoder = CachedEncoder(SentenceTransformerEncoder("bundled"), args.cache)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        config = {
            "fields": FIELDS,
            "store": {"type": "edge", "path": folder, "collection": "compression"},
        }
        with Pipeline.from_config(config, encoder=encoder) as pipeline:
            start = time.perf_counter()
            pipeline.ingest(docs, progress=True)
            encoder.save()
            pipeline.optimize()
            print(
                f"built {len(docs)} docs x {len(pipeline.vector_fields)} fields in {time.perf_counter() - start:.0f} s",
                flush=True,
            )
            sizes = pipeline.info()["bytes_per_document"]
            for label, plan, needs in PLANS:
                result = evaluate(pipeline, dataset, plan=plan)
                row = {
                    "label": label,
                    "plan": pipeline.plan(plan).describe(),
                    "bytes": sum(sizes[f]["total"] for f in needs),
                    **result.metrics,
                    "p50_ms": result.p50_ms,
                }
                rows.append(row)
                print(
                    f"  {label}: {row['ndcg@10']:.4f}, {row['bytes']:.0f} B/doc, p50 {row['p50_ms']:.0f} ms",
                    flush=True,
                )
    base = rows[0]
    for row in rows:
        row["x_bytes"] = row["bytes"] / base["bytes"]
        row["x_ndcg"] = row["ndcg@10"] / base["ndcg@10"]
    corpus = f"{len(docs)} docs" + (" (fixed subset)" if args.docs > 0 else " (full corpus)")
    lines = [
        f"SciFact test, {len(dataset.queries)} queries, {corpus}; payload {sizes['payload']['total']:.0f} B/doc on top of every row",
        "| variant | plan | bytes/doc | x float32 bytes | nDCG@10 | x exact | Recall@100 | p50 ms | x exact latency |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['label']} | `{row['plan']}` | {row['bytes']:,.0f} | {row['x_bytes']:.3f} | {row['ndcg@10']:.4f} | "
            f"{row['x_ndcg']:.3f} | {row['recall@100']:.3f} | {row['p50_ms']:.0f} | {row['p50_ms'] / base['p50_ms']:.2f} |"
        )
    small = [r for r in rows if r["x_bytes"] <= 1 / 8 and r["x_ndcg"] >= 0.99]
    if small:
        best = min(small, key=lambda r: r["bytes"])
        lines.append(
            f"\nsmallest plan within 1%: {best['label']} ({best['x_bytes']:.3f} of float32 bytes, {best['x_ndcg']:.3f} x nDCG@10)"
        )
    within2 = [r for r in rows if r["x_ndcg"] >= 0.98]
    best2 = min(within2, key=lambda r: r["bytes"])
    lines.append(
        f"smallest plan within 2%: {best2['label']} ({best2['x_bytes']:.3f} of float32 bytes, {best2['x_ndcg']:.3f} x nDCG@10)"
    )
    table = "\n".join(lines)
    print("\n" + table)
    (out / "compression.md").write_text(table + "\n")
    (out / "compression.json").write_text(json.dumps(rows, indent=2))
    plot(rows, out / "compression.png")
    print(
        f"\nwrote {out / 'compression.md'}, {out / 'compression.json'}, {out / 'compression.png'}"
    )


if __name__ == "__main__":
    main()

"""Scaling curve on Qdrant Edge: ingest rate, memory, bytes and query latency at growing
corpus sizes, with quality as recall@10 against exact MaxSim (issue #11, item 4).

The corpus is synthetic so that encoding is not the cost (``synthetic.py``): a stand-in
encoder turns a document's text into 64 unit token vectors of 128 dimensions derived from
the text alone, with planted near-duplicates of ``--queries`` topics (``--planted`` each) so
that the exact MaxSim top 10 is well defined. Documents go through the public path:
``Pipeline.ingest`` of a lazily generated, re-iterable corpus (streaming ingest).

Each size runs in a fresh child process, so peak RSS (VmHWM) and peak anonymous memory
(RssAnon, sampled every 20 ms) are that size's. Fields: ``tokens`` (the token vectors,
exact MaxSim), ``fde`` (MUVERA FDE, scanned exactly), ``fde_hnsw`` (the same FDE with an
HNSW index), ``dense`` (the mean token vector) and ``small`` (the token vectors pooled by
a factor of 2 and stored as turbo8: the compact field of ``benchmarks/peers``). Plans, each
measured on every query one at a time, interleaved, after one warm-up pass: exact MaxSim,
the FDE funnel with a scanned and an HNSW candidate stage (at the engine's default search
effort, and with ``hnsw_ef: 800``, 4x the candidate limit), the dense funnel and the
compact funnel (``dense:100 -> small``). The candidate field's scan-vs-HNSW switch point
is read off the two FDE funnels' p50 (and their recall). ``--dense-hnsw`` adds
``dense_hnsw`` (the mean vector again, with an HNSW index) and the compact funnel over it
(``dense_hnsw:100 -> small``, at the engine's default search effort and with
``hnsw_ef: 400``): what takes the dense scan off a large corpus's critical path.

Bytes on disk are those of the whole collection (every field, payload, ids, Edge's WAL)
and, per field, those of its storage and index folders in every segment, counted as
allocated blocks (as ``du``, and as the peers' index bytes: the engine's pre-allocated,
unwritten chunk regions are not counted; the JSON's ``apparent_bytes_per_doc`` sums the
file sizes). The table gives the compact fields' own bytes (``dense`` + ``small``) and the
rest that is not a field (payload, ids, WAL); ``compact_bytes_per_doc`` in the JSON is
their sum, an upper bound of a collection holding only the compact fields (its WAL would
see fewer bytes written).

``--warp-sizes`` (default: every size) also runs WARP (``xtr-warp-rs``, nbits=4, 2 threads,
``benchmarks/peers/run_warp.py`` in the peers' ``torch211`` venv, through
``scaling_warp.py``) on the same corpus: the
same token vectors written in the peers' cache format (``benchmarks/peers/embed.py``), its
recall@10 against polyvec's exact MaxSim top 10, its search-only p50, build time, index
bytes on disk per document and peak RSS during the build (which holds the float32 input
vectors, as ``benchmarks/peers/common.py`` says). polyvec's p50 includes the stand-in
encoder's query encoding (well under a millisecond); WARP's is search only.

``--reuse`` keeps the sizes already in ``--out``'s ``scaling.json`` (a long run continued
later, e.g. WARP at one more size) and runs only what is missing; the table names every
command that measured it.

    python benchmarks/scaling.py [--sizes 10000 50000 200000] [--warp-sizes 10000 50000]
        [--warp-partitions 200000=8192] [--dense-hnsw] [--out benchmarks/results] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scaling_warp
from memory_probe import AnonPeak, status
from synthetic import DIM, NOISE, PLANTED, QUERIES, SyntheticCorpus, token_vectors, unit

from polyvec.encoders import Encoder
from polyvec.fields import Encoded

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
import venvs  # benchmarks/peers: the peers' venvs
from common import folder_bytes  # benchmarks/peers: bytes on disk as the peers count them

PLANS = {
    "exact MaxSim": "tokens",
    "FDE scan funnel": "fde:200 -> tokens",
    "FDE HNSW funnel": "fde_hnsw:200 -> tokens",
    "FDE HNSW ef=800 funnel": "fde_hnsw_ef800",
    "dense funnel": "dense:200 -> tokens",
    "compact funnel": "dense:100 -> small",
}
# --dense-hnsw: the compact funnel's candidate stage on an HNSW copy of ``dense``
DENSE_HNSW_PLANS = {
    "compact funnel, dense HNSW": "dense_hnsw:100 -> small",
    "compact funnel, dense HNSW ef=400": "dense_hnsw_ef400",
}
# the fields a compact collection holds: what the compact funnel reads, and its bytes
COMPACT_FIELDS = ("dense", "small")


class SyntheticEncoder(Encoder):
    """Token vectors from the text alone: random for ``doc <i>``, a topic's vectors plus
    noise for ``topic <q> <rank>`` (documents) and ``topic <q>`` (the query)."""

    name = "synthetic"

    def __init__(self, noise: float) -> None:
        self.noise = noise

    @property
    def dim(self) -> int | None:
        return DIM

    @property
    def token_dim(self) -> int | None:
        return DIM

    def encode(
        self, texts: Sequence[str], *, is_query: bool, pooled: bool, tokens: bool
    ) -> Encoded:
        rows = [token_vectors(t, is_query, self.noise) for t in texts]
        return Encoded(
            pooled=np.stack([unit(r.mean(axis=0)) for r in rows]) if pooled and rows else None,
            tokens=rows if tokens else None,
        )


def _disk_bytes(folder: Path) -> tuple[int, dict[str, int], int]:
    """Bytes on disk under ``folder``; those of each named vector (its storage and index
    folders, ``vector_storage-<name>`` and ``vector_index-<name>``, in every segment); and
    those of the write-ahead log (``wal``). Allocated blocks, as ``du`` and the peers' index
    bytes count them (``common.folder_bytes``): pre-allocated but unwritten regions of the
    engine's sparse chunk files are not counted."""
    total, fields, wal = 0, dict[str, int](), 0
    for path in folder.rglob("*"):
        if path.is_file():
            size = path.stat().st_blocks * 512
            total += size
            parts = path.relative_to(folder).parts
            wal += size if "wal" in parts else 0
            for part in parts:
                if part.startswith(("vector_storage-", "vector_index-")):
                    name = part.split("-", 1)[1]
                    fields[name] = fields.get(name, 0) + size
    return total, fields, wal


def child(size: int, args: argparse.Namespace) -> dict[str, Any]:
    """Build one corpus size in this process and measure it."""
    from polyvec import Pipeline

    fde = {"type": "fde", "k_sim": 4, "dim_proj": 16, "r_reps": 10, "datatype": "float16"}
    config = {
        "fields": [
            {"type": "late_interaction", "name": "tokens"},
            {**fde, "name": "fde"},
            {**fde, "name": "fde_hnsw", "hnsw": True},
            {"type": "dense", "name": "dense"},
            # the compact row of benchmarks/peers: pooled (factor 2), 8-bit token vectors
            {"type": "late_interaction", "name": "small", "pool_factor": 2, "datatype": "turbo8"},
        ],
        "chunking": {"mode": "truncate"},
        # the HNSW candidate stage with a 4x wider graph search (the default ef is the limit)
        "plans": {
            "fde_hnsw_ef800": [
                {"field": "fde_hnsw", "limit": 200, "hnsw_ef": 800},
                {"field": "tokens"},
            ],
            "dense_hnsw_ef400": [
                {"field": "dense_hnsw", "limit": 100, "hnsw_ef": 400},
                {"field": "small"},
            ],
        },
    }
    plans = dict(PLANS)
    if args.dense_hnsw:
        config["fields"].append({"type": "dense", "name": "dense_hnsw", "hnsw": True})
        plans |= DENSE_HNSW_PLANS
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        config["store"] = {"type": "edge", "path": tmp, "collection": "scaling"}
        encoder = SyntheticEncoder(args.noise)
        with Pipeline.from_config(config, encoder=encoder) as pipeline:
            with AnonPeak() as anon:
                start = time.perf_counter()
                pipeline.ingest(SyntheticCorpus(size, args.queries, args.planted), progress=False)
                pipeline.optimize()
                ingest_s = time.perf_counter() - start
            peak_ingest = status("VmHWM")
            disk, field_bytes, wal = _disk_bytes(Path(tmp))  # optimize() has flushed
            apparent = folder_bytes(Path(tmp), apparent=True)
            queries = [f"topic {q}" for q in range(args.queries)]
            exact = {q: [h.id for h in pipeline.search(q, 10, plan="tokens")] for q in queries}
            latencies: dict[str, list[float]] = {name: [] for name in plans}
            recall: dict[str, list[float]] = {name: [] for name in plans}
            for _ in range(2):  # a warm-up pass, then the measured one
                for name in plans:
                    latencies[name].clear()
                    recall[name].clear()
                for q in queries:  # plans interleaved per query: measured side by side
                    for name, plan in plans.items():
                        t0 = time.perf_counter()
                        hits = pipeline.search(q, 10, plan=plan)
                        latencies[name].append((time.perf_counter() - t0) * 1000)
                        recall[name].append(len({h.id for h in hits} & set(exact[q])) / 10)
    return {
        "documents": size,
        "exact_top10": exact,
        "ingest_s": ingest_s,
        "ingest_docs_per_s": size / ingest_s,
        "peak_rss_ingest_mb": peak_ingest / 2**20,
        "peak_anon_ingest_mb": anon.peak / 2**20,
        "disk_bytes_per_doc": disk / size,
        "field_bytes_per_doc": {name: n / size for name, n in field_bytes.items()},
        "wal_bytes_per_doc": wal / size,
        "apparent_bytes_per_doc": apparent / size,  # file sizes, pre-allocation included
        # a collection of the compact fields only, at most: all but the other fields' files
        "compact_bytes_per_doc": (
            disk - sum(n for name, n in field_bytes.items() if name not in COMPACT_FIELDS)
        )
        / size,
        "plans": {
            name: {
                "plan": plans[name],
                "p50_ms": statistics.median(latencies[name]),
                "recall@10": statistics.mean(recall[name]),
            }
            for name in plans
        },
    }


def warp(size: int, exact: dict[str, list[str]], args: argparse.Namespace) -> dict[str, Any]:
    """WARP on the same corpus (``scaling_warp.py``): its figures, or ``{"skipped": why}``."""
    if (reason := venvs.ensure("torch211")) is not None:
        return {"skipped": f"pip: {reason}"}
    count = args.warp_partitions.get(size)
    config = f"nbits4-p{count}" if count else "nbits4"
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        scaling_warp.write_cache(Path(tmp), size, args.queries, args.planted, args.noise)
        python = str(venvs.python_of("torch211"))
        return scaling_warp.warp(Path(tmp), exact, python, config, build_threads=2)[0]


def _chosen_centroids(warp: dict[str, Any]) -> int | None:
    """The centroid count a WARP result was built with, where it was not WARP's own
    (``run_warp.describe`` writes it into the config as ``num_partitions=N``)."""
    count = re.search(r"num_partitions=(\d+)", warp["config"])
    return int(count[1]) if count else None


def _plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    sizes = [r["documents"] for r in results]
    for name in _plan_names(results):
        measured = [r for r in results if name in r["plans"]]
        xs, ys = [r["documents"] for r in measured], [r["plans"][name]["p50_ms"] for r in measured]
        left.plot(xs, ys, marker="o", label=name)
    warped = [r for r in results if "p50_ms" in r.get("warp", {})]

    def warp_line(axis: Any, key: str, label: str) -> None:
        if warped:
            xs, ys = [r["documents"] for r in warped], [r["warp"][key] for r in warped]
            axis.plot(xs, ys, marker="s", linestyle="--", label=label)

    warp_line(left, "p50_ms", "WARP nbits=4, 2 threads (search only)")
    for r in warped:  # a size run with a chosen centroid count, not WARP's own
        if count := _chosen_centroids(r["warp"]):
            note = f"{count:,} centroids,\nrecall@10 {r['warp']['recall@10']:.3f}"
            left.annotate(note, (r["documents"], r["warp"]["p50_ms"]), fontsize=8)
    left.set(
        xscale="log",
        yscale="log",
        xlabel="documents (64 tokens x 128 dims)",
        ylabel="p50 ms per query (encode + search)",
        title="query latency",
    )
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    right.plot(sizes, [r["peak_rss_ingest_mb"] for r in results], marker="o", label="peak RSS")
    warp_line(right, "peak_rss_build_mb", "WARP build peak RSS (holds its float32 input)")
    right.plot(
        sizes,
        [r["peak_anon_ingest_mb"] for r in results],
        marker="o",
        label="peak anonymous (heap)",
    )
    right.set(xscale="log", xlabel="documents", ylabel="MB", title="memory during ingest")
    right.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8)
    fig.suptitle("polyvec on Qdrant Edge (and WARP), synthetic corpus, 2-core box")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 50000, 200000])
    parser.add_argument("--queries", type=int, default=QUERIES)
    parser.add_argument("--planted", type=int, default=PLANTED)
    parser.add_argument("--noise", type=float, default=NOISE)
    parser.add_argument("--warp-sizes", type=int, nargs="*", help="WARP too (default: all)")
    parser.add_argument(
        "--warp-partitions",
        nargs="*",
        default=[],
        metavar="SIZE=N",
        help="WARP at SIZE documents with N centroids, not its heuristic's count",
    )
    parser.add_argument(
        "--dense-hnsw",
        action="store_true",
        help="also an HNSW copy of the dense field and the compact funnel over it",
    )
    parser.add_argument("--out", type=Path, help="write scaling.md/.json/.png here")
    parser.add_argument("--tmp", help="folder for the stores (default: the system's)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the sizes already in --out's scaling.json; run only what is missing",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    try:
        args.warp_partitions = dict(
            (int(size), int(n)) for size, n in (pair.split("=") for pair in args.warp_partitions)
        )
    except ValueError:
        parser.error("--warp-partitions takes SIZE=N pairs, e.g. 200000=8192")
    if args.child is not None:
        print(json.dumps(child(args.child, args)))
        return
    command_line = f"python benchmarks/scaling.py {' '.join(sys.argv[1:])}"
    earlier, commands = {}, [command_line]
    if args.reuse and args.out and (args.out / "scaling.json").exists():
        earlier = {r["documents"]: r for r in json.loads((args.out / "scaling.json").read_text())}
        table = (args.out / "scaling.md").read_text().splitlines()
        commands = [line[2:] for line in table if line.startswith("# ")] + commands
    warp_sizes = set(args.sizes if args.warp_sizes is None else args.warp_sizes)
    results = []
    names = list(PLANS) + (list(DENSE_HNSW_PLANS) if args.dense_hnsw else [])
    print(*_header(names), sep="\n", flush=True)
    for size in args.sizes:
        if size in earlier:
            result = earlier[size]
        else:
            command = [sys.executable, __file__, "--child", str(size)]
            command += ["--queries", str(args.queries), "--planted", str(args.planted)]
            command += ["--noise", str(args.noise)]
            command += ["--dense-hnsw"] if args.dense_hnsw else []
            command += ["--tmp", args.tmp] if args.tmp else []
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            result = json.loads(out.strip().splitlines()[-1])
        if size in warp_sizes and "p50_ms" not in result.get("warp", {}):
            result["warp"] = warp(size, result["exact_top10"], args)
        results.append(result)
        print(_row(result, names), flush=True)
        if args.out:  # after every size: a run stopped later keeps the sizes done
            _write(args.out, results, commands)


def _plan_names(results: list[dict[str, Any]]) -> list[str]:
    """The plans measured at any size, in the order first measured."""
    return list(dict.fromkeys(name for r in results for name in r["plans"]))


def _header(names: list[str]) -> list[str]:
    return [
        "| documents | ingest docs/s | peak RSS MB | peak anon MB | disk bytes/doc "
        "| compact fields bytes/doc | payload, ids, WAL bytes/doc | "
        + " | ".join(f"{n} p50 ms (recall@10)" for n in names)
        + " | WARP p50 ms (recall@10) | WARP build s | WARP bytes/doc | WARP build peak RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * (len(names) + 4),
    ]


def _row(result: dict[str, Any], names: list[str]) -> str:
    plans = result["plans"]
    cells = " | ".join(
        f"{plans[n]['p50_ms']:.1f} ({plans[n]['recall@10']:.3f})" if n in plans else "not run"
        for n in names
    )
    w = result.get("warp", {})
    if "p50_ms" in w:
        count = _chosen_centroids(w)
        cells += (
            f" | {w['p50_ms']:.1f} ({w['recall@10']:.3f})"
            + (f", {count:,} centroids" if count else "")
            + f" | {w['build_s']:.0f} | "
            f"{w['bytes_per_doc']:,.0f} | {w['peak_rss_build_mb']:.0f}"
        )
    else:
        cells += f" | {w.get('skipped', 'not run')} | | |"
    disk, fields = result["disk_bytes_per_doc"], result["field_bytes_per_doc"]
    compact = sum(fields[name] for name in COMPACT_FIELDS)
    return (
        f"| {result['documents']:,} | {result['ingest_docs_per_s']:.0f} "
        f"| {result['peak_rss_ingest_mb']:.0f} | {result['peak_anon_ingest_mb']:.0f} "
        f"| {disk:,.0f} | {compact:,.0f} | {disk - sum(fields.values()):,.0f} | {cells} |"
    )


def _write(out: Path, results: list[dict[str, Any]], commands: list[str]) -> None:
    """The table, JSON and plot; the table's header names each command that measured it
    (a ``--reuse`` run adds to an earlier run's)."""
    out.mkdir(parents=True, exist_ok=True)
    header = "".join(f"# {c}\n" for c in commands) + "\n"
    names = _plan_names(results)
    rows = [_row(r, names) for r in results]
    (out / "scaling.md").write_text(header + "\n".join([*_header(names), *rows]) + "\n")
    (out / "scaling.json").write_text(json.dumps(results, indent=2) + "\n")
    try:
        _plot(results, out / "scaling.png")
    except ImportError:
        print("matplotlib is not installed: no plot", file=sys.stderr)


if __name__ == "__main__":
    main()

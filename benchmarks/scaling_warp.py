"""WARP (``xtr-warp-rs``) on the scaling curve's synthetic corpus (``synthetic.py``).

``scaling.py`` calls :func:`warp` beside polyvec at each size. Run on its own, this script
measures WARP alone, where polyvec is not installed: on a machine lent for a build this box
cannot finish in a session (WARP's own 200k build, its heuristic's 32,768 centroids, needs
about 3.6 h of both of this box's cores: measured, ``docs/concepts.md``). It needs numpy and
a Python with ``xtr-warp-rs`` (``--python``; default: the peers' ``torch211`` venv).

For each size it writes the corpus in the peers' cache format, builds WARP with
``benchmarks/peers/run_warp.py`` (``--build-device cuda`` builds on a GPU; search is always
on the CPU, ``--threads`` threads) and measures recall@10 against the exact MaxSim top 10,
computed here with torch from the same vectors (on the GPU where there is one). With
``--truth`` (a ``scaling.py`` JSON) it also reports how much that top 10 agrees with the one
polyvec's exact MaxSim found on Qdrant Edge for the same corpus (1.000: the same corpus and
the same answers, so WARP's figures here sit beside that table's), and to calibrate search
latency across machines, the WARP p50 that table measured at the same size. ``--nprobe``
searches the same index again with more centroids probed per query token than WARP
chooses (its other search settings its own): the recall it can buy, and the latency.

    python benchmarks/scaling_warp.py --sizes 10000 200000 [--build-device cuda]
        [--build-threads 16] [--python python3] [--nprobe 16 32]
        [--truth benchmarks/results/scaling-run/scaling.json] --out DIR
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from synthetic import NOISE, PLANTED, QUERIES, SyntheticCorpus, encode_all

sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
from embed import save_side  # benchmarks/peers: their cache format


def write_cache(folder: Path, size: int, queries: int, planted: int, noise: float) -> None:
    """The corpus and its queries as ``benchmarks/peers`` caches them."""
    corpus = list(SyntheticCorpus(size, queries, planted))
    texts = [f"topic {q}" for q in range(queries)]
    for side, ids, side_texts, is_query in (
        ("doc", [d["id"] for d in corpus], [d["text"] for d in corpus], False),
        ("query", texts, texts, True),
    ):
        pooled, tokens = encode_all(side_texts, is_query, noise)
        save_side(folder, side, ids, side_texts, pooled, tokens)
        del pooled, tokens
    (folder / "encode.json").write_text(json.dumps({"n_docs": size}))


def warp(
    cache: Path,
    exact: dict[str, list[str]],
    python: str,
    config: str,
    build_threads: int,
    threads: int = 2,
    nprobes: Sequence[int] = (),
) -> list[dict[str, Any]]:
    """WARP built once on the corpus in ``cache`` and searched with its own settings, then
    with each of ``nprobes`` centroids probed per query token: one figures dict per search,
    or ``[{"skipped": why}]``. ``exact`` maps each query text to its exact MaxSim top 10."""
    out, index = cache / "warp.json", cache / "warp-index"
    script = Path(__file__).resolve().parent / "peers" / "run_warp.py"
    command = [python, str(script), "--cache", str(cache), "--index", str(index)]
    command += ["--out", str(out), "--threads", str(threads), "--config", config]
    command += ["--build-threads", str(build_threads), "--search-configs", config]
    command += [f"{config}-n{n}" for n in nprobes]
    done = subprocess.run(command, capture_output=True, text=True)
    result = json.loads(out.read_text()) if out.exists() else {}
    if done.returncode != 0 or "runs" not in result:
        tail = (done.stderr.strip().splitlines() or ["no result"])[-1]
        return [{"skipped": result.get("skipped") or f"run_warp.py failed: {tail}"}]
    figures = []
    for run in result["runs"]:
        size, rankings = run["n_docs"], run["rankings"]
        recall = [len({d for d, _ in rankings[q][:10]} & set(exact[q])) / 10 for q in exact]
        figures.append(
            {
                "config": run["config"],
                "build_s": run["build_s"],
                "bytes_per_doc": run["index_bytes"] / size,
                "peak_rss_build_mb": run["peak_rss_build_mb"],
                "peak_rss_search_mb": run["peak_rss_search_mb"],
                "p50_ms": statistics.median(run["search_ms"]),
                "recall@10": statistics.mean(recall),
            }
        )
    return figures


def exact_top10(cache: Path) -> dict[str, list[str]]:
    """The exact MaxSim top 10 of each query, from the cached vectors (torch, on the GPU
    where there is one, a block of documents at a time)."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    ids = json.loads((cache / "doc_ids.json").read_text())
    docs = torch.from_numpy(np.load(cache / "doc_tokens.npy")).to(device)
    docs = docs.view(len(ids), -1, docs.shape[-1])
    texts = json.loads((cache / "query_texts.json").read_text())
    queries = torch.from_numpy(np.load(cache / "query_tokens.npy")).to(device)
    queries = queries.view(len(texts), -1, queries.shape[-1])
    scores = []
    for block in docs.split(2048):  # (docs, tokens, dim) x (queries, qtokens, dim)
        sims = torch.einsum("dtk,qsk->qdst", block, queries)
        scores.append(sims.amax(dim=-1).sum(dim=-1))  # MaxSim: best token, summed
    top = torch.cat(scores, dim=1).topk(10, dim=1).indices.cpu().tolist()
    return {text: [ids[i] for i in row] for text, row in zip(texts, top, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", required=True)
    parser.add_argument("--queries", type=int, default=QUERIES)
    parser.add_argument("--planted", type=int, default=PLANTED)
    parser.add_argument("--noise", type=float, default=NOISE)
    parser.add_argument("--build-device", default="cpu", help="cpu or cuda (search: cpu)")
    parser.add_argument("--build-threads", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2, help="search threads")
    parser.add_argument("--partitions", type=int, help="centroids (default: WARP's own)")
    parser.add_argument(
        "--nprobe",
        type=int,
        nargs="*",
        default=[],
        help="also search with each of these centroid counts probed per query token",
    )
    parser.add_argument("--python", help="a Python with xtr-warp-rs (default: torch211 venv)")
    parser.add_argument("--truth", type=Path, help="a scaling.py JSON to compare with")
    parser.add_argument("--out", type=Path, required=True, help="scaling_warp.md/.json here")
    parser.add_argument("--tmp", help="folder for the corpus and index (default: the system's)")
    args = parser.parse_args()
    python = args.python
    if python is None:
        import venvs  # benchmarks/peers

        if (reason := venvs.ensure("torch211")) is not None:
            sys.exit(f"cannot install WARP's venv: {reason}")
        python = str(venvs.python_of("torch211"))
    config = "nbits4" + (f"-p{args.partitions}" if args.partitions else "")
    config += "-cuda" if args.build_device == "cuda" else ""
    earlier = {}
    if args.truth:
        earlier = {r["documents"]: r for r in json.loads(args.truth.read_text())}
    command = f"python benchmarks/scaling_warp.py {' '.join(sys.argv[1:])}"
    rows, results = [], []
    for size in args.sizes:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            cache = Path(tmp)
            start = time.perf_counter()
            write_cache(cache, size, args.queries, args.planted, args.noise)
            corpus_s = time.perf_counter() - start
            exact = exact_top10(cache)
            runs = warp(cache, exact, python, config, args.build_threads, args.threads, args.nprobe)
        result = {"documents": size, "corpus_s": corpus_s, "warp": runs}
        if size in earlier:  # the same corpus? and the latency measured there
            theirs = earlier[size]["exact_top10"]
            agree = [len(set(exact[q]) & set(theirs[q])) / 10 for q in exact]
            result["truth_agreement"] = statistics.mean(agree)
            result["truth_p50_ms"] = earlier[size].get("warp", {}).get("p50_ms")
        results.append(result)
        rows += [_row(result, run) for run in runs]
        print(*rows[-len(runs) :], sep="\n", flush=True)
        args.out.mkdir(parents=True, exist_ok=True)  # after every size: partial runs keep
        (args.out / "scaling_warp.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / "scaling_warp.md").write_text(
            "\n".join([f"# {command}", "", *HEADER, *rows]) + "\n"
        )


HEADER = [
    "| documents | WARP config | build s | bytes/doc | build peak RSS MB "
    "| search p50 ms | recall@10 | exact top 10 = --truth's | --truth's WARP p50 ms |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
]


def _row(result: dict[str, Any], w: dict[str, Any]) -> str:
    agree = result.get("truth_agreement")
    theirs = result.get("truth_p50_ms")
    tail = f"| {agree:.3f} |" if agree is not None else "| |"
    tail += f" {theirs:.1f} |" if theirs is not None else " |"
    if "skipped" in w:
        return f"| {result['documents']:,} | {w['skipped']} | | | | | | {tail}"
    return (
        f"| {result['documents']:,} | {w['config']} | {w['build_s']:.0f} "
        f"| {w['bytes_per_doc']:,.0f} | {w['peak_rss_build_mb']:.0f} | {w['p50_ms']:.1f} "
        f"| {w['recall@10']:.3f} {tail}"
    )


if __name__ == "__main__":
    main()

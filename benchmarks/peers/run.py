"""polyvec against peer retrieval systems, all fed the same cached embeddings (issue: peers).

One command, run in polyvec's venv::

    python benchmarks/peers/run.py --data /work/shared/data/scifact /work/shared/data/npl \\
        [--subset N] [--queries Q] [--only NAME ...] [--threads 1 2] [--out benchmarks/results]

1. Builds each peer's venv under ``polyvec_data/peers/venvs/`` (``venvs.py``; a venv that
   cannot be installed makes its peers ``skipped`` with pip's last line as the reason).
2. Encodes every data set once with the bundled all-MiniLM-L6-v2 (``embed.py``: token
   vectors, pooled vector, per-query encoding time), cached in ``polyvec_data/peers/cache/``.
3. Runs every runner (``run_<peer>.py``, in its peer's venv; see ``common.py`` for how
   build time, bytes, peak RSS and search time are measured): one build at the largest
   ``--threads`` value, then a search at each value where the system has a thread knob,
   at the largest only where it has none. A
   result is reused when its runner's code (runner + ``common.py``) is unchanged and
   ``--force`` is not given; index folders are deleted after each run unless
   ``--keep-indexes``. ``--cached-only`` runs nothing and writes the report from the results
   already there (what earlier invocations of the same command measured).
4. Scores every run with polyvec's own ``polyvec.eval.score_run`` (``pytrec_eval``:
   nDCG@10, Recall@100, over the judged test queries in the cache), from rank-derived scores
   as ``polyvec eval`` does (a system's ties cannot reorder its ranking inside trec_eval).
   ``end-to-end p50`` = search p50 + the median per-query encoding time of the bundled
   model (``encode.json``): every system here would encode the query with the same model.
   ``bytes/doc`` = index bytes on disk / documents.
5. Writes ``peers.md`` (one table per data set, skipped systems with their reason),
   ``peers.json`` (every row, with the per-query search times) and, per data set,
   ``peers-<dataset>-latency.png`` (nDCG@10 vs search p50, log x) and
   ``peers-<dataset>-bytes.png`` (nDCG@10 vs bytes/doc, log x) into ``--out``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import venvs  # noqa: E402
from embed import CACHE, cache_name, p95  # noqa: E402

ROOT = HERE.parents[1]
WORK = ROOT / "polyvec_data" / "peers"


@dataclass(frozen=True)
class Runner:
    """One system: its script, venv (None: polyvec's own), configs, and a thread knob."""

    name: str
    script: str
    env: str | None
    configs: tuple[str, ...]
    thread_knob: bool = True


POLYVEC_PLANS = (
    "tokens",
    "dense:100 -> tokens",
    "fde:200 -> tokens",
    "rrf(k=2; bm25:100, dense:100 -> tokens:100)",
    "dense:100 -> small",
)
RUNNERS = [
    Runner("polyvec", "run_polyvec.py", None, POLYVEC_PLANS, thread_knob=False),
    Runner("warp", "run_warp.py", "torch211", ("nbits4",)),
    Runner("fastplaid", "run_fastplaid.py", "torch211", ("nbits4",)),
    Runner("pylate-plaid", "run_pylate.py", "pylate", ("plaid",)),
    Runner("pylate-voyager", "run_pylate.py", "pylate", ("voyager",)),
    Runner("muvera", "run_muvera.py", "muvera", ("fde100",)),
    Runner("langchain", "run_langchain.py", "langchain", ("dense", "hybrid")),
]


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")


def code_hash(runner: Runner) -> str:
    digest = hashlib.sha1()
    for name in (runner.script, "common.py"):
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()[:12]


def run_one(
    runner: Runner, config: str, threads: list[int], cache: Path, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """One runner invocation (one build, a search per thread count): a result per count,
    or one ``skipped`` result. Reused when the runner's code is unchanged."""
    tag = f"{runner.name}-{slug(config)}-t{'-'.join(map(str, threads))}"
    out = WORK / "results" / cache.name / f"{tag}.json"
    index = WORK / "index" / cache.name / tag
    version = code_hash(runner)

    def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
        return [{**run, "runner": runner.name, "config_key": config} for run in result["runs"]]

    previous = json.loads(out.read_text()) if out.exists() and not args.force else {}
    fresh = previous.get("code") == version  # measured by this very code
    if fresh and "runs" in previous:
        print(f"  {tag}: reused {out.relative_to(ROOT)}", flush=True)
        return rows(previous)
    if args.cached_only:  # a failure is kept with its reason
        reason = previous["skipped"] if fresh else "not run: no result yet"
        return [{"system": runner.name, "config": config, "skipped": reason}]
    if runner.env is not None and (reason := venvs.failure(runner.env)) is not None:
        return [{"system": runner.name, "config": config, "skipped": f"pip: {reason}"}]
    python = sys.executable if runner.env is None else str(venvs.python_of(runner.env))
    cmd = [python, str(HERE / runner.script), "--cache", str(cache), "--index", str(index)]
    cmd += ["--out", str(out), "--config", config, "--threads", *map(str, threads)]
    if args.nice:
        cmd = ["nice", "-n", str(args.nice), *cmd]
    start = time.perf_counter()
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=args.timeout, check=False
        )
        failed = done.returncode != 0 or not out.exists()
        tail = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
    except subprocess.TimeoutExpired:
        failed, tail = True, f"timed out after {args.timeout} s"
    result: dict[str, Any] = {} if failed else json.loads(out.read_text())
    if failed or "runs" not in result:
        reason = result.get("skipped") or f"runner failed: {tail}"
        result = {"system": runner.name, "config": config, "skipped": reason}
    result["code"] = version
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result))
    if not args.keep_indexes and index.exists():
        shutil.rmtree(index)
    state = result.get("skipped") or f"done in {time.perf_counter() - start:.0f} s"
    print(f"  {tag}: {state}", flush=True)
    return [result] if "skipped" in result else rows(result)


def score(
    result: dict[str, Any], qrels: dict[str, dict[str, int]], encode_ms: float
) -> dict[str, Any]:
    """The table row of one result: pytrec_eval metrics (polyvec.eval.score_run) and costs."""
    from polyvec.eval import score_run

    run: dict[str, dict[str, float]] = {}
    for qid, ranking in result["rankings"].items():
        ranked = list(dict.fromkeys(doc for doc, _ in ranking))[:100]
        run[qid] = {doc: float(100 - rank) for rank, doc in enumerate(ranked)}
    metrics = score_run(run, qrels)
    times = result["search_ms"]
    p50 = statistics.median(times)
    return {
        "system": result["system"],
        "runner": result.get("runner"),
        "config_key": result.get("config_key"),
        "config": result["config"],
        "threads": result["threads"],
        "build_threads": result.get("build_threads", result["threads"]),
        "n_docs": result["n_docs"],
        "n_queries": len(times),
        "ndcg@10": metrics["ndcg@10"],
        "recall@100": metrics["recall@100"],
        "search_p50_ms": p50,
        "search_p95_ms": p95(times),
        "e2e_p50_ms": p50 + encode_ms,
        "build_s": result["build_s"],
        "index_bytes": result["index_bytes"],
        "bytes_per_doc": result["index_bytes"] / result["n_docs"],
        "peak_rss_build_mb": result["peak_rss_build_mb"],
        "peak_rss_search_mb": result["peak_rss_search_mb"],
        "search_ms": times,
    }


WITHIN = 0.99  # "within 1% of exact MaxSim": nDCG@10 at least 0.99x polyvec's exact plan


def verdict(rows: list[dict[str, Any]]) -> list[str]:
    """polyvec's best plans (for quality; for latency and for bytes within 1% of exact
    MaxSim) and how each peer compares with them, with the margins where polyvec loses."""
    ours = [r for r in rows if r["runner"] == "polyvec"]
    exact = next((r for r in ours if r["config_key"] == "tokens"), None)
    if not ours or exact is None:
        return []
    close = [r for r in ours if r["ndcg@10"] >= WITHIN * exact["ndcg@10"]]
    best = max(ours, key=lambda r: r["ndcg@10"])
    fastest = min(close, key=lambda r: r["search_p50_ms"])
    smallest = min(close, key=lambda r: r["bytes_per_doc"])
    lines = [
        "",
        "polyvec's rows, as named by their plans:",
        "",
        f"- best for quality: `{best['config_key']}`, nDCG@10 {best['ndcg@10']:.4f};",
        f"- best for latency within 1% of exact MaxSim ({exact['ndcg@10']:.4f}): "
        f"`{fastest['config_key']}`, {fastest['search_p50_ms']:.1f} ms, nDCG@10 "
        f"{fastest['ndcg@10']:.4f};",
        f"- best for bytes within 1% of exact MaxSim: `{smallest['config_key']}`, "
        f"{smallest['bytes_per_doc']:,.0f} B/doc, nDCG@10 {smallest['ndcg@10']:.4f}.",
        "",
        "Each peer's best row (by nDCG@10, at the most threads) against those: quality against "
        "the best-for-quality plan, latency against the best-for-latency plan, bytes against "
        "the best-for-bytes plan. polyvec **loses** where the margin is marked.",
        "",
        "| peer | nDCG@10 (polyvec) | search p50 ms (polyvec) | bytes/doc (polyvec) |",
        "|---|---:|---:|---:|",
    ]
    top_threads = max(r["threads"] for r in rows)
    for runner in dict.fromkeys(r["runner"] for r in rows if r["runner"] != "polyvec"):
        theirs = [r for r in rows if r["runner"] == runner and r["threads"] == top_threads]
        if not theirs:
            continue
        peer = max(theirs, key=lambda r: r["ndcg@10"])
        quality = peer["ndcg@10"] - best["ndcg@10"]
        speed = fastest["search_p50_ms"] / peer["search_p50_ms"]
        size = smallest["bytes_per_doc"] / peer["bytes_per_doc"]
        lost_quality = f", **loses by {quality:.4f}**" if quality > 0 else ""
        lost_speed = f", **{speed:.2f}x slower**" if speed > 1 else ""
        lost_size = f", **{size:.2f}x larger**" if size > 1 else ""
        lines.append(
            f"| {peer['system']} `{peer['config_key']}` | {peer['ndcg@10']:.4f} "
            f"({best['ndcg@10']:.4f}{lost_quality}) | {peer['search_p50_ms']:.1f} "
            f"({fastest['search_p50_ms']:.1f}{lost_speed}) | {peer['bytes_per_doc']:,.0f} "
            f"({smallest['bytes_per_doc']:,.0f}{lost_size}) |"
        )
    return lines


def _reason(result: dict[str, Any]) -> str:
    """Why a run is missing; a SIGKILL is named (on Linux, usually the OOM killer)."""
    reason = str(result.get("skipped"))
    if reason.endswith("exit -9"):
        reason += " (SIGKILL: on this box, the kernel's out-of-memory killer; see dmesg)"
    return reason


def markdown(datasets: list[dict[str, Any]], command: str) -> str:
    lines = [
        "# polyvec and peer systems: the same embeddings, indexing and search only",
        "",
        f"`{command}`",
        "",
        *(
            [
                "Written with `--cached-only` from the results that the same command without "
                "it measured (a runner's result is kept until its code changes).",
                "",
            ]
            if "--cached-only" in command
            else []
        ),
        "All systems read the same cached vectors of the bundled all-MiniLM-L6-v2 "
        "(`benchmarks/peers/embed.py`); how each figure is measured: "
        "`benchmarks/peers/common.py` and `run.py`. Search: one query at a time, top 100. "
        "End-to-end = search p50 + the model's median query-encoding time. Each index is built "
        "once, at the largest thread count, and searched at each: a system's rows share its "
        "build figures.",
    ]
    for ds in datasets:
        lines += [
            "",
            f"## {ds['dataset']} ({ds['n_docs']} documents, {ds['n_queries']} queries; "
            f"query encoding median {ds['encode_ms']:.1f} ms)",
            "",
            "| system | config | threads | nDCG@10 | Recall@100 | search p50 ms | p95 ms | "
            "end-to-end p50 ms | build s | bytes/doc | peak RSS build MB | search MB |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in ds["rows"]:
            lines.append(
                f"| {r['system']} | {r['config']} | {r['threads']} | {r['ndcg@10']:.4f} | "
                f"{r['recall@100']:.4f} | {r['search_p50_ms']:.1f} | {r['search_p95_ms']:.1f} | "
                f"{r['e2e_p50_ms']:.1f} | {r['build_s']:.1f} | {r['bytes_per_doc']:,.0f} | "
                f"{r['peak_rss_build_mb']:.0f} | {r['peak_rss_search_mb']:.0f} |"
            )
        lines += verdict(ds["rows"])
        if ds["skipped"]:
            lines += ["", "Skipped:", ""]
            lines += [f"- {s['system']} ({s['config']}): {s['skipped']}" for s in ds["skipped"]]
    return "\n".join(lines) + "\n"


def plots(ds: dict[str, Any], out: Path) -> list[Path]:
    """nDCG@10 vs search p50 and vs bytes/doc (log x); numbered points, legend names them."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed in polyvec's venv: no plots", flush=True)
        return []
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for key, label, name in (
        ("search_p50_ms", "search p50 (ms, one query at a time)", "latency"),
        ("bytes_per_doc", "index bytes on disk per document", "bytes"),
    ):
        fig, ax = plt.subplots(figsize=(13, 6.5))
        colours = [plt.get_cmap("tab20")(i) for i in range(20)]
        for number, r in enumerate(ds["rows"], 1):
            marker = "o" if r["system"] == "polyvec" else "s"
            text = f"{number}. {r['runner']}: {r['config_key']} (threads {r['threads']})"
            colour = colours[(number - 1) % len(colours)]
            ax.scatter(r[key], r["ndcg@10"], marker=marker, color=colour, label=text)
            ax.annotate(
                str(number),
                (r[key], r["ndcg@10"]),
                fontsize=8,
                xytext=(3, 3),
                textcoords="offset points",
            )
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("nDCG@10")
        ax.set_title(
            f"{ds['dataset']}: bundled all-MiniLM-L6-v2 vectors, 2-core CPU (circles: polyvec)",
            fontsize=10,
        )
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        path = out / f"peers-{ds['dataset']}-{name}.png"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", required=True, help="BEIR folders")
    parser.add_argument("--subset", type=int, default=None, help="documents (see embed.py)")
    parser.add_argument("--queries", type=int, default=None, help="first Q judged queries")
    parser.add_argument("--only", nargs="+", choices=[r.name for r in RUNNERS], default=None)
    parser.add_argument("--plan", action="append", default=None, help="polyvec plans")
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    parser.add_argument("--force", action="store_true", help="re-run cached results")
    parser.add_argument("--keep-indexes", action="store_true")
    parser.add_argument("--timeout", type=int, default=6 * 3600, help="seconds per run")
    parser.add_argument("--nice", type=int, default=0, help="run runners under nice -n")
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="run nothing: write the report from the results already there (a run without a "
        "result is listed as not run)",
    )
    args = parser.parse_args(argv)
    command = "python benchmarks/peers/run.py " + " ".join(argv or sys.argv[1:])
    runners = [r for r in RUNNERS if args.only is None or r.name in args.only]
    if args.plan:
        runners = [
            Runner(r.name, r.script, r.env, tuple(args.plan), r.thread_knob)
            if r.name == "polyvec"
            else r
            for r in runners
        ]

    for env in dict.fromkeys(r.env for r in runners if r.env is not None and not args.cached_only):
        start = time.perf_counter()
        reason = venvs.ensure(env)
        print(f"venv {env}: {reason or 'ready'} ({time.perf_counter() - start:.0f} s)", flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    datasets = []
    for data in args.data:
        cache = CACHE / cache_name(data, args.subset, args.queries)
        embed = [sys.executable, str(HERE / "embed.py"), data]
        embed += ["--subset", str(args.subset)] if args.subset else []
        embed += ["--queries", str(args.queries)] if args.queries else []
        if not args.cached_only:
            subprocess.run(embed, check=True)
        meta = json.loads((cache / "encode.json").read_text())
        qrels = json.loads((cache / "qrels.json").read_text())
        rows: list[dict[str, Any]] = []
        skipped: list[dict[str, Any]] = [
            {"system": r.name, "config": ", ".join(r.configs), "skipped": "not run: --only"}
            for r in RUNNERS
            if r.name not in {chosen.name for chosen in runners}
        ]
        print(f"{cache.name}: {meta['n_docs']} documents, {meta['n_queries']} queries", flush=True)
        for runner in runners:
            threads = args.threads if runner.thread_knob else [max(args.threads)]
            for config in runner.configs:
                for result in run_one(runner, config, sorted(set(threads)), cache, args):
                    if "skipped" in result:
                        skipped.append(result)
                    else:
                        rows.append(score(result, qrels, meta["query_encode_ms_median"]))
        datasets.append(
            {
                "dataset": cache.name,
                "n_docs": meta["n_docs"],
                "n_queries": meta["n_queries"],
                "encode_ms": meta["query_encode_ms_median"],
                "encode_p95_ms": meta["query_encode_ms_p95"],
                "rows": rows,
                "skipped": [
                    {**{k: s.get(k) for k in ("system", "config")}, "skipped": _reason(s)}
                    for s in skipped
                ],
            }
        )
    (out / "peers.md").write_text(markdown(datasets, command))
    (out / "peers.json").write_text(
        json.dumps({"command": command, "datasets": datasets}, indent=1)
    )
    for ds in datasets:
        for path in plots(ds, out):
            print(f"wrote {path}", flush=True)
    print(f"wrote {out / 'peers.md'} and {out / 'peers.json'}", flush=True)


if __name__ == "__main__":
    main()

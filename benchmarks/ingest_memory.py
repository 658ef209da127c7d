"""Peak memory of an ingest as the corpus grows (issue #9, item 3).

Each size runs in a fresh process: a synthetic BEIR corpus of N documents (about 120 words
each) is written to a temporary folder, then ingested into a new Qdrant Edge collection
(late interaction + dense) through the path ``polyvec eval`` takes: the corpus streamed from
disk (``BeirCorpus``), split by the pipeline's chunker, written by ``replace_sources``.

The encoder is a stand-in (vectors hashed from the text, no model), so what is measured is
polyvec's and Qdrant Edge's memory, not torch's. Reported per size: peak RSS (``VmHWM``),
the peak of anonymous memory (``RssAnon``, sampled every 20 ms: what the process holds,
without the pages of Qdrant's memory-mapped files), the peak of Python's own allocations
(``tracemalloc``: what polyvec holds, Qdrant's Rust engine excluded; it slows the run),
seconds, and the ratio of the largest size's peaks to the smallest's. ``--materialize`` passes ``list(corpus)`` instead, i.e. the
corpus held whole, to show what streaming saves.

    python benchmarks/ingest_memory.py [--sizes 5000 50000] [--materialize]

The real encoder's whole ``polyvec eval`` process (peak RSS by ``/usr/bin/time``) is
measured by ``benchmarks/chunking.sh``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from memory_probe import AnonPeak, status

from polyvec.encoders import Encoder
from polyvec.fields import Encoded

WORDS = [
    "late",
    "interaction",
    "token",
    "vector",
    "maxsim",
    "qdrant",
    "collection",
    "passage",
    "query",
    "encoder",
    "corpus",
    "retrieval",
    "dense",
    "sparse",
    "fusion",
    "index",
    "segment",
    "shard",
    "payload",
    "filter",
    "matryoshka",
    "quantized",
]


class StandInEncoder(Encoder):
    """Deterministic vectors from a text's hash: pooled (dim) and up to 24 token vectors."""

    name = "stand-in"

    @property
    def dim(self) -> int | None:
        return 64

    @property
    def token_dim(self) -> int | None:
        return 64

    def encode(
        self, texts: Sequence[str], *, is_query: bool, pooled: bool, tokens: bool
    ) -> Encoded:
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            rng = np.random.default_rng(seed)
            n = max(1, min(24, len(text.split())))
            vectors = rng.standard_normal((n + 1, 64)).astype(np.float32)
            rows.append(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
        return Encoded(
            pooled=np.stack([r[0] for r in rows]) if pooled and rows else None,
            tokens=[r[1:] for r in rows] if tokens else None,
        )


def write_corpus(folder: Path, n: int) -> Path:
    rng = np.random.default_rng(n)
    path = folder / "corpus.jsonl"
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            words = rng.choice(WORDS, size=120)
            fh.write(json.dumps({"_id": f"d{i}", "title": f"doc {i}", "text": " ".join(words)}))
            fh.write("\n")
    return path


def child(n: int, materialize: bool) -> dict[str, Any]:
    """One ingest in this process; returns what it measured."""
    from polyvec import Pipeline
    from polyvec.eval import BeirCorpus

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        corpus_path = write_corpus(folder, n)
        config = {
            "fields": [{"type": "late_interaction", "name": "tokens"}, {"type": "dense"}],
            "store": {"type": "edge", "path": str(folder / "store"), "collection": "mem"},
        }
        pipeline = Pipeline.from_config(config, encoder=StandInEncoder())
        before = status("VmRSS")
        with AnonPeak() as anon:
            tracemalloc.start()  # Python's own allocations: what polyvec holds, not the engine
            start = time.perf_counter()
            corpus: Any = BeirCorpus(corpus_path)
            if materialize:
                corpus = list(corpus)
            ids = pipeline.replace_sources(pipeline.passages(corpus), progress=False)
            seconds = time.perf_counter() - start
            python_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        count = pipeline.count()
        pipeline.close()
    return {
        "documents": n,
        "passages": len(ids),
        "stored": count,
        "rss_before_mb": before / 2**20,
        "peak_rss_mb": status("VmHWM") / 2**20,
        "peak_anon_mb": anon.peak / 2**20,
        "python_peak_mb": python_peak / 2**20,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--materialize", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.materialize)))
        return
    results = []
    for n in args.sizes:
        command = [sys.executable, __file__, "--child", str(n)]
        command += ["--materialize"] if args.materialize else []
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        results.append(result)
        print(
            f"{result['documents']:>6} documents ({result['passages']} passages, {result['stored']} "
            f"stored): peak RSS {result['peak_rss_mb']:.0f} MB, peak anonymous "
            f"{result['peak_anon_mb']:.0f} MB (before ingest {result['rss_before_mb']:.0f} MB), "
            f"Python heap peak {result['python_peak_mb']:.1f} MB, "
            f"{result['seconds']:.1f} s",
            flush=True,
        )
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(
            f"{last['documents']} vs {first['documents']} documents: peak RSS "
            f"{last['peak_rss_mb'] / first['peak_rss_mb']:.2f}x, peak anonymous "
            f"{last['peak_anon_mb'] / first['peak_anon_mb']:.2f}x, Python heap peak "
            f"{last['python_peak_mb'] / first['python_peak_mb']:.2f}x "
            f"({'materialized' if args.materialize else 'streamed'})"
        )


if __name__ == "__main__":
    main()

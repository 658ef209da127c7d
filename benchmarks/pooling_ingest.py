"""Ingest throughput with and without token pooling, side by side (issue #5).

The same SciFact documents are ingested (real encoder, bundled model, Qdrant Edge) into a
late-interaction collection without pooling and with ``pool_factor`` 2 (and 3), repeats
interleaved so both see the same machine load; the ratio of median docs/s is reported.

    python benchmarks/pooling_ingest.py [--docs 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from pathlib import Path

from polyvec import Pipeline
from polyvec.encoders import SentenceTransformerEncoder
from polyvec.eval import read_beir_corpus


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", default=str(Path(__file__).parents[1].parent / "shared/data/scifact")
    )
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--factors", type=float, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()
    docs = list(itertools.islice(read_beir_corpus(Path(args.data) / "corpus.jsonl"), args.docs))
    encoder = SentenceTransformerEncoder("bundled")
    encoder.encode(
        [d.text for d in docs[:32]], is_query=False, pooled=False, tokens=True
    )  # warm-up
    seconds: dict[float, list[float]] = {f: [] for f in args.factors}
    vectors: dict[float, float] = {}
    for repeat in range(args.repeats):
        for factor in args.factors:
            with tempfile.TemporaryDirectory() as folder:
                config = {
                    "fields": [
                        {"type": "late_interaction", "name": "tokens", "pool_factor": factor}
                    ],
                    "store": {"type": "edge", "path": folder},
                }
                with Pipeline.from_config(config, encoder=encoder) as pipeline:
                    start = time.perf_counter()
                    pipeline.ingest(docs)
                    seconds[factor].append(time.perf_counter() - start)
                    vectors[factor] = pipeline.info()["bytes_per_document"]["tokens"][
                        "vectors_per_doc"
                    ]
            print(
                f"repeat {repeat}, pool factor {factor:g}: {seconds[factor][-1]:.1f} s", flush=True
            )
    base = len(docs) / statistics.median(seconds[args.factors[0]])
    print(
        f"\n{len(docs)} SciFact documents, bundled model, Qdrant Edge, median of {args.repeats} interleaved runs"
    )
    print("| pool factor | vectors/doc | docs/s | x no pooling |")
    print("|---:|---:|---:|---:|")
    for factor in args.factors:
        rate = len(docs) / statistics.median(seconds[factor])
        print(f"| {factor:g} | {vectors[factor]:.1f} | {rate:.1f} | {rate / base:.3f} |")


if __name__ == "__main__":
    main()

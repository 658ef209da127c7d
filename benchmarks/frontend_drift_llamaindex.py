"""Frontend drift: does the LlamaIndex retriever return exactly what ``Pipeline.search`` does?

Opens the pipeline of ``--config`` (default: the SciFact benchmark collection), ingests the
corpus only if the collection does not hold it yet, then for every judged test query
compares the top ``--k`` node ids of ``VectorStoreIndex.as_retriever()`` over
:class:`~polyvec.plugins.llamaindex.PolyvecVectorStore` with ``Pipeline.search``'s, in
order. Prints how many queries had identical lists (and the first differences); exits 1
if any differs.

Run it from the repository root (the config's store path is relative to it):
    python benchmarks/frontend_drift_llamaindex.py --plan tokens --plan "dense:100 -> tokens"
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from llama_index.core import VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding

from polyvec import Pipeline
from polyvec.eval import load_beir
from polyvec.plugins.llamaindex import PolyvecVectorStore

ROOT = Path(__file__).resolve().parents[1]


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--config", type=Path, default=ROOT / "benchmarks" / "configs" / "scifact.yaml"
    )
    parser.add_argument(
        "--data", type=Path, default=ROOT.parent / "shared" / "data" / "scifact", help="BEIR folder"
    )
    parser.add_argument("--split", default="test")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--plan",
        action="append",
        help="plan(s) to compare (repeatable); default: the pipeline's default plan",
    )
    parser.add_argument("--show", type=int, default=5, help="differing queries to print")
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error("--k must be positive")
    return args


def compare(
    pipeline: Pipeline, queries: dict[str, str], k: int, plan: str | None, show: int
) -> int:
    """Number of queries whose retriever and pipeline top-k id lists are identical."""
    store = PolyvecVectorStore(pipeline, plan=plan)
    index = VectorStoreIndex.from_vector_store(store, embed_model=MockEmbedding(embed_dim=1))
    retriever = index.as_retriever(similarity_top_k=k)
    identical = 0
    start = time.perf_counter()
    for qid, text in queries.items():
        via_llamaindex = [hit.node.node_id for hit in retriever.retrieve(text)]
        via_pipeline = [str(hit.id) for hit in pipeline.search(text, k, plan=plan)]
        if via_llamaindex == via_pipeline:
            identical += 1
        elif show > 0:
            show -= 1
            print(f"  query {qid}: llamaindex {via_llamaindex} != pipeline {via_pipeline}")
    seconds = time.perf_counter() - start
    print(
        f"plan {pipeline.plan(plan).describe()}: {identical}/{len(queries)} queries had "
        f"identical top-{k} lists ({seconds:.1f} s)"
    )
    return identical


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    dataset = load_beir(args.data, split=args.split)
    with Pipeline.from_yaml(args.config) as pipeline:
        docs = list(dataset.corpus())
        if pipeline.count() != len(docs):
            print(f"ingesting {len(docs)} documents into {args.config} ...", file=sys.stderr)
            pipeline.ingest(docs, progress=True)
        print(
            f"{args.data.name} ({args.split}): {len(dataset.queries)} queries, "
            f"{pipeline.count()} documents, config {args.config}"
        )
        all_identical = True
        for plan in args.plan or [None]:
            identical = compare(pipeline, dataset.queries, args.k, plan, args.show)
            all_identical = all_identical and identical == len(dataset.queries)
    return 0 if all_identical else 1


if __name__ == "__main__":
    sys.exit(main())

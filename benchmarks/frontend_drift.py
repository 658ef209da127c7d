"""No drift through the front ends: LangChain's and LlamaIndex's top-k ids against
``Pipeline.search``'s, for every judged query (issue #4).

Opens the pipeline a config describes (default ``benchmarks/configs/scifact.yaml``, whose
collection ``benchmarks/scifact_quality.sh`` builds; this script ingests nothing), runs
each query through ``Pipeline.search`` once, through ``PolyvecRetriever`` (LangChain) and
through ``VectorStoreIndex.from_vector_store(PolyvecVectorStore).as_retriever()``
(LlamaIndex), and prints per plan how many queries had identical top-k id lists (same
ids, same order). Exits 1 if any list differs, 2 if the collection cannot be opened.

    python benchmarks/frontend_drift.py --plan tokens --plan "dense:100 -> tokens"
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding

from polyvec import Pipeline, PolyvecError
from polyvec.eval import load_beir
from polyvec.plugins.langchain import PolyvecRetriever
from polyvec.plugins.llamaindex import PolyvecVectorStore

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, default=ROOT / "benchmarks/configs/scifact.yaml")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/scifact")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument(
        "--plan", action="append", default=None, help="repeatable; default: the config's"
    )
    parser.add_argument("--max-queries", type=int, default=None)
    args = parser.parse_args()
    queries = list(load_beir(args.data).queries.values())[: args.max_queries]
    Settings.llm = None  # offline: no LLM is resolved for a retriever
    try:
        pipeline = Pipeline.from_yaml(args.config)
    except PolyvecError as err:
        print(f"cannot open {args.config}: {err}", file=sys.stderr)
        return 2
    failed = False
    with pipeline:
        if pipeline.count() == 0:
            print(f"the collection of {args.config} is empty: build it first", file=sys.stderr)
            return 2
        print(f"{args.config}: {pipeline.count()} documents, {len(queries)} queries, top-{args.k}")
        for plan in args.plan or [None]:
            start = time.perf_counter()
            langchain = PolyvecRetriever(pipeline=pipeline, k=args.k, plan=plan)
            index = VectorStoreIndex.from_vector_store(
                PolyvecVectorStore(pipeline, plan=plan), embed_model=MockEmbedding(embed_dim=1)
            )
            llamaindex = index.as_retriever(similarity_top_k=args.k)
            same = {"langchain": 0, "llamaindex": 0}
            for query in queries:
                direct = [str(h.id) for h in pipeline.search(query, args.k, plan=plan)]
                same["langchain"] += [d.id for d in langchain.invoke(query)] == direct
                same["llamaindex"] += [n.node.node_id for n in llamaindex.retrieve(query)] == direct
            failed |= min(same.values()) < len(queries)
            print(
                f"plan {pipeline.plan(plan).describe()}: identical top-{args.k} ids for "
                f"LangChain {same['langchain']}/{len(queries)}, LlamaIndex "
                f"{same['llamaindex']}/{len(queries)} queries ({time.perf_counter() - start:.0f} s)"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""No drift through LangChain: the retriever's top-k ids against ``Pipeline.search``'s.

Opens the pipeline a config describes (default: ``benchmarks/configs/scifact.yaml``,
whose collection ``benchmarks/scifact_quality.sh`` builds; this script ingests nothing),
runs every query of a BEIR split through :class:`polyvec.plugins.langchain.PolyvecRetriever`
and through :meth:`polyvec.Pipeline.search`, and prints, per plan, the number of queries
whose top-k id lists are identical (same ids, same order). Exits 1 if any differ.

Example:
    python benchmarks/frontend_drift_langchain.py --plan tokens --plan dense
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from polyvec import Pipeline, PolyvecError, StoreLockedError, load_yaml
from polyvec.eval import load_beir
from polyvec.plugins.langchain import PolyvecRetriever

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = ROOT / "benchmarks" / "configs" / "scifact.yaml"
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "scifact"


def langchain_ids(
    pipeline: Pipeline, queries: Sequence[str], k: int, plan: str | None = None
) -> list[list[str | None]]:
    """Top-``k`` ids per query through the LangChain retriever."""
    retriever = PolyvecRetriever(pipeline=pipeline, k=k, plan=plan)
    return [[doc.id for doc in retriever.invoke(query)] for query in queries]


def pipeline_ids(
    pipeline: Pipeline, queries: Sequence[str], k: int, plan: str | None = None
) -> list[list[str | None]]:
    """Top-``k`` ids per query through ``Pipeline.search`` (one query per call, as the
    retriever does). Ids are compared as LangChain carries them: strings."""
    return [
        [None if hit.id is None else str(hit.id) for hit in pipeline.search(query, k, plan=plan)]
        for query in queries
    ]


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="pipeline YAML")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BEIR folder (queries)")
    parser.add_argument("--split", default="test", help="query split (test, train, ...)")
    parser.add_argument("--k", type=int, default=10, help="ids compared per query")
    parser.add_argument(
        "--plan",
        action="append",
        default=None,
        help="plan to compare (repeatable; default: the config's default plan)",
    )
    parser.add_argument("--max-queries", type=int, default=None, help="first N queries only")
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error("--k must be positive")
    return args


def _collection_is_absent(config_path: Path) -> str | None:
    """Why the configured Edge collection cannot be compared, if it is absent."""
    config = load_yaml(config_path)
    if config.store.type != "edge":
        return None
    folder = Path(config.store.path)
    if not folder.is_absolute():
        folder = Path.cwd() / folder
    if not (folder / config.store.collection / "polyvec.json").exists():
        return (
            f"no collection at {folder / config.store.collection}: build it first "
            "(benchmarks/scifact_quality.sh for the default config)"
        )
    return None


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    absent = _collection_is_absent(args.config)
    if absent:
        print(absent, file=sys.stderr)
        return 2
    dataset = load_beir(args.data, split=args.split)
    queries = list(dataset.queries.values())[: args.max_queries]
    try:
        pipeline = Pipeline.from_yaml(args.config)
    except StoreLockedError as err:
        print(f"{err} (is the benchmark still running?)", file=sys.stderr)
        return 2
    except PolyvecError as err:  # e.g. a collection built by another polyvec version
        print(f"cannot open {args.config}: {err}", file=sys.stderr)
        return 2
    with pipeline:
        count = pipeline.count()
        if count == 0:
            print(f"the collection of {args.config} is empty: ingest first", file=sys.stderr)
            return 2
        print(f"{args.config}: {count} documents, {len(queries)} queries, top-{args.k}")
        all_equal = True
        for plan in args.plan or [None]:
            try:
                pipeline.plan(plan)
            except PolyvecError as err:
                print(f"plan {plan!r}: {err}", file=sys.stderr)
                return 2
            started = time.perf_counter()
            through_langchain = langchain_ids(pipeline, queries, args.k, plan)
            direct = pipeline_ids(pipeline, queries, args.k, plan)
            seconds = time.perf_counter() - started
            differing = [
                i for i, (a, b) in enumerate(zip(through_langchain, direct, strict=True)) if a != b
            ]
            identical = len(queries) - len(differing)
            name = plan or f"default ({pipeline.plan().describe()})"
            print(
                f"plan {name}: {identical}/{len(queries)} queries with identical top-{args.k} "
                f"id lists ({seconds:.1f} s)"
            )
            for i in differing[:5]:
                print(f"  query {i}: langchain {through_langchain[i]} != pipeline {direct[i]}")
            all_equal = all_equal and not differing
    return 0 if all_equal else 1


if __name__ == "__main__":
    sys.exit(main())

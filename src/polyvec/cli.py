"""The ``polyvec`` command line: ingest, query, info, eval (and tune)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from polyvec.config import PipelineConfig, load_config, load_yaml
from polyvec.errors import (
    CollectionMismatchError,
    CollectionNotFoundError,
    ConfigError,
    InvalidInputError,
    MissingDependencyError,
    PolyvecError,
    StoreError,
    StoreLockedError,
    StoreUnavailableError,
)

# Exit codes (docs/errors.md): 0 success; 1 an unexpected error (a bug: please report it,
# with the traceback); 2 bad usage, configuration or input; 3 the collection was built
# differently; 4 the store is locked by another process; 5 the store failed or is
# unreachable; 6 an optional dependency is missing; 130 interrupted (Ctrl-C).
EXIT_CODES: tuple[tuple[type[PolyvecError], int], ...] = (
    (CollectionMismatchError, 3),
    (CollectionNotFoundError, 2),
    (StoreLockedError, 4),
    (StoreUnavailableError, 5),
    (StoreError, 5),
    (MissingDependencyError, 6),
    (ConfigError, 2),
    (InvalidInputError, 2),
    (PolyvecError, 2),
)

app = typer.Typer(
    help="Multi-vector retrieval on Qdrant: ingest documents, query them, evaluate plans.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Pipeline YAML (default: bundled model, late interaction, Qdrant Edge).",
    ),
]
StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store", help="Folder of the embedded Qdrant Edge store (overrides the config)."
    ),
]
CollectionOpt = Annotated[
    str | None, typer.Option("--collection", help="Collection name (overrides the config).")
]
PlanOpt = Annotated[
    str | None,
    typer.Option(
        "--plan", "-p", help="A plan name, a field name, or a plan like 'fde:200 -> tokens'."
    ),
]
RootOpt = Annotated[
    Path | None,
    typer.Option(
        "--root",
        help="Folder that source ids are relative to (default: the current folder).",
    ),
]
MaxTokensOpt = Annotated[
    int | None,
    typer.Option(
        "--max-tokens",
        help="Split documents longer than this many tokens into overlapping passages "
        "(default: the encoder's window; 0: never split, the model cuts them).",
    ),
]
LimitOpt = Annotated[
    list[str] | None,
    typer.Option("--limit", help="Candidate limit of a stage, FIELD=N (repeatable)."),
]


def _recorded_or_default(store: Path | None, collection: str | None) -> PipelineConfig:
    """Without ``--config``: the config an existing collection recorded when it was built
    (so ``query --store DIR`` searches it as built), else the defaults."""
    from polyvec.pipeline import recorded_config
    from polyvec.store import open_backend

    cfg = load_config()
    overrides = {"path": str(store)} if store is not None else {}
    if collection is not None:
        overrides["collection"] = collection
    where = cfg.store.model_copy(update=overrides)
    backend = open_backend(where)  # an embedded store: this reads one file, locks nothing
    manifest = backend.stored_manifest()
    if manifest is None or "config" not in manifest:
        return cfg
    reopen = (
        "the command line cannot rebuild it. Where it is a sentence-transformers model, "
        "write a config whose encoder: names that model and whose fields are the "
        "collection's, and pass it with -c; else open it from Python "
        "(Pipeline.from_existing(..., encoder=...))"
    )
    return recorded_config(manifest, backend.where, where, reopen=reopen)


def _config(
    config: Path | None,
    store: Path | None,
    collection: str | None,
    max_tokens: int | None = None,
) -> PipelineConfig:
    cfg = load_yaml(config) if config else _recorded_or_default(store, collection)
    if max_tokens is not None:
        if max_tokens < 0:
            raise ConfigError(f"--max-tokens must be 0 or more, got {max_tokens}")
        chunking: dict[str, Any] = (
            {"mode": "truncate"} if max_tokens == 0 else {"max_tokens": max_tokens}
        )
        if max_tokens and cfg.chunking.overlap >= max_tokens:
            chunking["overlap"] = max_tokens // 4
            typer.echo(
                f"--max-tokens {max_tokens}: the chunking overlap ({cfg.chunking.overlap} "
                f"tokens) must be below it; using {chunking['overlap']}. Set chunking.overlap "
                "in a config (-c) to choose it.",
                err=True,
            )
        cfg = load_config(cfg, chunking=cfg.chunking.model_copy(update=chunking))
    overrides: dict[str, Any] = {}
    if store is not None:
        if cfg.store.type != "edge":
            raise ConfigError(
                "--store sets the folder of an embedded (edge) store; this config uses a server"
            )
        overrides["path"] = str(store)
    if collection is not None:
        overrides["collection"] = collection
    if overrides:
        cfg = load_config(cfg, store=cfg.store.model_copy(update=overrides))
    return cfg


def _limits(values: list[str] | None) -> dict[str, int]:
    limits = {}
    for item in values or []:
        name, _, number = item.partition("=")
        if not number.isdigit():
            raise ConfigError(f"--limit {item!r}: write FIELD=N, e.g. --limit fde=200")
        limits[name] = int(number)
    return limits


def _warn_truncated(pipeline: Any) -> None:
    if pipeline.last_ingest_truncated:
        typer.echo(
            f"warning: {pipeline.last_ingest_truncated} documents were longer than the model's "
            "window and were cut there (their end is not searchable); leave chunking on "
            "(chunking.mode: split, --max-tokens above 0) or use a model with a longer window",
            err=True,
        )


def _filter(text: str | None) -> Any:
    """``--filter`` as JSON (a simple-form dict or a Qdrant filter), or a clear error."""
    from polyvec.filters import to_filter

    if not text:
        return None
    try:
        return to_filter(json.loads(text))  # checked now, before any model loads
    except json.JSONDecodeError as err:
        raise InvalidInputError(
            f"--filter {text!r} is not JSON ({err.msg} at character {err.pos}); write e.g. "
            '--filter \'{"topic": "ir"}\' (keys and strings in double quotes)'
        ) from None


def _open(
    config: Path | None,
    store: Path | None,
    collection: str | None,
    *,
    create: bool = False,
    max_tokens: int | None = None,
) -> Any:
    """The pipeline of a command; only commands that write documents create a collection."""
    from polyvec.pipeline import Pipeline

    return Pipeline(_config(config, store, collection, max_tokens), create=create)


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Files, folders of .txt/.md, or a BEIR corpus.jsonl.")
    ],
    config: ConfigOpt = None,
    store: StoreOpt = None,
    collection: CollectionOpt = None,
    max_tokens: MaxTokensOpt = None,
    optimize: Annotated[
        bool, typer.Option(help="Build indexes and quantized copies after ingesting.")
    ] = True,
    root: RootOpt = None,
) -> None:
    """Encode documents and store them. A file is one source: re-ingesting it replaces all
    its passages (stale ones are deleted); ids are paths relative to --root. Documents
    longer than the encoder's window are split into overlapping passages."""
    from polyvec.sources import DocumentFiles

    files = DocumentFiles(paths, root=root)
    for path in paths:  # a missing path fails before the model loads
        if not path.exists():
            raise InvalidInputError(f"{path}: no such file or folder")
    with _open(config, store, collection, create=True, max_tokens=max_tokens) as pipeline:
        start = time.perf_counter()
        # documents already stored unchanged are not encoded again: a killed ingest resumes
        ids = pipeline.replace_sources(pipeline.passages(files), skip_unchanged=True)
        if files.skipped:
            skipped = sorted(files.skipped)
            shown = ", ".join(str(p) for p in skipped[:5]) + (" ..." if len(skipped) > 5 else "")
            typer.echo(f"skipped {len(skipped)} files that are not UTF-8 text: {shown}", err=True)
        if optimize:
            pipeline.optimize()
        seconds = time.perf_counter() - start
        written = len(ids) - pipeline.last_ingest_skipped
        typer.echo(
            f"ingested {written} documents in {seconds:.1f} s ({written / max(seconds, 1e-9):.1f} docs/s), "
            f"{pipeline.last_ingest_skipped} already stored unchanged; "
            f"collection holds {pipeline.count()}"
        )
        _warn_truncated(pipeline)


@app.command()
def sync(
    paths: Annotated[list[Path], typer.Argument(help="Folders (or files) of .txt/.md to mirror.")],
    config: ConfigOpt = None,
    store: StoreOpt = None,
    collection: CollectionOpt = None,
    max_tokens: MaxTokensOpt = None,
    root: RootOpt = None,
) -> None:
    """Make the collection hold what the folders hold: add new files, re-encode changed ones
    (by content hash), delete the passages of files that are gone."""
    from polyvec.sync import sync as run_sync

    with _open(config, store, collection, create=True, max_tokens=max_tokens) as pipeline:
        report = run_sync(pipeline, paths, root=root)
        if report.passages:
            pipeline.optimize()
        typer.echo(f"synced: {report.summary()}; collection holds {pipeline.count()}")


@app.command()
def delete(
    config: ConfigOpt = None,
    store: StoreOpt = None,
    collection: CollectionOpt = None,
    ids: Annotated[
        list[str] | None, typer.Option("--id", help="A document id to delete (repeatable).")
    ] = None,
    sources: Annotated[
        list[str] | None,
        typer.Option("--source", help="A source (file path as stored) to delete (repeatable)."),
    ] = None,
    filter: Annotated[
        str | None,
        typer.Option("--filter", help="Delete every document matching this JSON filter."),
    ] = None,
) -> None:
    """Delete documents by id, by source or by metadata filter."""
    flt = _filter(filter)
    if not ids and not sources and flt is None:
        raise InvalidInputError("delete: give --id, --source or --filter (nothing was deleted)")
    with _open(config, store, collection) as pipeline:
        before = pipeline.count()
        if ids:
            pipeline.delete(ids)
        if sources:
            pipeline.delete_sources(sources)
        if flt is not None:
            pipeline.delete_where(flt)
        typer.echo(
            f"deleted {before - pipeline.count()} documents; collection holds {pipeline.count()}"
        )


@app.command()
def query(
    text: Annotated[list[str], typer.Argument(help="One or more queries.")],
    config: ConfigOpt = None,
    store: StoreOpt = None,
    collection: CollectionOpt = None,
    k: Annotated[int, typer.Option("-k", help="How many results.")] = 5,
    plan: PlanOpt = None,
    limit: LimitOpt = None,
    filter: Annotated[
        str | None,
        typer.Option("--filter", help='Metadata filter as JSON, e.g. \'{"source": "README.md"}\'.'),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Search the collection and print the best documents with their scores."""
    flt = _filter(filter)
    with _open(config, store, collection) as pipeline:
        stage = pipeline.plan(plan, _limits(limit))
        for q in text:
            hits = pipeline.search(q, k, filter=flt, plan=stage)
            if as_json:
                for rank, h in enumerate(hits, 1):
                    typer.echo(
                        json.dumps(
                            {
                                "query": q,
                                "rank": rank,
                                "id": h.id,
                                "score": h.score,
                                "text": h.text,
                                "metadata": h.metadata,
                            }
                        )
                    )
                continue
            typer.echo(f"\n{q}   [plan: {stage.describe()}]")
            for rank, h in enumerate(hits, 1):
                snippet = " ".join(h.text.split())[:90]
                typer.echo(f"  {rank:>2}. {h.score:8.4f}  {h.id}  {snippet}")


@app.command()
def info(
    config: ConfigOpt = None,
    store: StoreOpt = None,
    collection: CollectionOpt = None,
) -> None:
    """Fields, document count, bytes on disk, plans and the stored manifest."""
    with _open(config, store, collection) as pipeline:
        typer.echo(json.dumps(pipeline.info(), indent=2, default=str))


@app.command("eval")
def evaluate(
    data: Annotated[
        Path, typer.Argument(help="A BEIR-format folder (corpus.jsonl, queries.jsonl, qrels.tsv).")
    ],
    config: ConfigOpt = None,
    store: StoreOpt = None,
    collection: CollectionOpt = None,
    plan: Annotated[
        list[str] | None, typer.Option("--plan", "-p", help="Plan(s) to evaluate (repeatable).")
    ] = None,
    limit: LimitOpt = None,
    split: Annotated[str, typer.Option(help="Which judged queries: test or train.")] = "test",
    max_tokens: MaxTokensOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per plan.")
    ] = False,
    subset: Annotated[
        int | None,
        typer.Option(
            "--subset",
            help="Evaluate on N documents: every judged one, then the corpus in file order "
            "(into the collection NAME-subsetN unless --collection is given).",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write report.md, report.json and plots into DIR."),
    ] = None,
) -> None:
    """nDCG@10, Recall@100, MRR@10 and query latency of plans on a BEIR folder.

    The corpus is ingested once (skipped when the collection already holds it), documents
    longer than the encoder's window split into passages; a document ranks by its best one.
    """
    from polyvec.eval import evaluate as run_eval
    from polyvec.eval import ingest_corpus, load_beir, plan_bytes_per_document
    from polyvec.report import ReportRow, write_report

    dataset = load_beir(data, split)
    if subset is not None:
        if subset < 1:
            raise ConfigError(f"--subset must be a positive number of documents, got {subset}")
        dataset = dataset.with_subset(subset)
        if collection is None:
            collection = f"{_config(config, store, None).store.collection}-subset{subset}"
    rows = []
    with _open(config, store, collection, create=True, max_tokens=max_tokens) as pipeline:
        done = ingest_corpus(pipeline, dataset)
        typer.echo(
            f"corpus: {done.documents} documents; {done.written} passages ingested in "
            f"{done.seconds:.0f} s, {done.already_stored} already stored with the same content",
            err=True,
        )
        _warn_truncated(pipeline)
        for name in plan or [None]:  # type: ignore[list-item]
            result = run_eval(pipeline, dataset, plan=name, limits=_limits(limit))
            stage = pipeline.plan(name, _limits(limit))
            described = stage.describe()
            summary = {
                "data": str(data),
                "plan": described,
                "queries": len(dataset.queries),
                **result.summary(),
            }
            rows.append(
                ReportRow(
                    plan=name or described,
                    ndcg10=result.metrics["ndcg@10"],
                    recall100=result.metrics["recall@100"],
                    mrr10=result.metrics["mrr@10"],
                    p50_ms=result.p50_ms,
                    p95_ms=result.p95_ms,
                    bytes_per_doc=plan_bytes_per_document(pipeline, stage, done.documents),
                    ingest_docs_per_s=done.docs_per_s,
                )
            )
            if as_json:
                typer.echo(json.dumps(summary))
            else:
                typer.echo(
                    f"{data.name}  plan={described}  queries={len(dataset.queries)}  "
                    f"nDCG@10={result.metrics['ndcg@10']:.4f}  Recall@100={result.metrics['recall@100']:.4f}  "
                    f"MRR@10={result.metrics['mrr@10']:.4f}  p50={result.p50_ms:.1f} ms  p95={result.p95_ms:.1f} ms"
                )
        if report is not None:
            settings = {
                "data": f"{data} ({done.documents} documents"
                + (f", subset of {subset}" if subset else "")
                + f", {len(dataset.queries)} {split} queries)",
                "collection": pipeline.store.where,
                "encoder": pipeline.config.encoder.model,
                "chunking": pipeline.config.chunking.mode,
                "latency": "per query, one at a time: encode + search (p50, p95)",
            }
            for path in write_report(rows, report, f"polyvec eval: {data.name}", settings):
                typer.echo(f"wrote {path}", err=True)


@app.command()
def schema(
    markdown: Annotated[
        bool, typer.Option("--markdown", help="Print the Markdown reference (docs/reference.md).")
    ] = False,
) -> None:
    """Print the JSON schema of a pipeline config (for editors and CI checks)."""
    from polyvec.schema import json_schema, reference_markdown

    if markdown:
        typer.echo(reference_markdown(), nl=False)
    else:
        typer.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


def _read_queries(path: Path) -> list[str]:
    if path.suffix == ".jsonl":
        return [
            json.loads(line)["text"]
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@app.command()
def tune(
    config: ConfigOpt = None,
    store: StoreOpt = None,
    collection: CollectionOpt = None,
    plan: PlanOpt = None,
    field: Annotated[
        str | None, typer.Option(help="Which candidate stage's limit to vary (default: the first).")
    ] = None,
    queries: Annotated[
        Path | None,
        typer.Option(help="Your queries: a .txt (one per line) or a .jsonl with 'text'."),
    ] = None,
    sample: Annotated[
        int, typer.Option(help="How many queries (or documents used as queries) to measure.")
    ] = 100,
    k: Annotated[int, typer.Option("-k", help="Recall is measured on the top k.")] = 10,
    target: Annotated[float, typer.Option(help="Recall@k to reach.")] = 0.95,
    limits: Annotated[
        str, typer.Option(help="Candidate limits to try, comma-separated.")
    ] = "10,20,50,100,200,500,1000",
) -> None:
    """Recommend the smallest candidate limit whose recall@k against exact search reaches a target."""
    from polyvec.tune import document_queries
    from polyvec.tune import tune as run_tune

    try:
        tried = [int(x) for x in limits.split(",") if x.strip()]
    except ValueError as err:
        raise ConfigError(f"--limits {limits!r}: write integers separated by commas") from err
    with _open(config, store, collection) as pipeline:
        texts = _read_queries(queries)[:sample] if queries else document_queries(pipeline, sample)
        result = run_tune(pipeline, texts, plan=plan, field=field, limits=tried, k=k, target=target)
        typer.echo(result.table())


def main() -> None:
    """Entry point: polyvec errors print as one clear line, not a traceback."""
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # "Loading weights" on every command is noise
    try:
        app()
    except PolyvecError as err:
        typer.echo(f"polyvec: error: {err}", err=True)
        sys.exit(exit_code(err))
    except KeyboardInterrupt:
        typer.echo("polyvec: interrupted", err=True)
        sys.exit(130)


def exit_code(err: PolyvecError) -> int:
    """The exit code of a polyvec error (see :data:`EXIT_CODES`)."""
    return next(code for kind, code in EXIT_CODES if isinstance(err, kind))


if __name__ == "__main__":
    main()

"""Evaluation on BEIR-format collections: nDCG@10, Recall@100, MRR@10 and latency.

Metrics come from ``pytrec_eval`` (trec_eval's own code), not from a re-implementation.
"""

from __future__ import annotations

import itertools
import json
import statistics
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from polyvec.documents import Document
from polyvec.errors import InvalidInputError
from polyvec.filters import source_of
from polyvec.registry import import_optional

if TYPE_CHECKING:
    from polyvec.pipeline import Pipeline


def read_beir_corpus(path: str | Path) -> Iterator[Document]:
    """Documents of a BEIR ``corpus.jsonl``: text is ``title + " " + text`` (BEIR's convention)."""
    with Path(path).open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                doc_id = str(row["_id"])
            except (json.JSONDecodeError, KeyError) as err:
                raise InvalidInputError(
                    f"{path}:{line_no}: not a BEIR corpus line ({err})"
                ) from err
            title = (row.get("title") or "").strip()
            text = (row.get("text") or "").strip()
            yield Document(
                text=f"{title} {text}".strip(),
                id=doc_id,
                metadata={"title": title} if title else {},
            )


@dataclass(frozen=True)
class BeirCorpus:
    """A BEIR ``corpus.jsonl``, read from disk each time it is iterated (never held whole);
    with ``only``, just those documents (a subset), in file order."""

    path: Path
    only: frozenset[str] | None = None

    def __iter__(self) -> Iterator[Document]:
        documents = read_beir_corpus(self.path)
        if self.only is None:
            return documents
        return (d for d in documents if str(d.id) in self.only)

    def ids(self) -> Iterator[str]:
        for doc in self:
            yield str(doc.id)


@dataclass
class BeirDataset:
    """A BEIR folder: corpus, the judged queries of one split, and their qrels."""

    folder: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    subset: frozenset[str] | None = None  # the documents of a subset (see with_subset)

    @property
    def corpus_path(self) -> Path:
        return self.folder / "corpus.jsonl"

    def corpus(self) -> BeirCorpus:
        return BeirCorpus(self.corpus_path, self.subset)

    def with_subset(self, size: int) -> BeirDataset:
        """The same queries over a fixed subset of ``size`` documents: every document judged
        for one of them first, then the rest of ``corpus.jsonl`` in file order.

        The sample is the same on every run and machine (no randomness), and every judged
        document is in it, so metrics stay comparable between systems; absolute figures run
        higher than on the whole corpus (fewer distractors).

        Raises:
            InvalidInputError: ``size`` is below the number of judged documents.
        """
        judged = {d for relevant in self.qrels.values() for d in relevant}
        ids = list(BeirCorpus(self.corpus_path).ids())  # the corpus read once
        chosen = {d for d in ids if d in judged}
        if size < len(chosen):
            raise InvalidInputError(
                f"--subset {size} is smaller than the {len(chosen)} judged documents of "
                f"{self.folder}; a subset holds all of them: use at least {len(chosen)}"
            )
        rest = (d for d in ids if d not in chosen)
        chosen.update(itertools.islice(rest, size - len(chosen)))
        return BeirDataset(self.folder, self.queries, self.qrels, frozenset(chosen))


def load_beir(folder: str | Path, split: str = "test") -> BeirDataset:
    """Read ``queries.jsonl`` and ``qrels.tsv`` (or ``*_train`` for ``split="train"``)."""
    folder = Path(folder)
    suffix = "" if split == "test" else f"_{split}"
    queries_path = folder / f"queries{suffix}.jsonl"
    qrels_path = folder / f"qrels{suffix}.tsv"
    for p in (folder / "corpus.jsonl", queries_path, qrels_path):
        if not p.exists():
            raise InvalidInputError(
                f"{p} is missing: a BEIR folder has corpus.jsonl, queries.jsonl and qrels.tsv"
            )
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh):
            parts = line.rstrip("\n").split("\t")
            if line_no == 0 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            if len(parts) < 3:
                continue
            qid, doc_id, score = parts[0], parts[1], int(parts[2])
            if score > 0:  # only positive judgements are relevant (Cranfield uses -1)
                qrels.setdefault(qid, {})[doc_id] = score
    queries = {}
    with queries_path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                if str(row["_id"]) in qrels:
                    queries[str(row["_id"])] = row["text"]
    return BeirDataset(folder, queries, qrels)


@dataclass
class EvalResult:
    """Mean metrics over the judged queries plus per-query latency."""

    metrics: dict[str, float]
    latencies_ms: list[float] = field(repr=False)
    run: dict[str, dict[str, float]] = field(repr=False)

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p95_ms(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    def summary(self) -> dict[str, float]:
        return {**self.metrics, "latency_p50_ms": self.p50_ms, "latency_p95_ms": self.p95_ms}


def score_run(
    run: Mapping[str, Mapping[str, float]], qrels: Mapping[str, Mapping[str, int]]
) -> dict[str, float]:
    """nDCG@10, Recall@100 and MRR@10 averaged over the judged queries (pytrec_eval)."""
    pytrec_eval = import_optional("pytrec_eval", what="polyvec eval")
    judged = {q: dict(r) for q, r in qrels.items()}
    full = {q: dict(run.get(q, {})) for q in judged}
    top10 = {q: dict(sorted(r.items(), key=lambda kv: -kv[1])[:10]) for q, r in full.items()}
    per_query = pytrec_eval.RelevanceEvaluator(judged, {"ndcg_cut.10", "recall.100"}).evaluate(full)
    mrr = pytrec_eval.RelevanceEvaluator(judged, {"recip_rank"}).evaluate(top10)
    n = len(judged)
    return {
        "ndcg@10": sum(per_query.get(q, {}).get("ndcg_cut_10", 0.0) for q in judged) / n,
        "recall@100": sum(per_query.get(q, {}).get("recall_100", 0.0) for q in judged) / n,
        "mrr@10": sum(mrr.get(q, {}).get("recip_rank", 0.0) for q in judged) / n,
    }


def ranked_sources(pipeline: Any, query: str, depth: int, stage: Any) -> list[str]:
    """The ``depth`` best documents for ``query``, a document ranked by its best passage.

    A document split into passages (see :mod:`polyvec.chunking`) is found through any of
    them; its passages carry it as their source. The search widens (doubling ``k``) until
    ``depth`` distinct documents are found or the collection has no more.
    """
    k = depth
    while True:
        hits = pipeline.search(query, k, plan=stage)
        ranked = list(dict.fromkeys(source_of(h.frontend, h.id) for h in hits))
        if len(ranked) >= depth or len(hits) < k:
            return ranked[:depth]
        k *= 2


def evaluate(
    pipeline: Any,
    dataset: BeirDataset,
    *,
    plan: Any = None,
    limits: Mapping[str, int] | None = None,
    depth: int = 100,
) -> EvalResult:
    """Search every judged query one by one (timing each: encode + search) and score the run."""
    run: dict[str, dict[str, float]] = {}
    latencies = []
    stage = pipeline.plan(plan, limits)
    for qid, text in dataset.queries.items():
        start = time.perf_counter()
        ranked = ranked_sources(pipeline, text, depth, stage)
        latencies.append((time.perf_counter() - start) * 1000)
        # rank-derived scores: ties in raw scores must not reorder the run inside trec_eval
        run[qid] = {doc_id: float(depth - rank) for rank, doc_id in enumerate(ranked)}
    return EvalResult(score_run(run, dataset.qrels), latencies, run)


def plan_bytes_per_document(pipeline: Any, stage: Any, documents: int) -> float | None:
    """Bytes per corpus document of the fields a plan reads (vectors, quantized copies,
    indexes; see :mod:`polyvec.sizes`), over all its passages; ``None`` when empty."""
    from polyvec.sizes import bytes_per_document

    names = sorted(stage.fields())
    per_point = bytes_per_document(pipeline.store, {n: pipeline.vector_fields[n] for n in names})
    if not per_point or not documents:
        return None
    return float(sum(per_point[n]["total"] for n in names) * pipeline.count() / documents)


@dataclass(frozen=True)
class CorpusIngest:
    """What :func:`ingest_corpus` did: passages written now, and found already stored."""

    written: int
    already_stored: int
    seconds: float
    documents: int = 0  # corpus documents (a document may be several passages)

    @property
    def docs_per_s(self) -> float | None:
        """Documents encoded and written per second; ``None`` unless this run encoded the
        whole corpus (a resumed or skipped ingest has no rate to report)."""
        if not self.written or self.already_stored or self.seconds <= 0:
            return None
        return self.documents / self.seconds


def ingest_corpus(pipeline: Pipeline, dataset: BeirDataset) -> CorpusIngest:
    """Make the collection hold exactly the dataset's corpus before it is evaluated.

    Documents longer than the encoder's window are split into passages (the config's
    ``chunking:``). Passages already stored with the same content are not encoded again
    (an interrupted ingest resumes); a collection holding passages of documents that are
    not in this corpus is refused, since its scores would not be this corpus's. The corpus
    is streamed from disk, never held whole.

    Raises:
        CollectionMismatchError: the collection holds another corpus (or more than this one).
    """
    from polyvec.errors import CollectionMismatchError

    corpus = dataset.corpus()
    documents = list(corpus.ids())  # read once: the foreign check and the count below
    foreign = pipeline.count() - pipeline.count_sources(documents)
    if foreign > 0:
        raise CollectionMismatchError(
            f"the collection holds {foreign} passages of documents that are not in "
            f"{dataset.folder}/corpus.jsonl: it was built from another corpus. Evaluate into "
            "another collection (--collection) or store path (--store)"
        )
    start = time.perf_counter()
    ids = pipeline.replace_sources(pipeline.passages(corpus), progress=True, skip_unchanged=True)
    written = len(ids) - pipeline.last_ingest_skipped
    if written:
        pipeline.optimize()
    seconds = time.perf_counter() - start
    return CorpusIngest(written, pipeline.last_ingest_skipped, seconds, len(documents))

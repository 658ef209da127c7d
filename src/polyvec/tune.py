"""``polyvec tune``: how many candidates does a plan's first stage need?

For a sample of the user's own queries (or snippets of stored documents used as queries),
compare the plan's top-k with the exact top-k of its final field, for a range of
candidate limits, and recommend the smallest limit whose mean recall@k reaches a target.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass

from polyvec.errors import ConfigError, InvalidInputError
from polyvec.pipeline import Pipeline
from polyvec.plans import Stage

DEFAULT_LIMITS = (10, 20, 50, 100, 200, 500, 1000)


@dataclass(frozen=True)
class TuneRow:
    limit: int
    recall: float  # mean recall@k against the exact top-k
    p50_ms: float  # median search latency (search only: queries are encoded once)


@dataclass(frozen=True)
class TuneResult:
    plan: Stage
    field: str
    k: int
    target: float
    queries: int
    exact_p50_ms: float
    rows: tuple[TuneRow, ...]

    @property
    def recommended(self) -> TuneRow | None:
        """The smallest limit reaching the target, or ``None`` if none did."""
        return next((r for r in self.rows if r.recall >= self.target), None)

    def table(self) -> str:
        lines = [
            f"plan {self.plan.describe()}, varying {self.field!r}; recall@{self.k} against exact "
            f"{self.plan.field!r} on {self.queries} queries (exact scan p50 {self.exact_p50_ms:.1f} ms)",
            f"{'limit':>7} {'recall@' + str(self.k):>10} {'p50 ms':>8} {'speed-up':>9}",
        ]
        for r in self.rows:
            mark = "  <- recommended" if r is self.recommended else ""
            speedup = self.exact_p50_ms / r.p50_ms if r.p50_ms else float("inf")
            lines.append(f"{r.limit:>7} {r.recall:>10.3f} {r.p50_ms:>8.1f} {speedup:>8.1f}x{mark}")
        if self.recommended is None:
            lines.append(f"no limit reached recall {self.target}; try larger limits")
        return "\n".join(lines)


def document_queries(pipeline: Pipeline, n: int, *, words: int = 16, seed: int = 0) -> list[str]:
    """Snippets (first ``words`` words) of ``n`` randomly chosen stored documents."""
    # ids first, then the payloads of the chosen few only: never the whole collection's texts
    point_ids = pipeline.store.scroll_ids()
    if not point_ids:
        raise InvalidInputError("the collection is empty: ingest documents before tuning")
    chosen = random.Random(seed).sample(point_ids, min(n, len(point_ids)))
    return [
        " ".join(h.text.split()[:words]) for h in pipeline.store.retrieve(chosen) if h.text.strip()
    ]


def _timed(
    pipeline: Pipeline, stage: Stage, vectors: Sequence[dict], k: int
) -> tuple[list[list], float]:
    results, times = [], []
    for v in vectors:
        start = time.perf_counter()
        results.append([h.id for h in pipeline.search_vectors([v], k, plan=stage)[0]])
        times.append((time.perf_counter() - start) * 1000)
    return results, statistics.median(times)


def tune(
    pipeline: Pipeline,
    queries: Sequence[str],
    *,
    plan: Stage | str | None = None,
    field: str | None = None,
    limits: Sequence[int] = DEFAULT_LIMITS,
    k: int = 10,
    target: float = 0.95,
) -> TuneResult:
    """Measure recall@k of ``plan`` against exact search for each candidate limit."""
    stage = pipeline.plan(plan)
    if not stage.prefetch:
        raise ConfigError(
            f"plan {stage.describe()} has a single stage: nothing to tune; "
            "give a plan with a candidate stage, e.g. 'fde:100 -> tokens'"
        )
    if stage.fusion:
        raise ConfigError(
            f"plan {stage.describe()} ends in a fusion: there is no exact search of one field "
            "to measure it against; tune a plan that ends in a field, e.g. "
            "'rrf(bm25:100, fde:100) -> tokens' (or measure it with polyvec eval)"
        )
    candidates = {s.field for s in stage.prefetch}
    field = field or _first_field(stage.prefetch[0])
    if field not in stage.fields() - {stage.field} and field not in candidates:
        raise ConfigError(f"field {field!r} is not a candidate stage of {stage.describe()}")
    if not queries:
        raise InvalidInputError("tune needs at least one query")
    exact = Stage(stage.field)
    vectors = pipeline.encode_queries(list(queries), stage)
    truth, exact_ms = _timed(pipeline, exact, vectors, k)
    rows = []
    for limit in sorted({max(limit, k) for limit in limits}):
        found, ms = _timed(pipeline, stage.with_limits({field: limit}), vectors, k)
        recall = statistics.mean(
            len(set(f) & set(t)) / max(len(t), 1) for f, t in zip(found, truth, strict=True)
        )
        rows.append(TuneRow(limit, recall, ms))
    return TuneResult(stage, field, k, target, len(queries), exact_ms, tuple(rows))


def _first_field(stage: Stage) -> str:
    """The first field a candidate stage searches (inside a fusion: its first child's)."""
    return _first_field(stage.prefetch[0]) if stage.fusion else stage.field

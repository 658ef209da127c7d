"""Query plans: a tree of stages mapped onto Qdrant's Query API ``prefetch``.

A stage searches one field. Its ``prefetch`` children run first and only their
candidates are rescored by the stage, so ``fde:200 -> tokens`` means "FDE finds 200
candidates, exact MaxSim on token vectors orders them". A fusion stage (``rrf``, ``dbsf``)
searches no field: it fuses the rankings of its children with Qdrant's Reciprocal Rank
Fusion or Distribution-Based Score Fusion, so ``rrf(bm25:100, dense:100) -> tokens`` means
"BM25 and dense each find 100, their fused candidates are ordered by exact MaxSim". Plans
are data: written in YAML, built in Python, or given on the command line as a string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from polyvec.errors import ConfigError
from polyvec.fields import VectorField

RRF_K = 60  # Qdrant's default k of Reciprocal Rank Fusion


@dataclass(frozen=True)
class SearchSettings:
    """Search parameters of one stage, backend-neutral (each store maps them to its types)."""

    exact: bool = False
    quantized: bool = False
    rescore: bool = True
    oversampling: float | None = None
    hnsw_ef: int | None = None


@dataclass(frozen=True)
class Stage:
    """One search stage over the field ``field``.

    Attributes:
        field: the vector name searched by this stage.
        limit: how many points the stage passes on; ``None`` on the root means ``k``.
        prefetch: stages whose union of candidates this stage rescores.
        rescore: for quantized fields, rescore with the original vectors (exact scores);
            ``None``: the field's setting (default: rescore).
        oversampling: for quantized fields, fetch ``limit * oversampling`` before rescoring;
            ``None``: the field's setting.
        exact: bypass any HNSW index and scan.
        hnsw_ef: on a field with an HNSW index, how many candidates its graph search
            explores (Qdrant's ``hnsw_ef``; ``None``: the engine's default, the limit or
            more). Larger finds more of the exact neighbours and costs more.
        fusion: ``rrf`` or ``dbsf``: this stage fuses its (two or more) children and
            searches no field (``field`` then holds the fusion's name).
        rrf_k: RRF's ``k`` (a document at rank ``r`` of a child scores ``w / (k + r)``).
        weights: RRF's weight of each child, in order (default: 1 each).
    """

    field: str
    limit: int | None = None
    prefetch: tuple[Stage, ...] = ()
    rescore: bool | None = None
    oversampling: float | None = None
    exact: bool = False
    hnsw_ef: int | None = None
    fusion: Literal["rrf", "dbsf"] | None = None
    rrf_k: int = RRF_K
    weights: tuple[float, ...] | None = None

    def search_settings(self, field: VectorField | None) -> SearchSettings | None:
        """What this stage asks of the engine for ``field``; ``None``: the engine's defaults.

        Quantized fields get rescore/oversampling (the stage's own, else the field's;
        rescore unless opted out); ``exact`` bypasses an HNSW index, ``hnsw_ef`` sets its
        search effort.
        """
        q = field.quantization if field is not None else None
        if q is None and not self.exact and self.hnsw_ef is None:
            return None
        if q is None:
            return SearchSettings(exact=self.exact, hnsw_ef=self.hnsw_ef)
        rescore = self.rescore if self.rescore is not None else bool(q.option("rescore", True))
        oversampling = (
            self.oversampling if self.oversampling is not None else q.option("oversampling")
        )
        return SearchSettings(self.exact, True, rescore, oversampling, self.hnsw_ef)

    def candidate_limit(self) -> int | None:
        """The stage's limit; a fusion passing candidates on without one passes all its
        children's (the sum of their limits)."""
        if self.limit is None and self.fusion:
            limits = [c.candidate_limit() for c in self.prefetch]
            return sum(limits) if all(limits) else None  # type: ignore[arg-type]
        return self.limit

    def fields(self) -> set[str]:
        """Every field the plan reads."""
        names = set() if self.fusion else {self.field}
        for child in self.prefetch:
            names |= child.fields()
        return names

    def with_limits(self, limits: dict[str, int]) -> Stage:
        """A copy with per-field limits replaced (e.g. ``{"fde": 300}`` from the CLI)."""
        return replace(
            self,
            limit=self.limit if self.fusion else limits.get(self.field, self.limit),
            prefetch=tuple(child.with_limits(limits) for child in self.prefetch),
        )

    def describe(self) -> str:
        """A one-line human-readable form, e.g. ``fde(200) -> tokens(k)``; a stage's search
        options follow its limit, e.g. ``fde(200, hnsw_ef=800)``."""
        options = [
            *(["exact"] if self.exact else []),
            *([f"hnsw_ef={self.hnsw_ef}"] if self.hnsw_ef is not None else []),
            *([f"rescore={str(self.rescore).lower()}"] if self.rescore is not None else []),
            *([f"oversampling={self.oversampling:g}"] if self.oversampling is not None else []),
        ]
        own_limit = self.limit if self.limit is not None else "k"
        own = f"{self.field}({', '.join([str(own_limit), *options])})"
        if self.fusion:
            # padded: describe() also names plans whose weights are being refused
            weights = [*(self.weights or ()), *([None] * len(self.prefetch))]
            inner = ", ".join(
                child.describe() + (f" * {w:g}" if w is not None else "")
                for child, w in zip(self.prefetch, weights, strict=False)
            )
            k = f"k={self.rrf_k}; " if self.fusion == "rrf" and self.rrf_k != RRF_K else ""
            limit = f":{self.limit}" if self.limit is not None else ""
            return f"{self.fusion}({k}{inner}){limit}"
        if not self.prefetch:
            return own
        inner = " + ".join(child.describe() for child in self.prefetch)
        if len(self.prefetch) > 1:
            inner = f"[{inner}]"
        return f"{inner} -> {own}"


def chain(*stages: Stage) -> Stage:
    """Nest stages left to right: ``chain(a, b, c)`` is ``a -> b -> c`` (``c`` is the root)."""
    if not stages:
        raise ConfigError("plan: a plan needs at least one stage")
    root = stages[0]
    for outer in stages[1:]:
        if outer.fusion:
            raise ConfigError(
                f"plan: {outer.describe()} fuses its own children; it cannot rerank the "
                "stage before it. Write it first, e.g. 'rrf(bm25:100, dense:100) -> tokens'"
            )
        root = replace(outer, prefetch=(root,))
    return root


FUSIONS = ("rrf", "dbsf")
_TOKEN = re.compile(r"\s*(->|>|\(|\)|,|;|:|=|\*|[A-Za-z_][\w\-]*|\d+(?:\.\d+)?)")


StagePath = tuple[int, ...]  # a stage's place in a plan: child indices from the root


def engine_cuts(stage: Stage) -> list[StagePath]:
    """The stages that polyvec must feed their candidates itself, deepest first: each is
    not a fusion and has a fused candidate stage whose limit cuts its pool (``rrf(bm25:100,
    dense:100):50 -> tokens``).

    Fused scores tie often, and an engine cutting a fused list keeps whichever tied
    documents it meets first: Qdrant Edge differently from run to run. So polyvec runs
    such a stage's candidate stages on their own, ranks each by score then id, cuts it
    there, and searches the stage among the documents kept (:class:`QueryBuilder`'s
    ``pinned``). A fused stage cut inside another fusion stays the engine's cut: the outer
    fusion reads the inner one's ranks, which a set of documents cannot carry.
    """
    found: list[StagePath] = []

    def visit(node: Stage, path: StagePath) -> None:
        for i, child in enumerate(node.prefetch):
            visit(child, (*path, i))
        if not node.fusion and any(_cuts_its_pool(child) for child in node.prefetch):
            found.append(path)

    visit(stage, ())
    return sorted(found, key=len, reverse=True)


def _cuts_its_pool(stage: Stage) -> bool:
    if not stage.fusion or stage.limit is None:
        return False
    pool = [child.candidate_limit() for child in stage.prefetch]
    return None in pool or stage.limit < sum(pool)  # type: ignore[arg-type]


def stage_at(stage: Stage, path: StagePath) -> Stage:
    """The stage at ``path`` (see :func:`engine_cuts`)."""
    for i in path:
        stage = stage.prefetch[i]
    return stage


class _Parser:
    """``plan := chain``; ``chain := item ('->' item)*``;
    ``item := name [':' N | '(' (N | 'k') (',' option)* ')']
    | fusion '(' ['k=' N ';'] child (',' child)* ')' [':' N]``; ``child := chain ['*' W]``
    (``W``: the child's RRF weight, default 1; ``option``: see :meth:`option`)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[str] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                if text[position:].strip() == "":
                    break
                self.fail(f"cannot read {text[position:].strip()!r}")
            assert match is not None
            self.tokens.append(match.group(1))
            position = match.end()
        self.at = 0

    def fail(self, problem: str) -> None:
        raise ConfigError(
            f"plan {self.text!r}: {problem}; write stages as 'field' or 'field:limit' joined by "
            "'->', and fusions as 'rrf(a:100, b:100)' or 'dbsf(...)', e.g. 'fde:200 -> tokens' "
            "or 'rrf(bm25:100, dense:100) -> tokens'"
        )

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if token is None or (expected is not None and token != expected):
            self.fail(
                f"expected {expected or 'more'} at the end"
                if token is None
                else f"expected {expected!r}, found {token!r}"
            )
        self.at += 1
        return token  # type: ignore[return-value]

    def number(self) -> int:
        token = self.take()
        if not token.isdigit():
            self.fail(f"expected a whole number, found {token!r}")
        return int(token)

    def chain(self) -> Stage:
        stages = [self.item()]
        while self.peek() in ("->", ">"):
            self.take()
            stages.append(self.item())
        return chain(*stages)

    def item(self) -> Stage:
        name = self.take()
        if not re.match(r"[A-Za-z_]", name):
            self.fail(f"expected a field name, found {name!r}")
        if name in FUSIONS:
            return self.fusion(name)
        limit: int | None = None
        options: dict[str, object] = {}
        if self.peek() == ":":
            self.take()
            limit = self.number()
        elif self.peek() == "(":
            self.take()
            if self.peek() == "k":  # describe()'s "the query's k", as no limit
                self.take()
            else:
                limit = self.number()
            while self.peek() == ",":
                self.take()
                options.update(self.option(name))
            self.take(")")
        return Stage(field=name, limit=limit, **options)  # type: ignore[arg-type]

    def option(self, stage: str) -> dict[str, object]:
        """One search option of a stage: ``exact``, ``hnsw_ef=N``, ``rescore=true|false``
        or ``oversampling=F`` (checked against the field by :func:`validate_plan`)."""
        key = self.take()
        if key == "exact":
            return {"exact": True}
        if key not in ("hnsw_ef", "rescore", "oversampling"):
            self.fail(
                f"stage {stage!r} has no option {key!r}; its options are exact, hnsw_ef=N, "
                "rescore=true|false and oversampling=F, e.g. 'fde(200, hnsw_ef=800)'"
            )
        self.take("=")
        if key == "hnsw_ef":
            return {key: self.number()}
        value = self.take()
        if key == "rescore":
            if value not in ("true", "false"):
                self.fail(f"rescore of stage {stage!r} is true or false, found {value!r}")
            return {key: value == "true"}
        try:
            return {key: float(value)}
        except ValueError:
            self.fail(f"expected a number for oversampling of stage {stage!r}, found {value!r}")
            raise

    def fusion(self, name: str) -> Stage:
        self.take("(")
        rrf_k = RRF_K
        if self.peek() == "k" and self.tokens[self.at + 1 : self.at + 2] == ["="]:
            self.at += 2
            rrf_k = self.number()
            self.take(";")
        children, weights = [self.chain()], [self.weight()]
        while self.peek() == ",":
            self.take()
            children.append(self.chain())
            weights.append(self.weight())
        self.take(")")
        limit = None
        if self.peek() == ":":
            self.take()
            limit = self.number()
        weighted = (
            None
            if all(w is None for w in weights)
            else tuple(1.0 if w is None else w for w in weights)
        )
        return Stage(
            field=name,
            limit=limit,
            prefetch=tuple(children),
            fusion=name,  # type: ignore[arg-type]
            rrf_k=rrf_k,
            weights=weighted,
        )

    def weight(self) -> float | None:
        """A fused child's ``* W`` (``None``: none written)."""
        if self.peek() != "*":
            return None
        self.take()
        token = self.take()
        try:
            return float(token)
        except ValueError:
            self.fail(f"expected a weight after '*', found {token!r}")
            raise


def parse_plan(text: str) -> Stage:
    """Parse the string form: ``"fde:200 -> tokens"`` (``name(200)`` is accepted too, with
    search options after the limit: ``"fde_hnsw(200, hnsw_ef=800) -> tokens"``,
    ``"dense(100, exact)"``, ``"q8(100, rescore=false, oversampling=2)"``),
    ``"rrf(bm25:100, dense:100 -> tokens:100)"``, ``"rrf(k=2; bm25:200, fde:200) -> tokens"``,
    with RRF weights ``"rrf(bm25:100 * 0.3, dense:100 -> tokens:100 * 0.7)"``."""
    parser = _Parser(text)
    if not parser.tokens:
        parser.fail("it is empty")
    stage = parser.chain()
    if parser.peek() is not None:
        parser.fail(f"unexpected {parser.peek()!r}")
    return stage  # limits and fields are checked by validate_plan, for every form


@dataclass(frozen=True)
class PlanSet:
    """Named plans of a pipeline plus the default one."""

    plans: dict[str, Stage] = field(default_factory=dict)
    default: str | None = None


def check_limits(stage: Stage, text: str | None = None, root: bool = True) -> None:
    """The part of :func:`validate_plan` that needs no fields: positive limits, and a limit
    on every candidate stage (checked when a config loads, before any model does)."""
    text = text or stage.describe()
    _check_limit(stage, root, text)
    for child in stage.prefetch:
        check_limits(child, text, False)


def _check_limit(stage: Stage, root: bool, text: str) -> None:
    limit = stage.limit
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(
            f"plan {text}: the limit of stage {stage.field!r} must be a positive int, got {limit!r}"
        )
    if not root and limit is None and not stage.fusion:
        raise ConfigError(
            f"plan {text}: the candidate stage {stage.field!r} needs a limit, "
            f"e.g. '{stage.field}:200'"
        )


def _check_fusion(stage: Stage, root: bool, text: str) -> None:
    _check_limit(stage, root, text)
    if len(stage.prefetch) < 2:
        raise ConfigError(
            f"plan {text}: {stage.fusion} fuses two or more stages, e.g. "
            f"'{stage.fusion}(bm25:100, dense:100)'"
        )
    if (
        stage.rescore is not None
        or stage.oversampling is not None
        or stage.exact
        or stage.hnsw_ef is not None
    ):
        raise ConfigError(
            f"plan {text}: a {stage.fusion} stage searches no field: no rescore, oversampling, "
            "exact or hnsw_ef"
        )
    if isinstance(stage.rrf_k, bool) or not isinstance(stage.rrf_k, int) or stage.rrf_k < 1:
        raise ConfigError(f"plan {text}: rrf k must be a positive int, got {stage.rrf_k!r}")
    if stage.weights is not None:
        if stage.fusion != "rrf":
            raise ConfigError(
                f"plan {text}: Qdrant's DBSF takes no weights (RRF does): remove them or use rrf"
            )
        if len(stage.weights) != len(stage.prefetch) or any(w <= 0 for w in stage.weights):
            raise ConfigError(
                f"plan {text}: rrf needs one positive weight per fused stage "
                f"({len(stage.prefetch)}), got {list(stage.weights)}"
            )


def _check_stage(stage: Stage, fields: Mapping[str, VectorField], root: bool, text: str) -> None:
    if stage.fusion:
        _check_fusion(stage, root, text)
        for child in stage.prefetch:
            _check_stage(child, fields, False, text)
        return
    if stage.field not in fields:
        raise ConfigError(
            f"plan {text}: unknown field {stage.field!r}; fields are {sorted(fields)}"
        )
    _check_limit(stage, root, text)
    field = fields[stage.field]
    if field.quantization is None and (stage.rescore is not None or stage.oversampling is not None):
        raise ConfigError(
            f"plan {text}: stage {stage.field!r} sets rescore/oversampling, but the field has "
            "no quantization; remove them or configure quantization on the field"
        )
    if stage.oversampling is not None and stage.oversampling < 1:
        raise ConfigError(
            f"plan {text}: oversampling of stage {stage.field!r} must be >= 1, "
            f"got {stage.oversampling!r}"
        )
    if stage.hnsw_ef is not None:
        _check_hnsw_ef(stage, field, text)
    for child in stage.prefetch:
        _check_stage(child, fields, False, text)


def _check_hnsw_ef(stage: Stage, field: VectorField, text: str) -> None:
    """``hnsw_ef`` only where it means something: a positive int, on an HNSW-indexed field
    that the stage does not scan exactly (the engine would ignore it silently)."""
    ef = stage.hnsw_ef
    if isinstance(ef, bool) or not isinstance(ef, int) or ef < 1:
        raise ConfigError(
            f"plan {text}: hnsw_ef of stage {stage.field!r} must be a positive int, got {ef!r}"
        )
    if not field.hnsw:
        raise ConfigError(
            f"plan {text}: stage {stage.field!r} sets hnsw_ef, but the field has no HNSW index "
            "(it is scanned exactly); remove hnsw_ef or set hnsw: true on the field"
        )
    if stage.exact:
        raise ConfigError(
            f"plan {text}: stage {stage.field!r} sets both exact (scan every point) and "
            "hnsw_ef (the graph search's effort); keep one"
        )


def validate_plan(
    stage: Stage, fields: Mapping[str, VectorField], limits: Mapping[str, int] | None = None
) -> Stage:
    """The one check of a plan, whatever form it came in (string, list, tree, ``Stage``).

    Applies per-field ``limits`` first and refuses: unknown fields, limit keys naming no
    stage of the plan, non-positive limits, a candidate stage without a limit, and
    rescore/oversampling on a field without quantization.

    Raises:
        ConfigError: what is wrong and how to write it instead.
    """
    if not isinstance(stage, Stage):
        raise ConfigError(f"plan: expected a Stage, got {type(stage).__name__}")
    text = stage.describe()
    if limits:
        unknown = set(limits) - stage.fields()
        if unknown:
            raise ConfigError(
                f"limits {dict(limits)!r}: {sorted(unknown)} name no stage of the plan {text}; "
                f"its stages are {sorted(stage.fields())}"
            )
        for name, value in limits.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"limits: the limit of {name!r} must be a positive int, got {value!r}"
                )
        stage = stage.with_limits(dict(limits))
        text = stage.describe()
    _check_stage(stage, fields, True, text)
    return stage

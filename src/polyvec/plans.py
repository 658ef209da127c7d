"""Query plans: a tree of stages mapped onto Qdrant's Query API ``prefetch``.

A stage searches one field. Its ``prefetch`` children run first and only their
candidates are rescored by the stage, so ``fde:200 -> tokens`` means "FDE finds 200
candidates, exact MaxSim on token vectors orders them". Plans are data: written in
YAML, built in Python, or given on the command line as a string.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from polyvec.errors import ConfigError
from polyvec.fields import VectorField


@dataclass(frozen=True)
class SearchSettings:
    """Search parameters of one stage, backend-neutral (each store maps them to its types)."""

    exact: bool = False
    quantized: bool = False
    rescore: bool = True
    oversampling: float | None = None


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
    """

    field: str
    limit: int | None = None
    prefetch: tuple[Stage, ...] = ()
    rescore: bool | None = None
    oversampling: float | None = None
    exact: bool = False

    def search_settings(self, field: VectorField | None) -> SearchSettings | None:
        """What this stage asks of the engine for ``field``; ``None``: the engine's defaults.

        Quantized fields get rescore/oversampling (the stage's own, else the field's;
        rescore unless opted out); ``exact`` bypasses an HNSW index.
        """
        q = field.quantization if field is not None else None
        if q is None and not self.exact:
            return None
        if q is None:
            return SearchSettings(exact=self.exact)
        rescore = self.rescore if self.rescore is not None else bool(q.option("rescore", True))
        oversampling = (
            self.oversampling if self.oversampling is not None else q.option("oversampling")
        )
        return SearchSettings(self.exact, True, rescore, oversampling)

    def fields(self) -> set[str]:
        """Every field the plan reads."""
        names = {self.field}
        for child in self.prefetch:
            names |= child.fields()
        return names

    def with_limits(self, limits: dict[str, int]) -> Stage:
        """A copy with per-field limits replaced (e.g. ``{"fde": 300}`` from the CLI)."""
        return replace(
            self,
            limit=limits.get(self.field, self.limit),
            prefetch=tuple(child.with_limits(limits) for child in self.prefetch),
        )

    def describe(self) -> str:
        """A one-line human-readable form, e.g. ``fde(200) -> tokens(k)``."""
        own = f"{self.field}({self.limit if self.limit is not None else 'k'})"
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
        root = replace(outer, prefetch=(root,))
    return root


_STAGE = re.compile(r"^\s*([A-Za-z_][\w\-]*)\s*(?:[:(]\s*(\d+)\s*\)?)?\s*$")


def parse_plan(text: str) -> Stage:
    """Parse the string form ``"fde:200 -> tokens"`` (``name(200)`` is accepted too)."""
    parts = [p for p in re.split(r"->|>", text)]
    stages = []
    for part in parts:
        match = _STAGE.match(part)
        if not match:
            raise ConfigError(
                f"plan {text!r}: cannot read stage {part.strip()!r}; write stages as "
                "'field' or 'field:limit' joined by '->', e.g. 'fde:200 -> tokens'"
            )
        name, limit = match.groups()
        stages.append(Stage(field=name, limit=int(limit) if limit is not None else None))
    return chain(*stages)  # limits and fields are checked by validate_plan, for every form


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
    if not root and limit is None:
        raise ConfigError(
            f"plan {text}: the candidate stage {stage.field!r} needs a limit, "
            f"e.g. '{stage.field}:200'"
        )


def _check_stage(stage: Stage, fields: Mapping[str, VectorField], root: bool, text: str) -> None:
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
    for child in stage.prefetch:
        _check_stage(child, fields, False, text)


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

"""Query plans: a tree of stages mapped onto Qdrant's Query API ``prefetch``.

A stage searches one field. Its ``prefetch`` children run first and only their
candidates are rescored by the stage, so ``fde:200 -> tokens`` means "FDE finds 200
candidates, exact MaxSim on token vectors orders them". Plans are data: written in
YAML, built in Python, or given on the command line as a string.
"""

from __future__ import annotations

import re
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
        stages.append(Stage(field=name, limit=int(limit) if limit else None))
    for stage in stages[:-1]:
        if stage.limit is None:
            raise ConfigError(
                f"plan {text!r}: the candidate stage {stage.field!r} needs a limit, "
                f"e.g. '{stage.field}:200'"
            )
    return chain(*stages)


@dataclass(frozen=True)
class PlanSet:
    """Named plans of a pipeline plus the default one."""

    plans: dict[str, Stage] = field(default_factory=dict)
    default: str | None = None

"""The pipeline configuration: one description whether it comes from YAML or Python.

Pydantic v2 models, ``extra="forbid"`` everywhere, discriminated on ``type``. Field
(adapter) types are looked up in :data:`polyvec.registry.adapters`, so a third-party
adapter registered through an entry point is configured exactly like a built-in one.
Every error is re-raised as :class:`~polyvec.errors.ConfigError` naming the key path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    Field,
    SecretStr,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

from polyvec import registry
from polyvec.errors import ConfigError, PolyvecError
from polyvec.fields import FieldConfig, StrictModel
from polyvec.plans import Stage, chain, parse_plan


class EncoderConfig(StrictModel):
    """``encoder:`` — which model encodes texts and how.

    Attributes:
        type: ``sentence_transformer`` (pooled + raw token vectors of a plain checkpoint)
            or ``multi_vector`` (a trained ColBERT checkpoint, token vectors only).
        model: a hub id, a local path, or ``bundled`` (all-MiniLM-L6-v2, offline).
    """

    type: Literal["sentence_transformer", "multi_vector"] = "sentence_transformer"
    model: str = "bundled"
    device: str | None = None
    batch_size: int = Field(default=32, gt=0)
    max_seq_length: int | None = Field(default=None, gt=0)
    query_prompt: str | None = None
    document_prompt: str | None = None
    trust_remote_code: bool = False


class EdgeStoreConfig(StrictModel):
    """``store: {type: edge}`` — Qdrant Edge, the embedded on-disk engine (the default)."""

    type: Literal["edge"] = "edge"
    path: str = "./polyvec_data"
    collection: str = "polyvec"
    wal: bool = True


class QdrantStoreConfig(StrictModel):
    """``store: {type: qdrant}`` — qdrant-client: a server/cluster (``url``), a local
    file store (``path``) or ``location: ":memory:"``."""

    type: Literal["qdrant"]
    collection: str = "polyvec"
    location: str | None = None
    url: str | None = None
    path: str | None = None
    api_key: SecretStr | None = None
    prefer_grpc: bool = False
    timeout: int | None = None
    shard_number: int | None = Field(default=None, gt=0)
    replication_factor: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _one_location(self) -> QdrantStoreConfig:
        given = [k for k in ("location", "url", "path") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'location' (':memory:'), 'url' (a server) or "
                f"'path' (a local folder); got {given or 'none'}"
            )
        return self


StoreConfig = Annotated[EdgeStoreConfig | QdrantStoreConfig, Field(discriminator="type")]


class StageConfig(StrictModel):
    """One stage of a plan written as a tree (``prefetch`` holds the earlier stages)."""

    field: str
    limit: int | None = Field(default=None, gt=0)
    prefetch: list[StageConfig] = Field(default_factory=list)
    rescore: bool | None = None
    oversampling: float | None = Field(default=None, ge=1.0)
    exact: bool = False

    def to_stage(self) -> Stage:
        return Stage(
            field=self.field,
            limit=self.limit,
            prefetch=tuple(c.to_stage() for c in self.prefetch),
            rescore=self.rescore,
            oversampling=self.oversampling,
            exact=self.exact,
        )


# A plan is a string ("fde:200 -> tokens"), a list of stages (a chain, first stage
# innermost) or one stage with nested prefetch (a tree).
PlanSpec = Union[str, list[StageConfig], StageConfig]  # noqa: UP007 - runtime alias on 3.10


def plan_from_spec(spec: PlanSpec) -> Stage:
    if isinstance(spec, str):
        return parse_plan(spec)
    if isinstance(spec, list):
        return chain(*(s.to_stage() for s in spec))
    return spec.to_stage()


class PipelineConfig(StrictModel):
    """The whole pipeline: encoder, fields, store and query plans.

    Attributes:
        fields: the representations stored per document, e.g. ``late_interaction``.
        plans: named query plans; a field name is always usable as an exact one-stage plan.
        default_plan: the plan used when a search names none (default: the first field).
    """

    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    fields: list[SerializeAsAny[FieldConfig]] = Field(
        default_factory=lambda: [{"type": "late_interaction"}], min_length=1, validate_default=True
    )
    store: StoreConfig = Field(default_factory=EdgeStoreConfig)
    plans: dict[str, PlanSpec] = Field(default_factory=dict)
    default_plan: str | None = None
    ingest_batch_size: int = Field(default=64, gt=0)

    @field_validator("fields", mode="before")
    @classmethod
    def _resolve_field_types(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        resolved = []
        for position, item in enumerate(value):
            if isinstance(item, FieldConfig):
                resolved.append(item)
                continue
            if not isinstance(item, dict) or "type" not in item:
                raise ValueError(
                    f"item {position} needs a 'type' (one of {', '.join(registry.adapters.names())})"
                )
            try:
                adapter = registry.adapters.resolve(item["type"])
            except PolyvecError as err:
                raise ValueError(f"item {position}: {err}") from err
            try:
                resolved.append(adapter.Config.model_validate(item))
            except ValidationError as err:
                raise ValueError(
                    f"item {position} ({item['type']}): {format_errors(err, f'fields.{position}')}"
                ) from err
        return resolved

    @model_validator(mode="after")
    def _check_references(self) -> PipelineConfig:
        names = [f.name for f in self.fields]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"fields: names must be unique, repeated: {duplicates}")
        for plan_name, spec in self.plans.items():
            try:
                unknown = plan_from_spec(spec).fields() - set(self.vector_field_names())
            except ConfigError as err:
                raise ValueError(f"plans.{plan_name}: {err}") from err
            if unknown:
                raise ValueError(
                    f"plans.{plan_name}: unknown field(s) {sorted(unknown)}; "
                    f"fields are {self.vector_field_names()}"
                )
        if self.default_plan is not None and self.default_plan not in {
            *self.plans,
            *self.vector_field_names(),
        }:
            raise ValueError(
                f"default_plan: {self.default_plan!r} is neither a plan "
                f"({sorted(self.plans)}) nor a field ({self.vector_field_names()})"
            )
        return self

    def vector_field_names(self) -> list[str]:
        """Vector names the fields will create (an adapter may create several)."""
        names: list[str] = []
        for f in self.fields:
            extra = getattr(f, "vector_names", None)
            names.extend(extra() if callable(extra) else [f.name])
        return names

    def plan(self, name: str | None = None) -> Stage:
        """The plan called ``name`` (a named plan, or a field searched exactly)."""
        name = name or self.default_plan
        if name is None:
            return Stage(field=self.vector_field_names()[0])
        if name in self.plans:
            return plan_from_spec(self.plans[name])
        if name in self.vector_field_names():
            return Stage(field=name)
        if "->" in name or ":" in name:
            return parse_plan(name)
        raise ConfigError(
            f"plan {name!r} is unknown; plans: {sorted(self.plans)}, "
            f"fields: {self.vector_field_names()}, or write one like 'fde:200 -> tokens'"
        )


def format_errors(err: ValidationError, prefix: str = "") -> str:
    """One line per problem: ``key.path: message``."""
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        message = e["msg"].removeprefix("Value error, ")
        lines.append(f"{path or '<root>'}: {message}")
    return "; ".join(lines)


def load_config(
    data: PipelineConfig | dict[str, Any] | None = None, **overrides: Any
) -> PipelineConfig:
    """Validate a config given as a dict (or keyword arguments) into a :class:`PipelineConfig`."""
    if isinstance(data, PipelineConfig) and not overrides:
        return data
    raw = data.model_dump(mode="python") if isinstance(data, PipelineConfig) else dict(data or {})
    raw.update(overrides)
    try:
        return PipelineConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"invalid polyvec config: {format_errors(err)}") from err


def load_yaml(path: str | Path) -> PipelineConfig:
    """Read a YAML config file safely (``yaml.safe_load``: no Python objects)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"cannot read config file {str(path)!r}: {err}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    try:
        return load_config(data)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err.__cause__

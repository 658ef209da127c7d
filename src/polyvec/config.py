"""The pipeline configuration: one description whether it comes from YAML or Python.

Pydantic v2 models, ``extra="forbid"`` everywhere, discriminated on ``type``. Field
(adapter) types are looked up in :data:`polyvec.registry.adapters`, so a third-party
adapter registered through an entry point is configured exactly like a built-in one.
Every error is re-raised as :class:`~polyvec.errors.ConfigError` naming the key path.
"""

from __future__ import annotations

import difflib
import os
import re
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    Discriminator,
    Field,
    SecretStr,
    SerializeAsAny,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from polyvec import registry
from polyvec.errors import ConfigError, PolyvecError
from polyvec.fields import FieldConfig, StrictModel
from polyvec.plans import RRF_K, Stage, chain, check_limits, parse_plan


class EncoderConfig(StrictModel):
    """``encoder:`` — which model encodes texts and how.

    Attributes:
        type: ``sentence_transformer`` (pooled + raw token vectors of a plain checkpoint)
            or ``multi_vector`` (a trained ColBERT checkpoint, token vectors only).
        model: a hub id, a local path, or ``bundled`` (all-MiniLM-L6-v2, offline).
        device: ``cpu``, ``cuda``, ``mps`` ... (default: sentence-transformers' choice).
        batch_size: texts encoded per forward pass.
        max_seq_length: the model's window in tokens (default: the checkpoint's).
        query_prompt, document_prompt: text put before each query or document, e.g.
            ``"query: "`` for E5-style models; part of the collection's identity.
        trust_remote_code: run the Python code a hub checkpoint ships (only for models you
            trust).
    """

    type: Literal["sentence_transformer", "multi_vector"] = "sentence_transformer"
    model: str = "bundled"
    device: str | None = None
    batch_size: int = Field(default=32, gt=0)
    max_seq_length: int | None = Field(default=None, gt=0)
    query_prompt: str | None = None
    document_prompt: str | None = None
    trust_remote_code: bool = False


class ChunkingConfig(StrictModel):
    """``chunking:`` — how files and BEIR corpora longer than the encoder's window are read.

    Attributes:
        mode: ``split`` (default) makes passages that fit the window, consecutive ones
            overlapping; ``truncate`` stores each document whole, the model cutting it at
            its window (``polyvec ingest`` warns with the count).
        max_tokens: tokens per passage (default and upper bound: the encoder's window).
        overlap: tokens consecutive passages of one document share.
    """

    mode: Literal["split", "truncate"] = "split"
    max_tokens: int | None = Field(default=None, gt=0)
    overlap: int = Field(default=32, ge=0)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingConfig:
        if self.max_tokens is not None and self.overlap >= self.max_tokens:
            raise ValueError(
                f"overlap ({self.overlap}) must be below max_tokens ({self.max_tokens})"
            )
        return self


# No "text": a full-text index changes what MatchText/MatchPhrase match on one engine and
# not on another; polyvec's text filters (substring, prefix) need none.
PayloadIndexType = Literal["keyword", "integer", "float", "bool", "datetime", "uuid"]


class _StoreConfigBase(StrictModel):
    """What every store config has: the collection and the payload indexes to build."""

    collection: str = Field(default="polyvec", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")
    """Letters, digits, ``_``, ``.`` and ``-`` (no ``/``, no leading dot): the collection
    stays inside the store's folder."""
    payload_indexes: dict[str, PayloadIndexType] = Field(default_factory=dict)
    """Metadata keys to index, with their type, e.g. ``{topic: keyword, year: integer}``:
    filters on them stay fast on large collections (polyvec always indexes its own id key)."""


class EdgeStoreConfig(_StoreConfigBase):
    """``store: {type: edge}`` — Qdrant Edge, the embedded on-disk engine (the default)."""

    type: Literal["edge"] = "edge"
    path: str = "./polyvec_data"
    """The store folder (one sub-folder per collection); relative to a YAML file's folder."""
    wal: bool = True
    """Write-ahead log: a killed process loses nothing written. ``false`` writes faster and
    a kill loses every update since the last flush."""


class QdrantStoreConfig(_StoreConfigBase):
    """``store: {type: qdrant}`` — qdrant-client: a Qdrant server or cluster (``url``,
    ``host`` or ``location: "http://..."``), a local file store (``path``) or
    ``location: ":memory:"``.

    Connection settings are passed to ``QdrantClient`` / ``AsyncQdrantClient`` as they are
    (:meth:`client_options`); collection settings to ``create_collection``
    (:meth:`collection_options`). Nothing here is re-threaded by hand elsewhere.
    """

    type: Literal["qdrant"]
    # --- where (at most one; none only when a client is handed in) ---
    location: str | None = None
    """``":memory:"`` (qdrant-client's in-process mode) or a server URL."""
    url: str | None = None
    """A server's URL, e.g. ``http://localhost:6333``."""
    host: str | None = None
    """A server's host name (with ``port``, ``grpc_port``, ``https``)."""
    path: str | None = None
    """A folder for qdrant-client's local mode (one process at a time)."""
    # --- how to connect ---
    port: int | None = Field(default=6333, gt=0)
    """The server's REST port."""
    grpc_port: int = Field(default=6334, gt=0)
    """The server's gRPC port."""
    prefer_grpc: bool = False
    """Talk gRPC instead of REST where qdrant-client can."""
    https: bool | None = None
    """Use TLS (default: qdrant-client's choice from the URL)."""
    prefix: str | None = None
    """A path prefix before the REST API's routes (behind a proxy)."""
    api_key: SecretStr | None = None
    """The server's API key; better ``api_key_env`` or ``${VAR}`` in YAML than the key
    itself."""
    api_key_env: str | None = "QDRANT_API_KEY"
    """Read the API key from this environment variable when ``api_key`` is not given."""
    timeout: int = Field(default=10, gt=0)
    """Seconds each request may take; an unreachable server fails within it."""
    check_compatibility: bool = True
    """Let qdrant-client compare its version with the server's (in a background thread)."""
    # --- the collection (used when polyvec creates it) ---
    shard_number: int | None = Field(default=None, gt=0)
    """Shards of a new collection (a cluster spreads them over its nodes)."""
    replication_factor: int | None = Field(default=None, gt=0)
    """Copies of each shard in a cluster."""
    write_consistency_factor: int | None = Field(default=None, gt=0)
    """Replicas that must confirm a write before it succeeds."""
    on_disk: bool | None = None
    """Keep the original vectors on disk (memory-mapped) instead of in RAM."""
    on_disk_payload: bool | None = None
    """Keep payloads (texts, metadata) on disk instead of in RAM."""
    # --- uploads ---
    upload_batch_size: int = Field(default=64, gt=0)
    """Points per upload request."""
    upload_parallel: int = Field(default=4, gt=0)
    """Batches sent at once to a server (local mode sends one at a time)."""

    @model_validator(mode="after")
    def _one_location(self) -> QdrantStoreConfig:
        given = [k for k in ("location", "url", "host", "path") if getattr(self, k)]
        if len(given) > 1:
            raise ValueError(
                "give one of 'location' (':memory:' or a URL), 'url' or 'host' (a server) "
                f"or 'path' (a local folder); got {given}"
            )
        return self

    def resolved_api_key(self) -> str | None:
        """The API key: given, else from ``api_key_env`` (never logged, never stored)."""
        if self.api_key is not None:
            return self.api_key.get_secret_value()
        if self.api_key_env:
            return os.environ.get(self.api_key_env) or None
        return None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments of ``QdrantClient`` / ``AsyncQdrantClient``."""
        options: dict[str, Any] = {
            "location": self.location,
            "url": self.url,
            "host": self.host,
            "path": self.path,
        }
        if self.is_remote():
            options.update(
                port=self.port,
                grpc_port=self.grpc_port,
                prefer_grpc=self.prefer_grpc,
                https=self.https,
                prefix=self.prefix,
                api_key=self.resolved_api_key(),
                timeout=self.timeout,
                check_compatibility=self.check_compatibility,
            )
        return {k: v for k, v in options.items() if v is not None}

    def collection_options(self) -> dict[str, Any]:
        """Keyword arguments of ``create_collection`` besides the vectors."""
        options = {
            "shard_number": self.shard_number,
            "replication_factor": self.replication_factor,
            "write_consistency_factor": self.write_consistency_factor,
            "on_disk_payload": self.on_disk_payload,
        }
        return {k: v for k, v in options.items() if v is not None}

    def is_remote(self) -> bool:
        """Whether the settings name a server (a URL or host), as qdrant-client decides it."""
        if self.url or self.host:
            return True
        return bool(self.location) and self.location != ":memory:"

    def describe_location(self) -> str:
        """Where the collection lives, for messages: a URL or path, never a secret."""
        if self.url or (self.location and self.location != ":memory:"):
            return str(self.url or self.location)
        if self.host:
            scheme = "https" if self.https else "http"
            return f"{scheme}://{self.host}:{self.port}"
        return str(self.path or self.location or "a client handed in")


def _store_type(value: Any) -> Any:
    """A ``store:`` section's kind: its ``type``, ``edge`` (the default) when left out."""
    if isinstance(value, Mapping):
        return value.get("type", "edge")
    return getattr(value, "type", None)


StoreConfig = Annotated[
    Annotated[EdgeStoreConfig, Tag("edge")] | Annotated[QdrantStoreConfig, Tag("qdrant")],
    Discriminator(
        _store_type,
        custom_error_type="store_type",
        custom_error_message="a store is a mapping whose type is 'edge' (the default) or 'qdrant'",
    ),
]


class StageConfig(StrictModel):
    """One stage of a plan written as a tree (``prefetch`` holds the earlier stages): a
    ``field`` searched, or a ``fusion`` (``rrf`` with ``k`` and ``weights``, ``dbsf``) of
    the ``prefetch`` stages."""

    field: str | None = None
    """The field this stage searches (or ``fusion``)."""
    fusion: Literal["rrf", "dbsf"] | None = None
    """Fuse the ``prefetch`` stages' rankings: reciprocal rank (``rrf``) or score
    normalisation (``dbsf``)."""
    k: int = Field(default=RRF_K, gt=0)
    """RRF's constant: a document at rank r scores 1 / (k + r)."""
    weights: list[float] | None = None
    """RRF only: one weight per ``prefetch`` stage."""
    limit: int | None = Field(default=None, gt=0)
    """How many candidates this stage passes on (required below the last stage)."""
    prefetch: list[StageConfig] = Field(default_factory=list)
    """The earlier stages, whose candidates this stage reranks or fuses."""
    rescore: bool | None = None
    """On a quantized field: rescore with the originals (default: the field's setting)."""
    oversampling: float | None = Field(default=None, ge=1.0)
    """On a quantized field: fetch this many times the limit before rescoring."""
    exact: bool = False
    """Scan every point instead of the HNSW index."""
    hnsw_ef: int | None = Field(default=None, gt=0)
    """On a field with an HNSW index: candidates its graph search explores (more: closer to
    exact, slower; default: the engine's)."""

    def to_stage(self) -> Stage:
        # checked here, not by a model validator: pydantic would name the validator in the
        # key path of every other error, and the "did you mean" lookup would lose its way
        if (self.field is None) == (self.fusion is None):
            raise ConfigError("a plan stage has either a 'field' or a 'fusion' (rrf, dbsf)")
        return Stage(
            field=self.field or str(self.fusion),
            limit=self.limit,
            prefetch=tuple(c.to_stage() for c in self.prefetch),
            rescore=self.rescore,
            oversampling=self.oversampling,
            exact=self.exact,
            hnsw_ef=self.hnsw_ef,
            fusion=self.fusion,
            rrf_k=self.k,
            weights=tuple(self.weights) if self.weights is not None else None,
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
        encoder: the model and how it encodes.
        store: where the collection lives: ``edge`` (embedded, the default) or ``qdrant``.
        default_plan: the plan used when a search names none (default: the first field).
        ingest_batch_size: documents checked and written per batch of an ingest.
        chunking: how documents longer than the encoder's window are split.
    """

    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    fields: list[SerializeAsAny[FieldConfig]] = Field(
        default_factory=lambda: [{"type": "late_interaction"}], min_length=1, validate_default=True
    )
    store: StoreConfig = Field(default_factory=EdgeStoreConfig)
    plans: dict[str, PlanSpec] = Field(default_factory=dict)
    default_plan: str | None = None
    ingest_batch_size: int = Field(default=64, gt=0)
    chunking: ChunkingConfig = Field(default_factory=ChunkingConfig)

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
                    f"item {position} ({item['type']}): "
                    f"{format_errors(err, f'fields.{position}', adapter.Config)}"
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
                check_limits(plan_from_spec(spec))
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


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _flat(annotation: Any) -> Any:
    """``annotation`` without ``Annotated`` and with nested unions flattened."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        members: list[Any] = []
        for arg in get_args(annotation):
            arg = _flat(arg)
            nested = get_args(arg) if get_origin(arg) in (Union, types.UnionType) else (arg,)
            members.extend(nested)
        return Union[tuple(members)]  # noqa: UP007 - built at run time
    return annotation


def _step(annotation: Any, step: Any) -> Any:
    """The annotation one location step below ``annotation`` (``None``: lost the way)."""
    annotation = _flat(annotation)
    if _is_model(annotation):
        info = annotation.model_fields.get(str(step))
        return info.annotation if info is not None else None
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in (list, tuple) and args:
        return args[0] if isinstance(step, int) else None
    if origin is dict and len(args) == 2:
        return args[1]
    members = [a for a in args if a is not type(None)]
    for member in members:  # a union: pydantic names the member by tag or by class
        tag = member.model_fields.get("type") if _is_model(member) else None
        tags = (tag.default, *get_args(tag.annotation)) if tag is not None else ()
        if step in tags or getattr(member, "__name__", "") == step:
            return member
        if get_origin(member) is not None and str(step).startswith(
            f"{get_origin(member).__name__}["
        ):
            return member
    models_ = [m for m in members if _is_model(m)]
    return _step(models_[0], step) if len(models_) == 1 else None


def _suggestion(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """'; did you mean ...' for a misspelled key: the nearest valid key at its place."""
    parent: Any = model
    for step in loc[:-1]:
        parent = _step(parent, step)
        if parent is None:
            return ""
    parent = _flat(parent)
    members = [parent] if _is_model(parent) else [a for a in get_args(parent) if _is_model(a)]
    if len(members) != 1:
        return ""
    names = list(members[0].model_fields)
    close = difflib.get_close_matches(str(loc[-1]), names, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(names))}"


def format_errors(
    err: ValidationError, prefix: str = "", model: type[BaseModel] | None = None
) -> str:
    """One line per problem: ``key.path: message``; a misspelled key gets the nearest
    valid key (``encoder.modle: Extra inputs are not permitted; did you mean 'model'?``)."""
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in (prefix, *e["loc"]) if p != "")
        message = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden" and e["loc"]:
            message += _suggestion(model or PipelineConfig, tuple(e["loc"]))
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


class _ConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` (no Python objects) without aliases: a config needs none, and a
    few hundred bytes of nested aliases expand to gigabytes ("billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise ConfigError(
                f"line {mark.line + 1}: YAML aliases (*name) are not accepted in a polyvec "
                "config; write the value out"
            )
        return super().compose_node(parent, index)


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _interpolate(value: Any, where: str = "") -> Any:
    """``${NAME}`` in a string value is replaced by the environment variable ``NAME`` (for
    secrets such as ``api_key: ${QDRANT_API_KEY}``); a missing variable is an error."""
    if isinstance(value, dict):
        return {k: _interpolate(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, f"{where}.{i}") for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{where}: the environment variable {name} is not set")
        return os.environ[name]

    return _ENV.sub(replace, value)


def _yaml_problem(err: yaml.YAMLError) -> str:
    """Where and what, without the offending line's text (it may hold a secret)."""
    problem = getattr(err, "problem", None) or getattr(err, "context", None) or "syntax error"
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"


def load_yaml(path: str | Path) -> PipelineConfig:
    """Read a YAML config file safely: no Python objects, no aliases, ``${ENV}`` values;
    a relative ``store.path`` is read from the file's folder.

    A YAML error names the line and column, never the line's text (it may hold a secret).
    """
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_ConfigLoader)
    except OSError as err:
        raise ConfigError(f"cannot read config file {str(path)!r}: {err}") from err
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {_yaml_problem(err)}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    try:
        return load_config(_relative_to(path.parent, _interpolate(data)))
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err.__cause__


def _relative_to(folder: Path, data: dict[str, Any]) -> dict[str, Any]:
    """A relative ``store.path`` of a YAML file is the file's neighbour, wherever the
    command runs from (a path from the command line stays relative to the current folder)."""
    store = data.get("store")
    if isinstance(store, dict) and isinstance(store.get("path"), str):
        given = os.path.expanduser(store["path"])
        if not os.path.isabs(given):
            data = {**data, "store": {**store, "path": os.path.abspath(folder / given)}}
    return data

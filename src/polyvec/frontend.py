"""The front-end kit: what every framework plugin needs from polyvec, written once.

The LangChain and LlamaIndex plugins (and any later one) are thin translations of their
framework's types; everything else they share comes from here:

* :func:`open_pipeline` — one way to build from a :class:`~polyvec.Pipeline` (used as is,
  never closed), a ``PipelineConfig``, a config dict, a YAML path, or an existing
  ``QdrantClient`` (+ collection name); the front end owns what it built.
* :func:`reopen_pipeline` — a collection reopened from its manifest alone (a front end's
  ``from_existing_collection``).
* :class:`OwnsPipeline` — ``close()`` / ``with`` close the pipeline only when owned.
* :class:`SearchDefaults` — a front end's default ``k``, ``filter``, ``plan`` and
  ``limits``, merged with a call's the same way everywhere: a call's ``k``, ``filter`` and
  ``plan`` replace the defaults, its ``limits`` are merged over them.
* :func:`relevance` / :func:`raw_score` — the score policy: relevance in [0, 1] (cosine as
  is, MaxSim divided by the query's length), or the plan's raw score.
* :func:`source_filter` — documents by their source (a front end's parent document id, kept
  under the reserved ``frontend`` payload key, never in the user's metadata).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from polyvec.config import PipelineConfig, load_config, load_yaml
from polyvec.errors import InvalidInputError
from polyvec.filters import SOURCE_KEY, source_filter
from polyvec.pipeline import Pipeline
from polyvec.plans import Stage
from polyvec.store import Hit, Store

if TYPE_CHECKING:
    from typing_extensions import Self

    from polyvec.encoders import Encoder

PipelineSource: TypeAlias = Pipeline | PipelineConfig | Mapping[str, Any] | str | os.PathLike[str]
"""What a front end is built from: a pipeline, a config (object or dict) or a YAML path."""

PlanArg: TypeAlias = Stage | str | None

_Front = TypeVar("_Front", bound="OwnsPipeline")


def config_from(
    source: PipelineConfig | Mapping[str, Any] | str | os.PathLike[str],
) -> tuple[PipelineConfig, set[str]]:
    """The config ``source`` describes, and which top-level keys the user set."""
    if isinstance(source, PipelineConfig):
        return source, set(source.model_fields_set)
    if isinstance(source, Mapping):
        return load_config(dict(source)), set(source)
    if isinstance(source, (str, os.PathLike)):
        config = load_yaml(Path(source))
        return config, set(config.model_fields_set)
    raise InvalidInputError(
        "expected a polyvec Pipeline, a PipelineConfig, a config dict or a YAML path, "
        f"got {type(source).__name__}"
    )


def client_config(
    config: PipelineConfig | None, collection_name: str | None, client: Any
) -> PipelineConfig:
    """``config`` (default: the defaults) with a ``qdrant`` store on a handed-in client."""
    raw = config.model_dump(mode="python") if config is not None else {}
    store = raw.get("store") or {}
    if client is not None and store.get("type") != "qdrant":
        store = {"type": "qdrant", "collection": store.get("collection", "polyvec")}
    if collection_name is not None:
        store["collection"] = collection_name
    raw["store"] = store
    return load_config(raw)


def open_pipeline(
    source: PipelineSource | None = None,
    *,
    encoder: Encoder | None = None,
    store: Store | None = None,
    client: Any = None,
    aclient: Any = None,
    collection_name: str | None = None,
) -> tuple[Pipeline, bool]:
    """The pipeline a front end works on, and whether the front end owns (must close) it.

    Args:
        source: a :class:`~polyvec.Pipeline` (used as is, not owned), a config, a config
            dict or a YAML path; ``None``: the default configuration.
        encoder: the encoder to use instead of the configured one.
        store: an (unopened) store to use instead of the configured one.
        client: an existing ``QdrantClient``; the collection is stored there (the client is
            never closed by polyvec).
        aclient: an existing ``AsyncQdrantClient`` for the async twins.
        collection_name: the collection to use (overrides the config's).
    """
    if isinstance(source, Pipeline):
        extra = {
            "encoder": encoder,
            "store": store,
            "client": client,
            "aclient": aclient,
            "collection_name": collection_name,
        }
        given = sorted(k for k, v in extra.items() if v is not None)
        if given:
            raise InvalidInputError(
                f"got a Pipeline and {given}: the pipeline is already built; pass one or the other"
            )
        return source, False
    config = config_from(source)[0] if source is not None else None
    if client is not None or aclient is not None or collection_name is not None:
        config = client_config(config, collection_name, client if client is not None else aclient)
    pipeline = Pipeline(
        config or load_config(), encoder=encoder, store=store, client=client, aclient=aclient
    )
    return pipeline, True


def reopen_pipeline(
    collection_name: str,
    store: Mapping[str, Any] | None = None,
    *,
    encoder: Encoder | None = None,
    client: Any = None,
    aclient: Any = None,
) -> Pipeline:
    """A front end's ``from_existing_collection``: the named collection, opened with the
    configuration its manifest records (:meth:`Pipeline.from_existing`).

    ``store``: its ``store:`` section without the collection (default: a ``qdrant`` store
    on ``client``/``aclient`` when one is given, else the embedded default).
    """
    if store is None:
        handed_in = client is not None or aclient is not None
        store = {"type": "qdrant"} if handed_in else {}
    return Pipeline.from_existing(
        {**store, "collection": collection_name}, encoder=encoder, client=client, aclient=aclient
    )


def owning(pipeline: Pipeline, build: Callable[[Pipeline], _Front]) -> _Front:
    """The front end ``build`` makes over ``pipeline``, owning it: closed here if building
    fails, else when the front end closes."""
    try:
        front = build(pipeline)
    except BaseException:
        pipeline.close()
        raise
    front._owns_pipeline = True
    return front


class OwnsPipeline:
    """``close()`` (and leaving a ``with`` block) closes the pipeline only where this front
    end built it; a pipeline passed in stays the caller's."""

    if TYPE_CHECKING:
        _owns_pipeline: bool

        @property
        def pipeline(self) -> Pipeline: ...  # a property or a field of the front end

    def close(self) -> None:
        """Close the pipeline if this front end built it."""
        if getattr(self, "_owns_pipeline", False):
            self.pipeline.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@dataclass(frozen=True)
class SearchDefaults:
    """A front end's search defaults, merged with each call's arguments in one way.

    Attributes:
        k: how many documents.
        filter: metadata filter (simple dict form or a Qdrant filter).
        plan: query plan (plan name, field name, plan string or ``Stage``).
        limits: per-field candidate limits.
    """

    k: int = 4
    filter: Any = None
    plan: PlanArg = None
    limits: Mapping[str, int] = field(default_factory=dict)

    def check(self, pipeline: Pipeline) -> SearchDefaults:
        """Refuse an unknown plan, field or limit now, not at the first query."""
        pipeline.plan(self.plan, self.limits or None)
        return self

    def merged(self, pipeline: Pipeline | None = None, **call: Any) -> dict[str, Any]:
        """:meth:`Pipeline.search` keyword arguments: the call's over the defaults.

        ``k`` and ``plan`` given (not ``None``) replace the defaults; a ``filter`` given
        replaces the default even when it is ``None`` (``filter=None`` searches everything);
        ``limits`` are merged field by field. With ``pipeline``, a call's own plan keeps
        only the default limits of fields it reads (a store-wide ``{"dense": 200}`` does
        not break ``plan="tokens"``); a call's own limits are always checked. Unknown keys
        are refused, the accepted named.
        """
        accepted = {"k", "filter", "plan", "limits", "ids"}
        unknown = set(call) - accepted
        if unknown:
            raise InvalidInputError(
                f"unexpected search argument(s) {sorted(unknown)}; accepted: {sorted(accepted)}"
            )
        defaults = dict(self.limits)
        if pipeline is not None and defaults and call.get("plan") is not None:
            reads = pipeline.plan(call["plan"]).fields()
            defaults = {name: n for name, n in defaults.items() if name in reads}
        limits = {**defaults, **(call.get("limits") or {})}
        args = {
            "k": call["k"] if call.get("k") is not None else self.k,
            "filter": call.get("filter", self.filter),
            "plan": call["plan"] if call.get("plan") is not None else self.plan,
            "limits": limits or None,
        }
        if call.get("ids") is not None:
            args["ids"] = call["ids"]
        return args


def relevance(hit: Hit) -> float:
    """The hit's relevance in [0, 1] (the score policy every front end reports)."""
    if hit.relevance is not None:
        return float(hit.relevance)
    return min(1.0, max(0.0, float(hit.score or 0.0)))


def raw_score(hit: Hit) -> float:
    """The plan's raw root score (cosine, dot, or a MaxSim sum)."""
    return float(hit.score or 0.0)


__all__ = [
    "SOURCE_KEY",
    "OwnsPipeline",
    "PipelineSource",
    "PlanArg",
    "SearchDefaults",
    "config_from",
    "open_pipeline",
    "raw_score",
    "relevance",
    "source_filter",
]

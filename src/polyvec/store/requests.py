"""The one request layer: fields, plans, points and payload indexes as typed Qdrant requests.

Everything a store sends is built here, once, as ``qdrant_client.models`` objects (filters
come from :mod:`polyvec.filters`). The qdrant-client store sends them as they are; the
Edge store converts them with :mod:`polyvec.store.edge_conversions`. So there is one table
from polyvec's settings to Qdrant's, and one plan walk.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qdrant_client import models

from polyvec.errors import InvalidInputError
from polyvec.fields import Quantization, VectorField
from polyvec.filters import FRONTEND_KEY, ID_KEY
from polyvec.plans import Stage, StagePath

_DISTANCE = {
    "cosine": models.Distance.COSINE,
    "dot": models.Distance.DOT,
    "euclid": models.Distance.EUCLID,
}
_DATATYPE = {
    "float32": models.Datatype.FLOAT32,
    "float16": models.Datatype.FLOAT16,
    "turbo8": models.Datatype.TURBO8,
    "turbo16": models.Datatype.TURBO16,
}
_BINARY_ENCODING = {
    "1bit": models.BinaryQuantizationEncoding.ONE_BIT,
    "1.5bit": models.BinaryQuantizationEncoding.ONE_AND_HALF_BITS,
    "2bit": models.BinaryQuantizationEncoding.TWO_BITS,
}
FULL_SCAN_THRESHOLD_KB = 10_000
# payload paths always indexed where the backend builds payload indexes (keyword: str ids;
# int ids still match, by a scan of the candidates)
BUILTIN_PAYLOAD_INDEXES: dict[str, str] = {
    ID_KEY: "keyword",
    f"{FRONTEND_KEY}.source": "keyword",
}


def quantization_config(q: Quantization | None) -> models.QuantizationConfig | None:
    """The quantized copy Qdrant keeps beside a field's original vectors."""
    if q is None:
        return None
    if q.kind == "scalar":
        return models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=q.option("quantile"), always_ram=q.always_ram
            )
        )
    if q.kind == "binary":
        return models.BinaryQuantization(
            binary=models.BinaryQuantizationConfig(
                always_ram=q.always_ram,
                encoding=_BINARY_ENCODING[q.option("encoding", "1bit")],
                query_encoding=models.BinaryQuantizationQueryEncoding(
                    q.option("query_encoding", "default")
                ),
            )
        )
    if q.kind == "product":
        return models.ProductQuantization(
            product=models.ProductQuantizationConfig(
                compression=models.CompressionRatio(f"x{q.option('compression', 16)}"),
                always_ram=q.always_ram,
            )
        )
    return models.TurboQuantization(
        turbo=models.TurboQuantQuantizationConfig(
            bits=models.TurboQuantBitSize("bits" + str(q.option("bits", "4")).replace(".", "_")),
            always_ram=q.always_ram,
        )
    )


def vector_params(field: VectorField, *, on_disk: bool | None = None) -> models.VectorParams:
    """Collection parameters of one named vector."""
    return models.VectorParams(
        size=field.size,
        distance=_DISTANCE[field.distance],
        multivector_config=(
            models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM)
            if field.multivector
            else None
        ),
        datatype=_DATATYPE[field.datatype],
        hnsw_config=models.HnswConfigDiff(
            m=field.hnsw_m if field.hnsw else 0,  # m=0: no graph, exact scan
            ef_construct=field.hnsw_ef_construct,
            full_scan_threshold=FULL_SCAN_THRESHOLD_KB,
        ),
        quantization_config=quantization_config(field.quantization),
        on_disk=on_disk,
    )


def collection_vectors(
    fields: Sequence[VectorField], *, on_disk: bool | None = None
) -> dict[str, models.VectorParams]:
    """Parameters of the dense and multivector fields (sparse ones: :func:`collection_sparse`)."""
    return {f.name: vector_params(f, on_disk=on_disk) for f in fields if not f.sparse}


def collection_sparse(
    fields: Sequence[VectorField], *, on_disk: bool | None = None
) -> dict[str, models.SparseVectorParams]:
    """Parameters of the sparse fields: the engine's IDF modifier where a field asks for it."""
    return {
        f.name: models.SparseVectorParams(
            index=models.SparseIndexParams(on_disk=on_disk),
            modifier=models.Modifier.IDF if f.modifier == "idf" else None,
        )
        for f in fields
        if f.sparse
    }


def payload_index_schema(kind: str) -> models.PayloadSchemaType:
    """A payload index type by name (``keyword``, ``integer``, ``float``, ``bool``, ...)."""
    try:
        return models.PayloadSchemaType(kind)
    except ValueError:
        known = ", ".join(t.value for t in models.PayloadSchemaType)
        raise InvalidInputError(
            f"payload index type {kind!r} is unknown; use one of {known}"
        ) from None


# --- plans -> Query API ----------------------------------------------------------------


def search_params(stage: Stage, field: VectorField) -> models.SearchParams | None:
    """What a stage asks of the engine for its field (``None``: the engine's defaults)."""
    settings = stage.search_settings(field)
    if settings is None:
        return None
    return models.SearchParams(
        hnsw_ef=settings.hnsw_ef,
        exact=settings.exact or None,
        quantization=(
            models.QuantizationSearchParams(
                rescore=settings.rescore, oversampling=settings.oversampling
            )
            if settings.quantized
            else None
        ),
    )


Pinned = Mapping[StagePath, Sequence[models.ExtendedPointId]]  # stage path -> its documents


def _among(flt: models.Filter | None, ids: Sequence[models.ExtendedPointId] | None) -> Any:
    """``flt``, restricted to ``ids`` where given."""
    if ids is None:
        return flt
    only = models.HasIdCondition(has_id=list(ids))
    return models.Filter(must=[only] if flt is None else [only, flt])


@dataclass(frozen=True)
class QueryBuilder:
    """Turns a validated plan and one query's vectors into a ``models.QueryRequest``.

    Attributes:
        fields: the collection's fields by name.
        with_params: send search parameters (qdrant-client's local mode ignores them and
            warns, so its store leaves them out).
    """

    fields: Mapping[str, VectorField]
    with_params: bool = True

    def _params(self, stage: Stage) -> models.SearchParams | None:
        if stage.fusion or not self.with_params:
            return None
        return search_params(stage, self.fields[stage.field])

    @staticmethod
    def _query(stage: Stage, vectors: Mapping[str, Any]) -> Any:
        """The stage's query: nearest to the query's vector of its field, or a fusion of
        its children (RRF always with its ``k``, so every engine uses the same one)."""
        if stage.fusion == "dbsf":
            return models.FusionQuery(fusion=models.Fusion.DBSF)
        if stage.fusion == "rrf":
            weights = list(stage.weights) if stage.weights is not None else None
            return models.RrfQuery(rrf=models.Rrf(k=stage.rrf_k, weights=weights))
        return models.NearestQuery(nearest=vectors[stage.field])

    @staticmethod
    def _using(stage: Stage) -> str | None:
        return None if stage.fusion else stage.field

    def prefetch(
        self,
        stage: Stage,
        vectors: Mapping[str, Any],
        flt: models.Filter | None,
        pinned: Pinned | None = None,
        path: StagePath = (),
    ) -> models.Prefetch:
        ids = (pinned or {}).get(path)
        return models.Prefetch(
            query=self._query(stage, vectors),
            using=self._using(stage),
            limit=stage.candidate_limit(),
            prefetch=self._children(stage, vectors, flt, pinned, path),
            params=self._params(stage),
            filter=_among(flt, ids),
        )

    def _children(
        self,
        stage: Stage,
        vectors: Mapping[str, Any],
        flt: models.Filter | None,
        pinned: Pinned | None,
        path: StagePath,
    ) -> list[models.Prefetch] | None:
        """A stage's candidate stages; none for a pinned stage, which searches among the
        documents its candidate stages kept (see :func:`~polyvec.plans.engine_cuts`)."""
        if pinned and path in pinned:
            return None
        children = stage.prefetch
        return [self.prefetch(c, vectors, flt, pinned, (*path, i)) for i, c in enumerate(children)]

    def mmr(
        self,
        field: str,
        vector: Any,
        k: int,
        candidates: int,
        lambda_mult: float,
        flt: models.Filter | None = None,
    ) -> models.QueryRequest:
        """Qdrant's maximal marginal relevance on one dense or token field (similarities:
        the field's distance, MaxSim for tokens): of the ``candidates``
        nearest, ``k`` chosen one by one, each weighing its similarity to the query
        (``lambda_mult``, LangChain's name) against its similarity to those already chosen
        (Qdrant's ``diversity`` is ``1 - lambda_mult``)."""
        return models.QueryRequest(
            query=models.NearestQuery(
                nearest=vector,
                mmr=models.Mmr(diversity=1.0 - lambda_mult, candidates_limit=candidates),
            ),
            using=field,
            limit=k,
            filter=flt,
            with_payload=True,
        )

    def request(
        self,
        plan: Stage,
        vectors: Mapping[str, Any],
        limit: int,
        flt: models.Filter | None = None,
        pinned: Pinned | None = None,
    ) -> models.QueryRequest:
        """The Query API request of a plan: the filter applies at every stage. ``pinned``
        stages (by their path in the plan) search only among the documents given, instead
        of their candidate stages' output (see :func:`~polyvec.plans.engine_cuts`).

        Under prefetch the filter goes in wrapped, as ``must: [filter]``: Qdrant merges a
        root filter into each prefetch's clause by clause, which joins two ``min_should``
        (or two ``should``) lists into one looser condition — a ``min_should`` of 2 then
        passes documents meeting one condition (measured 2026-12-01 on Qdrant Edge and in
        qdrant-client's local mode). Merged ``must`` lists are a plain AND.
        """
        if flt is not None and plan.prefetch:
            flt = models.Filter(must=[flt])
        return models.QueryRequest(
            query=self._query(plan, vectors),
            using=self._using(plan),
            prefetch=self._children(plan, vectors, flt, pinned, ()),
            params=self._params(plan),
            filter=_among(flt, (pinned or {}).get(())),
            limit=limit,
            with_payload=True,
            with_vector=False,
        )


# --- points ---------------------------------------------------------------------------


MAX_PAYLOAD_DEPTH = 32
"""Nesting Qdrant Edge can store and read back: at ~124 levels its WAL cannot be replayed
and the store never opens again (measured 2026-12-01); 32 leaves room for any real use."""
_INT_RANGE = (-(2**63), 2**63 - 1)  # Edge cannot filter on larger ints


def _json_value(value: Any, path: str, depth: int = 0) -> Any:
    """A payload value as JSON (what every backend stores the same way)."""
    if depth > MAX_PAYLOAD_DEPTH:
        raise InvalidInputError(
            f"payload {path}: nested more than {MAX_PAYLOAD_DEPTH} levels deep; "
            "flatten the metadata (Qdrant cannot read back deeper payloads)"
        )
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise InvalidInputError(
                f"payload {path}: not valid UTF-8 text ({err.reason} at position {err.start}: "
                "a lone surrogate, e.g. from decoding bytes with errors='surrogateescape'); "
                "clean the text first"
            ) from None
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            raise InvalidInputError(
                f"payload {path}: {value} does not fit in 64 bits (Qdrant would store it as "
                "an inexact float); store it as a str"
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(
                f"payload {path}: {value!r} cannot be stored (JSON has no NaN or infinity); "
                "store None or a string instead"
            )
        return value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()  # what a Qdrant server stores; datetime filters read it
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return _json_value(value.tolist(), path, depth)  # numpy scalars and arrays
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInputError(
                    f"payload {path or '<root>'}: key {key!r} is a {type(key).__name__}; "
                    "metadata keys must be str"
                )
            out[key] = _json_value(item, f"{path}.{key}" if path else key, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_json_value(item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value)]
    raise InvalidInputError(
        f"payload {path}: a {type(value).__name__} cannot be stored; use str, int, float, "
        "bool, None, datetime, or lists and dicts of them"
    )


def json_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A point's payload with every value as JSON: datetimes as ISO 8601, numpy as Python.

    Raises:
        InvalidInputError: a value JSON cannot hold (the message names its key path).
    """
    return dict(_json_value(payload, ""))


def point(
    point_id: str, vectors: Mapping[str, Any], payload: Mapping[str, Any]
) -> models.PointStruct:
    """A point to upsert. Built without re-validation: the vectors come from polyvec's own
    adapters (plain float lists) and the payload from :func:`json_payload`; validating every
    float of a 10,240-dimension FDE again would cost more than it could catch."""
    return models.PointStruct.model_construct(
        id=point_id, vector=dict(vectors), payload=dict(payload)
    )

"""The one conversion from typed ``qdrant_client.models`` requests to ``qdrant_edge`` objects.

The request layer (:mod:`polyvec.store.requests`, :mod:`polyvec.filters`) builds every
request once as qdrant-client models; this module maps them onto Qdrant Edge's Python
types, as qdrant-client's own ``conversions/`` maps REST models onto gRPC. A model Edge
cannot express raises :class:`~polyvec.errors.InvalidInputError` naming it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import qdrant_edge as qe
from qdrant_client import models

from polyvec.errors import InvalidInputError
from polyvec.plans import RRF_K
from polyvec.store.requests import FULL_SCAN_THRESHOLD_KB

DISTANCE = {
    models.Distance.COSINE: qe.Distance.Cosine,
    models.Distance.DOT: qe.Distance.Dot,
    models.Distance.EUCLID: qe.Distance.Euclid,
}
DATATYPE = {
    models.Datatype.FLOAT32: qe.VectorStorageDatatype.Float32,
    models.Datatype.FLOAT16: qe.VectorStorageDatatype.Float16,
    models.Datatype.TURBO8: qe.VectorStorageDatatype.Turbo8,
    models.Datatype.TURBO16: qe.VectorStorageDatatype.Turbo16,
}
BINARY_ENCODING = {
    models.BinaryQuantizationEncoding.ONE_BIT: qe.BinaryQuantizationEncoding.OneBit,
    models.BinaryQuantizationEncoding.ONE_AND_HALF_BITS: qe.BinaryQuantizationEncoding.OneAndHalfBits,
    models.BinaryQuantizationEncoding.TWO_BITS: qe.BinaryQuantizationEncoding.TwoBits,
}
BINARY_QUERY = {
    models.BinaryQuantizationQueryEncoding.DEFAULT: qe.BinaryQuantizationQueryEncoding.Default,
    models.BinaryQuantizationQueryEncoding.BINARY: qe.BinaryQuantizationQueryEncoding.Binary,
    models.BinaryQuantizationQueryEncoding.SCALAR4BITS: qe.BinaryQuantizationQueryEncoding.Scalar4Bits,
    models.BinaryQuantizationQueryEncoding.SCALAR8BITS: qe.BinaryQuantizationQueryEncoding.Scalar8Bits,
}
COMPRESSION = {
    models.CompressionRatio.X4: qe.CompressionRatio.X4,
    models.CompressionRatio.X8: qe.CompressionRatio.X8,
    models.CompressionRatio.X16: qe.CompressionRatio.X16,
    models.CompressionRatio.X32: qe.CompressionRatio.X32,
    models.CompressionRatio.X64: qe.CompressionRatio.X64,
}
TURBO_BITS = {
    models.TurboQuantBitSize.BITS1: qe.TurboQuantBitSize.Bits1,
    models.TurboQuantBitSize.BITS1_5: qe.TurboQuantBitSize.Bits1_5,
    models.TurboQuantBitSize.BITS2: qe.TurboQuantBitSize.Bits2,
    models.TurboQuantBitSize.BITS4: qe.TurboQuantBitSize.Bits4,
    models.TurboQuantBitSize.BITS8: qe.TurboQuantBitSize.Bits8,
}
PAYLOAD_SCHEMA = {
    models.PayloadSchemaType.KEYWORD: qe.PayloadSchemaType.Keyword,
    models.PayloadSchemaType.INTEGER: qe.PayloadSchemaType.Integer,
    models.PayloadSchemaType.FLOAT: qe.PayloadSchemaType.Float,
    models.PayloadSchemaType.GEO: qe.PayloadSchemaType.Geo,
    models.PayloadSchemaType.TEXT: qe.PayloadSchemaType.Text,
    models.PayloadSchemaType.BOOL: qe.PayloadSchemaType.Bool,
    models.PayloadSchemaType.DATETIME: qe.PayloadSchemaType.Datetime,
    models.PayloadSchemaType.UUID: qe.PayloadSchemaType.Uuid,
}


def _unsupported(what: Any) -> InvalidInputError:
    return InvalidInputError(
        f"{type(what).__name__} is not supported on Qdrant Edge by polyvec: {what!r}"
    )


# --- collection parameters ------------------------------------------------------------


def quantization(config: models.QuantizationConfig | None) -> Any:
    if config is None:
        return None
    if isinstance(config, models.ScalarQuantization):
        s = config.scalar
        return qe.ScalarQuantizationConfig(
            qe.ScalarType.Int8, quantile=s.quantile, always_ram=s.always_ram
        )
    if isinstance(config, models.BinaryQuantization):
        b = config.binary
        return qe.BinaryQuantizationConfig(
            always_ram=b.always_ram,
            encoding=BINARY_ENCODING[b.encoding or models.BinaryQuantizationEncoding.ONE_BIT],
            query_encoding=BINARY_QUERY[
                b.query_encoding or models.BinaryQuantizationQueryEncoding.DEFAULT
            ],
        )
    if isinstance(config, models.ProductQuantization):
        p = config.product
        return qe.ProductQuantizationConfig(COMPRESSION[p.compression], always_ram=p.always_ram)
    if isinstance(config, models.TurboQuantization):
        t = config.turbo
        return qe.TurboQuantQuantizationConfig(
            always_ram=t.always_ram, bits=TURBO_BITS[t.bits or models.TurboQuantBitSize.BITS4]
        )
    raise _unsupported(config)


def sparse_params(params: models.SparseVectorParams) -> qe.EdgeSparseVectorParams:
    return qe.EdgeSparseVectorParams(
        modifier=qe.Modifier.Idf if params.modifier == models.Modifier.IDF else None
    )


def _vector(value: Any) -> Any:
    """A point's or query's vector: sparse ones become Edge's type, the rest pass as lists."""
    if isinstance(value, models.SparseVector):
        return qe.SparseVector(indices=list(value.indices), values=list(value.values))
    return value


def vector_params(params: models.VectorParams) -> qe.EdgeVectorParams:
    hnsw = params.hnsw_config or models.HnswConfigDiff()
    return qe.EdgeVectorParams(
        size=params.size,
        distance=DISTANCE[params.distance],
        multivector_config=(
            qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim)
            if params.multivector_config is not None
            else None
        ),
        datatype=DATATYPE[params.datatype or models.Datatype.FLOAT32],
        quantization_config=quantization(params.quantization_config),
        hnsw_config=qe.HnswIndexConfig(
            m=hnsw.m if hnsw.m is not None else 16,
            ef_construct=hnsw.ef_construct if hnsw.ef_construct is not None else 100,
            full_scan_threshold=(
                hnsw.full_scan_threshold
                if hnsw.full_scan_threshold is not None
                else FULL_SCAN_THRESHOLD_KB
            ),
        ),
    )


def payload_schema(schema: models.PayloadSchemaType) -> qe.PayloadSchemaType:
    return PAYLOAD_SCHEMA[schema]


# --- filters --------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _match(key: str, match: models.Match) -> Any:
    """A match as Edge conditions: a ``FieldCondition`` or a nested ``Filter``."""
    if isinstance(match, models.MatchValue):
        if isinstance(match.value, bool):
            return _match_bool(key, match.value)
        return qe.FieldCondition(key, match=qe.MatchValue(match.value))
    if isinstance(match, models.MatchAny):
        return qe.FieldCondition(key, match=qe.MatchAny(cast("list[str]", list(match.any))))
    if isinstance(match, models.MatchExcept):
        return qe.FieldCondition(key, match=qe.MatchExcept(cast("list[str]", list(match.except_))))
    if isinstance(match, models.MatchText):
        return qe.FieldCondition(key, match=qe.MatchText(match.text))
    if isinstance(match, models.MatchTextAny):
        return qe.FieldCondition(key, match=qe.MatchTextAny(match.text_any))
    if isinstance(match, models.MatchPhrase):
        return qe.FieldCondition(key, match=qe.MatchPhrase(match.phrase))
    if isinstance(match, models.MatchSubstring):
        return qe.FieldCondition(key, match=qe.MatchSubstring(match.substring))
    if isinstance(match, models.MatchPrefix):
        return qe.FieldCondition(key, match=qe.MatchPrefix(match.prefix))
    raise _unsupported(match)


def _match_bool(key: str, value: bool) -> Any:
    """``key == True/False`` exactly as Qdrant means it.

    Edge's binding tries str, then int, then bool when it reads a match value, and a Python
    bool is an int: ``MatchValue(True)`` becomes ``MatchValue(1)``, which matches the int 1
    and not ``True`` (measured 2026-12-01). A ``numpy.bool_`` is not an int, so it arrives
    as a bool.
    """
    return qe.FieldCondition(key, match=qe.MatchValue(np.bool_(value)))  # type: ignore[arg-type]


def _datetime_bound(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def _range(r: models.Range | models.DatetimeRange) -> Any:
    if isinstance(r, models.DatetimeRange):
        return qe.RangeDateTime(
            gte=_datetime_bound(r.gte),
            gt=_datetime_bound(r.gt),
            lte=_datetime_bound(r.lte),
            lt=_datetime_bound(r.lt),
        )
    return qe.RangeFloat(gte=r.gte, gt=r.gt, lte=r.lte, lt=r.lt)


def _field_condition(c: models.FieldCondition) -> Any:
    if c.geo_bounding_box or c.geo_radius or c.geo_polygon:
        raise _unsupported(c)
    parts: list[Any] = []
    if c.match is not None:
        parts.append(_match(c.key, c.match))
    extra: dict[str, Any] = {}
    if c.range is not None:
        extra["range"] = _range(c.range)
    if c.values_count is not None:
        v = c.values_count
        extra["values_count"] = qe.ValuesCount(lt=v.lt, gt=v.gt, lte=v.lte, gte=v.gte)
    if c.is_empty is not None:
        extra["is_empty"] = c.is_empty
    if c.is_null is not None:
        extra["is_null"] = c.is_null
    if extra:
        parts.append(qe.FieldCondition(c.key, **extra))
    if not parts:
        raise InvalidInputError(f"filter: the condition on {c.key!r} has no match or range")
    return parts[0] if len(parts) == 1 else qe.Filter(must=parts)


def condition(c: models.Condition) -> Any:
    """One Qdrant condition as an Edge condition."""
    if isinstance(c, models.FieldCondition):
        return _field_condition(c)
    if isinstance(c, models.Filter):
        return filter_(c) or qe.Filter()
    if isinstance(c, models.IsEmptyCondition):
        return qe.IsEmptyCondition(c.is_empty.key)
    if isinstance(c, models.IsNullCondition):
        return qe.IsNullCondition(c.is_null.key)
    if isinstance(c, models.HasIdCondition):
        return qe.HasIdCondition({str(i) if not isinstance(i, int) else i for i in c.has_id})
    if isinstance(c, models.NestedCondition):
        return qe.NestedCondition(c.nested.key, filter_(c.nested.filter) or qe.Filter())
    if isinstance(c, models.HasVectorCondition):
        return qe.HasVectorCondition(c.has_vector)
    raise _unsupported(c)


def filter_(f: models.Filter | None) -> qe.Filter | None:
    """A Qdrant filter as ``qdrant_edge.Filter`` (``None`` for no filter)."""
    if f is None:
        return None
    clauses: dict[str, Any] = {}
    for clause in ("must", "should", "must_not"):
        items = _as_list(getattr(f, clause))
        if items:
            clauses[clause] = [condition(c) for c in items]
    if f.min_should is not None:
        clauses["min_should"] = qe.MinShould(
            [condition(c) for c in f.min_should.conditions], f.min_should.min_count
        )
    return qe.Filter(**clauses) if clauses else None


# --- queries --------------------------------------------------------------------------


def search_params(params: models.SearchParams | None) -> qe.SearchParams | None:
    if params is None:
        return None
    q = params.quantization
    return qe.SearchParams(
        hnsw_ef=params.hnsw_ef,
        exact=bool(params.exact),
        quantization=(
            qe.QuantizationSearchParams(
                ignore=bool(q.ignore), rescore=q.rescore, oversampling=q.oversampling
            )
            if q is not None
            else None
        ),
    )


def _query(query: Any, using: str | None) -> Any:
    if isinstance(query, models.NearestQuery) and query.mmr is not None:
        return qe.Mmr(
            cast("list[float]", query.nearest),
            1.0 - (query.mmr.diversity if query.mmr.diversity is not None else 0.5),
            query.mmr.candidates_limit or 100,
            using=using,
        )
    if isinstance(query, models.NearestQuery):
        return qe.Query.Nearest(cast("list[float]", _vector(query.nearest)), using=using)
    if isinstance(query, models.RrfQuery):
        return qe.Fusion.Rrf(k=query.rrf.k or RRF_K, weights=query.rrf.weights)
    if isinstance(query, models.FusionQuery) and query.fusion == models.Fusion.DBSF:
        return qe.Fusion.Dbsf()
    raise _unsupported(query)


def prefetch(p: models.Prefetch) -> qe.Prefetch:
    if p.limit is None:
        raise InvalidInputError("a prefetch stage needs a limit")
    return qe.Prefetch(
        limit=p.limit,
        query=_query(p.query, p.using),
        prefetches=[prefetch(c) for c in _as_list(p.prefetch)] or None,
        params=search_params(p.params),
        filter=filter_(p.filter),
    )


def query_request(r: models.QueryRequest) -> qe.QueryRequest:
    return qe.QueryRequest(
        limit=r.limit if r.limit is not None else 10,
        offset=r.offset,
        query=_query(r.query, r.using),
        prefetches=[prefetch(c) for c in _as_list(r.prefetch)] or None,
        params=search_params(r.params),
        filter=filter_(r.filter),
        with_payload=bool(r.with_payload),
        with_vector=bool(r.with_vector),
    )


def points(structs: Sequence[models.PointStruct]) -> list[qe.Point]:
    return [
        qe.Point(
            p.id, {n: _vector(v) for n, v in cast("dict[str, Any]", p.vector).items()}, p.payload
        )
        for p in structs
    ]


def point_ids(ids: Sequence[Any]) -> list[Any]:
    return [str(i) if not isinstance(i, int) else i for i in ids]


def payload(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})

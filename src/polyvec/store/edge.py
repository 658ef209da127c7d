"""Qdrant Edge: the real Qdrant engine in-process, on disk — polyvec's embedded default.

Layout under ``<path>/<collection>/``: ``shard/`` (Qdrant's files), ``polyvec.json``
(the manifest) and ``.lock``. Edge locks its WAL, but not when the WAL is disabled, so
polyvec holds a lock file of its own: a second writer gets :class:`StoreLockedError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import qdrant_edge as qe
from filelock import FileLock, Timeout

from polyvec.errors import InvalidInputError, PolyvecError, StoreLockedError
from polyvec.fields import VectorField
from polyvec.plans import Stage
from polyvec.store.base import Hit, Store, StoredPoint
from polyvec.store.manifest import check_compatible

_DISTANCE = {"cosine": qe.Distance.Cosine, "dot": qe.Distance.Dot, "euclid": qe.Distance.Euclid}
_DATATYPE = {
    "float32": qe.VectorStorageDatatype.Float32,
    "float16": qe.VectorStorageDatatype.Float16,
    "turbo8": qe.VectorStorageDatatype.Turbo8,
    "turbo16": qe.VectorStorageDatatype.Turbo16,
}
_BINARY_ENCODING = {
    "1bit": qe.BinaryQuantizationEncoding.OneBit,
    "1.5bit": qe.BinaryQuantizationEncoding.OneAndHalfBits,
    "2bit": qe.BinaryQuantizationEncoding.TwoBits,
}
_BINARY_QUERY = {
    "default": qe.BinaryQuantizationQueryEncoding.Default,
    "binary": qe.BinaryQuantizationQueryEncoding.Binary,
    "scalar4bits": qe.BinaryQuantizationQueryEncoding.Scalar4Bits,
    "scalar8bits": qe.BinaryQuantizationQueryEncoding.Scalar8Bits,
}
_PQ = {
    4: qe.CompressionRatio.X4,
    8: qe.CompressionRatio.X8,
    16: qe.CompressionRatio.X16,
    32: qe.CompressionRatio.X32,
    64: qe.CompressionRatio.X64,
}
_TURBO = {
    "1": qe.TurboQuantBitSize.Bits1,
    "1.5": qe.TurboQuantBitSize.Bits1_5,
    "2": qe.TurboQuantBitSize.Bits2,
    "4": qe.TurboQuantBitSize.Bits4,
    "8": qe.TurboQuantBitSize.Bits8,
}
_FULL_SCAN_THRESHOLD_KB = 10_000


def _quantization(field: VectorField) -> Any:
    q = field.quantization
    if q is None:
        return None
    if q.kind == "scalar":
        return qe.ScalarQuantizationConfig(
            qe.ScalarType.Int8, quantile=q.option("quantile"), always_ram=q.always_ram
        )
    if q.kind == "binary":
        return qe.BinaryQuantizationConfig(
            always_ram=q.always_ram,
            encoding=_BINARY_ENCODING[q.option("encoding", "1bit")],
            query_encoding=_BINARY_QUERY[q.option("query_encoding", "default")],
        )
    if q.kind == "product":
        return qe.ProductQuantizationConfig(
            _PQ[q.option("compression", 16)], always_ram=q.always_ram
        )
    return qe.TurboQuantQuantizationConfig(
        always_ram=q.always_ram, bits=_TURBO[str(q.option("bits", "4"))]
    )


def vector_params(field: VectorField) -> qe.EdgeVectorParams:
    return qe.EdgeVectorParams(
        size=field.size,
        distance=_DISTANCE[field.distance],
        multivector_config=(
            qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim) if field.multivector else None
        ),
        datatype=_DATATYPE[field.datatype],
        quantization_config=_quantization(field),
        hnsw_config=qe.HnswIndexConfig(
            m=field.hnsw_m if field.hnsw else 0,  # m=0: no graph, exact scan
            ef_construct=field.hnsw_ef_construct,
            full_scan_threshold=_FULL_SCAN_THRESHOLD_KB,
        ),
    )


# --- filters: Qdrant JSON -> qdrant_edge objects ------------------------------------


def _match(spec: dict[str, Any]) -> Any:
    if "value" in spec:
        return qe.MatchValue(spec["value"])
    if "any" in spec:
        return qe.MatchAny(list(spec["any"]))
    if "except" in spec:
        return qe.MatchExcept(list(spec["except"]))
    if "text" in spec:
        return qe.MatchText(spec["text"])
    if "text_any" in spec:
        return qe.MatchTextAny(spec["text_any"])
    if "phrase" in spec:
        return qe.MatchPhrase(spec["phrase"])
    if "substring" in spec:
        return qe.MatchSubstring(spec["substring"])
    if "prefix" in spec:
        return qe.MatchPrefix(spec["prefix"])
    raise InvalidInputError(f"filter: unsupported match {spec!r} on Qdrant Edge")


def _condition(spec: dict[str, Any]) -> Any:
    if set(spec) & {"must", "should", "must_not", "min_should"}:
        return edge_filter(spec)
    if "is_empty" in spec:
        return qe.IsEmptyCondition(spec["is_empty"]["key"])
    if "is_null" in spec:
        return qe.IsNullCondition(spec["is_null"]["key"])
    if "has_id" in spec:
        return qe.HasIdCondition(set(spec["has_id"]))
    if "nested" in spec:
        return qe.NestedCondition(
            spec["nested"]["key"], edge_filter(spec["nested"]["filter"]) or qe.Filter()
        )
    if "key" not in spec:
        raise InvalidInputError(f"filter: cannot read condition {spec!r}")
    kwargs: dict[str, Any] = {}
    if spec.get("match") is not None:
        kwargs["match"] = _match(spec["match"])
    if spec.get("range") is not None:
        bounds = {k: v for k, v in spec["range"].items() if v is not None}
        # Qdrant's JSON has one "range"; Edge splits numbers and ISO datetimes (strings)
        datetime = any(isinstance(v, str) for v in bounds.values())
        kwargs["range"] = (qe.RangeDateTime if datetime else qe.RangeFloat)(**bounds)
    if spec.get("values_count") is not None:
        kwargs["values_count"] = qe.ValuesCount(**spec["values_count"])
    if not kwargs:
        raise InvalidInputError(f"filter: condition on {spec['key']!r} has no match or range")
    return qe.FieldCondition(spec["key"], **kwargs)


def edge_filter(spec: dict[str, Any] | None) -> qe.Filter | None:
    """Translate a Qdrant JSON filter into ``qdrant_edge.Filter``."""
    if not spec:
        return None
    clauses: dict[str, Any] = {
        clause: [_condition(c) for c in spec[clause]]
        for clause in ("must", "should", "must_not")
        if spec.get(clause)
    }
    if spec.get("min_should"):
        ms = spec["min_should"]
        clauses["min_should"] = qe.MinShould(
            [_condition(c) for c in ms["conditions"]], ms["min_count"]
        )
    return qe.Filter(**clauses)


class EdgeStore(Store):
    """A collection in a Qdrant Edge shard on local disk."""

    def __init__(self, path: str | os.PathLike[str], collection: str, *, wal: bool = True) -> None:
        self.root = Path(path) / collection
        self.collection = collection
        self.wal = wal
        self.fields = {}
        self._shard: qe.EdgeShard | None = None
        self._lock: FileLock | None = None

    @property
    def _manifest_path(self) -> Path:
        return self.root / "polyvec.json"

    @property
    def _shard_path(self) -> Path:
        return self.root / "shard"

    def stored_manifest(self) -> dict[str, Any] | None:
        if not self._manifest_path.exists():
            return None
        with self._manifest_path.open(encoding="utf-8") as fh:
            manifest: dict[str, Any] = json.load(fh)
        return manifest

    def _acquire(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.root / ".lock", blocking=False, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            raise StoreLockedError(
                f"the store {str(self.root)!r} is open in another process or pipeline; "
                "close that one first (Pipeline.close() or leave its `with` block)"
            ) from None
        self._lock = lock

    def open(self, fields: Sequence[VectorField], manifest: dict[str, Any]) -> None:
        self._acquire()
        try:
            stored = self.stored_manifest()
            if stored is not None:
                check_compatible(stored, manifest, str(self.root))
                self._shard = qe.EdgeShard.load(str(self._shard_path))
            else:
                config = qe.EdgeConfig(
                    vectors={f.name: vector_params(f) for f in fields}, wal_enabled=self.wal
                )
                self._shard = qe.EdgeShard.create(str(self._shard_path), config)
                tmp = self._manifest_path.with_suffix(".tmp")
                tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
                tmp.replace(self._manifest_path)  # atomic: never a half-written manifest
        except BaseException:
            self.close()
            raise
        self.fields = {f.name: f for f in fields}

    @property
    def shard(self) -> qe.EdgeShard:
        if self._shard is None:
            raise PolyvecError("the store is closed")
        return self._shard

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        if not points:
            return
        self.shard.update(
            qe.UpdateOperation.upsert_points(
                [qe.Point(p.point_id, p.vectors, p.payload) for p in points]
            )
        )

    def delete(self, point_ids: Sequence[str]) -> None:
        if point_ids:
            self.shard.update(qe.UpdateOperation.delete_points(list(point_ids)))

    def delete_by_filter(self, filter: dict[str, Any]) -> None:
        self.shard.update(
            qe.UpdateOperation.delete_points_by_filter(edge_filter(filter) or qe.Filter())
        )

    def retrieve(self, point_ids: Sequence[str]) -> list[Hit]:
        if not point_ids:
            return []
        records = {str(r.id): r for r in self.shard.retrieve(list(point_ids), True, False)}
        return [Hit.from_payload(records[p].payload) for p in point_ids if p in records]

    def count(self, filter: dict[str, Any] | None = None) -> int:
        return self.shard.count(qe.CountRequest(filter=edge_filter(filter), exact=True))

    def scroll_ids(self, filter: dict[str, Any] | None = None) -> list[str]:
        ids: list[str] = []
        offset = None
        while True:
            page, offset = self.shard.scroll(
                qe.ScrollRequest(
                    offset=offset, limit=1000, filter=edge_filter(filter), with_payload=False
                )
            )
            ids.extend(str(r.id) for r in page)
            if offset is None:
                return ids

    def sample(self, n: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        page, _ = self.shard.scroll(qe.ScrollRequest(limit=n, with_payload=True, with_vector=True))
        return [(r.payload or {}, r.vector if isinstance(r.vector, dict) else {}) for r in page]

    def _params(self, stage: Stage) -> qe.SearchParams | None:
        settings = stage.search_settings(self.fields.get(stage.field))
        if settings is None:
            return None
        return qe.SearchParams(
            exact=settings.exact,
            quantization=(
                qe.QuantizationSearchParams(
                    rescore=settings.rescore, oversampling=settings.oversampling
                )
                if settings.quantized
                else None
            ),
        )

    def _prefetch(self, stage: Stage, vectors: dict[str, Any], flt: Any) -> qe.Prefetch:
        assert stage.limit is not None
        return qe.Prefetch(
            limit=stage.limit,
            query=qe.Query.Nearest(vectors[stage.field], using=stage.field),
            prefetches=[self._prefetch(c, vectors, flt) for c in stage.prefetch] or None,
            params=self._params(stage),
            filter=flt,
        )

    def _request(
        self, plan: Stage, vectors: dict[str, Any], limit: int, flt: Any
    ) -> qe.QueryRequest:
        return qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(vectors[plan.field], using=plan.field),
            prefetches=[self._prefetch(c, vectors, flt) for c in plan.prefetch] or None,
            params=self._params(plan),
            filter=flt,
            with_payload=True,
            with_vector=False,
        )

    def query(
        self,
        plan: Stage,
        vectors: dict[str, Any],
        limit: int,
        filter: dict[str, Any] | None = None,
    ) -> list[Hit]:
        points = self.shard.query(self._request(plan, vectors, limit, edge_filter(filter)))
        return [Hit.from_payload(p.payload, p.score) for p in points]

    def query_batch(
        self,
        plan: Stage,
        vectors: Sequence[dict[str, Any]],
        limit: int,
        filter: dict[str, Any] | None = None,
    ) -> list[list[Hit]]:
        flt = edge_filter(filter)
        batch = qe.QueryBatchRequest([self._request(plan, v, limit, flt) for v in vectors])
        return [
            [Hit.from_payload(p.payload, p.score) for p in points]
            for points in self.shard.query_batch(batch)
        ]

    def optimize(self) -> None:
        self.shard.optimize()

    def disk_bytes(self) -> int | None:
        return sum(p.stat().st_size for p in self._shard_path.rglob("*") if p.is_file())

    def describe(self) -> dict[str, Any]:
        info = self.shard.info()
        return {
            "backend": "qdrant-edge",
            "path": str(self.root),
            "segments": info.segments_count,
            "indexed_vectors": info.indexed_vectors_count,
        }

    def close(self) -> None:
        if self._shard is not None:
            self._shard.flush()
            self._shard.close()
            self._shard = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

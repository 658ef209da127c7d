"""qdrant-client: a Qdrant server or cluster (``url``), or its local mode.

The server is how users scale past one machine (shards, replicas, API keys). The local
mode (``:memory:`` or ``path=``) is a test double for the server code path: it scores
everything in Python and is far slower than Qdrant Edge. The manifest is stored as
collection metadata, so it travels with the collection wherever the server keeps it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

from polyvec.errors import PolyvecError
from polyvec.fields import VectorField
from polyvec.plans import Stage
from polyvec.registry import import_optional
from polyvec.store.base import Hit, Store, StoredPoint
from polyvec.store.manifest import check_compatible

_MANIFEST_KEY = "polyvec"


class ClientStore(Store):
    """A collection reached through ``qdrant_client.QdrantClient``."""

    def __init__(
        self,
        collection: str,
        *,
        location: str | None = None,
        url: str | None = None,
        path: str | None = None,
        api_key: str | None = None,
        prefer_grpc: bool = False,
        timeout: int | None = None,
        shard_number: int | None = None,
        replication_factor: int | None = None,
        client: Any = None,
    ) -> None:
        self._qc = import_optional("qdrant_client", what="the qdrant store (server/:memory:)")
        self.models = self._qc.models
        self.collection = collection
        self.fields = {}
        self.shard_number = shard_number
        self.replication_factor = replication_factor
        self.client = client or self._qc.QdrantClient(
            location=location,
            url=url,
            path=path,
            api_key=api_key,
            prefer_grpc=prefer_grpc,
            timeout=timeout,
        )
        self.local = url is None and client is None

    def _vector_params(self, field: VectorField) -> Any:
        m = self.models
        quantization = None
        if field.quantization is not None:
            q = field.quantization
            if q.kind == "scalar":
                quantization = m.ScalarQuantization(
                    scalar=m.ScalarQuantizationConfig(
                        type=m.ScalarType.INT8,
                        quantile=q.option("quantile"),
                        always_ram=q.always_ram,
                    )
                )
            elif q.kind == "binary":
                quantization = m.BinaryQuantization(
                    binary=m.BinaryQuantizationConfig(
                        always_ram=q.always_ram,
                        encoding={
                            "1bit": "one_bit",
                            "1.5bit": "one_and_half_bits",
                            "2bit": "two_bits",
                        }[q.option("encoding", "1bit")],
                        query_encoding=q.option("query_encoding", "default"),
                    )
                )
            elif q.kind == "product":
                quantization = m.ProductQuantization(
                    product=m.ProductQuantizationConfig(
                        compression=f"x{q.option('compression', 16)}", always_ram=q.always_ram
                    )
                )
            else:
                quantization = m.TurboQuantization(
                    turbo=m.TurboQuantQuantizationConfig(
                        bits="bits" + str(q.option("bits", "4")).replace(".", "_"),
                        always_ram=q.always_ram,
                    )
                )
        return m.VectorParams(
            size=field.size,
            distance={
                "cosine": m.Distance.COSINE,
                "dot": m.Distance.DOT,
                "euclid": m.Distance.EUCLID,
            }[field.distance],
            multivector_config=(
                m.MultiVectorConfig(comparator=m.MultiVectorComparator.MAX_SIM)
                if field.multivector
                else None
            ),
            datatype={
                "float32": m.Datatype.FLOAT32,
                "float16": m.Datatype.FLOAT16,
                "turbo8": m.Datatype.TURBO8,
                "turbo16": m.Datatype.TURBO16,
            }[field.datatype],
            hnsw_config=m.HnswConfigDiff(
                m=field.hnsw_m if field.hnsw else 0, ef_construct=field.hnsw_ef_construct
            ),
            quantization_config=quantization,
        )

    def stored_manifest(self) -> dict[str, Any] | None:
        if not self.client.collection_exists(self.collection):
            return None
        metadata = self.client.get_collection(self.collection).config.metadata or {}
        manifest: dict[str, Any] | None = metadata.get(_MANIFEST_KEY)
        return manifest

    def open(self, fields: Sequence[VectorField], manifest: dict[str, Any]) -> None:
        if self.client.collection_exists(self.collection):
            stored = self.stored_manifest()
            if stored is None:
                raise PolyvecError(
                    f"collection {self.collection!r} exists but was not created by polyvec "
                    "(it has no manifest); choose another collection name"
                )
            check_compatible(stored, manifest, repr(self.collection))
        else:
            self.client.create_collection(
                self.collection,
                vectors_config={f.name: self._vector_params(f) for f in fields},
                shard_number=self.shard_number,
                replication_factor=self.replication_factor,
                metadata={_MANIFEST_KEY: manifest},
            )
        self.fields = {f.name: f for f in fields}

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        if not points:
            return
        self.client.upsert(
            self.collection,
            points=[
                self.models.PointStruct(id=p.point_id, vector=p.vectors, payload=p.payload)
                for p in points
            ],
            wait=True,
        )

    def delete(self, point_ids: Sequence[str]) -> None:
        if point_ids:
            self.client.delete(
                self.collection, points_selector=self.models.PointIdsList(points=list(point_ids))
            )

    def _filter(self, filter: dict[str, Any] | None) -> Any:
        return None if not filter else self.models.Filter.model_validate(filter)

    def delete_by_filter(self, filter: dict[str, Any]) -> None:
        self.client.delete(
            self.collection,
            points_selector=self.models.FilterSelector(
                filter=self._filter(filter) or self.models.Filter()
            ),
        )

    def retrieve(self, point_ids: Sequence[str]) -> list[Hit]:
        if not point_ids:
            return []
        records = {
            str(r.id): r
            for r in self.client.retrieve(
                self.collection, ids=list(point_ids), with_payload=True, with_vectors=False
            )
        }
        return [Hit.from_payload(records[p].payload) for p in point_ids if p in records]

    def count(self, filter: dict[str, Any] | None = None) -> int:
        result = self.client.count(self.collection, count_filter=self._filter(filter), exact=True)
        return int(result.count)

    def scroll_ids(self, filter: dict[str, Any] | None = None) -> list[str]:
        ids: list[str] = []
        offset = None
        while True:
            page, offset = self.client.scroll(
                self.collection,
                scroll_filter=self._filter(filter),
                limit=1000,
                offset=offset,
                with_payload=False,
                with_vectors=False,
            )
            ids.extend(str(r.id) for r in page)
            if offset is None:
                return ids

    def sample(self, n: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        page, _ = self.client.scroll(self.collection, limit=n, with_payload=True, with_vectors=True)
        return [(r.payload or {}, r.vector if isinstance(r.vector, dict) else {}) for r in page]

    def _params(self, stage: Stage) -> Any:
        settings = stage.search_settings(self.fields.get(stage.field))
        # local mode ignores search params and warns about them: only the server gets them
        if self.local or settings is None:
            return None
        return self.models.SearchParams(
            exact=settings.exact,
            quantization=(
                self.models.QuantizationSearchParams(
                    rescore=settings.rescore, oversampling=settings.oversampling
                )
                if settings.quantized
                else None
            ),
        )

    def _prefetch(self, stage: Stage, vectors: dict[str, Any], flt: Any) -> Any:
        return self.models.Prefetch(
            query=vectors[stage.field],
            using=stage.field,
            limit=stage.limit,
            prefetch=[self._prefetch(c, vectors, flt) for c in stage.prefetch] or None,
            params=self._params(stage),
            filter=flt,
        )

    def query(
        self,
        plan: Stage,
        vectors: dict[str, Any],
        limit: int,
        filter: dict[str, Any] | None = None,
    ) -> list[Hit]:
        flt = self._filter(filter)
        with warnings.catch_warnings():
            # local mode's one-off performance notices are not errors of the caller
            warnings.filterwarnings("ignore", message=".*[Ll]ocal mode.*")
            response = self.client.query_points(
                self.collection,
                query=vectors[plan.field],
                using=plan.field,
                prefetch=[self._prefetch(c, vectors, flt) for c in plan.prefetch] or None,
                query_filter=flt,
                search_params=self._params(plan),
                limit=limit,
                with_payload=True,
                with_vectors=False,
            )
        return [Hit.from_payload(p.payload, p.score) for p in response.points]

    def describe(self) -> dict[str, Any]:
        info = self.client.get_collection(self.collection)
        return {
            "backend": "qdrant-client" + (" (local mode)" if self.local else ""),
            "status": str(info.status),
            "indexed_vectors": info.indexed_vectors_count,
        }

    def close(self) -> None:
        self.client.close()

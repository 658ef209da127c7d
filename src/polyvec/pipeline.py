"""The one composition root: encoder + adapters + store + query plans.

The LangChain and LlamaIndex plugins and the CLI are thin wrappers over
:class:`Pipeline`; no retrieval logic lives anywhere else.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from polyvec import registry
from polyvec.adapters.base import Adapter
from polyvec.config import EncoderConfig, PipelineConfig, load_config, load_yaml
from polyvec.documents import Document, as_document
from polyvec.encoders import Encoder, MultiVectorCheckpointEncoder, SentenceTransformerEncoder
from polyvec.errors import ConfigError, InvalidInputError
from polyvec.fields import VectorField
from polyvec.plans import Stage
from polyvec.sizes import bytes_per_document
from polyvec.store import Hit, Store, StoredPoint, open_backend
from polyvec.store.base import ID_KEY, METADATA_KEY, TEXT_KEY
from polyvec.store.filters import to_qdrant_json
from polyvec.store.ids import new_id, point_id
from polyvec.store.manifest import MANIFEST_FORMAT

_PROGRESS_MIN_DOCS = 500


def build_encoder(config: EncoderConfig) -> Encoder:
    """The encoder an ``encoder:`` section describes."""
    if config.type == "multi_vector":
        return MultiVectorCheckpointEncoder(
            config.model,
            device=config.device,
            batch_size=config.batch_size,
            trust_remote_code=config.trust_remote_code,
        )
    return SentenceTransformerEncoder(
        config.model,
        device=config.device,
        batch_size=config.batch_size,
        max_seq_length=config.max_seq_length,
        query_prompt=config.query_prompt,
        document_prompt=config.document_prompt,
        trust_remote_code=config.trust_remote_code,
    )


class Pipeline:
    """Ingest documents into a Qdrant collection and search it with a query plan.

    Build one with :meth:`from_config` or :meth:`from_yaml`; use it as a context manager
    (or call :meth:`close`) so an embedded store's lock is released.
    """

    def __init__(
        self,
        config: PipelineConfig,
        *,
        encoder: Encoder | None = None,
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.encoder = encoder or build_encoder(config.encoder)
        encoder_info = self.encoder.info()
        self.adapters: list[Adapter[Any]] = [
            registry.adapters.resolve(f.type)(f, encoder_info) for f in config.fields
        ]
        self.vector_fields: dict[str, VectorField] = {}
        self._owner: dict[str, Adapter[Any]] = {}
        for adapter in self.adapters:
            for vf in adapter.vector_fields():
                self.vector_fields[vf.name] = vf
                self._owner[vf.name] = adapter
        self._encoder_info = encoder_info
        self.store = store or open_backend(config.store)
        self.store.open(list(self.vector_fields.values()), self.manifest())
        self._lock = threading.RLock()

    # --- construction -------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        config: PipelineConfig | Mapping[str, Any] | None = None,
        *,
        encoder: Encoder | None = None,
        store: Store | None = None,
        **overrides: Any,
    ) -> Pipeline:
        """Build from a config object, a dict, or keyword overrides of the defaults."""
        if isinstance(config, Mapping):
            config = load_config(dict(config), **overrides)
        else:
            config = load_config(config, **overrides)
        return cls(config, encoder=encoder, store=store)

    @classmethod
    def from_yaml(cls, path: str | Path, **kwargs: Any) -> Pipeline:
        """Build from a YAML file (read with ``yaml.safe_load``)."""
        return cls(load_yaml(path), **kwargs)

    def manifest(self) -> dict[str, Any]:
        """How this pipeline builds its collection (stored with it, checked on open)."""
        from polyvec import __version__

        return {
            "format": MANIFEST_FORMAT,
            "polyvec_version": __version__,
            "encoder": self._encoder_info.fingerprint,
            "fields": [vf.manifest() for vf in self.vector_fields.values()],
            "adapters": [a.manifest() for a in self.adapters],
            # what each setting defaults to, so collections built before a setting existed
            # still open when it is left at its default (see store.manifest.differences)
            "defaults": {
                "fields": [VectorField.defaults() for _ in self.vector_fields],
                "adapters": [a.defaults() for a in self.adapters],
            },
        }

    # --- writing ------------------------------------------------------------------

    def _needs(self, adapters: Iterable[Adapter[Any]]) -> tuple[bool, bool]:
        needs = set().union(*(a.needs for a in adapters))
        return "pooled" in needs, "tokens" in needs

    def _points(self, docs: Sequence[Document]) -> list[StoredPoint]:
        pooled, tokens = self._needs(self.adapters)
        encoded = self.encoder.encode(
            [d.text for d in docs], is_query=False, pooled=pooled, tokens=tokens
        )
        per_field: dict[str, list[Any]] = {}
        for adapter in self.adapters:
            per_field.update(adapter.encode_documents(encoded))
        return [
            StoredPoint(
                point_id=point_id(doc.id),
                vectors={name: values[i] for name, values in per_field.items()},
                payload={ID_KEY: doc.id, TEXT_KEY: doc.text, METADATA_KEY: doc.metadata},
            )
            for i, doc in enumerate(docs)
        ]

    def ingest(
        self,
        documents: Iterable[Document | Mapping[str, Any] | str],
        *,
        batch_size: int | None = None,
        progress: bool | None = None,
    ) -> list[str | int]:
        """Encode and upsert documents; returns their ids (generated where missing).

        Re-ingesting an id replaces that document. Every document is checked before
        anything is written, so a bad one leaves the collection as it was.
        """
        docs = [as_document(item, i) for i, item in enumerate(documents)]
        # the caller's Document objects are never changed: generated ids go on copies
        docs = [d if d.id is not None else replace(d, id=new_id()) for d in docs]
        for doc in docs:
            point_id(doc.id)  # validates the id's type
        size = batch_size or self.config.ingest_batch_size
        show = progress if progress is not None else len(docs) >= _PROGRESS_MIN_DOCS
        with self._lock, tqdm(total=len(docs), disable=not show, unit="doc", desc="ingest") as bar:
            for start in range(0, len(docs), size):
                chunk = docs[start : start + size]
                self.store.upsert(self._points(chunk))
                bar.update(len(chunk))
        return [d.id for d in docs if d.id is not None]

    def delete(self, ids: Sequence[str | int]) -> None:
        """Delete documents by id; unknown ids are ignored."""
        with self._lock:
            self.store.delete([point_id(i) for i in ids])

    def delete_where(self, filter: Any) -> None:
        """Delete every document matching a metadata filter."""
        flt = to_qdrant_json(filter)
        if flt is None:
            raise InvalidInputError(
                "delete_where needs a non-empty filter; use clear() to delete all"
            )
        with self._lock:
            self.store.delete_by_filter(flt)

    def clear(self) -> None:
        """Delete every document (the collection and its manifest stay)."""
        with self._lock:
            self.store.delete(self.store.scroll_ids())

    def optimize(self) -> None:
        """Build indexes and quantized copies now (call after a bulk ingest)."""
        with self._lock:
            self.store.optimize()

    # --- reading ------------------------------------------------------------------

    def get(self, ids: Sequence[str | int]) -> list[Hit]:
        """The documents that exist among ``ids``, in that order."""
        with self._lock:
            return self.store.retrieve([point_id(i) for i in ids])

    def get_where(self, filter: Any) -> list[Hit]:
        """Every document matching a metadata filter (``None``: all of them)."""
        flt = to_qdrant_json(filter)
        with self._lock:
            return self.store.retrieve(self.store.scroll_ids(flt))

    def count(self, filter: Any = None) -> int:
        with self._lock:
            return self.store.count(to_qdrant_json(filter))

    def plan(
        self, plan: Stage | str | None = None, limits: Mapping[str, int] | None = None
    ) -> Stage:
        """Resolve a plan (a :class:`Stage`, a plan/field name, a plan string or the default)."""
        stage = plan if isinstance(plan, Stage) else self.config.plan(plan)
        if limits:
            stage = stage.with_limits(dict(limits))
        unknown = stage.fields() - set(self.vector_fields)
        if unknown:
            raise ConfigError(
                f"plan {stage.describe()}: unknown field(s) {sorted(unknown)}; "
                f"fields are {sorted(self.vector_fields)}"
            )
        return stage

    def encode_queries(self, queries: Sequence[str], stage: Stage) -> list[dict[str, Any]]:
        """Query vectors of every field the plan reads, one dict per query."""
        adapters = list({id(self._owner[f]): self._owner[f] for f in stage.fields()}.values())
        pooled, tokens = self._needs(adapters)
        encoded = self.encoder.encode(list(queries), is_query=True, pooled=pooled, tokens=tokens)
        per_field: dict[str, list[Any]] = {}
        for adapter in adapters:
            per_field.update(adapter.encode_queries(encoded))
        return [
            {name: values[i] for name, values in per_field.items() if name in stage.fields()}
            for i in range(len(queries))
        ]

    def _relevance(self, stage: Stage, vectors: dict[str, Any], hits: list[Hit]) -> list[Hit]:
        """Attach a relevance in [0, 1]: cosine as is, MaxSim divided by query length."""
        scale = 1.0
        if self.vector_fields[stage.field].score == "maxsim":
            scale = 1.0 / max(len(vectors[stage.field]), 1)
        for hit in hits:
            if hit.score is not None:
                hit.relevance = min(1.0, max(0.0, hit.score * scale))
        return hits

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        filter: Any = None,
        plan: Stage | str | None = None,
        limits: Mapping[str, int] | None = None,
    ) -> list[Hit]:
        """The ``k`` best documents for ``query``.

        Args:
            filter: metadata filter (simple dict form or a Qdrant filter).
            plan: a plan name, a field name, a plan string (``"fde:200 -> tokens"``)
                or a :class:`Stage`; default: the configured default plan.
            limits: per-field candidate limits overriding the plan's.
        """
        return self.search_batch([query], k, filter=filter, plan=plan, limits=limits)[0]

    def search_batch(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        filter: Any = None,
        plan: Stage | str | None = None,
        limits: Mapping[str, int] | None = None,
    ) -> list[list[Hit]]:
        """:meth:`search` for many queries, encoded in one batch."""
        if isinstance(queries, str):
            raise InvalidInputError("search_batch takes a list of queries; use search() for one")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise InvalidInputError(f"k must be a positive int, got {k!r}")
        stage = self.plan(plan, limits)
        flt = to_qdrant_json(filter)
        with self._lock:
            vectors = self.encode_queries(queries, stage)
            results = self.store.query_batch(stage, vectors, k, flt)
        return [self._relevance(stage, v, hits) for v, hits in zip(vectors, results, strict=True)]

    # --- async twins (the engine is in-process: run in a worker thread) -------------

    async def aingest(self, documents: Iterable[Any], **kwargs: Any) -> list[str | int]:
        return await asyncio.to_thread(self.ingest, list(documents), **kwargs)

    async def asearch(self, query: str, k: int = 10, **kwargs: Any) -> list[Hit]:
        return await asyncio.to_thread(self.search, query, k, **kwargs)

    async def aget(self, ids: Sequence[str | int]) -> list[Hit]:
        return await asyncio.to_thread(self.get, ids)

    async def adelete(self, ids: Sequence[str | int]) -> None:
        await asyncio.to_thread(self.delete, ids)

    async def adelete_where(self, filter: Any) -> None:
        await asyncio.to_thread(self.delete_where, filter)

    async def aget_where(self, filter: Any) -> list[Hit]:
        return await asyncio.to_thread(self.get_where, filter)

    async def acount(self, filter: Any = None) -> int:
        return await asyncio.to_thread(self.count, filter)

    async def aclear(self) -> None:
        await asyncio.to_thread(self.clear)

    # --- facts --------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Fields, counts, bytes on disk and the manifest (what ``polyvec info`` prints)."""
        with self._lock:
            return {
                "store": self.store.describe(),
                "count": self.store.count(),
                "disk_bytes": self.store.disk_bytes(),
                "bytes_per_document": bytes_per_document(self.store, self.vector_fields),
                "fields": [vf.manifest() for vf in self.vector_fields.values()],
                "plans": {name: self.config.plan(name).describe() for name in self.config.plans},
                "default_plan": self.plan().describe(),
                "manifest": self.store.stored_manifest(),
            }

    def close(self) -> None:
        """Flush and release the store (and its lock)."""
        self.store.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

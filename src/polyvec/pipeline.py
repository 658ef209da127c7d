"""The one composition root: encoder + adapters + store + query plans.

The LangChain and LlamaIndex plugins and the CLI are thin wrappers over
:class:`Pipeline`; no retrieval logic lives anywhere else.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
import warnings
from collections.abc import Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import models
from tqdm.auto import tqdm

from polyvec import registry
from polyvec.adapter import Adapter
from polyvec.chunking import Chunker, Passages
from polyvec.config import EncoderConfig, PipelineConfig, load_config, load_yaml
from polyvec.documents import Document, as_document
from polyvec.encoders import Encoder, MultiVectorCheckpointEncoder, SentenceTransformerEncoder
from polyvec.errors import ConfigError, InvalidInputError
from polyvec.fields import Encoded, VectorField
from polyvec.filters import (
    FRONTEND_KEY,
    HASH_KEY,
    ID_KEY,
    METADATA_KEY,
    SOURCE_HASH_KEY,
    SOURCE_KEY,
    SOURCE_PATH,
    TEXT_KEY,
    all_of,
    source_filter,
    source_of,
    to_filter,
)
from polyvec.plans import Stage, StagePath, engine_cuts, stage_at, validate_plan
from polyvec.sizes import bytes_per_document
from polyvec.store import Hit, Store, open_backend
from polyvec.store.ids import new_id, point_id
from polyvec.store.manifest import MANIFEST_FORMAT
from polyvec.store.requests import (
    BUILTIN_PAYLOAD_INDEXES,
    QueryBuilder,
    json_payload,
    payload_index_schema,
    point,
)

_PROGRESS_MIN_DOCS = 500
# documents encoded per hold of the encoder's lock: 4 alone (batching pays ~10% on a CPU),
# 1 while a search waits for the encoder (benchmarks/concurrency.py measures the trade)
_ENCODE_SLICE = 4
_DELETE_PAGE = 1000  # ids or sources per delete request


class FairLock:
    """A lock granted in arrival order (first come, first served).

    ``threading.Lock`` lets the releasing thread take it straight back: a writer encoding
    slice after slice would starve every search waiting for the encoder. Re-entrant for the
    thread holding it.
    """

    def __init__(self) -> None:
        self._turns = threading.Condition(threading.Lock())
        self._next_ticket = 0
        self._serving = 0
        self._owner: int | None = None
        self._depth = 0

    def __enter__(self) -> FairLock:
        me = threading.get_ident()
        with self._turns:
            if self._owner == me:
                self._depth += 1
                return self
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._turns.wait()
            self._owner, self._depth = me, 1
        return self

    def contended(self) -> bool:
        """Whether another thread is waiting for the lock (called by its holder)."""
        with self._turns:
            return self._next_ticket - self._serving > 1

    def __exit__(self, *exc: object) -> None:
        with self._turns:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._serving += 1
                self._turns.notify_all()


def build_encoder(config: EncoderConfig) -> Encoder:
    """The encoder an ``encoder:`` section describes.

    ``trust_remote_code: true`` runs Python code shipped with the model; polyvec says so,
    naming the model, every time it loads one that way.
    """
    if config.trust_remote_code:
        warnings.warn(
            f"encoder.trust_remote_code is true: loading {config.model!r} runs the Python code "
            "in its folder or hub repository; set it only for models whose code you trust",
            UserWarning,
            stacklevel=2,
        )
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
        client: Any = None,
        aclient: Any = None,
        create: bool = True,
    ) -> None:
        """Open (or create) the collection ``config`` describes.

        Args:
            encoder: use this encoder instead of building the configured one.
            store: use this (unopened) store instead of building the configured one.
            client: an existing ``qdrant_client.QdrantClient`` for a ``qdrant`` store; the
                pipeline uses it and never closes it.
            aclient: an existing ``AsyncQdrantClient`` for the async twins, likewise.
            create: create the collection if it does not exist; ``False`` refuses a missing
                one with :class:`~polyvec.errors.CollectionNotFoundError` (for readers: a
                typo in a path must not answer from a new, empty collection).
        """
        self.config = config
        self._encoder_given = encoder is not None
        self.last_ingest_skipped = 0  # documents the last ingest found stored unchanged
        self.last_ingest_truncated = 0  # documents the last ingest's model cut at its window
        self.store = store or open_backend(config.store, client=client, aclient=aclient)
        try:
            if not create:  # a missing collection fails before the model loads
                self.store.require_existing()
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
            for name in config.plans:  # a bad named plan fails now, not at its first query
                validate_plan(config.plan(name), self.vector_fields)
            created = self.store.open(
                list(self.vector_fields.values()), self.manifest(), create=create
            )
            if created:
                self.store.create_payload_indexes(self._payload_indexes())
        except BaseException:
            self.store.close()
            raise
        # the encoder's tokenizer is not thread-safe; writes are serialised so a re-ingest
        # and a delete of the same ids apply in call order. Searches take only the encoder.
        self._encode_lock = FairLock()
        self._write_lock = threading.RLock()

    # --- construction -------------------------------------------------------------

    @classmethod
    def from_config(
        cls,
        config: PipelineConfig | Mapping[str, Any] | None = None,
        *,
        encoder: Encoder | None = None,
        store: Store | None = None,
        client: Any = None,
        aclient: Any = None,
        create: bool = True,
        **overrides: Any,
    ) -> Pipeline:
        """Build from a config object, a dict, or keyword overrides of the defaults.

        ``client`` / ``aclient``: an existing ``QdrantClient`` / ``AsyncQdrantClient`` for a
        ``qdrant`` store (used, never closed).
        """
        if isinstance(config, Mapping):
            config = load_config(dict(config), **overrides)
        else:
            config = load_config(config, **overrides)
        return cls(
            config, encoder=encoder, store=store, client=client, aclient=aclient, create=create
        )

    @classmethod
    def from_yaml(cls, path: str | Path, **kwargs: Any) -> Pipeline:
        """Build from a YAML file (read with ``yaml.safe_load``)."""
        return cls(load_yaml(path), **kwargs)

    @classmethod
    def from_existing(
        cls,
        store: Mapping[str, Any] | Any = None,
        *,
        encoder: Encoder | None = None,
        client: Any = None,
        aclient: Any = None,
        **overrides: Any,
    ) -> Pipeline:
        """Reopen a collection with the configuration recorded in its manifest.

        Args:
            store: its ``store:`` section (a dict or a store config; default: the embedded
                store in ``./polyvec_data``, collection ``polyvec``).
            encoder: the encoder, for a collection built with one handed in (e.g. a
                LangChain ``Embeddings``): a manifest cannot rebuild it.
            client, aclient: existing Qdrant clients for a ``qdrant`` store (never closed).
            overrides: top-level config keys replacing the recorded ones, e.g. ``plans=``,
                ``default_plan=``; a dict for ``encoder`` or ``chunking`` is merged over
                the recorded section (``encoder={"device": "cuda"}``).

        A missing collection is refused (:class:`~polyvec.errors.CollectionNotFoundError`),
        creating nothing; so is one built before polyvec recorded its configuration.
        """
        store_config = load_config({} if store is None else {"store": store}).store
        backend = open_backend(store_config, client=client, aclient=aclient)
        try:
            config = recorded_config(
                backend.require_existing(), backend.where, store_config, encoder, overrides
            )
            return cls(config, encoder=encoder, store=backend, create=False)
        except BaseException:
            backend.close()
            raise

    def _payload_indexes(self) -> dict[str, models.PayloadSchemaType]:
        indexes = dict(BUILTIN_PAYLOAD_INDEXES)
        for key, kind in self.config.store.payload_indexes.items():
            indexes[f"{METADATA_KEY}.{key}"] = kind
        return {path: payload_index_schema(kind) for path, kind in indexes.items()}

    def manifest(self) -> dict[str, Any]:
        """How this pipeline builds its collection (stored with it, checked on open).

        Fields and adapters are keyed by name, so reordering an identical config is fine.
        """
        from polyvec import __version__

        return {
            "format": MANIFEST_FORMAT,
            "polyvec_version": __version__,
            "encoder": self._encoder_info.fingerprint,
            "fields": {name: vf.manifest() for name, vf in self.vector_fields.items()},
            "adapters": {a.name: a.manifest() for a in self.adapters},
            # what rebuilds this pipeline on the collection (Pipeline.from_existing); not
            # checked on open: plans and chunking may change, the parts above may not
            "config": self.config.model_dump(mode="json", exclude={"store"})
            | ({"encoder": None} if self._encoder_given else {}),
            # what each setting defaults to, so collections built before a setting existed
            # still open when it is left at its default (see store.manifest.differences)
            "defaults": {
                "encoder": getattr(self.encoder, "fingerprint_defaults", dict)(),
                "fields": {name: VectorField.defaults() for name in self.vector_fields},
                "adapters": {a.name: a.defaults() for a in self.adapters},
            },
        }

    # --- writing ------------------------------------------------------------------

    def _needs(self, adapters: Iterable[Adapter[Any]]) -> tuple[bool, bool]:
        needs = set().union(*(a.needs for a in adapters))
        return "pooled" in needs, "tokens" in needs

    @staticmethod
    def _payload(doc: Document, position: int) -> dict[str, Any]:
        payload: dict[str, Any] = {ID_KEY: doc.id, TEXT_KEY: doc.text, METADATA_KEY: doc.metadata}
        if doc.frontend:
            payload[FRONTEND_KEY] = doc.frontend
        try:
            payload = json_payload(payload)
        except InvalidInputError as err:
            raise InvalidInputError(f"document #{position} (id {doc.id!r}): {err}") from None
        # what the encoders read is part of the content: other embed_text, other vectors
        hashed = payload if doc.embed_text is None else {**payload, "embed": doc.embed_text}
        content = json.dumps(hashed, sort_keys=True, ensure_ascii=False).encode("utf-8")
        payload[HASH_KEY] = hashlib.sha256(content).hexdigest()
        return payload

    def _points(
        self, docs: Sequence[Document], payloads: Sequence[dict[str, Any]]
    ) -> list[models.PointStruct]:
        pooled, tokens = self._needs(self.adapters)
        texts = [d.encoded_text for d in docs]
        encoded = self._encode_documents(texts, pooled, tokens) if pooled or tokens else Encoded()
        encoded.texts = texts
        self.last_ingest_truncated += encoded.truncated
        per_field: dict[str, list[Any]] = {}
        for adapter in self.adapters:
            per_field.update(adapter.encode_documents(encoded))
        return [
            point(
                point_id(doc.id),
                {name: values[i] for name, values in per_field.items()},
                payloads[i],
            )
            for i, doc in enumerate(docs)
        ]

    def _encode_documents(self, texts: list[str], pooled: bool, tokens: bool) -> Encoded:
        """Encode documents a slice at a time, taking the encoder's lock per slice: a search
        arriving during an ingest waits for one slice, not for the whole batch, and while
        searches are waiting a slice is one document."""
        parts = []
        start = 0
        while start < len(texts):
            with self._encode_lock:
                size = 1 if self._encode_lock.contended() else _ENCODE_SLICE
                parts.append(
                    self.encoder.encode(
                        texts[start : start + size], is_query=False, pooled=pooled, tokens=tokens
                    )
                )
            start += size
        if not parts:
            return self.encoder.encode([], is_query=False, pooled=pooled, tokens=tokens)
        if len(parts) == 1:
            return parts[0]
        return Encoded(
            pooled=np.concatenate([p.pooled for p in parts if p.pooled is not None])
            if pooled
            else None,
            tokens=[t for p in parts for t in (p.tokens or [])] if tokens else None,
            truncated=sum(p.truncated for p in parts),
        )

    def ingest(
        self,
        documents: Iterable[Document | Mapping[str, Any] | str],
        *,
        batch_size: int | None = None,
        progress: bool | None = None,
        skip_unchanged: bool = False,
    ) -> list[str | int]:
        """Encode and upsert documents; returns their ids (generated where missing).

        Re-ingesting an id replaces that document; an id given twice keeps the last. Every
        document is checked before anything is written, so a bad one leaves the
        collection as it was. Documents are then encoded and written a batch at a time:
        a list, or any collection that can be iterated again (:class:`~polyvec.chunking.
        Passages`, a corpus reader), is read twice and never copied, so memory stays
        bounded; a one-shot iterator (a generator) is read into a list first.

        Args:
            skip_unchanged: documents already stored with the same content (text, metadata
                and front-end data, by SHA-256) are not encoded again: an interrupted ingest
                started again resumes where it stopped.
        """
        return self._ingest(
            documents, batch_size=batch_size, progress=progress, skip_unchanged=skip_unchanged
        )

    def _ingest(
        self,
        documents: Iterable[Document | Mapping[str, Any] | str],
        *,
        batch_size: int | None = None,
        progress: bool | None = None,
        skip_unchanged: bool = False,
        sources: dict[str, list[models.ExtendedPointId]] | None = None,
    ) -> list[str | int]:
        """:meth:`ingest`; with ``sources``, the point ids written are also collected there
        by the source each document carries (for :meth:`replace_sources`)."""
        source = _reiterable(documents)
        size = batch_size or self.config.ingest_batch_size
        ids: list[str | int] = []
        with self._write_lock:
            # checked under the write lock: an ingest beside this one cannot store an id
            # that collides with ours between our check and our write (a ``a#0`` beside a
            # long ``a``), and its counts cannot mix with ours
            last, total = self._check_all(source)
            self.last_ingest_skipped = self.last_ingest_truncated = 0
            show = progress if progress is not None else total >= _PROGRESS_MIN_DOCS
            with tqdm(total=total, disable=not show, unit="doc", desc="ingest") as bar:
                batch: list[tuple[Document, dict[str, Any]]] = []
                for position, item in enumerate(source):
                    doc = as_document(item, position)
                    if doc.id is None:  # the caller's Document is never changed: a copy
                        doc = replace(doc, id=new_id())
                    ids.append(doc.id)  # type: ignore[arg-type]
                    # one point per id, the last given: batches may be sent in parallel,
                    # and two versions of an id in flight at once would leave either one
                    pid = point_id(doc.id)
                    if sources is not None and doc.frontend and SOURCE_KEY in doc.frontend:
                        sources.setdefault(str(doc.frontend[SOURCE_KEY]), []).append(pid)
                    if last.get(pid, position) == position:
                        batch.append((doc, self._payload(doc, position)))
                    if len(batch) >= size:
                        bar.update(self._write(batch, skip_unchanged))
                        batch = []
                bar.update(self._write(batch, skip_unchanged))
        return ids

    def _check_all(self, documents: Iterable[Any]) -> tuple[dict[str, int], int]:
        """Check every document (shape, id, payload) before anything is written; returns
        the last position of each given id and the number of documents.

        An id given twice for one source is a new version (the last is kept); an id
        shared by two sources is refused, since one would silently replace the other: a
        document ``a#0`` beside a long document ``a``, whose first passage is ``a#0``. Ids
        of that form (``...#<n>``) are also looked up in the collection, where the other
        document may be stored already.
        """
        last: dict[str, int] = {}
        first: dict[str, tuple[int, str]] = {}  # point id -> (position, source) first seen
        numbered: list[str] = []  # point ids of ids shaped as a passage's, ``<id>#<n>``
        total = 0
        for position, item in enumerate(documents):
            doc = as_document(item, position)
            if doc.id is not None:
                try:
                    pid = point_id(doc.id)  # validates the id's type
                except InvalidInputError as err:
                    raise InvalidInputError(f"document #{position}: {err}") from None
                if pid not in first and isinstance(doc.id, str) and _PASSAGE_ID.search(doc.id):
                    numbered.append(pid)
                _check_one_source(first, pid, position, doc)
                last[pid] = position
            self._payload(doc, position)
            total = position + 1
        for start in range(0, len(numbered), _DELETE_PAGE):
            for hit in self.store.retrieve(numbered[start : start + _DELETE_PAGE]):
                position, source = first[point_id(hit.id)]
                stored = source_of(hit.frontend, hit.id)
                if stored != source:
                    raise InvalidInputError(
                        f"document #{position} (id {hit.id!r}, of {source!r}): the collection "
                        f"holds that id already, of {stored!r}, and one would replace the "
                        f"other. {_PASSAGE_IDS}, or delete the stored one first "
                        f"(pipeline.delete([{hit.id!r}]))"
                    )
        return last, total

    def _write(self, batch: list[tuple[Document, dict[str, Any]]], skip_unchanged: bool) -> int:
        """Encode and upsert one batch (its unchanged documents skipped if asked)."""
        if skip_unchanged and batch:
            stored = self.store.stored_hashes([point_id(d.id) for d, _ in batch])
            todo = [(d, p) for d, p in batch if stored.get(point_id(d.id)) != p[HASH_KEY]]
            self.last_ingest_skipped += len(batch) - len(todo)
        else:
            todo = batch
        if todo:
            self.store.upsert(self._points([d for d, _ in todo], [p for _, p in todo]))
        return len(batch)

    def chunker(self) -> Chunker:
        """What splits files and corpus documents longer than the encoder's window
        (``chunking:`` in the config)."""
        settings = self.config.chunking
        window = self.encoder.document_window()
        if settings.mode == "truncate" or window is None:
            return Chunker(None, None)
        if settings.max_tokens is not None and settings.max_tokens > window:
            raise ConfigError(
                f"chunking.max_tokens is {settings.max_tokens}, but the encoder reads only "
                f"{window} tokens of a document: set it to {window} or less (or leave it out)"
            )

        def offsets(texts: Sequence[str]) -> list[list[tuple[int, int]]]:
            with self._encode_lock:  # the tokenizer is the encoder's, not thread-safe
                return self.encoder.token_offsets(texts)

        return Chunker(offsets, settings.max_tokens or window, settings.overlap)

    def passages(self, documents: Iterable[Document | Mapping[str, Any] | str]) -> Passages:
        """``documents`` split by :meth:`chunker` into passages (lazily, re-iterable): a
        document that fits keeps its id, a longer one becomes ``<id>#0``, ``<id>#1``, ...;
        each passage carries its document as its source (see :meth:`replace_sources`)."""
        return Passages(documents, self.chunker())

    def replace_sources(
        self,
        documents: Iterable[Document | Mapping[str, Any] | str],
        **ingest_options: Any,
    ) -> list[str | int]:
        """Ingest passages that carry a source (``Document.frontend["source"]``) and delete
        every stored passage of those sources that is not among them.

        A source (a file, a parent document) is one unit: re-ingesting a shortened file
        leaves exactly its new passages, and one that is now blank (a :class:`Passages`
        of a blank document) leaves none. The new passages are written first, so a source
        never vanishes in between. Documents without a source are ingested as they are.
        """
        written: dict[str, list[models.ExtendedPointId]] = {}
        with self._write_lock:  # one writer's unit: no other ingest between write and delete
            ids = self._ingest(documents, sources=written, **ingest_options)
            for group in _groups(written, _DELETE_PAGE):
                stale = models.Filter(
                    must=[_source_points(list(group))],
                    must_not=[models.HasIdCondition(has_id=[p for s in group for p in written[s]])],
                )
                self.store.delete_by_filter(stale)
            if isinstance(documents, Passages):  # read by the ingest: blank ones, no passage
                self.delete_sources(sorted(documents.blank_sources - written.keys()))
        return ids

    def delete_sources(self, sources: Sequence[str]) -> None:
        """Delete every passage of these sources, and a document stored without a source
        whose id is one of them (unknown sources are ignored)."""
        if isinstance(sources, str):
            raise InvalidInputError(f"delete_sources: give a list of sources, e.g. [{sources!r}]")
        with self._write_lock:
            for start in range(0, len(sources), _DELETE_PAGE):
                self.store.delete_by_filter(
                    _source_points(list(sources[start : start + _DELETE_PAGE]))
                )

    def source_hashes(self) -> dict[str, str | None]:
        """Every stored source with the content hash it was ingested with (``None``: none),
        read a page of payloads at a time."""
        found: dict[str, str | None] = {}
        for payload in self.store.iter_payloads():
            frontend = payload.get(FRONTEND_KEY) or {}
            if frontend.get(SOURCE_KEY) is not None:
                found[str(frontend[SOURCE_KEY])] = frontend.get(SOURCE_HASH_KEY)
        return found

    def count_sources(self, sources: Sequence[str]) -> int:
        """Stored passages that belong to these sources: a passage's source, or its id for
        a document stored without one."""
        total = 0
        for start in range(0, len(sources), _DELETE_PAGE):
            total += self.store.count(_source_points(list(sources[start : start + _DELETE_PAGE])))
        return total

    def delete(self, ids: Sequence[str | int]) -> None:
        """Delete documents by id; unknown ids are ignored."""
        point_ids = _point_ids(ids, "delete")
        with self._write_lock:
            self.store.delete(point_ids)

    def delete_where(self, filter: Any, *, ids: Sequence[str | int] | None = None) -> None:
        """Delete every document matching a metadata filter (and among ``ids``, if given)."""
        flt = all_of(to_filter(filter), _restrict(ids))
        if flt is None:
            raise InvalidInputError(
                "delete_where needs a non-empty filter; use clear() to delete all"
            )
        with self._write_lock:
            self.store.delete_by_filter(flt)

    def clear(self) -> None:
        """Delete every document (the collection and its manifest stay), a page at a time."""
        with self._write_lock:
            for page in self.store.id_pages():
                self.store.delete(page)

    def optimize(self) -> None:
        """Build indexes and quantized copies now (call after a bulk ingest)."""
        with self._write_lock:
            self.store.optimize()

    # --- reading ------------------------------------------------------------------

    def get(self, ids: Sequence[str | int]) -> list[Hit]:
        """The documents that exist among ``ids``, in that order."""
        return self.store.retrieve(_point_ids(ids, "get"))

    def get_where(self, filter: Any, *, ids: Sequence[str | int] | None = None) -> list[Hit]:
        """Every document matching a metadata filter (``None``: all of them), among ``ids``
        if given (then in the order of ``ids``)."""
        hits = self.store.retrieve(self.store.scroll_ids(all_of(to_filter(filter), _restrict(ids))))
        if ids is not None:
            order = {point_id(i): n for n, i in enumerate(ids)}
            hits.sort(key=lambda h: order.get(point_id(h.id), len(order)))
        return hits

    def count(self, filter: Any = None) -> int:
        """Number of documents (matching a metadata filter)."""
        return self.store.count(to_filter(filter))

    def plan(
        self, plan: Stage | str | None = None, limits: Mapping[str, int] | None = None
    ) -> Stage:
        """Resolve and validate a plan (a :class:`Stage`, a plan/field name, a plan string or
        the default), with per-field ``limits`` applied (see :func:`polyvec.plans.validate_plan`)."""
        stage = plan if isinstance(plan, Stage) else self.config.plan(plan)
        return validate_plan(stage, self.vector_fields, limits)

    def encode_queries(self, queries: Sequence[str], stage: Stage) -> list[dict[str, Any]]:
        """Query vectors of every field the plan reads, one dict per query."""
        adapters = list({id(self._owner[f]): self._owner[f] for f in stage.fields()}.values())
        pooled, tokens = self._needs(adapters)
        with self._encode_lock:  # only a field that reads the encoder's outputs runs it
            encoded = (
                self.encoder.encode(list(queries), is_query=True, pooled=pooled, tokens=tokens)
                if pooled or tokens
                else Encoded()
            )
            encoded.texts = list(queries)
            per_field: dict[str, list[Any]] = {}
            for adapter in adapters:
                per_field.update(adapter.encode_queries(encoded))
        return [
            {name: values[i] for name, values in per_field.items() if name in stage.fields()}
            for i in range(len(queries))
        ]

    def _relevance(self, stage: Stage, vectors: dict[str, Any], hits: list[Hit]) -> list[Hit]:
        """Attach a relevance in [0, 1]: cosine as is, MaxSim divided by query length, a
        BM25 score ``s`` as ``s / (1 + s)``, a fused score divided by its maximum (RRF:
        first of every child, ``sum(weights) / (k + 1)``; DBSF: 1 per child)."""
        score = "fused" if stage.fusion else self.vector_fields[stage.field].score
        scale = 1.0
        if stage.fusion == "rrf":
            weights = stage.weights or (1.0,) * len(stage.prefetch)
            scale = (stage.rrf_k + 1) / sum(weights)
        elif stage.fusion == "dbsf":
            scale = 1.0 / len(stage.prefetch)
        elif score == "maxsim":
            scale = 1.0 / max(len(vectors[stage.field]), 1)
        for hit in hits:
            if hit.score is not None:
                value = hit.score * scale
                if score == "bm25":
                    value = value / (1.0 + value) if value > 0 else 0.0
                hit.relevance = min(1.0, max(0.0, value))
        return hits

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        filter: Any = None,
        plan: Stage | str | None = None,
        limits: Mapping[str, int] | None = None,
        ids: Sequence[str | int] | None = None,
    ) -> list[Hit]:
        """The ``k`` best documents for ``query``.

        Args:
            filter: metadata filter (simple dict form or a Qdrant filter).
            plan: a plan name, a field name, a plan string (``"fde:200 -> tokens"``)
                or a :class:`Stage`; default: the configured default plan.
            limits: per-field candidate limits overriding the plan's.
            ids: search only among these document ids.
        """
        return self.search_batch([query], k, filter=filter, plan=plan, limits=limits, ids=ids)[0]

    def _requests(
        self,
        queries: Sequence[str] | None,
        k: int,
        filter: Any,
        plan: Stage | str | None,
        limits: Mapping[str, int] | None,
        ids: Sequence[str | int] | None,
        vectors: Sequence[dict[str, Any]] | None = None,
    ) -> tuple[Stage, list[dict[str, Any]], _Requests]:
        """Validate the arguments, encode the queries (or check the ``vectors`` given instead);
        then what builds one Query API request each (see :func:`_plan_requests`)."""
        if isinstance(queries, str):
            raise InvalidInputError("search_batch takes a list of queries; use search() for one")
        _check_k(k)
        stage = self.plan(plan, limits)
        flt = all_of(to_filter(filter), _restrict(ids))
        if vectors is None:
            vectors = self.encode_queries(queries or [], stage)
        else:
            vectors = [self._query_vectors(stage, v, i) for i, v in enumerate(vectors)]
        builder = QueryBuilder(self.vector_fields, with_params=self.store.accepts_search_params)
        vectors = list(vectors)
        return stage, vectors, _plan_requests(builder, stage, vectors, _fetch_limit(stage, k), flt)

    def _query_vectors(
        self, stage: Stage, given: Mapping[str, Any], position: int
    ) -> dict[str, Any]:
        """Query vectors given by the caller (lists or numpy arrays), checked: every field the
        plan reads, of its size; returned as plain lists."""
        checked: dict[str, Any] = {}
        for name in stage.fields():
            if name not in given:
                raise InvalidInputError(
                    f"search_vectors: query #{position} has no vector for {name!r}, which the "
                    f"plan {stage.describe()} reads"
                )
            field = self.vector_fields[name]
            if field.sparse:
                checked[name] = _sparse_query(given[name], name, position)
                continue
            shape = "a set of vectors" if field.multivector else "one vector"
            try:
                array = np.asarray(given[name], dtype=np.float32)
            except (TypeError, ValueError) as err:
                raise InvalidInputError(
                    f"search_vectors: query #{position}: {name!r} takes {shape} of numbers: {err}"
                ) from None
            wanted_ndim = 2 if field.multivector else 1
            if array.ndim != wanted_ndim or array.shape[-1] != field.size or not array.size:
                raise InvalidInputError(
                    f"search_vectors: query #{position}: {name!r} takes {shape} of "
                    f"{field.size} dimensions, got an array of shape {array.shape}"
                )
            checked[name] = array.tolist()
        return checked

    def search_vectors(
        self,
        vectors: Sequence[dict[str, Any]],
        k: int = 10,
        *,
        filter: Any = None,
        plan: Stage | str | None = None,
        limits: Mapping[str, int] | None = None,
        ids: Sequence[str | int] | None = None,
    ) -> list[list[Hit]]:
        """:meth:`search_batch` with query vectors already computed (one dict of field name ->
        vector per query, as :meth:`encode_queries` returns them)."""
        stage, vectors, requests = self._requests(None, k, filter, plan, limits, ids, vectors)
        return self._scored(stage, vectors, self._query(requests), k)

    def search_batch(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        filter: Any = None,
        plan: Stage | str | None = None,
        limits: Mapping[str, int] | None = None,
        ids: Sequence[str | int] | None = None,
    ) -> list[list[Hit]]:
        """:meth:`search` for many queries: encoded in one batch, sent as one request."""
        stage, vectors, requests = self._requests(queries, k, filter, plan, limits, ids)
        return self._scored(stage, vectors, self._query(requests), k)

    def _query(self, requests: _Requests) -> list[list[Hit]]:
        """Run a plan's requests (:func:`_plan_requests`): the candidate stages polyvec
        cuts itself first, then the plan."""
        try:
            batch = next(requests)
            while True:
                batch = requests.send(self.store.query_batch(batch))
        except StopIteration as done:
            return self.store.query_batch(done.value)

    async def _aquery(self, requests: _Requests) -> list[list[Hit]]:
        """:meth:`_query`, with the store's async twin."""
        try:
            batch = next(requests)
            while True:
                batch = requests.send(await self.store.aquery_batch(batch))
        except StopIteration as done:
            return await self.store.aquery_batch(done.value)

    def _scored(
        self,
        stage: Stage,
        vectors: Sequence[dict[str, Any]],
        results: list[list[Hit]],
        k: int | None = None,
    ) -> list[list[Hit]]:
        """Each query's hits with their relevance in [0, 1]; with ``k``, ranked by score,
        equal scores by id (see :func:`_fetch_limit`), the first ``k``."""
        if k is not None:
            results = [sorted(hits, key=_rank_key)[:k] for hits in results]
        return [self._relevance(stage, v, hits) for v, hits in zip(vectors, results, strict=True)]

    def dense_field(self, field: str | None = None, *, tokens: bool = False) -> str:
        """The field one query vector searches (search by vector; with ``tokens``, MMR):
        ``field``, else the first dense field (with ``tokens``, else the first token
        field)."""
        kinds = ("dense", "multivector") if tokens else ("dense",)
        usable = [n for kind in kinds for n, f in self.vector_fields.items() if f.kind == kind]
        if field is None and usable:
            return usable[0]
        if field in usable:
            return field
        need = "a dense or token field" if tokens else "a dense field (type dense or matryoshka)"
        purpose = "MMR" if tokens else "search by vector"
        raise InvalidInputError(
            f"{purpose} needs {need}; "
            f"{'the pipeline has none' if not usable else f'{field!r} is not one of {usable}'}"
        )

    def search_mmr(
        self,
        query: str,
        k: int = 4,
        *,
        fetch_k: int = 20,
        lambda_mult: float = 0.5,
        filter: Any = None,
        field: str | None = None,
        ids: Sequence[str | int] | None = None,
        vector: Any = None,
    ) -> list[Hit]:
        """``k`` documents relevant to ``query`` and unlike each other: Qdrant's maximal
        marginal relevance over the ``fetch_k`` nearest on one field: ``field``, default the
        first dense field, else the first token field (then relevance and the likeness of
        two documents are MaxSim). ``lambda_mult``: 1 ranks by relevance only, 0 by
        diversity only. ``vector``: the query's vector(s) of that field instead of
        ``query``'s text."""
        _check_k(k)
        if not isinstance(fetch_k, int) or isinstance(fetch_k, bool) or fetch_k < k:
            raise InvalidInputError(f"fetch_k must be an int of at least k ({k}), got {fetch_k!r}")
        if not 0.0 <= float(lambda_mult) <= 1.0:
            raise InvalidInputError(
                f"lambda_mult must lie in [0, 1] (1: relevance only), got {lambda_mult!r}"
            )
        stage = Stage(self.dense_field(field, tokens=True))
        flt = all_of(to_filter(filter), _restrict(ids))
        if vector is None:
            vectors = self.encode_queries([query], stage)[0]
        else:
            vectors = self._query_vectors(stage, {stage.field: vector}, 0)
        builder = QueryBuilder(self.vector_fields, with_params=self.store.accepts_search_params)
        request = builder.mmr(
            stage.field, vectors[stage.field], k, fetch_k, float(lambda_mult), flt
        )
        return self._scored(stage, [vectors], self.store.query_batch([request]))[0]

    async def asearch_mmr(self, query: str, k: int = 4, **kwargs: Any) -> list[Hit]:
        return await asyncio.to_thread(self.search_mmr, query, k, **kwargs)

    # --- async twins: encoding in a worker thread; a server is queried with
    # AsyncQdrantClient (concurrent requests), an in-process engine in a thread -------

    async def asearch_batch(
        self,
        queries: Sequence[str],
        k: int = 10,
        *,
        filter: Any = None,
        plan: Stage | str | None = None,
        limits: Mapping[str, int] | None = None,
        ids: Sequence[str | int] | None = None,
    ) -> list[list[Hit]]:
        stage, vectors, requests = await asyncio.to_thread(
            self._requests, queries, k, filter, plan, limits, ids
        )
        return self._scored(stage, vectors, await self._aquery(requests), k)

    async def asearch(self, query: str, k: int = 10, **kwargs: Any) -> list[Hit]:
        return (await self.asearch_batch([query], k, **kwargs))[0]

    async def aingest(self, documents: Iterable[Any], **kwargs: Any) -> list[str | int]:
        return await asyncio.to_thread(self.ingest, list(documents), **kwargs)

    async def aget(self, ids: Sequence[str | int]) -> list[Hit]:
        return await asyncio.to_thread(self.get, ids)

    async def adelete(self, ids: Sequence[str | int]) -> None:
        await asyncio.to_thread(self.delete, ids)

    async def adelete_where(self, filter: Any, **kwargs: Any) -> None:
        await asyncio.to_thread(self.delete_where, filter, **kwargs)

    async def aget_where(self, filter: Any, **kwargs: Any) -> list[Hit]:
        return await asyncio.to_thread(self.get_where, filter, **kwargs)

    async def acount(self, filter: Any = None) -> int:
        return await asyncio.to_thread(self.count, filter)

    async def aclear(self) -> None:
        await asyncio.to_thread(self.clear)

    # --- facts --------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """Fields, counts, bytes on disk and the manifest (what ``polyvec info`` prints)."""
        with self._write_lock:
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


def _fetch_limit(stage: Stage, k: int) -> int:
    """How many hits to ask the engine for, to return the best ``k`` of a plan.

    Fused scores tie often (RRF: a document third in one list scores as one third in the
    other), and engines order ties as they happen to meet them: Qdrant Edge differently
    from run to run (89 of SciFact's 300 queries changed order between two identical
    searches). So a fused root returns its whole candidate pool and polyvec ranks it, by
    score, then by id: one answer, run after run and on every backend.
    """
    if not stage.fusion:
        return k
    pool = sum(child.candidate_limit() or k for child in stage.prefetch)
    return max(k, pool)


# yields batches of requests to run, is sent their hits, returns the plan's own requests
_Requests = Generator[list[models.QueryRequest], list[list[Hit]], list[models.QueryRequest]]


def _plan_requests(
    builder: QueryBuilder,
    stage: Stage,
    vectors: Sequence[dict[str, Any]],
    limit: int,
    flt: models.Filter | None,
) -> _Requests:
    """One Query API request per query; first, for each stage whose fused candidate stage
    the engine would cut inside a tie (:func:`~polyvec.plans.engine_cuts`), a batch of
    its candidate stages run on their own. Each is ranked as polyvec ranks a fused root
    (score, then id) and cut at its limit; the stage then searches among the documents
    kept. Plans without such a cut yield nothing: one batch, as before."""
    pinned: list[dict[StagePath, list[models.ExtendedPointId]]] = [{} for _ in vectors]
    for path in engine_cuts(stage):  # deepest first: a deeper cut is pinned in its parent's
        children = stage_at(stage, path).prefetch
        jobs = [(q, i) for q in range(len(vectors)) for i in range(len(children))]
        hits = yield [
            builder.request(
                children[i],
                vectors[q],
                _fetch_limit(children[i], children[i].candidate_limit() or limit),
                flt,
                _under(pinned[q], (*path, i)),
            )
            for q, i in jobs
        ]
        for (q, i), found in zip(jobs, hits, strict=True):
            kept = [point_id(h.id) for h in sorted(found, key=_rank_key)]
            union = [*pinned[q].get(path, []), *kept[: children[i].candidate_limit()]]
            pinned[q][path] = list(dict.fromkeys(union))  # its candidate stages' union
    return [builder.request(stage, v, limit, flt, pinned[q]) for q, v in enumerate(vectors)]


def _under(pinned: Mapping[StagePath, Any], path: StagePath) -> dict[StagePath, Any]:
    """The pinned stages inside the stage at ``path``, with paths from that stage."""
    return {p[len(path) :]: ids for p, ids in pinned.items() if p[: len(path)] == path}


def _source_points(sources: Sequence[str]) -> models.Filter:
    """Every point of these sources: the passages that carry one of them, and a document
    stored without a source whose id is one of them (its own source, as
    :func:`~polyvec.filters.source_of` reads it), such as one ingested whole before its
    source was split into passages. A document whose id is a source but which belongs to
    another source (a front end's child document) is not one of them."""
    own = models.Filter(
        must=[
            models.HasIdCondition(has_id=[point_id(s) for s in sources]),
            models.IsEmptyCondition(is_empty=models.PayloadField(key=SOURCE_PATH)),
        ]
    )
    return models.Filter(should=[source_filter(sources), own])


def _rank_key(hit: Hit) -> tuple[float, str]:
    """Best score first; equal scores by id (a deterministic, backend-free order)."""
    return (-(hit.score if hit.score is not None else float("-inf")), str(hit.id))


def recorded_config(
    manifest: Mapping[str, Any],
    where: str,
    store: Any,
    encoder: Encoder | None = None,
    overrides: Mapping[str, Any] | None = None,
    reopen: str = "pass the same encoder= to reopen it",
) -> PipelineConfig:
    """The pipeline config a collection's manifest records, on ``store``, with
    ``overrides`` (see :meth:`Pipeline.from_existing`); ``reopen`` says how to reopen a
    collection built with an encoder handed in, which a manifest cannot rebuild."""
    recorded = manifest.get("config")
    if not isinstance(recorded, dict):
        raise ConfigError(
            f"the collection {where} was built before polyvec recorded its configuration in "
            "the manifest; open it with the config it was built with (`polyvec info` shows "
            "its fields and encoder)"
        )
    raw = dict(recorded)
    if raw.get("encoder") is None:
        if encoder is None:
            raise ConfigError(
                f"the collection {where} was built with an encoder handed in "
                f"({manifest.get('encoder')}); {reopen}"
            )
        raw.pop("encoder")
    for key, value in (overrides or {}).items():
        merge = isinstance(value, Mapping) and isinstance(raw.get(key), dict)
        raw[key] = {**raw[key], **value} if merge else value
    raw["store"] = store
    return load_config(raw)


def _point_ids(ids: Sequence[str | int], where: str) -> list[str]:
    """The point ids of document ids; a lone str is refused (it is not a list of ids)."""
    if isinstance(ids, (str, bytes, int)):
        raise InvalidInputError(
            f"{where}: give a list of ids, e.g. [{ids!r}]; a single {type(ids).__name__} "
            "would be read as several ids"
        )
    return [point_id(i) for i in ids]


def _check_k(k: Any) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InvalidInputError(f"k must be a positive int, got {k!r}")


def _sparse_query(given: Any, name: str, position: int) -> models.SparseVector:
    """A caller's sparse query vector: a ``SparseVector`` or ``{"indices", "values"}``."""
    try:
        if isinstance(given, models.SparseVector):
            return given
        return models.SparseVector.model_validate(dict(given))
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"search_vectors: query #{position}: {name!r} is a sparse field and takes "
            f"{{'indices': [...], 'values': [...]}} of equal length: {err}"
        ) from None


_PASSAGE_ID = re.compile(r"#[0-9]+$")  # the ids chunking gives passages: <id>#0, <id>#1, ...
_PASSAGE_IDS = (
    "A document split into passages gets the ids <id>#0, <id>#1, ...: give the document "
    "whose id looks like a passage's another id"
)


def _check_one_source(
    first: dict[str, tuple[int, str]], pid: str, position: int, doc: Document
) -> None:
    """Refuse a point id that two sources of one ingest would write (see ``_check_all``);
    ``first`` records each id's first position and source."""
    source = source_of(doc.frontend, doc.id)
    earlier, earlier_source = first.setdefault(pid, (position, source))
    if earlier_source != source:
        raise InvalidInputError(
            f"document #{position} (id {doc.id!r}, of {source!r}) and document #{earlier} "
            f"(of {earlier_source!r}) have the same id, and one would replace the other. "
            f"{_PASSAGE_IDS}"
        )


def _reiterable(documents: Iterable[Any]) -> Iterable[Any]:
    """``documents`` if it can be iterated again, else (a generator) read into a list."""
    return list(documents) if iter(documents) is documents else documents


def _groups(by_key: Mapping[str, Sequence[Any]], page: int) -> Iterator[list[str]]:
    """Keys in groups holding about ``page`` values each (a key's values never split)."""
    group: list[str] = []
    size = 0
    for key, values in by_key.items():
        group.append(key)
        size += len(values)
        if size >= page:
            yield group
            group, size = [], 0
    if group:
        yield group


def _restrict(ids: Sequence[str | int] | None) -> models.Filter | None:
    """Only the documents ``ids`` (``None``: no restriction; ``[]``: none at all)."""
    if ids is None:
        return None
    point_ids: list[models.ExtendedPointId] = list(_point_ids(ids, "ids"))
    return models.Filter(must=[models.HasIdCondition(has_id=point_ids)])

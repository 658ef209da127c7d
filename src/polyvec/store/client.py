"""qdrant-client: a Qdrant server or cluster, or qdrant-client's local mode.

The server is how users scale past one machine (shards, replicas, API keys). Requests
arrive as typed ``qdrant_client.models`` and are sent as they are: batches of queries as
one ``query_batch_points`` call, uploads in parallel batches, async twins on
``AsyncQdrantClient`` so that server queries really run concurrently. The local mode
(``:memory:`` or ``path=``) is a test double of that code path: it scores everything in
Python, ignores search parameters, payload indexes, quantization and HNSW.

Whether the client is local is read from the client actually built (or handed in), never
guessed from the settings. A client handed in is never closed by polyvec. The manifest is
stored as collection metadata, so it travels with the collection wherever the server
keeps it.
"""

from __future__ import annotations

import asyncio
import threading
import warnings
import weakref
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from qdrant_client import AsyncQdrantClient, QdrantClient, models
from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from polyvec.config import QdrantStoreConfig
from polyvec.errors import (
    ConfigError,
    InvalidInputError,
    PolyvecError,
    StoreError,
    StoreLockedError,
    StoreUnavailableError,
)
from polyvec.fields import VectorField
from polyvec.store.base import Hit, Page, Scroll, Store
from polyvec.store.requests import collection_sparse, collection_vectors

_MANIFEST_KEY = "polyvec"
# qdrant-client's one-off notices that are not the caller's concern
_QUIET = (".*[Ll]ocal mode.*", ".*Failed to obtain server version.*")


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        for message in _QUIET:
            warnings.filterwarnings("ignore", message=message)
        yield


def is_local(client: Any) -> bool:
    """Whether a (sync or async) qdrant-client runs its local mode, read from the client."""
    from qdrant_client.local.async_qdrant_local import AsyncQdrantLocal
    from qdrant_client.local.qdrant_local import QdrantLocal

    return isinstance(getattr(client, "_client", None), (QdrantLocal, AsyncQdrantLocal))


class ClientStore(Store):
    """A collection reached through ``qdrant_client.QdrantClient``.

    Args:
        config: the store settings (connection, collection, uploads).
        client: an existing ``QdrantClient`` to use instead of building one (not closed).
        aclient: an existing ``AsyncQdrantClient`` for the async twins (not closed).
    """

    def __init__(
        self,
        config: QdrantStoreConfig,
        *,
        client: QdrantClient | None = None,
        aclient: AsyncQdrantClient | None = None,
    ) -> None:
        self.config = config
        self.collection = config.collection
        self.fields = {}
        self.where = f"collection {config.collection!r} at {config.describe_location()}"
        if client is None and not config.client_options():
            raise ConfigError(
                "store: a qdrant store needs one of 'location' (':memory:' or a URL), 'url', "
                "'host' or 'path', or an existing client (Pipeline(..., client=...))"
            )
        with self._boundary("connect"), _quiet():
            self.client = client if client is not None else QdrantClient(**config.client_options())
        self._owns_client = client is None
        self._aclient = aclient  # handed in: used for every loop, never closed
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncQdrantClient] = (
            weakref.WeakKeyDictionary()
        )
        self._aclients_lock = threading.Lock()
        self.local = is_local(self.client)
        self.accepts_search_params = not self.local

    # --- the error boundary -------------------------------------------------------------

    def _translate(self, err: Exception, action: str) -> PolyvecError | None:
        if isinstance(err, ResponseHandlingException):
            return StoreUnavailableError(
                f"cannot {action}: no answer from the Qdrant server for {self.where} within "
                f"{self.config.timeout} s ({type(err.source).__name__}: {err.source}). Check "
                "that the server runs and the URL, port and https settings are right."
            )
        if isinstance(err, ResourceExhaustedResponse):
            return StoreUnavailableError(
                f"cannot {action}: the Qdrant server for {self.where} is rate-limiting requests "
                f"({err}); retry after {err.retry_after_s} s"
            )
        if isinstance(err, RuntimeError) and "already accessed by another instance" in str(err):
            return StoreLockedError(
                f"{self.where} is open in another process or client; close that one first"
            )
        if isinstance(err, UnexpectedResponse):
            detail = err.content.decode("utf-8", "replace")[:500]
            kind = InvalidInputError if err.status_code in (400, 422) else StoreError
            return kind(
                f"cannot {action}: the Qdrant server answered {err.status_code} "
                f"{err.reason_phrase} for {self.where}: {detail}"
            )
        if isinstance(err, (ConnectionError, TimeoutError, OSError)):
            return StoreUnavailableError(
                f"cannot {action}: {self.where} is unreachable ({type(err).__name__}: {err})"
            )
        if isinstance(err, ValueError):  # local mode's checks of requests
            return InvalidInputError(f"cannot {action} on {self.where}: {err}")
        if type(err).__module__.startswith("grpc"):
            return StoreUnavailableError(f"cannot {action}: gRPC error for {self.where}: {err}")
        return None

    # --- collection ---------------------------------------------------------------------

    def stored_manifest(self) -> dict[str, Any] | None:
        if not self.client.collection_exists(self.collection):
            return None
        metadata = self.client.get_collection(self.collection).config.metadata or {}
        manifest: dict[str, Any] | None = metadata.get(_MANIFEST_KEY)
        if manifest is None:
            raise StoreError(
                f"{self.where} exists but was not created by polyvec (it has no manifest); "
                "choose another collection name"
            )
        return manifest

    def _open_existing(self) -> None:
        pass

    def _create(self, fields: Sequence[VectorField], manifest: dict[str, Any]) -> None:
        self.client.create_collection(
            self.collection,
            vectors_config=collection_vectors(fields, on_disk=self.config.on_disk),
            sparse_vectors_config=collection_sparse(fields, on_disk=self.config.on_disk) or None,
            metadata={_MANIFEST_KEY: manifest},
            **self.config.collection_options(),
        )

    def _create_payload_index(self, path: str, schema: models.PayloadSchemaType) -> None:
        if not self.local:  # local mode has no payload indexes (and warns about them)
            self.client.create_payload_index(self.collection, path, field_schema=schema, wait=True)

    # --- writes -------------------------------------------------------------------------

    def _upsert(self, points: Sequence[models.PointStruct]) -> None:
        size = self.config.upload_batch_size
        batches = [list(points[i : i + size]) for i in range(0, len(points), size)]
        parallel = 1 if self.local else min(self.config.upload_parallel, len(batches))
        if parallel == 1:
            for batch in batches:
                self.client.upsert(self.collection, points=batch, wait=True)
            return
        # qdrant-client's upload_points parallelises with processes; threads share this
        # client's connection pool and surface each batch's error here
        with ThreadPoolExecutor(parallel) as pool:
            done = pool.map(
                lambda batch: self.client.upsert(self.collection, points=batch, wait=True),
                batches,
            )
            list(done)

    def _delete(self, point_ids: list[str]) -> None:
        self.client.delete(
            self.collection, points_selector=models.PointIdsList(points=list(point_ids)), wait=True
        )

    def _delete_by_filter(self, flt: models.Filter) -> None:
        self.client.delete(
            self.collection, points_selector=models.FilterSelector(filter=flt), wait=True
        )

    # --- reads --------------------------------------------------------------------------

    def _retrieve(self, point_ids: list[str]) -> list[tuple[Any, dict[str, Any] | None]]:
        records = self.client.retrieve(
            self.collection, ids=list(point_ids), with_payload=True, with_vectors=False
        )
        return [(r.id, r.payload) for r in records]

    def _count(self, flt: models.Filter | None) -> int:
        return int(self.client.count(self.collection, count_filter=flt, exact=True).count)

    def _scroll(self, request: Scroll) -> Page:
        page, next_offset = self.client.scroll(
            self.collection,
            scroll_filter=request.filter,
            limit=request.limit,
            offset=request.offset,
            with_payload=request.with_payload,
            with_vectors=request.with_vectors,
        )
        return [(r.id, r.payload, r.vector) for r in page], next_offset

    def _query_batch(
        self, requests: Sequence[models.QueryRequest]
    ) -> list[list[tuple[dict[str, Any] | None, float]]]:
        with _quiet():
            responses = self.client.query_batch_points(self.collection, requests=list(requests))
        return [[(p.payload, p.score) for p in r.points] for r in responses]

    def _async_client(self) -> AsyncQdrantClient | None:
        """The async client of a server for the running event loop, else ``None``.

        One handed in is used as it is. The ones polyvec builds (from the same options) are
        kept one per event loop, since a client's connections belong to the loop that made
        them: ``asyncio.run`` twice, or in several threads, each gets its own.
        """
        if self.local:
            return None  # AsyncQdrantClient(":memory:") would be another, empty database
        if self._aclient is not None:
            return self._aclient
        loop = asyncio.get_running_loop()
        with self._aclients_lock:
            aclient = self._aclients.get(loop)
            if aclient is None:
                options = (
                    self.config.client_options() if self._owns_client else self.client.init_options
                )
                with _quiet():
                    aclient = self._aclients[loop] = AsyncQdrantClient(**options)
        return aclient

    def _close_aclients(self) -> None:
        """Close the async clients polyvec built, each on its own loop where that still runs
        (a loop that has ended took its connections with it)."""
        with self._aclients_lock:
            built = list(self._aclients.items())
            self._aclients.clear()
        for loop, aclient in built:
            if loop.is_running() and not loop.is_closed():
                asyncio.run_coroutine_threadsafe(aclient.close(), loop)

    async def aquery_batch(self, requests: Sequence[models.QueryRequest]) -> list[list[Hit]]:
        aclient = self._async_client()
        if aclient is None or not requests:
            return await super().aquery_batch(requests)
        with self._boundary("query"):
            responses = await aclient.query_batch_points(self.collection, requests=list(requests))
        return [[Hit.from_payload(p.payload, p.score) for p in r.points] for r in responses]

    # --- facts and lifecycle ------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        with self._boundary("describe the collection"):
            info = self.client.get_collection(self.collection)
        return {
            "backend": "qdrant-client (local mode)" if self.local else "qdrant server",
            "where": self.config.describe_location(),
            "status": str(info.status),
            "indexed_vectors": info.indexed_vectors_count,
            "shards": info.config.params.shard_number,
            "replication_factor": info.config.params.replication_factor,
        }

    def close(self) -> None:
        if self._owns_client:
            self.client.close()
        self._close_aclients()

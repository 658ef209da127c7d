"""The interface both store backends implement, the behaviour they share, and the hits they return.

A store takes typed requests built by the request layer (:mod:`polyvec.store.requests`,
:mod:`polyvec.filters`) and carries them to its engine. What every backend does the same
way — paging a scroll, keeping the order of a retrieve, turning payloads into hits, the
error boundary — lives here, once; a backend implements a few primitives.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from qdrant_client import models

from polyvec.errors import CollectionNotFoundError, InvalidInputError, PolyvecError
from polyvec.fields import VectorField
from polyvec.filters import FRONTEND_KEY, HASH_KEY, ID_KEY, METADATA_KEY, TEXT_KEY
from polyvec.store.manifest import check_compatible

_PAGE = 1000

Page = tuple[list[tuple[Any, "dict[str, Any] | None", Any]], Any]
"""One scroll page: ``(id, payload, vectors)`` rows and the next offset (``None``: the last)."""


@dataclass(frozen=True)
class Scroll:
    """One scroll request of the store layer (backends map it onto their engine's)."""

    filter: models.Filter | None
    offset: Any
    limit: int
    with_payload: bool
    with_vectors: bool


@dataclass
class Hit:
    """A document returned by a search or a lookup.

    Attributes:
        id: the document id exactly as given (str or int).
        text: the stored text.
        metadata: the user's metadata, exactly as given.
        score: the plan's raw score (cosine, dot, or a MaxSim sum).
        relevance: the score mapped to [0, 1] (set by the pipeline).
        frontend: a front end's own bookkeeping (e.g. LlamaIndex's node), never metadata.
    """

    id: Any
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float | None = None
    relevance: float | None = None
    frontend: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_payload(cls, payload: dict[str, Any] | None, score: float | None = None) -> Hit:
        payload = payload or {}
        return cls(
            id=payload.get(ID_KEY),
            text=payload.get(TEXT_KEY, ""),
            metadata=payload.get(METADATA_KEY) or {},
            score=score,
            frontend=payload.get(FRONTEND_KEY) or {},
        )


class Store(ABC):
    """One Qdrant collection holding every field of a pipeline.

    Attributes:
        fields: the collection's vector fields by name (set by :meth:`open`).
        accepts_search_params: whether the engine honours search parameters (exact,
            rescore, oversampling); the request layer leaves them out where it does not.
        where: a human-readable location for messages (a path or a URL, never a secret).
    """

    fields: dict[str, VectorField]
    accepts_search_params: bool = True
    where: str = ""

    # --- the error boundary: foreign exceptions become PolyvecErrors here, once -------

    @abstractmethod
    def _translate(self, err: Exception, action: str) -> PolyvecError | None:
        """The PolyvecError a backend exception means (``None``: not the backend's)."""

    @contextmanager
    def _boundary(self, action: str) -> Iterator[None]:
        try:
            yield
        except PolyvecError:
            raise
        except ValidationError as err:
            raise InvalidInputError(f"{action} on {self.where}: {err}") from err
        except Exception as err:
            mapped = self._translate(err, action)
            if mapped is None:
                raise
            raise mapped from err

    # --- collection -------------------------------------------------------------------

    def open(
        self, fields: Sequence[VectorField], manifest: dict[str, Any], *, create: bool = True
    ) -> bool:
        """Create the collection, or open it after checking ``manifest`` against the stored one.

        Args:
            create: create a missing collection; ``False``: refuse it
                (:class:`CollectionNotFoundError`), creating nothing.

        Returns:
            whether the collection was created.
        """
        with self._boundary("open the collection"):
            if not create:
                self.require_existing()
            stored = self.stored_manifest()
            if stored is not None:
                check_compatible(stored, manifest, self.where)
                self._open_existing()
            else:
                self._create(fields, manifest)
        self.fields = {f.name: f for f in fields}
        return stored is None

    def require_existing(self) -> dict[str, Any]:
        """The stored manifest of an existing collection; a missing one is refused
        (:class:`CollectionNotFoundError`)."""
        with self._boundary("find the collection"):
            manifest = self.stored_manifest()
            if manifest is None:
                raise CollectionNotFoundError(
                    f"there is no collection {self.where}; nothing was created. Check the "
                    "store path (a relative path is read from the current folder) and the "
                    "collection name, or ingest documents first"
                )
            return manifest

    @abstractmethod
    def stored_manifest(self) -> dict[str, Any] | None:
        """The manifest stored with the collection, or ``None`` if it does not exist."""

    @abstractmethod
    def _open_existing(self) -> None:
        """Open a collection whose manifest matched."""

    @abstractmethod
    def _create(self, fields: Sequence[VectorField], manifest: dict[str, Any]) -> None:
        """Create the collection with its fields and store the manifest with it."""

    def create_payload_indexes(self, indexes: dict[str, models.PayloadSchemaType]) -> None:
        """Index payload paths (e.g. ``metadata.topic``) where the engine builds indexes."""
        with self._boundary("create payload indexes"):
            for path, schema in indexes.items():
                self._create_payload_index(path, schema)

    @abstractmethod
    def _create_payload_index(self, path: str, schema: models.PayloadSchemaType) -> None: ...

    # --- writes -----------------------------------------------------------------------

    def upsert(self, points: Sequence[models.PointStruct]) -> None:
        """Insert or replace points."""
        if points:
            with self._boundary("upsert"):
                self._upsert(points)

    def delete(self, point_ids: Sequence[str]) -> None:
        """Delete points; unknown ids are ignored."""
        if point_ids:
            with self._boundary("delete"):
                self._delete(list(point_ids))

    def delete_by_filter(self, flt: models.Filter) -> None:
        """Delete every point matching the filter."""
        with self._boundary("delete by filter"):
            self._delete_by_filter(flt)

    @abstractmethod
    def _upsert(self, points: Sequence[models.PointStruct]) -> None: ...

    @abstractmethod
    def _delete(self, point_ids: list[str]) -> None: ...

    @abstractmethod
    def _delete_by_filter(self, flt: models.Filter) -> None: ...

    # --- reads ------------------------------------------------------------------------

    def retrieve(self, point_ids: Sequence[str]) -> list[Hit]:
        """The points that exist among ``point_ids``, in that order."""
        if not point_ids:
            return []
        with self._boundary("retrieve"):
            found = {str(pid): payload for pid, payload in self._retrieve(list(point_ids))}
        return [Hit.from_payload(found[p]) for p in point_ids if p in found]

    def stored_hashes(self, point_ids: Sequence[str]) -> dict[str, str | None]:
        """The content hash stored with each existing point among ``point_ids``."""
        if not point_ids:
            return {}
        with self._boundary("retrieve"):
            found = self._retrieve(list(point_ids))
        return {str(pid): (payload or {}).get(HASH_KEY) for pid, payload in found}

    def count(self, flt: models.Filter | None = None) -> int:
        """Number of points (matching ``flt``)."""
        with self._boundary("count"):
            return self._count(flt)

    def _pages(self, flt: models.Filter | None, with_payload: bool) -> Iterator[Page]:
        offset: Any = None
        while True:
            with self._boundary("scroll"):
                page, offset = self._scroll(Scroll(flt, offset, _PAGE, with_payload, False))
            yield page, offset
            if offset is None:
                return

    def id_pages(self, flt: models.Filter | None = None) -> Iterator[list[str]]:
        """Point ids of every (matching) point, a page at a time; deleting a page's points
        before asking for the next page is safe (the next page starts after them)."""
        for page, _ in self._pages(flt, False):
            if page:
                yield [str(pid) for pid, _, _ in page]

    def scroll_ids(self, flt: models.Filter | None = None) -> list[str]:
        """Point ids of every (matching) point."""
        return [pid for page in self.id_pages(flt) for pid in page]

    def iter_payloads(self, flt: models.Filter | None = None) -> Iterator[dict[str, Any]]:
        """The payload of every (matching) point, read a page at a time."""
        for page, _ in self._pages(flt, True):
            for _, payload, _ in page:
                yield payload or {}

    def sample(self, n: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Up to ``n`` points as ``(payload, vectors)``, for size statistics."""
        with self._boundary("sample"):
            page, _ = self._scroll(Scroll(None, None, n, True, True))
        return [
            (payload or {}, vectors if isinstance(vectors, dict) else {})
            for _, payload, vectors in page
        ]

    def query_batch(self, requests: Sequence[models.QueryRequest]) -> list[list[Hit]]:
        """Run Query API requests (one per query) in one batch where the engine allows."""
        if not requests:
            return []
        with self._boundary("query"):
            results = self._query_batch(requests)
        return [[Hit.from_payload(payload, score) for payload, score in r] for r in results]

    async def aquery_batch(self, requests: Sequence[models.QueryRequest]) -> list[list[Hit]]:
        """:meth:`query_batch` without blocking the event loop (in-process engines: a thread)."""
        return await asyncio.to_thread(self.query_batch, requests)

    @abstractmethod
    def _retrieve(self, point_ids: list[str]) -> list[tuple[Any, dict[str, Any] | None]]: ...

    @abstractmethod
    def _count(self, flt: models.Filter | None) -> int: ...

    @abstractmethod
    def _scroll(self, request: Scroll) -> Page: ...

    @abstractmethod
    def _query_batch(
        self, requests: Sequence[models.QueryRequest]
    ) -> list[list[tuple[dict[str, Any] | None, float]]]: ...

    # --- facts and lifecycle ----------------------------------------------------------

    def optimize(self) -> None:  # noqa: B027 - only Edge needs it
        """Build indexes and quantized copies now (Edge builds them only on request)."""

    def disk_bytes(self) -> int | None:
        """Bytes the collection occupies on disk, where the backend can tell."""
        return None

    def describe(self) -> dict[str, Any]:
        """Backend-specific facts for ``polyvec info``."""
        return {}

    @abstractmethod
    def close(self) -> None:
        """Release files, locks and connections (never a client the store did not create)."""

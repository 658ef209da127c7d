"""The interface both store backends implement, and the value objects they exchange."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from polyvec.fields import VectorField
from polyvec.plans import Stage

# Payload layout (nested so users' own metadata keys never collide with ours).
ID_KEY = "doc_id"
TEXT_KEY = "text"
METADATA_KEY = "metadata"


@dataclass(frozen=True)
class StoredPoint:
    """A point ready for upsert: its UUID, vectors by field name and payload."""

    point_id: str
    vectors: dict[str, Any]
    payload: dict[str, Any]


@dataclass
class Hit:
    """A document returned by a search or a lookup."""

    id: Any
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    score: float | None = None
    relevance: float | None = None  # score mapped to [0, 1] (set by the pipeline)

    @classmethod
    def from_payload(cls, payload: dict[str, Any] | None, score: float | None = None) -> Hit:
        payload = payload or {}
        return cls(
            id=payload.get(ID_KEY),
            text=payload.get(TEXT_KEY, ""),
            metadata=payload.get(METADATA_KEY) or {},
            score=score,
        )


class Store(ABC):
    """One Qdrant collection holding every field of a pipeline.

    ``filter`` arguments are Qdrant filters in their JSON form (see
    :mod:`polyvec.store.filters`); each backend translates them to its own types.
    """

    fields: dict[str, VectorField]

    @abstractmethod
    def open(self, fields: Sequence[VectorField], manifest: dict[str, Any]) -> None:
        """Create the collection, or open it after checking ``manifest`` against the stored one."""

    @abstractmethod
    def stored_manifest(self) -> dict[str, Any] | None:
        """The manifest stored with the collection, or ``None`` if it does not exist."""

    @abstractmethod
    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Insert or replace points."""

    @abstractmethod
    def delete(self, point_ids: Sequence[str]) -> None:
        """Delete points; unknown ids are ignored."""

    @abstractmethod
    def delete_by_filter(self, filter: dict[str, Any]) -> None:
        """Delete every point matching the filter."""

    @abstractmethod
    def retrieve(self, point_ids: Sequence[str]) -> list[Hit]:
        """The points that exist among ``point_ids``, in that order."""

    @abstractmethod
    def count(self, filter: dict[str, Any] | None = None) -> int:
        """Number of points (matching ``filter``)."""

    @abstractmethod
    def query(
        self,
        plan: Stage,
        vectors: dict[str, Any],
        limit: int,
        filter: dict[str, Any] | None = None,
    ) -> list[Hit]:
        """Run a query plan; ``vectors`` holds the query vector of every field it reads."""

    def query_batch(
        self,
        plan: Stage,
        vectors: Sequence[dict[str, Any]],
        limit: int,
        filter: dict[str, Any] | None = None,
    ) -> list[list[Hit]]:
        """Run one plan for many queries (backends batch it where they can)."""
        return [self.query(plan, v, limit, filter) for v in vectors]

    @abstractmethod
    def sample(self, n: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Up to ``n`` points as ``(payload, vectors)``, for size statistics."""

    @abstractmethod
    def scroll_ids(self, filter: dict[str, Any] | None = None) -> list[str]:
        """Point ids of every (matching) point."""

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
        """Release files, locks and connections."""

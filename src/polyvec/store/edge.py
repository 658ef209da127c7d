"""Qdrant Edge: the real Qdrant engine in-process, on disk — polyvec's embedded default.

Layout under ``<path>/<collection>/``: ``shard/`` (Qdrant's files), ``polyvec.json``
(the manifest) and ``.lock``. Edge locks its WAL, but not when the WAL is disabled, so
polyvec holds a lock file of its own: a second writer gets :class:`StoreLockedError`.
Requests arrive as typed qdrant-client models and are converted once, by
:mod:`polyvec.store.edge_conversions`.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import qdrant_edge as qe
from filelock import FileLock, Timeout
from qdrant_client import models

from polyvec.errors import InvalidInputError, PolyvecError, StoreError, StoreLockedError
from polyvec.fields import VectorField
from polyvec.store import edge_conversions as convert
from polyvec.store.base import Page, Scroll, Store
from polyvec.store.manifest import check_compatible
from polyvec.store.requests import collection_sparse, collection_vectors


@dataclass
class _Handle:
    """An open Edge shard with what guards it: its folder's lock, the thread guard (one
    shard handle used from several threads), a read-only store's private copy, and how
    many stores of this process use it."""

    shard: qe.EdgeShard | None = None
    lock: FileLock | None = None
    copy: Path | None = None
    guard: threading.RLock = field(default_factory=threading.RLock)
    users: int = 0


# One handle per store folder per process: Qdrant Edge (and polyvec's lock file) allow one
# opener of a folder, so a LangChain store and a LlamaIndex store on the same YAML in one
# process share the shard instead of locking each other out.
_HANDLES: dict[str, _Handle] = {}
_HANDLES_LOCK = threading.RLock()


_INPUT_ERRORS = ("Wrong input", "dimension error", "Bad request", "Format error", "Not found")


class EdgeStore(Store):
    """A collection in a Qdrant Edge shard on local disk."""

    def __init__(self, path: str | os.PathLike[str], collection: str, *, wal: bool = True) -> None:
        self.root = Path(path) / collection
        self.collection = collection
        self.wal = wal
        self.where = str(self.root)
        self.fields = {}
        # the shard, its lock and its guard: shared by every store of this process opened
        # on the same folder (see _HANDLES)
        self._handle = _Handle()

    def _translate(self, err: Exception, action: str) -> PolyvecError | None:
        # Edge raises plain Python exceptions (often a bare Exception) carrying Qdrant's
        # own message: "Wrong input: ...", "Vector dimension error: ...", "Bad request: ..."
        message = str(err)
        if isinstance(err, (TypeError, ValueError, OverflowError)) or any(
            word in message for word in _INPUT_ERRORS
        ):
            return InvalidInputError(f"Qdrant Edge refused to {action} in {self.where}: {err}")
        if type(err) is Exception or isinstance(err, (RuntimeError, OSError)):
            return StoreError(f"Qdrant Edge failed to {action} in {self.where}: {err}")
        return None

    @property
    def _manifest_path(self) -> Path:
        return self.root / "polyvec.json"

    @property
    def _shard_path(self) -> Path:
        return self.root / "shard"

    def stored_manifest(self) -> dict[str, Any] | None:
        if not self._manifest_path.exists():
            return None
        try:
            manifest: dict[str, Any] = json.loads(self._manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise StoreError(
                f"the manifest {str(self._manifest_path)!r} cannot be read ({err}); restore it "
                "from a backup, or move the collection folder away to build a new one"
            ) from err
        return manifest

    def _acquire(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(
                f"cannot use {str(self.root)!r} as the store's folder ({err}); store.path must "
                "name a folder (it is created if missing), not a file"
            ) from err
        lock = FileLock(self.root / ".lock", blocking=False, thread_local=False)
        try:
            lock.acquire()
        except Timeout:
            raise StoreLockedError(
                f"the store {str(self.root)!r} is open in another process; an embedded store "
                "has one process at a time (pipelines and front ends in one process share it). "
                "Close that process first, or serve the collection from a Qdrant server "
                "(store: {type: qdrant, url: ...}) to share it between processes"
            ) from None
        except OSError as err:
            raise StoreError(
                f"the store {str(self.root)!r} is read-only ({err.strerror}): it can be "
                "searched (polyvec query, info) but not written; make it writable to ingest"
            ) from None
        self._handle.lock = lock

    def _writable(self) -> bool:
        return all(os.access(p, os.W_OK) for p in (self.root, self._shard_path) if p.exists())

    def _open_read_only(self) -> None:
        """Qdrant Edge writes to its segments' files even to load them, so a read-only store
        is searched from a private copy (removed on close); every write is refused."""
        self._handle.copy = Path(tempfile.mkdtemp(prefix="polyvec-read-only-"))
        try:
            shutil.copytree(self._shard_path, self._handle.copy / "shard", symlinks=True)
            for file in (self._handle.copy / "shard").rglob("*"):  # the copy may be written
                file.chmod(file.stat().st_mode | stat.S_IWUSR)
        except OSError as err:
            shutil.rmtree(self._handle.copy, ignore_errors=True)
            self._handle.copy = None
            raise StoreError(
                f"the store {str(self.root)!r} is read-only and could not be copied to be "
                f"searched ({err}); make it writable, or free space in {tempfile.gettempdir()}"
            ) from err

    def open(
        self, fields: Sequence[VectorField], manifest: dict[str, Any], *, create: bool = True
    ) -> bool:
        key = os.path.realpath(self.root)
        with _HANDLES_LOCK:
            shared = _HANDLES.get(key)
            if shared is not None and shared.shard is not None:
                # open in this process already (another pipeline or front end): share it
                with self._boundary("open the collection"):
                    check_compatible(self.stored_manifest() or {}, manifest, self.where)
                shared.users += 1
                self._handle = shared
                self.fields = {f.name: f for f in fields}
                return False
            created = self._open_alone(fields, manifest, create)
            self._handle.users = 1
            _HANDLES[key] = self._handle
            return created

    def _open_alone(
        self, fields: Sequence[VectorField], manifest: dict[str, Any], create: bool
    ) -> bool:
        if not create and not self._manifest_path.exists():
            return super().open(fields, manifest, create=False)  # refuses, creating nothing
        if not create and not self._writable():
            self._open_read_only()
        else:
            self._acquire()
        try:
            return super().open(fields, manifest, create=create)
        except BaseException:
            self.close()
            raise

    def _open_existing(self) -> None:
        shard_path = (
            self._handle.copy / "shard" if self._handle.copy is not None else self._shard_path
        )
        self._handle.shard = qe.EdgeShard.load(str(shard_path))

    def _create(self, fields: Sequence[VectorField], manifest: dict[str, Any]) -> None:
        vectors = {name: convert.vector_params(p) for name, p in collection_vectors(fields).items()}
        sparse = {name: convert.sparse_params(p) for name, p in collection_sparse(fields).items()}
        config = qe.EdgeConfig(vectors=vectors, sparse_vectors=sparse or None, wal_enabled=self.wal)
        self._handle.shard = qe.EdgeShard.create(str(self._shard_path), config)
        tmp = self._manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        tmp.replace(self._manifest_path)  # atomic: never a half-written manifest

    @property
    def shard(self) -> qe.EdgeShard:
        if self._handle.shard is None:
            raise StoreError(f"the store {self.where} is closed; open a new Pipeline")
        return self._handle.shard

    def _update(self, operation: qe.UpdateOperation) -> None:
        if self._handle.copy is not None:
            raise StoreError(
                f"the store {self.where} is read-only: it was opened for searching only, and "
                "nothing was written; make its folder writable to change it"
            )
        with self._handle.guard:
            self.shard.update(operation)

    def _create_payload_index(self, path: str, schema: models.PayloadSchemaType) -> None:
        self._update(qe.UpdateOperation.create_field_index(path, convert.payload_schema(schema)))

    def _upsert(self, points: Sequence[models.PointStruct]) -> None:
        self._update(qe.UpdateOperation.upsert_points(convert.points(points)))

    def _delete(self, point_ids: list[str]) -> None:
        self._update(qe.UpdateOperation.delete_points(convert.point_ids(point_ids)))

    def _delete_by_filter(self, flt: models.Filter) -> None:
        self._update(
            qe.UpdateOperation.delete_points_by_filter(convert.filter_(flt) or qe.Filter())
        )

    def _retrieve(self, point_ids: list[str]) -> list[tuple[Any, dict[str, Any] | None]]:
        with self._handle.guard:
            records = self.shard.retrieve(convert.point_ids(point_ids), True, False)
        return [(r.id, r.payload) for r in records]

    def _count(self, flt: models.Filter | None) -> int:
        with self._handle.guard:
            return self.shard.count(qe.CountRequest(filter=convert.filter_(flt), exact=True))

    def _scroll(self, request: Scroll) -> Page:
        scroll = qe.ScrollRequest(
            offset=request.offset,
            limit=request.limit,
            filter=convert.filter_(request.filter),
            with_payload=request.with_payload,
            with_vector=request.with_vectors,
        )
        with self._handle.guard:
            page, next_offset = self.shard.scroll(scroll)
        return [(r.id, r.payload, r.vector) for r in page], next_offset

    def _query_batch(
        self, requests: Sequence[models.QueryRequest]
    ) -> list[list[tuple[dict[str, Any] | None, float]]]:
        batch = qe.QueryBatchRequest([convert.query_request(r) for r in requests])
        with self._handle.guard:
            results = self.shard.query_batch(batch)
        return [[(p.payload, p.score) for p in points] for points in results]

    def optimize(self) -> None:
        with self._boundary("optimize"), self._handle.guard:
            self.shard.optimize()
            # The optimised segments replace the old ones, whose files Edge deletes only at
            # the next flush: without it the folder holds both (about twice the bytes, here)
            # until close(). Flushing now also makes the new indexes durable.
            self.shard.flush()

    def disk_bytes(self) -> int | None:
        with self._boundary("measure the disk use"):
            return sum(p.stat().st_size for p in self._shard_path.rglob("*") if p.is_file())

    def describe(self) -> dict[str, Any]:
        with self._handle.guard:
            info = self.shard.info()
        return {
            "backend": "qdrant-edge",
            "path": str(self.root),
            "segments": info.segments_count,
            "indexed_vectors": info.indexed_vectors_count,
        }

    def close(self) -> None:
        with _HANDLES_LOCK:
            handle = self._handle
            if handle.users > 1:  # another store of this process still uses the shard
                handle.users -= 1
                self._handle = _Handle()
                return
            try:
                self._close_handle()
            finally:
                key = os.path.realpath(self.root)
                if _HANDLES.get(key) is handle:
                    del _HANDLES[key]

    def _close_handle(self) -> None:
        try:
            with self._handle.guard:
                shard, self._handle.shard = self._handle.shard, None
                if shard is not None:
                    with self._boundary("close"):
                        try:
                            shard.flush()
                        finally:
                            shard.close()
        finally:  # the lock is released even when flushing failed
            if self._handle.lock is not None:
                self._handle.lock.release()
                self._handle.lock = None
            if self._handle.copy is not None:
                shutil.rmtree(self._handle.copy, ignore_errors=True)
                self._handle.copy = None

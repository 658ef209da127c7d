"""Storage backends behind one interface: Qdrant Edge (embedded) and qdrant-client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from polyvec.store.base import Hit, Store, StoredPoint

if TYPE_CHECKING:
    from polyvec.config import EdgeStoreConfig, QdrantStoreConfig


def open_backend(config: EdgeStoreConfig | QdrantStoreConfig) -> Store:
    """Build (not yet open) the store a config describes."""
    if config.type == "edge":
        from polyvec.store.edge import EdgeStore

        return EdgeStore(config.path, config.collection, wal=config.wal)
    from polyvec.store.client import ClientStore

    return ClientStore(
        config.collection,
        location=config.location,
        url=config.url,
        path=config.path,
        api_key=config.api_key.get_secret_value() if config.api_key else None,
        prefer_grpc=config.prefer_grpc,
        timeout=config.timeout,
        shard_number=config.shard_number,
        replication_factor=config.replication_factor,
    )


__all__ = ["Hit", "Store", "StoredPoint", "open_backend"]

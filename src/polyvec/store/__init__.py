"""Storage backends behind one interface: Qdrant Edge (embedded) and qdrant-client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from polyvec.errors import ConfigError
from polyvec.store.base import Hit, Store

if TYPE_CHECKING:
    from polyvec.config import EdgeStoreConfig, QdrantStoreConfig


def open_backend(
    config: EdgeStoreConfig | QdrantStoreConfig, *, client: Any = None, aclient: Any = None
) -> Store:
    """Build (not yet open) the store a config describes.

    Args:
        client: an existing ``QdrantClient`` (only with a ``qdrant`` store); polyvec uses it
            and never closes it.
        aclient: an existing ``AsyncQdrantClient`` for the async twins, likewise.
    """
    if config.type == "edge":
        if client is not None or aclient is not None:
            raise ConfigError(
                "store: a Qdrant client was handed in but the store is 'edge' (embedded); "
                "use store: {type: qdrant} with a client"
            )
        from polyvec.store.edge import EdgeStore

        return EdgeStore(config.path, config.collection, wal=config.wal)
    from polyvec.store.client import ClientStore

    return ClientStore(config, client=client, aclient=aclient)


__all__ = ["Hit", "Store", "open_backend"]

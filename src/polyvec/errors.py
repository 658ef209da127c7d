"""The exceptions polyvec raises. Every one derives from :class:`PolyvecError`."""

from __future__ import annotations


class PolyvecError(Exception):
    """Root of every error polyvec raises on purpose."""


class ConfigError(PolyvecError, ValueError):
    """A pipeline configuration (YAML, dict or keyword arguments) is invalid.

    The message names the key path of each problem, e.g. ``fields.0.pool_factor``.
    """


class CollectionMismatchError(PolyvecError):
    """An existing collection was built differently from the pipeline opening it."""


class MissingDependencyError(PolyvecError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class StoreLockedError(PolyvecError):
    """Another process (or another open pipeline) holds the embedded store."""


class InvalidInputError(PolyvecError, ValueError):
    """A document, id, query or filter given to polyvec cannot be used as it is."""


class CollectionNotFoundError(PolyvecError):
    """The collection to read does not exist (a typo in a path or name?); nothing was created."""


class StoreError(PolyvecError):
    """The store backend (Qdrant Edge or a Qdrant server) refused or failed an operation.

    The message names the backend, the operation and what the backend said.
    """


class StoreUnavailableError(StoreError, ConnectionError):
    """A Qdrant server could not be reached or did not answer within the timeout.

    The message names the URL (never the API key) and the timeout.
    """

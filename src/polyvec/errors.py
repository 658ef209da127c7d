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

"""The manifest: how a collection was built, stored with it and checked on every open."""

from __future__ import annotations

from typing import Any

from polyvec.errors import CollectionMismatchError

# 2: fields and adapters keyed by name (1: lists in config order, still read)
MANIFEST_FORMAT = 2
# Parts that must match for stored vectors and new query vectors to be comparable.
_CHECKED = ("encoder", "fields", "adapters")
_BY_NAME = ("fields", "adapters")


_MISSING = object()


def differences(stored: Any, wanted: Any, path: str = "", defaults: Any = None) -> list[str]:
    """Human-readable differences between two JSON-like values, by key path.

    ``defaults`` has the shape of ``wanted`` and holds each setting's default: a key the
    collection does not record (it was built before the setting existed) is compatible
    when the pipeline uses the default, which is what the older version did.
    """
    if isinstance(stored, dict) and isinstance(wanted, dict):
        found = []
        defaults = defaults if isinstance(defaults, dict) else {}
        for key in sorted(set(stored) | set(wanted), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in stored:
                if defaults.get(key, _MISSING) != wanted[key]:
                    found.append(f"{sub}: not in the collection, pipeline has {wanted[key]!r}")
            elif key not in wanted:
                found.append(f"{sub}: collection has {stored[key]!r}, pipeline has none")
            else:
                found.extend(differences(stored[key], wanted[key], sub, defaults.get(key)))
        return found
    if isinstance(stored, list) and isinstance(wanted, list) and len(stored) == len(wanted):
        found = []
        listed = defaults if isinstance(defaults, list) else [None] * len(wanted)
        for position, (a, b) in enumerate(zip(stored, wanted, strict=True)):
            found.extend(differences(a, b, f"{path}.{position}", listed[position]))
        return found
    if stored != wanted:
        return [f"{path}: collection has {stored!r}, pipeline has {wanted!r}"]
    return []


def _by_name(items: Any) -> Any:
    """Format 1 kept fields and adapters as lists: key them by name, as format 2 does."""
    if isinstance(items, list) and all(isinstance(i, dict) and "name" in i for i in items):
        return {i["name"]: i for i in items}
    return items


def upgrade(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored manifest in the current format (or an error for one from a newer polyvec)."""
    version = stored.get("format", 1)
    if not isinstance(version, int) or version > MANIFEST_FORMAT:
        raise CollectionMismatchError(
            f"the collection's manifest has format {version!r}, newer than this polyvec reads "
            f"({MANIFEST_FORMAT}); upgrade polyvec to open it"
        )
    if version == MANIFEST_FORMAT:
        return stored
    upgraded = dict(stored)
    for key in _BY_NAME:
        upgraded[key] = _by_name(stored.get(key))
    return upgraded


def check_compatible(stored: dict[str, Any], wanted: dict[str, Any], where: str) -> None:
    """Refuse to open a collection built with other encoder, fields or adapter parameters.

    Fields and adapters are compared by name, so reordering an identical config is fine.
    """
    stored = upgrade(stored)
    found = differences(
        {k: stored.get(k) for k in _CHECKED},
        {k: wanted.get(k) for k in _CHECKED},
        defaults=wanted.get("defaults"),
    )
    if found:
        listed = "\n  - ".join(found)
        raise CollectionMismatchError(
            f"the collection {where} was built differently from this pipeline:\n  - {listed}\n"
            "Nothing was changed. Open it with the configuration it was built with "
            "(see `polyvec info`), or choose another collection/path to build a new one."
        )

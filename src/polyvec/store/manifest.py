"""The manifest: how a collection was built, stored with it and checked on every open."""

from __future__ import annotations

from typing import Any

from polyvec.errors import CollectionMismatchError

MANIFEST_FORMAT = 1
# Parts that must match for stored vectors and new query vectors to be comparable.
_CHECKED = ("encoder", "fields", "adapters")


def differences(stored: Any, wanted: Any, path: str = "") -> list[str]:
    """Human-readable differences between two JSON-like values, by key path."""
    if isinstance(stored, dict) and isinstance(wanted, dict):
        found = []
        for key in sorted(set(stored) | set(wanted), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in stored:
                found.append(f"{sub}: not in the collection, pipeline has {wanted[key]!r}")
            elif key not in wanted:
                found.append(f"{sub}: collection has {stored[key]!r}, pipeline has none")
            else:
                found.extend(differences(stored[key], wanted[key], sub))
        return found
    if isinstance(stored, list) and isinstance(wanted, list) and len(stored) == len(wanted):
        found = []
        for position, (a, b) in enumerate(zip(stored, wanted, strict=False)):
            found.extend(differences(a, b, f"{path}.{position}"))
        return found
    if stored != wanted:
        return [f"{path}: collection has {stored!r}, pipeline has {wanted!r}"]
    return []


def check_compatible(stored: dict[str, Any], wanted: dict[str, Any], where: str) -> None:
    """Refuse to open a collection built with other encoder, fields or adapter parameters."""
    found = differences({k: stored.get(k) for k in _CHECKED}, {k: wanted.get(k) for k in _CHECKED})
    if found:
        listed = "\n  - ".join(found)
        raise CollectionMismatchError(
            f"the collection {where} was built differently from this pipeline:\n  - {listed}\n"
            "Nothing was changed. Open it with the configuration it was built with "
            "(see `polyvec info`), or choose another collection/path to build a new one."
        )

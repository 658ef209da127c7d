"""The manifest: how a collection was built, stored with it and checked on every open."""

from __future__ import annotations

from typing import Any

from polyvec.errors import CollectionMismatchError

MANIFEST_FORMAT = 1
# Parts that must match for stored vectors and new query vectors to be comparable.
_CHECKED = ("encoder", "fields", "adapters")


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


def check_compatible(stored: dict[str, Any], wanted: dict[str, Any], where: str) -> None:
    """Refuse to open a collection built with other encoder, fields or adapter parameters."""
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

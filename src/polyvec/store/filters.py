"""Metadata filters, in one canonical form: Qdrant's own JSON filter syntax.

Users write either

* the simple form, keys being metadata keys: ``{"topic": "ir", "year": {"$gte": 2020},
  "lang": ["en", "de"]}`` (a list means "any of"; operators ``$eq $ne $gt $gte $lt $lte
  $in $nin``), or
* a Qdrant filter: a ``qdrant_client.models.Filter`` or its JSON form
  (``{"must": [{"key": "metadata.topic", "match": {"value": "ir"}}]}``). Keys there are
  payload paths, as in langchain-qdrant: metadata lives under ``metadata.``.

Both become the JSON form, which each store backend translates to its own types, so
one filter means the same on Qdrant Edge and on a Qdrant server.
"""

from __future__ import annotations

from typing import Any

from polyvec.errors import InvalidInputError
from polyvec.store.base import METADATA_KEY

_CLAUSES = {"must", "should", "must_not", "min_should"}
_RANGE_OPS = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}


def metadata_key(key: str) -> str:
    return f"{METADATA_KEY}.{key}"


def equals(path: str, value: Any, what: str = "") -> dict[str, Any]:
    """``path == value`` as a Qdrant condition.

    Qdrant matches only str, int and bool exactly; a float becomes a one-point range.
    """
    if isinstance(value, float):
        return {"key": path, "range": {"gte": value, "lte": value}}
    if isinstance(value, (str, int)):
        return {"key": path, "match": {"value": value}}
    raise InvalidInputError(
        f"filter on {path!r}{what}: compare with a str or a number, got {value!r}"
    )


def one_of(path: str, values: list[Any], what: str = "") -> dict[str, Any]:
    """``path`` equals one of ``values`` (for an array field: one of its elements does)."""
    if all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
        return {"key": path, "match": {"any": values}}
    return {"should": [equals(path, v, what) for v in values]}


def _simple_condition(key: str, value: Any) -> tuple[str, dict[str, Any]]:
    """One ``key: value`` item of the simple form -> (clause, Qdrant condition)."""
    path = metadata_key(key)
    if isinstance(value, list):
        return "must", one_of(path, value)
    if not isinstance(value, dict):
        return "must", equals(path, value)
    if len(value) != 1:
        raise InvalidInputError(
            f"filter key {key!r}: write one operator per key, e.g. {{'$gte': 3}}; got {value!r}"
        )
    ((op, operand),) = value.items()
    if op == "$eq":
        return "must", equals(path, operand)
    if op == "$ne":
        return "must_not", equals(path, operand)
    if op == "$in":
        return "must", one_of(path, list(operand))
    if op == "$nin":
        return "must_not", one_of(path, list(operand))
    if op in _RANGE_OPS:
        return "must", {"key": path, "range": {_RANGE_OPS[op]: operand}}
    raise InvalidInputError(
        f"filter key {key!r}: unknown operator {op!r}; use one of "
        "$eq $ne $gt $gte $lt $lte $in $nin, or pass a Qdrant filter"
    )


def to_qdrant_json(filter: Any) -> dict[str, Any] | None:
    """Normalise any accepted filter form to Qdrant's JSON filter (or ``None``)."""
    if filter is None:
        return None
    if hasattr(filter, "model_dump"):  # qdrant_client.models.Filter, without importing it
        dumped = filter.model_dump(mode="json", exclude_none=True)
        return dumped or None
    if not isinstance(filter, dict):
        raise InvalidInputError(
            f"filter must be a dict or a qdrant_client.models.Filter, got {type(filter).__name__}"
        )
    if not filter:
        return None
    if set(filter) <= _CLAUSES:
        return filter
    clauses: dict[str, list[dict[str, Any]]] = {}
    for key, value in filter.items():
        clause, condition = _simple_condition(str(key), value)
        clauses.setdefault(clause, []).append(condition)
    return clauses

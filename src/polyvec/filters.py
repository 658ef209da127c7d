"""Metadata filters: every accepted form becomes one typed ``qdrant_client.models.Filter``.

Users write either

* the simple form, keys being metadata keys: ``{"topic": "ir", "year": {"$gte": 2020},
  "lang": ["en", "de"]}`` (a list means "any of"; operators ``$eq $ne $gt $gte $lt $lte
  $in $nin``), or
* a Qdrant filter: a ``qdrant_client.models.Filter`` or its JSON form
  (``{"must": [{"key": "metadata.topic", "match": {"value": "ir"}}]}``). Keys there are
  payload paths, as in langchain-qdrant: metadata lives under ``metadata.``.

A dict whose keys are all Qdrant clauses (``must``, ``should``, ``must_not``,
``min_should``) is read as a Qdrant filter. :func:`to_filter` validates any form once,
against qdrant-client's own models, so a filter means the same thing — and a bad one fails
with the same :class:`~polyvec.errors.InvalidInputError` — on every store backend.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from qdrant_client import models

from polyvec.errors import InvalidInputError

# payload layout: nested so users' own metadata keys never collide with polyvec's
ID_KEY = "doc_id"
TEXT_KEY = "text"
METADATA_KEY = "metadata"
FRONTEND_KEY = "frontend"  # bookkeeping of a front end (e.g. LlamaIndex's node), never metadata
SOURCE_KEY = "source"  # under FRONTEND_KEY: the source (file, parent document) a passage is of
SOURCE_PATH = f"{FRONTEND_KEY}.{SOURCE_KEY}"  # its payload path
SOURCE_HASH_KEY = "sha256"  # under FRONTEND_KEY: the SHA-256 of a source file's bytes (sync)
HASH_KEY = "content_sha256"  # what was encoded (text) and stored (metadata): resume, eval

_CLAUSES = frozenset({"must", "should", "must_not", "min_should"})
_RANGE_OPS = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}
_OPERATORS = "$eq $ne $gt $gte $lt $lte $in $nin"


def metadata_key(key: str) -> str:
    """The payload path of a metadata key."""
    return f"{METADATA_KEY}.{key}"


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers (``np.int64(3)`` filters like ``3``)."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        return item()
    return value


def equals(path: str, value: Any, what: str = "") -> models.FieldCondition:
    """``path == value`` as a Qdrant condition.

    Qdrant matches only str, int and bool exactly; a float becomes a one-point range.
    """
    value = _plain(value)
    if isinstance(value, float):
        return models.FieldCondition(key=path, range=models.Range(gte=value, lte=value))
    if isinstance(value, (str, int)):  # bool is an int: MatchValue keeps it a bool
        return models.FieldCondition(key=path, match=models.MatchValue(value=value))
    raise InvalidInputError(
        f"filter on {path!r}{what}: compare with a str, a number or a bool, got {value!r}"
    )


def one_of(path: str, values: Sequence[Any], what: str = "") -> models.Condition:
    """``path`` equals one of ``values`` (for an array field: one of its elements does)."""
    plain = [_plain(v) for v in values]
    if not plain:
        raise InvalidInputError(f"filter on {path!r}{what}: give at least one value")
    if all(isinstance(v, str) for v in plain) or all(
        isinstance(v, int) and not isinstance(v, bool) for v in plain
    ):
        return models.FieldCondition(key=path, match=models.MatchAny(any=plain))
    return models.Filter(should=[equals(path, v, what) for v in plain])


def _operand_list(key: str, op: str, operand: Any) -> list[Any]:
    if isinstance(operand, (list, tuple, set, frozenset)):
        return list(operand)
    raise InvalidInputError(
        f"filter key {key!r}: {op} takes a list, e.g. {{{op!r}: ['a', 'b']}}; got {operand!r}"
    )


def _simple_condition(key: str, value: Any) -> tuple[str, models.Condition]:
    """One ``key: value`` item of the simple form -> (clause, Qdrant condition)."""
    path = metadata_key(key)
    if isinstance(value, (list, tuple)):
        return "must", one_of(path, value)
    if not isinstance(value, Mapping):
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
        return "must", one_of(path, _operand_list(key, op, operand))
    if op == "$nin":
        return "must_not", one_of(path, _operand_list(key, op, operand))
    if op in _RANGE_OPS:
        operand = _plain(operand)
        if isinstance(operand, bool) or not isinstance(operand, (int, float, str)):
            raise InvalidInputError(
                f"filter key {key!r}: {op} compares with a number or an ISO 8601 datetime, "
                f"got {operand!r}"
            )
        bound = {_RANGE_OPS[op]: operand}
        condition_range: models.Range | models.DatetimeRange = (
            models.DatetimeRange.model_validate(bound)
            if isinstance(operand, str)
            else models.Range.model_validate(bound)
        )
        return "must", models.FieldCondition(key=path, range=condition_range)
    raise InvalidInputError(
        f"filter key {key!r}: unknown operator {op!r}; use one of {_OPERATORS}, "
        "or pass a Qdrant filter"
    )


def _validation_message(err: ValidationError) -> str:
    # pydantic lists every member of Qdrant's condition unions; the first few say enough
    shown = []
    for e in err.errors()[:3]:
        where = ".".join(str(p) for p in e["loc"])
        shown.append(f"{where}: {e['msg']}" if where else e["msg"])
    more = len(err.errors()) - len(shown)
    return "; ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def to_filter(filter: Any) -> models.Filter | None:
    """Any accepted filter form as a validated ``models.Filter`` (``None``: no filter).

    Raises:
        InvalidInputError: the filter cannot be read; the message says why and how.
    """
    if filter is None:
        return None
    if isinstance(filter, models.Filter):
        check_filter(filter)
        return (
            filter
            if (filter.must or filter.should or filter.must_not or filter.min_should)
            else None
        )
    if not isinstance(filter, Mapping):
        raise InvalidInputError(
            "filter must be a dict (simple form or Qdrant JSON) or a qdrant_client.models.Filter, "
            f"got {type(filter).__name__}"
        )
    if not filter:
        return None
    if set(filter) <= _CLAUSES:
        try:
            return to_filter(models.Filter.model_validate(dict(filter)))
        except ValidationError as err:
            raise InvalidInputError(
                f"filter {dict(filter)!r} is read as a Qdrant filter (its keys are Qdrant "
                f"clauses) but is not valid: {_validation_message(err)}. To filter on a "
                "metadata key with such a name, write the Qdrant form: "
                "{'must': [{'key': 'metadata.must', 'match': {'value': ...}}]}"
            ) from None
    clauses: dict[str, list[models.Condition]] = {}
    for key, value in filter.items():
        if not isinstance(key, str):
            raise InvalidInputError(f"filter keys are metadata keys (str), got {key!r}")
        try:
            clause, condition = _simple_condition(key, value)
        except ValidationError as err:
            raise InvalidInputError(
                f"filter key {key!r}: {value!r} cannot be compared: {_validation_message(err)}"
            ) from None
        clauses.setdefault(clause, []).append(condition)
    return models.Filter(must=clauses.get("must"), must_not=clauses.get("must_not"))


_PREDICATES = (
    "match",
    "range",
    "geo_bounding_box",
    "geo_radius",
    "geo_polygon",
    "values_count",
    "is_empty",
    "is_null",
)


def _conditions(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def check_filter(flt: models.Filter) -> None:
    """Refuse what Qdrant's engines read differently, so every backend answers alike.

    * a ``FieldCondition`` with several predicates (``match`` and ``range`` at once): Qdrant
      Edge, a server and qdrant-client's local mode each combine them their own way;
    * ``min_should`` with ``min_count`` below 1 (local mode refuses it, Edge matches all);
    * ``has_id`` with an id Qdrant cannot hold (not an unsigned int or a UUID).

    Raises:
        InvalidInputError: what to write instead.
    """
    conditions = [
        *_conditions(flt.must),
        *_conditions(flt.should),
        *_conditions(flt.must_not),
    ]
    if flt.min_should is not None:
        if flt.min_should.min_count < 1:
            raise InvalidInputError(
                f"filter: min_should needs min_count >= 1, got {flt.min_should.min_count}"
            )
        conditions.extend(flt.min_should.conditions)
    for condition in conditions:
        if isinstance(condition, models.Filter):
            check_filter(condition)
        elif isinstance(condition, models.NestedCondition):
            check_filter(condition.nested.filter)
        elif isinstance(condition, models.FieldCondition):
            given = [p for p in _PREDICATES if getattr(condition, p) is not None]
            if len(given) > 1:
                raise InvalidInputError(
                    f"filter: the condition on {condition.key!r} has {' and '.join(given)}; "
                    "give one per condition and combine conditions with must/should"
                )
        elif isinstance(condition, models.HasIdCondition):
            for point in condition.has_id:
                if isinstance(point, int) and point >= 0:
                    continue
                try:
                    uuid.UUID(str(point))
                except ValueError:
                    raise InvalidInputError(
                        f"filter: has_id {point!r} is not a Qdrant point id (an unsigned int "
                        "or a UUID); to restrict a search to document ids, use ids=[...]"
                    ) from None


def all_of(*filters: models.Filter | None) -> models.Filter | None:
    """The conjunction of filters (``None`` entries are skipped)."""
    parts = [f for f in filters if f is not None]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else models.Filter(must=list(parts))


def field_equals_any(path: str, values: Sequence[str | int]) -> models.Filter:
    """Points whose payload ``path`` is one of ``values``."""
    return models.Filter(must=[one_of(path, list(values))])


def source_of(frontend: Mapping[str, Any] | None, doc_id: Any) -> str:
    """The source a passage is of (``frontend["source"]``); a document without one is its
    own source, its id."""
    return str((frontend or {}).get(SOURCE_KEY, doc_id))


def source_filter(sources: Sequence[str | int]) -> models.Filter:
    """Passages whose source (a file, a front end's parent document) is one of ``sources``."""
    return field_equals_any(SOURCE_PATH, list(sources))

"""Property tests (hypothesis): id mapping, filter translation, plan parsing, config round
trips. The filter property is a congruence property: a generated filter matches the same
points on Qdrant Edge and in qdrant-client's local mode."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import qdrant_edge as qe
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qdrant_client import QdrantClient, models

from polyvec.config import PipelineConfig, load_config
from polyvec.filters import to_filter
from polyvec.plans import Stage, chain, parse_plan
from polyvec.store import edge_conversions as convert
from polyvec.store.ids import point_id

# --- ids ---------------------------------------------------------------------------------

ids = st.one_of(st.text(max_size=40), st.integers(min_value=-(2**63), max_value=2**63 - 1))


@given(ids)
def test_every_id_maps_to_one_stable_uuid(user_id: str | int) -> None:
    mapped = point_id(user_id)
    assert uuid.UUID(mapped).version == 5
    assert point_id(user_id) == mapped
    other = str(user_id) if isinstance(user_id, int) else None
    if other is not None:
        assert point_id(other) != mapped  # 7 and "7" are two documents


@given(st.lists(ids, min_size=2, max_size=20, unique=True))
def test_distinct_ids_never_collide(user_ids: list[str | int]) -> None:
    keys = {(type(i), i) for i in user_ids}
    assert len({point_id(i) for i in user_ids}) == len(keys)


# --- filters: the same matches on Edge and in local mode --------------------------------

VALUES: list[Any] = [True, False, 0, 1, 2, -1, 1.5, "a", "b", "true", None, [1, 2], ["a"], []]
PAYLOADS = [
    {"doc_id": i, "metadata": {"x": x, "y": VALUES[(i * 5) % len(VALUES)]}}
    for i, x in enumerate(VALUES * 2)
]
keys = st.sampled_from(["x", "y", "z"])
scalars = st.one_of(
    st.booleans(),
    st.integers(-2, 3),
    st.sampled_from([1.5, -1.0]),
    st.sampled_from(["a", "b", "true"]),
)
numbers = st.one_of(st.integers(-2, 3), st.sampled_from([0.5, 1.5]))
conditions = st.one_of(
    st.tuples(keys, scalars).map(lambda kv: {kv[0]: kv[1]}),
    st.tuples(keys, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), numbers).map(
        lambda k: {k[0]: {k[1]: k[2]}}
    ),
    st.tuples(
        keys, st.sampled_from(["$in", "$nin"]), st.lists(st.sampled_from(["a", "b"]), min_size=1)
    ).map(lambda k: {k[0]: {k[1]: k[2]}}),
    st.tuples(keys, st.lists(st.integers(0, 3), min_size=1, max_size=3)).map(
        lambda kv: {kv[0]: kv[1]}
    ),
    st.tuples(keys, scalars).map(lambda kv: {kv[0]: {"$ne": kv[1]}}),
)
simple_filters = st.lists(conditions, min_size=1, max_size=3).map(
    lambda parts: {k: v for part in parts for k, v in part.items()}
)


def _nest(children: list[models.Filter], clause: str) -> models.Filter:
    if clause == "min_should":
        return models.Filter(min_should=models.MinShould(conditions=children, min_count=1))
    return models.Filter(**{clause: children})


typed_filters = st.recursive(
    simple_filters.map(to_filter),
    lambda inner: st.tuples(
        st.lists(inner, min_size=1, max_size=3),
        st.sampled_from(["must", "should", "must_not", "min_should"]),
    ).map(lambda t: _nest(list(t[0]), t[1])),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def engines(tmp_path_factory) -> Iterator[tuple[Any, QdrantClient]]:
    shard_path = Path(tmp_path_factory.mktemp("edge")) / "shard"
    config = qe.EdgeConfig(vectors={"v": qe.EdgeVectorParams(size=2, distance=qe.Distance.Dot)})
    shard = qe.EdgeShard.create(str(shard_path), config)
    local = QdrantClient(":memory:")
    local.create_collection(
        "c", vectors_config={"v": models.VectorParams(size=2, distance=models.Distance.DOT)}
    )
    points = [
        models.PointStruct(id=i, vector={"v": [1.0, 0.0]}, payload=p)
        for i, p in enumerate(PAYLOADS)
    ]
    shard.update(qe.UpdateOperation.upsert_points(convert.points(points)))
    local.upsert("c", points=points)
    yield shard, local
    shard.close()
    local.close()


def _matches(
    engines: tuple[Any, QdrantClient], flt: models.Filter | None
) -> tuple[set[int], set[int]]:
    shard, local = engines
    page, _ = shard.scroll(
        qe.ScrollRequest(limit=100, filter=convert.filter_(flt), with_payload=False)
    )
    records, _ = local.scroll("c", scroll_filter=flt, limit=100, with_payload=False)
    return {int(r.id) for r in page}, {int(r.id) for r in records}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(simple_filters)
def test_a_simple_filter_matches_the_same_points_everywhere(engines, flt: dict[str, Any]) -> None:
    edge, local = _matches(engines, to_filter(flt))
    assert edge == local


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(typed_filters)
def test_nested_filters_match_the_same_points_everywhere(engines, flt: models.Filter) -> None:
    edge, local = _matches(engines, to_filter(flt))
    assert edge == local
    again = models.Filter.model_validate(flt.model_dump(mode="json", exclude_none=True))
    assert _matches(engines, to_filter(again))[0] == edge  # its JSON form means the same


# --- plans -------------------------------------------------------------------------------

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)


@given(st.lists(st.tuples(names, st.integers(1, 10_000)), min_size=1, max_size=4), names)
def test_a_plan_string_parses_to_its_chain(candidates: list[tuple[str, int]], root: str) -> None:
    text = " -> ".join(f"{field}:{limit}" for field, limit in candidates) + f" -> {root}"
    expected = chain(*(Stage(field, limit) for field, limit in candidates), Stage(root))
    assert parse_plan(text) == expected
    assert parse_plan(text.replace(" ", "")) == expected


# --- configs -----------------------------------------------------------------------------

field_configs = st.lists(
    st.one_of(
        st.builds(
            lambda p: {"type": "late_interaction", "pool_factor": p}, st.sampled_from([1.0, 2.0])
        ),
        st.builds(lambda d: {"type": "dense", "dim": d}, st.sampled_from([None, 64, 128])),
        st.builds(
            lambda s: {"type": "fde", "seed": s, "k_sim": 3, "r_reps": 2}, st.integers(0, 99)
        ),
        st.builds(lambda ds: {"type": "matryoshka", "dims": ds}, st.sampled_from([[32], [32, 64]])),
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda f: f["type"],
)
stores = st.one_of(
    st.builds(
        lambda c: {"type": "edge", "collection": c},
        st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True),
    ),
    st.just({"type": "qdrant", "location": ":memory:"}),
    st.builds(
        lambda n: {"type": "qdrant", "url": "http://q:6333", "shard_number": n}, st.integers(1, 8)
    ),
)


@given(field_configs, stores)
def test_a_config_round_trips(fields: list[dict[str, Any]], store: dict[str, Any]) -> None:
    config = load_config({"fields": fields, "store": store})
    assert isinstance(config, PipelineConfig)
    assert load_config(config.model_dump(mode="python")) == config
    assert load_config(config.model_dump(mode="json")) == config

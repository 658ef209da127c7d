"""Congruence: the same pipeline, the same input, the same answer — or the same error —
on Qdrant Edge, qdrant-client's local mode and qdrant-client's remote REST path (against the
loopback double in tests/qdrant_double.py), as qdrant-client's own congruence tests do.

Each test runs one behaviour on the three backends and compares them with each other and,
where the right answer is known, with it. The cases found broken before the single request
layer existed are named tests: a bool filter matching the int 1, ``min_should`` under a
prefetch, ``MatchExcept``, a candidate stage without a limit, a metadata key named
``must``, datetime metadata.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from polyvec import ConfigError, InvalidInputError, Pipeline, PolyvecError, Stage, parse_plan
from polyvec.config import PlanSpec, plan_from_spec
from polyvec.store.requests import vector_params
from tests.conftest import LOOPBACK, qdrant_double, store_config
from tests.test_compression import QUANTIZATIONS

pytestmark = LOOPBACK
NAMES = ("edge", "memory", "remote")
FIELDS = [{"type": "late_interaction"}, {"type": "dense"}]
WHEN = dt.datetime(2024, 5, 17, 8, 30, tzinfo=dt.timezone.utc)
DOCS: list[dict[str, Any]] = [
    {
        "id": "t",
        "text": "Qdrant stores vectors and payloads.",
        "metadata": {
            "flag": True,
            "n": 1,
            "topic": "db",
            "tags": ["a", "b"],
            "at": WHEN,
            "score": 4.5,
        },
    },
    {
        "id": "f",
        "text": "Cats purr when they are content.",
        "metadata": {
            "flag": False,
            "n": 0,
            "topic": "pets",
            "tags": ["b"],
            "at": WHEN - dt.timedelta(days=400),
        },
    },
    {
        "id": "one",
        "text": "MaxSim sums the best token matches.",
        "metadata": {"flag": 1, "n": 2, "topic": "ir", "tags": [], "score": 3.0},
    },
    {
        "id": "zero",
        "text": "ColBERT introduced late interaction.",
        "metadata": {"flag": 0, "n": 3, "topic": "ir", "nested": {"level": 2}},
    },
    {
        "id": 7,
        "text": "Dogs enjoy long walks in the park.",
        "metadata": {
            "flag": [True, False],
            "n": np.int64(4),
            "topic": "pets",
            "ratio": np.float32(0.25),
        },
    },
    {
        "id": "none",
        "text": "Product quantization compresses vectors.",
        "metadata": {"n": 5, "topic": "ir", "flag": "true"},
    },
]
QUERIES = ["vector database", "late interaction retrieval", "pets", "compression"]


@pytest.fixture(scope="module")
def pipelines(encoder, tmp_path_factory) -> Iterator[dict[str, Pipeline]]:
    """The same pipeline and documents on every backend."""
    opened = {}
    for name in NAMES:
        folder = tmp_path_factory.mktemp(name)
        config = {"fields": FIELDS, "store": store_config(name, folder)}
        opened[name] = Pipeline.from_config(config, encoder=encoder)
        opened[name].ingest(DOCS)
    yield opened
    for p in opened.values():
        p.close()


def outcome(call: Callable[[], Any]) -> Any:
    """A result, or the error as (type, message) — both compared across backends."""
    try:
        return call()
    except PolyvecError as err:
        return (type(err).__name__, str(err).split(" on ")[0][:80])


def on_all(pipelines: dict[str, Pipeline], call: Callable[[Pipeline], Any]) -> Any:
    """Run ``call`` on every backend, assert one answer, return it."""
    results = {name: outcome(lambda p=p: call(p)) for name, p in pipelines.items()}
    first = results["edge"]
    for name, result in results.items():
        assert result == first, f"{name} differs from edge: {result!r} != {first!r}"
    return first


def _spec(raw: Any) -> Any:
    """A plan written as in YAML (string, list or tree), validated as the config does."""
    from pydantic import TypeAdapter

    return TypeAdapter(PlanSpec).validate_python(raw)


def ids(hits: list[Any]) -> list[Any]:
    return [h.id for h in hits]


def matching(pipelines: dict[str, Pipeline], flt: Any) -> set[Any]:
    """Ids matched by a filter, checked the same through get_where, count and search."""
    found = on_all(pipelines, lambda p: sorted(map(str, ids(p.get_where(flt)))))
    if isinstance(found, tuple):
        return found  # type: ignore[return-value]
    assert on_all(pipelines, lambda p: p.count(flt)) == len(found)
    for plan in ("tokens", "dense:3 -> tokens", "dense"):
        searched = on_all(
            pipelines,
            lambda p, plan=plan: sorted(
                map(str, ids(p.search("vectors", 10, filter=flt, plan=plan)))
            ),
        )
        assert set(searched) <= set(found), plan
    return set(found)


# --- the cases found broken ----------------------------------------------------------


@pytest.mark.parametrize(
    "flt",
    [
        {"flag": True},
        {"flag": {"$eq": True}},
        {"must": [{"key": "metadata.flag", "match": {"value": True}}]},
        models.Filter(
            must=[models.FieldCondition(key="metadata.flag", match=models.MatchValue(value=True))]
        ),
    ],
    ids=["simple", "eq", "json", "typed"],
)
def test_bool_filter_never_matches_the_int_one(pipelines, flt) -> None:
    assert matching(pipelines, flt) == {"t", "7"}
    assert matching(pipelines, {"flag": False}) == {"f", "7"}
    assert matching(pipelines, {"flag": 1}) == {"one"}
    assert matching(pipelines, {"flag": {"$ne": True}}) == {"f", "one", "zero", "none"}


def test_bool_delete_where_spares_the_int_one(encoder, tmp_path: Path) -> None:
    def run(p: Pipeline) -> list[Any]:
        p.ingest(DOCS)
        p.delete_where({"flag": True})
        return sorted(map(str, ids(p.get_where(None))))

    results = {}
    for name in NAMES:
        config = {"fields": FIELDS, "store": store_config(name, tmp_path / name)}
        with Pipeline.from_config(config, encoder=encoder) as p:
            results[name] = run(p)
    assert results["edge"] == results["memory"] == results["remote"] == ["f", "none", "one", "zero"]


def test_min_should_under_a_prefetch_plan(pipelines) -> None:
    two_of = models.Filter(
        min_should=models.MinShould(
            conditions=[
                models.FieldCondition(key="metadata.topic", match=models.MatchValue(value="ir")),
                models.FieldCondition(key="metadata.n", range=models.Range(gte=3)),
                models.FieldCondition(key="metadata.tags", match=models.MatchAny(any=["a"])),
            ],
            min_count=2,
        )
    )
    assert matching(pipelines, two_of) == {"zero", "none"}
    for limit in (1, 2, 3, 6):
        hits = on_all(
            pipelines,
            lambda p, n=limit: sorted(
                map(str, ids(p.search("vectors", 6, filter=two_of, plan=f"dense:{n} -> tokens")))
            ),
        )
        assert set(hits) <= {"zero", "none"}
        assert len(hits) == min(limit, 2)  # the filter runs inside the prefetch, not after


def test_match_except(pipelines) -> None:
    flt = models.Filter(
        must=[
            models.FieldCondition(
                key="metadata.topic", match=models.MatchExcept(**{"except": ["ir", "db"]})
            )
        ]
    )
    assert matching(pipelines, flt) == {"f", "7"}
    as_json = {"must": [{"key": "metadata.topic", "match": {"except": ["ir"]}}]}
    assert matching(pipelines, as_json) == {"t", "f", "7"}


@pytest.mark.parametrize(
    "spec",
    [
        "dense -> tokens",
        [{"field": "dense"}, {"field": "tokens"}],
        {"field": "tokens", "prefetch": [{"field": "dense"}]},
    ],
    ids=["string", "chain", "tree"],
)
def test_a_candidate_stage_without_a_limit_is_refused(pipelines, spec) -> None:
    for plan in (plan_from_spec(_spec(spec)), Stage("tokens", prefetch=(Stage("dense"),))):
        error = on_all(pipelines, lambda p, plan=plan: p.search("x", 3, plan=plan))
        assert error[0] == "ConfigError" and "needs a limit" in error[1]


def test_a_metadata_key_named_must(pipelines) -> None:
    error = on_all(pipelines, lambda p: p.search("x", 3, filter={"must": "x"}))
    assert error[0] == "InvalidInputError"
    typed = {"must": [{"key": "metadata.must", "match": {"value": "x"}}]}
    assert matching(pipelines, typed) == set()


def test_datetime_metadata_round_trips_and_filters(pipelines) -> None:
    stored = on_all(pipelines, lambda p: p.get(["t"])[0].metadata["at"])
    assert stored == WHEN.isoformat()
    recent = {"at": {"$gte": "2024-01-01T00:00:00Z"}}
    assert matching(pipelines, recent) == {"t"}
    typed = models.Filter(
        must=[models.FieldCondition(key="metadata.at", range=models.DatetimeRange(lt=WHEN))]
    )
    assert matching(pipelines, typed) == {"f"}


def test_numpy_scalars_are_stored_as_python_numbers(pipelines) -> None:
    meta = on_all(pipelines, lambda p: p.get([7])[0].metadata)
    assert meta["n"] == 4 and type(meta["n"]) is int and meta["ratio"] == 0.25
    assert matching(pipelines, {"n": np.int64(4)}) == {"7"}
    assert matching(pipelines, {"ratio": np.float32(0.25)}) == {"7"}


# --- every filter operator and combination --------------------------------------------


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ({"topic": "ir"}, {"one", "zero", "none"}),
        ({"topic": ["db", "pets"]}, {"t", "f", "7"}),
        ({"topic": {"$in": ["db"]}}, {"t"}),
        ({"topic": {"$nin": ["ir", "pets"]}}, {"t"}),
        ({"topic": {"$ne": "ir"}}, {"t", "f", "7"}),
        ({"n": {"$gt": 2}}, {"zero", "7", "none"}),
        ({"n": {"$lte": 1}, "topic": "db"}, {"t"}),
        ({"score": 4.5}, {"t"}),
        ({"tags": "b"}, {"t", "f"}),
        ({"must": [{"is_empty": {"key": "metadata.tags"}}]}, {"one", "zero", "7", "none"}),
        ({"must": [{"key": "metadata.nested.level", "match": {"value": 2}}]}, {"zero"}),
        (
            {
                "should": [
                    {"key": "metadata.n", "match": {"value": 0}},
                    {"key": "metadata.n", "match": {"value": 5}},
                ]
            },
            {"f", "none"},
        ),
        ({"must_not": [{"key": "metadata.topic", "match": {"any": ["ir", "pets"]}}]}, {"t"}),
        (
            {
                "must": [
                    {
                        "should": [
                            {"key": "metadata.topic", "match": {"value": "pets"}},
                            {"key": "metadata.flag", "match": {"value": True}},
                        ]
                    }
                ],
                "must_not": [{"key": "metadata.n", "range": {"gte": 4}}],
            },
            {"t", "f"},
        ),
        (
            {
                "must": [{"key": "metadata.topic", "match": {"value": "ir"}}],
                "min_should": {
                    "conditions": [
                        {"key": "metadata.n", "match": {"value": 2}},
                        {"key": "metadata.n", "match": {"value": 5}},
                    ],
                    "min_count": 1,
                },
            },
            {"one", "none"},
        ),
        ({"must": [{"key": "metadata.flag", "match": {"value": "true"}}]}, {"none"}),
        ({"must": [{"key": "metadata.topic", "match": {"substring": "et"}}]}, {"f", "7"}),
        ({"must": [{"key": "metadata.topic", "match": {"prefix": "p"}}]}, {"f", "7"}),
        ({"must": [{"key": "metadata.tags", "values_count": {"gte": 2}}]}, {"t"}),
    ],
)
def test_every_filter_form_agrees(pipelines, flt, expected) -> None:
    assert matching(pipelines, flt) == expected


@pytest.mark.parametrize(
    "flt",
    [
        {"topic": {"$regex": "x"}},
        {"topic": {"$in": "ir"}},
        {"topic": {"$gt": 1, "$lt": 3}},
        {"topic": {"$gt": True}},
        {"topic": object()},
        {"must": [{"key": "metadata.topic", "match": {"any": [True]}}]},
        {"must": [{"nope": 1}]},
        {1: "x"},
        "topic = ir",
        {"must": [{"key": "metadata.n", "match": {"value": 1}, "range": {"gte": 0}}]},
        {
            "min_should": {
                "conditions": [{"key": "metadata.n", "match": {"value": 1}}],
                "min_count": 0,
            }
        },
        {"must": [{"has_id": ["not-a-uuid"]}]},
        {"at": {"$gte": "yesterday"}},
        {"n": {"$gte": 10**400}},
    ],
)
def test_bad_filters_fail_the_same_way_everywhere(pipelines, flt) -> None:
    error = on_all(pipelines, lambda p: p.search("x", 3, filter=flt))
    assert error[0] == "InvalidInputError"
    assert on_all(pipelines, lambda p: p.count(flt))[0] == "InvalidInputError"


# --- plans ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "plan",
    [
        "tokens",
        "dense",
        "dense:4 -> tokens",
        [{"field": "dense", "limit": 4}, {"field": "tokens"}],
        Stage("tokens", prefetch=(Stage("dense", 4),)),
        Stage("tokens", prefetch=(Stage("dense", 2), Stage("tokens", 2))),
    ],
    ids=["exact", "dense", "string", "chain", "tree", "two-children"],
)
def test_every_plan_form_gives_the_same_ranking(pipelines, plan) -> None:
    stage = plan if isinstance(plan, (str, Stage)) else plan_from_spec(_spec(plan))

    def ranked(p: Pipeline) -> list[list[tuple[str, float]]]:
        return [
            [(str(h.id), round(h.score, 4)) for h in hits]
            for hits in p.search_batch(QUERIES, 4, plan=stage)
        ]

    assert len(on_all(pipelines, ranked)) == len(QUERIES)


@pytest.mark.parametrize(
    ("plan", "limits"),
    [
        ("dense:0 -> tokens", None),
        ("dense:5 -> tokens", {"dense": 0}),
        ("dense:5 -> tokens", {"dnese": 10}),
        ("sparse:5 -> tokens", None),
        (Stage("tokens", rescore=False), None),
        (Stage("dense", oversampling=2.0), None),
    ],
)
def test_bad_plans_are_refused_the_same_way(pipelines, plan, limits) -> None:
    error = on_all(pipelines, lambda p: p.search("x", 3, plan=plan, limits=limits))
    assert error[0] == "ConfigError"


def test_k_ids_and_batches(pipelines) -> None:
    assert on_all(pipelines, lambda p: p.search("x", 0))[0] == "InvalidInputError"
    restricted = on_all(
        pipelines, lambda p: sorted(map(str, ids(p.search("vectors", 5, ids=["t", 7, "missing"]))))
    )
    assert restricted == ["7", "t"]
    assert on_all(pipelines, lambda p: p.delete("49"))[0] == "InvalidInputError"
    assert on_all(pipelines, lambda p: p.get("t"))[0] == "InvalidInputError"
    batched = on_all(pipelines, lambda p: [ids(h) for h in p.search_batch(QUERIES, 3)])
    single = on_all(pipelines, lambda p: [ids(p.search(q, 3)) for q in QUERIES])
    assert batched == single


# --- payloads -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"x": float("nan")}, "NaN"),
        ({"x": {1, 2}}, "set cannot be stored"),
        ({1: "int key"}, "must be str"),
        ({"x": 2**70}, "64 bits"),
        ({"x": b"bytes"}, "bytes cannot be stored"),
    ],
)
def test_unstorable_metadata_is_refused_before_anything_is_written(
    pipelines, metadata, message
) -> None:
    before = on_all(pipelines, lambda p: p.count())
    docs = [{"id": "ok", "text": "fine"}, {"id": "bad", "text": "bad", "metadata": metadata}]
    error = on_all(pipelines, lambda p: p.ingest(docs))
    assert error[0] == "InvalidInputError" and "document #1" in error[1]
    assert on_all(pipelines, lambda p: p.count()) == before


def test_deeply_nested_metadata_is_refused(pipelines) -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(200):
        node["x"] = {}
        node = node["x"]
    error = on_all(pipelines, lambda p: p.ingest([{"id": "deep", "text": "t", "metadata": deep}]))
    assert error[0] == "InvalidInputError"


# --- collection configuration, as stored ------------------------------------------------

OPTIONS = [
    *({"datatype": d} for d in ("float16", "turbo8", "turbo16")),
    *({"quantization": q} for q, _ in QUANTIZATIONS),  # every quantization polyvec exposes
]


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: json.dumps(o, sort_keys=True))
def test_every_storage_option_is_stored_alike(encoder, tmp_path: Path, option) -> None:
    """Edge's stored config and the server's (as the double keeps it) say the same thing."""
    fields = [{"type": "late_interaction", **option}, {"type": "dense", "hnsw": True, **option}]
    stored: dict[str, Any] = {}
    for name in ("edge", "remote"):
        config = {"fields": fields, "store": store_config(name, tmp_path / name)}
        with Pipeline.from_config(config, encoder=encoder) as p:
            p.ingest(DOCS[:2])
            if name == "edge":
                edge = json.loads((p.store.root / "shard" / "edge_config.json").read_text())
                stored[name] = {
                    v: {k: cfg.get(k) for k in ("datatype", "quantization_config")}
                    for v, cfg in edge["vectors"].items()
                }
            else:
                client = QdrantClient(
                    url=qdrant_double(tmp_path / name).url, check_compatibility=False
                )
                vectors = client.get_collection("test").config.params.vectors
                client.close()
                stored[name] = {
                    v: {
                        "datatype": params.datatype.value if params.datatype else None,
                        "quantization_config": params.quantization_config.model_dump(
                            mode="json", exclude_none=True
                        )
                        if params.quantization_config
                        else None,
                    }
                    for v, params in vectors.items()
                }
            expected = {vf.name: vector_params(vf) for vf in p.vector_fields.values()}
    for v, params in expected.items():
        want_q = (
            params.quantization_config.model_dump(mode="json", exclude_none=True)
            if params.quantization_config
            else None
        )
        for name in ("edge", "remote"):
            assert stored[name][v]["datatype"] == params.datatype.value, (name, v)
            assert stored[name][v]["quantization_config"] == want_q, (name, v)


# --- errors of the backends themselves --------------------------------------------------


def test_query_vectors_of_the_wrong_size_are_refused(pipelines) -> None:
    wrong = Stage("tokens")
    error = on_all(pipelines, lambda p: p.search_vectors([{"tokens": [[0.1, 0.2]]}], 3, plan=wrong))
    assert error[0] == "InvalidInputError" and "384 dimensions" in error[1]


def test_a_bad_named_plan_fails_when_the_pipeline_opens(encoder, tmp_path: Path) -> None:
    for name in NAMES:
        store = store_config(name, tmp_path / name)
        config = {"fields": FIELDS, "store": store, "plans": {"bad": "dense -> tokens"}}
        with pytest.raises(ConfigError, match="needs a limit"):
            Pipeline.from_config(config, encoder=encoder)


def test_search_vectors_equals_search(pipelines) -> None:
    """Query vectors computed once (lists or numpy arrays) give what the text gives."""

    def both(p: Pipeline) -> tuple[list[Any], list[Any]]:
        stage = p.plan("dense:4 -> tokens")
        vectors = p.encode_queries(QUERIES[:2], stage)
        as_numpy = [{k: np.asarray(v) for k, v in q.items()} for q in vectors]
        by_vectors = [ids(h) for h in p.search_vectors(as_numpy, 3, plan=stage)]
        return by_vectors, [ids(p.search(q, 3, plan=stage)) for q in QUERIES[:2]]

    by_vectors, by_text = on_all(pipelines, both)
    assert by_vectors == by_text


def test_one_ingest_with_an_id_twice_keeps_the_last(encoder, tmp_path: Path) -> None:
    twice = [{"id": "d", "text": f"version {v}", "metadata": {"v": v}} for v in range(8)]
    for name in NAMES:
        store = (
            {**store_config(name, tmp_path / name), "upload_batch_size": 1}
            if name != "edge"
            else store_config(name, tmp_path / name)
        )
        config = {"fields": FIELDS, "store": store, "ingest_batch_size": 8}
        with Pipeline.from_config(config, encoder=encoder) as p:
            assert p.ingest(twice) == ["d"] * 8
            assert [h.metadata["v"] for h in p.get(["d"])] == [7], name


def test_payload_indexes_do_not_change_answers(encoder, tmp_path: Path) -> None:
    found = {}
    for name in NAMES:
        store = {
            **store_config(name, tmp_path / name),
            "payload_indexes": {"topic": "keyword", "n": "integer"},
        }
        with Pipeline.from_config({"fields": FIELDS, "store": store}, encoder=encoder) as p:
            p.ingest(DOCS)
            found[name] = [
                sorted(map(str, ids(p.get_where(f))))
                for f in ({"topic": "ir"}, {"n": {"$gte": 3}}, {"n": 2}, {"doc_id": "t"})
            ]
    assert found["edge"] == found["memory"] == found["remote"]
    assert found["edge"][:3] == [["none", "one", "zero"], ["7", "none", "zero"], ["one"]]


def test_search_vectors_refuses_a_flat_vector_for_a_multivector_field(pipelines) -> None:
    error = on_all(
        pipelines, lambda p: p.search_vectors([{"tokens": [0.1] * 384}], 3, plan="tokens")
    )
    assert error[0] == "InvalidInputError" and "set of vectors" in error[1]


def test_a_source_is_replaced_and_deleted_as_one_unit(encoder, tmp_path: Path) -> None:
    from polyvec import Document

    def passages(source: str, n: int) -> list[Document]:
        return [
            Document(text=f"{source} part {i}", id=f"{source}#{i}", frontend={"source": source})
            for i in range(n)
        ]

    for name in NAMES:
        config = {"fields": FIELDS, "store": store_config(name, tmp_path / name)}
        with Pipeline.from_config(config, encoder=encoder) as p:
            p.replace_sources(passages("a.md", 9) + passages("b.md", 2))
            p.replace_sources(passages("a.md", 1))  # a.md shortened to one passage
            assert sorted(ids(p.get_where(None))) == ["a.md#0", "b.md#0", "b.md#1"], name
            assert p.source_hashes() == {"a.md": None, "b.md": None}
            p.delete_sources(["b.md", "never.md"])
            assert ids(p.get_where(None)) == ["a.md#0"], name
            with pytest.raises(InvalidInputError):
                p.delete_sources("a.md")


def test_resume_by_content_and_no_create_for_readers(encoder, tmp_path: Path) -> None:
    """skip_unchanged and create=False behave the same on every backend."""
    from polyvec import CollectionNotFoundError

    for name in NAMES:
        store = store_config(name, tmp_path / name)
        with pytest.raises(CollectionNotFoundError, match="nothing was created"):
            Pipeline.from_config({"fields": FIELDS, "store": store}, encoder=encoder, create=False)
        with Pipeline.from_config({"fields": FIELDS, "store": store}, encoder=encoder) as p:
            p.ingest(DOCS[:3])
            changed = [dict(DOCS[0], text="a new text"), *DOCS[1:5]]
            p.ingest(changed, skip_unchanged=True)
            assert p.last_ingest_skipped == 2, name  # DOCS[1:3] were stored unchanged
            assert p.count() == 5 and p.get(["t"])[0].text == "a new text"
        if name == "memory":
            continue  # ":memory:" ends with its client
        with Pipeline.from_config(
            {"fields": FIELDS, "store": store}, encoder=encoder, create=False
        ) as p:
            assert p.count() == 5, name


def test_long_documents_become_passages_alike(encoder, tmp_path: Path, monkeypatch) -> None:
    """A document longer than the window is split the same way, its end is searchable, its
    passages are replaced as one unit, and clear() pages through on every backend."""
    from polyvec import Document
    from polyvec.store import base

    filler = " ".join(f"filler{i % 50} words about nothing in particular." for i in range(60))
    long = Document(
        text=f"{filler}\n\nThe lighthouse keeper counted seventeen gulls at dawn.",
        id="long",
        metadata={"kind": "story"},
    )
    short = Document(text="Qdrant stores vectors.", id="short")
    monkeypatch.setattr(base, "_PAGE", 3)  # clear() must page, not read every id at once
    answers = {}
    for name in NAMES:
        config = {"fields": FIELDS, "store": store_config(name, tmp_path / name)}
        with Pipeline.from_config(config, encoder=encoder) as p:
            passages = list(p.passages([long, short]))
            assert len(passages) > 2 and passages[-1].id == "short"
            p.replace_sources(p.passages([long, short]))
            top = p.search("how many gulls did the lighthouse keeper count", 1)[0]
            assert "seventeen gulls" in top.text and top.frontend["source"] == "long", name
            assert top.metadata == {"kind": "story"}
            answers[name] = (sorted(map(str, ids(p.get_where(None)))), top.id)
            p.replace_sources(p.passages([Document(text="Now short.", id="long")]))
            assert sorted(map(str, ids(p.get_where(None)))) == ["long", "short"], name
            p.clear()
            assert p.count() == 0, name
    assert len(set(map(str, answers.values()))) == 1, answers


BM25_DOCS = [
    {"id": "a", "text": "The cats are running over the fields."},
    {"id": "b", "text": "Qdrant stores dense and sparse vectors."},
    {"id": "c", "text": "Running a marathon takes months of training."},
    {"id": 4, "text": "A cat sleeps; cats sleep most of the day."},
]


def test_sparse_bytes_per_document_are_one_answer_everywhere(encoder, tmp_path: Path) -> None:
    """A bm25 field counts its entries (8 bytes each, stored and in the inverted index) from
    each engine's own sparse vector type: the same bytes per document everywhere."""
    from polyvec.sizes import SPARSE_ENTRY_BYTES, bytes_per_document

    found = {}
    for name in NAMES:
        config = {"fields": [{"type": "bm25"}], "store": store_config(name, tmp_path / name)}
        with Pipeline.from_config(config, encoder=encoder) as p:
            p.ingest(BM25_DOCS)
            found[name] = bytes_per_document(p.store, p.vector_fields)["bm25"]
    first = found["edge"]
    assert first["vectors_per_doc"] > 1
    assert first["total"] == 2 * SPARSE_ENTRY_BYTES * first["vectors_per_doc"]
    assert found["memory"] == found["remote"] == first


def test_bm25_is_one_answer_everywhere(encoder, tmp_path: Path) -> None:
    """Qdrant's BM25 (IDF by the engine) as a plan of its own, as candidates for MaxSim and
    through search_vectors: the same ids and scores on every backend; the manifest holds
    its settings, so a collection reopens and a changed setting is refused."""
    from polyvec import CollectionMismatchError

    fields = [{"type": "bm25", "name": "bm25"}, {"type": "late_interaction", "name": "tokens"}]
    answers = {}
    for name in NAMES:
        store = store_config(name, tmp_path / name)
        with Pipeline.from_config({"fields": fields, "store": store}, encoder=encoder) as p:
            p.ingest(BM25_DOCS)
            alone = [(h.id, round(h.score, 4)) for h in p.search("cat running", 4, plan="bm25")]
            funnel = ids(p.search("cat running", 2, plan="bm25:3 -> tokens"))
            vectors = p.encode_queries(["cat running"], p.plan("bm25"))
            by_vector = ids(p.search_vectors(vectors, 4, plan="bm25")[0])
            stemmed = ids(p.search("sleeping", 4, plan="bm25"))
            answers[name] = (alone, funnel, by_vector, stemmed)
            assert by_vector == [i for i, _ in alone] and stemmed == [4]
            assert all(0 < h.relevance < 1 for h in p.search("cat", 2, plan="bm25"))
        if name == "memory":
            continue
        with Pipeline.from_config({"fields": fields, "store": store}, encoder=encoder) as p:
            assert p.count() == 4
        changed = [{"type": "bm25", "name": "bm25", "k": 2.0}, fields[1]]
        with pytest.raises(CollectionMismatchError, match="k"):
            Pipeline.from_config({"fields": changed, "store": store}, encoder=encoder)
    first = answers["edge"]
    assert [i for i, _ in first[0]] == ["a", 4, "c"]  # "b" shares no term with the query
    for name, answer in answers.items():
        assert answer == first, f"{name} differs from edge: {answer} != {first}"


def test_a_bm25_only_pipeline_never_runs_the_encoder(encoder, tmp_path: Path) -> None:
    class NoModel(type(encoder)):  # type: ignore[misc]
        def encode(self, texts, **kwargs):  # type: ignore[no-untyped-def]
            if (
                texts
                and texts[0] != "polyvec encoder fingerprint probe: late interaction on Qdrant."
            ):
                raise AssertionError("the encoder ran for a bm25-only pipeline")
            return super().encode(texts, **kwargs)

    quiet = NoModel.__new__(NoModel)
    quiet.__dict__.update(encoder.__dict__)
    config = {"fields": [{"type": "bm25"}], "store": store_config("edge", tmp_path)}
    with Pipeline.from_config(config, encoder=quiet) as p:
        p.ingest(BM25_DOCS)
        assert ids(p.search("marathon training", 1)) == ["c"]


FUSED_PLANS = [
    "rrf(bm25:4, tokens:4)",
    "rrf(k=2; bm25:4, dense:4 -> tokens:4)",
    "dbsf(bm25:4, dense:4)",
    "rrf(bm25:3, dense:3) -> tokens",
    {
        "fusion": "rrf",
        "k": 5,
        "weights": [0.3, 1.0],
        "prefetch": [{"field": "bm25", "limit": 4}, {"field": "tokens", "limit": 4}],
    },
    "rrf(k=5; bm25:4 * 0.3, tokens:4)",  # the same weighted plan, in the string form
]


# distinct texts: each list (BM25, dense) ranks without ties of its own, so the ties
# below are RRF's (engines differ where a list's own scores tie: RRF reads ranks)
TIE_DOCS = [
    {"id": f"d{n:02d}", "text": text}
    for n, text in enumerate(
        [
            "Cats sleep most of the day.",
            "Dogs bark at the mail carrier.",
            "Sparse vectors store a weight per term.",
            "Dense vectors of a sentence encoder.",
            "Marathon training takes months.",
            "Rust has no garbage collector.",
            "Sleep helps memory.",
            "Qdrant stores named vectors and payloads.",
            "Late interaction scores every query token.",
            "Reciprocal rank fusion adds inverse ranks.",
            "BM25 weighs rare terms more.",
            "A kitten naps in the warm sun.",
        ]
    )
]


def test_fused_ties_are_ranked_by_id_one_answer_everywhere(encoder, tmp_path: Path) -> None:
    """RRF scores tie by construction (the same rank in different lists); engines order
    ties as they meet them. polyvec ranks the whole fused pool itself: equal scores by id,
    the same top k on every backend and on every repeat."""
    fields = [{"type": "bm25", "name": "bm25"}, {"type": "dense", "name": "dense"}]
    plan = "rrf(bm25:4, dense:4)"
    answers = {}
    for name in NAMES:
        config = {"fields": fields, "store": store_config(name, tmp_path / name)}
        with Pipeline.from_config(config, encoder=encoder) as p:
            p.ingest(TIE_DOCS)
            runs = [
                [(h.id, h.score) for h in p.search("cats vectors", 4, plan=plan)] for _ in range(5)
            ]
            assert all(run == runs[0] for run in runs), name
            ranked = runs[0]
            assert len({score for _, score in ranked}) < len(ranked)  # there are ties
            assert ranked == sorted(ranked, key=lambda hit: (-hit[1], hit[0]))
            answers[name] = [(i, round(score, 5)) for i, score in ranked]
    assert answers["edge"] == answers["memory"] == answers["remote"]


def test_an_inner_fused_stage_cut_inside_a_tie_is_one_answer_everywhere(
    encoder, tmp_path: Path
) -> None:
    """A fused candidate stage cut where its scores tie (``rrf(...):N -> tokens``): the
    engine would keep whichever tied documents it met first, so the next stage would rank
    different candidates on each backend. polyvec cuts it itself, by score then id: the
    next stage ranks exactly the first N of the fused pool as polyvec ranks it (before,
    Qdrant Edge returned one of two documents at random here)."""
    fields = [
        {"type": "bm25", "name": "bm25"},
        {"type": "dense", "name": "dense"},
        {"type": "late_interaction", "name": "tokens"},
    ]
    fused, query = "rrf(bm25:4, dense:4)", "cats vectors"
    answers = {}
    for name in NAMES:
        config = {"fields": fields, "store": store_config(name, tmp_path / name)}
        with Pipeline.from_config(config, encoder=encoder) as p:
            p.ingest(TIE_DOCS)
            pool = p.search(query, 8, plan=fused)  # the whole pool, ranked by polyvec
            cut = next(i for i in range(1, len(pool)) if pool[i - 1].score == pool[i].score)
            kept = [h.id for h in pool[:cut]]  # a tie straddles the cut
            expected = [h.id for h in p.search(query, cut, plan="tokens", ids=kept)]
            plan = f"{fused}:{cut} -> tokens"
            runs = [[h.id for h in p.search(query, cut, plan=plan)] for _ in range(5)]
            assert all(run == expected for run in runs), (name, runs, expected)
            batch = p.search_batch([query, "payloads"], cut, plan=plan)
            assert [h.id for h in batch[0]] == expected, name
            assert [h.id for h in asyncio.run(p.asearch(query, cut, plan=plan))] == expected
            # the same cut one level deeper: pinned inside its parent's own candidates
            deeper = f"{fused}:{cut} -> tokens:{cut} -> dense"
            assert {h.id for h in p.search(query, cut, plan=deeper)} == set(expected), name
            # beside another candidate stage: the next stage ranks the union of the two
            beside = Stage(
                field="tokens",
                prefetch=(Stage(field="dense", limit=1), parse_plan(plan).prefetch[0]),
            )
            dense = [h.id for h in p.search(query, 1, plan="dense")]
            union = list(dict.fromkeys(kept + dense))
            wanted = [h.id for h in p.search(query, len(union), plan="tokens", ids=union)]
            assert [h.id for h in p.search(query, len(union), plan=beside)] == wanted, name
            answers[name] = expected, wanted
    assert answers["edge"] == answers["memory"] == answers["remote"]


def test_weights_read_the_same_in_string_and_tree_forms() -> None:
    from polyvec.config import plan_from_spec

    tree, text = FUSED_PLANS[-2], FUSED_PLANS[-1]
    assert plan_from_spec(_spec(text)) == plan_from_spec(_spec(tree))
    stage = plan_from_spec(_spec(text))
    assert stage.weights == (0.3, 1.0)
    assert plan_from_spec(_spec(stage.describe())) == stage  # describe() reads back


@pytest.mark.parametrize("plan", FUSED_PLANS, ids=str)
def test_fused_plans_are_one_answer_everywhere(encoder, tmp_path: Path, plan: Any) -> None:
    """RRF and DBSF fusion (Qdrant's own) at the root or as candidates: the same ranking
    and scores on every backend, relevance in [0, 1]."""
    fields = [
        {"type": "bm25", "name": "bm25"},
        {"type": "late_interaction", "name": "tokens"},
        {"type": "dense", "name": "dense"},
    ]
    from polyvec.config import plan_from_spec

    stage = plan_from_spec(_spec(plan))  # the same plan, built as a Stage
    answers = {}
    for name in NAMES:
        store = store_config(name, tmp_path / name)
        config = {"fields": fields, "store": store, "plans": {"p": plan}}
        with Pipeline.from_config(config, encoder=encoder) as p:
            p.ingest(BM25_DOCS)
            hits = p.search("do cats like running", 3, plan="p")
            assert all(0 <= h.relevance <= 1 for h in hits), name
            assert ids(p.search("do cats like running", 3, plan=stage)) == ids(hits)
            answers[name] = [(h.id, round(h.score, 4)) for h in hits]
    first = answers["edge"]
    assert len(first) == 3 and first[0][0] in ("a", 4)
    for name, answer in answers.items():
        assert answer == first, f"{name} differs from edge: {answer} != {first}"


@pytest.mark.parametrize(
    ("plan", "fragment"),
    [
        ("rrf(bm25:4)", "fuses two or more"),
        ("tokens:4 -> rrf(bm25:4, dense:4)", "cannot rerank the stage before it"),
        ("rrf(bm25, dense:4)", "needs a limit"),
        (
            {
                "fusion": "dbsf",
                "weights": [1, 2],
                "prefetch": [{"field": "bm25", "limit": 4}, {"field": "dense", "limit": 4}],
            },
            "DBSF takes no weights",
        ),
        (
            {
                "fusion": "rrf",
                "weights": [1],
                "prefetch": [{"field": "bm25", "limit": 4}, {"field": "dense", "limit": 4}],
            },
            "one positive weight",
        ),
        ({"field": "dense", "fusion": "rrf"}, "either a 'field' or a 'fusion'"),
        ("dbsf(bm25:4 * 2, dense:4)", "DBSF takes no weights"),
        ("rrf(bm25:4 * 0, dense:4)", "one positive weight"),
        ("rrf(bm25:4 * x, dense:4)", "expected a weight after '*', found 'x'"),
        ("rrf(bm25:4, nothing:4)", "unknown field(s) ['nothing']"),
    ],
    ids=str,
)
def test_bad_fusion_plans_are_refused(encoder, tmp_path: Path, plan: Any, fragment: str) -> None:
    from polyvec import ConfigError

    fields = [{"type": "bm25", "name": "bm25"}, {"type": "dense", "name": "dense"}]
    config = {"fields": fields, "store": store_config("edge", tmp_path), "plans": {"p": plan}}
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        Pipeline.from_config(config, encoder=encoder)


def test_tune_takes_fused_candidates_and_refuses_a_fused_root(encoder, tmp_path: Path) -> None:
    from polyvec import ConfigError
    from polyvec.tune import tune

    fields = [{"type": "bm25"}, {"type": "late_interaction", "name": "tokens"}, {"type": "dense"}]
    config = {"fields": fields, "store": store_config("edge", tmp_path)}
    with Pipeline.from_config(config, encoder=encoder) as p:
        p.ingest(BM25_DOCS)
        result = tune(
            p, ["cats", "training"], plan="rrf(bm25:2, dense:2) -> tokens", k=2, limits=[2, 4]
        )
        assert result.field == "bm25" and [r.limit for r in result.rows] == [2, 4]
        with pytest.raises(ConfigError, match="ends in a fusion"):
            tune(p, ["cats"], plan="rrf(bm25:2, dense:2)", k=2)


MMR_DOCS = [
    {"id": "cat1", "text": "Cats sleep most of the day."},
    {"id": "cat2", "text": "Cats sleep for most of the day, often sixteen hours."},
    {"id": "cat3", "text": "A cat sleeps much of each day."},
    {"id": "dog", "text": "Dogs need long walks and sleep at night."},
    {"id": "qd", "text": "Qdrant stores vectors for search."},
]


def test_mmr_is_one_answer_everywhere(encoder, tmp_path: Path) -> None:
    """Qdrant's MMR on the dense field: the same picks on every backend, through the
    pipeline and LangChain (search, by vector, the retriever's search_type="mmr")."""
    from polyvec.plugins.langchain import PolyvecVectorStore

    answers = {}
    for name in NAMES:
        config = {"fields": FIELDS, "store": store_config(name, tmp_path / name)}
        with Pipeline.from_config(config, encoder=encoder) as p:
            p.ingest(MMR_DOCS)
            nearest = ids(p.search("how long do cats sleep", 3, plan="dense"))
            assert ids(p.search_mmr("how long do cats sleep", 3, lambda_mult=1.0)) == nearest
            diverse = ids(p.search_mmr("how long do cats sleep", 3, fetch_k=5, lambda_mult=0.2))
            store = PolyvecVectorStore.from_pipeline(p)
            docs = store.max_marginal_relevance_search(
                "how long do cats sleep", k=3, fetch_k=5, lambda_mult=0.2
            )
            vector = p.encode_queries(["how long do cats sleep"], p.plan("dense"))[0]["dense"]
            by_vector = store.max_marginal_relevance_search_by_vector(
                vector, k=3, fetch_k=5, lambda_mult=0.2
            )
            retriever = store.as_retriever(
                search_type="mmr", search_kwargs={"k": 3, "fetch_k": 5, "lambda_mult": 0.2}
            )
            via_retriever = [d.id for d in retriever.invoke("how long do cats sleep")]
            assert [d.id for d in docs] == [d.id for d in by_vector] == via_retriever == diverse
            nearest_by_vector = [d.id for d in store.similarity_search_by_vector(vector, k=3)]
            assert nearest_by_vector == nearest
            filtered = ids(p.search_mmr("cats", 2, ids=["dog", "qd"]))
            assert sorted(filtered) == ["dog", "qd"]
            # on the token field: MaxSim relevance, MaxSim likeness between documents
            by_tokens = p.search_mmr("how long do cats sleep", 3, fetch_k=5, field="tokens")
            tokens = [(h.id, round(h.score, 4)) for h in by_tokens]
            relevance_only = p.search_mmr("cats", 3, lambda_mult=1.0, field="tokens")
            assert ids(relevance_only) == ids(p.search("cats", 3, plan="tokens"))
            answers[name] = (nearest, diverse, filtered, tokens)
    first = answers["edge"]
    assert first[1] != first[0] and first[1][0] == first[0][0]  # MMR keeps the best, then varies
    assert len({i for i in first[1] if str(i).startswith("cat")}) < 3
    for name, answer in answers.items():
        assert answer == first, f"{name} differs from edge: {answer} != {first}"


def test_mmr_without_a_dense_field_uses_the_token_field(encoder, tmp_path: Path) -> None:
    found = {}
    for name in ("edge", "memory"):
        config = {"fields": [{"type": "late_interaction"}], "store": store_config(name, tmp_path)}
        with Pipeline.from_config(config, encoder=encoder) as p:
            p.ingest(MMR_DOCS)
            picked = ids(p.search_mmr("how long do cats sleep", 3, fetch_k=5, lambda_mult=0.2))
            assert picked == ids(
                p.search_mmr(
                    "how long do cats sleep", 3, fetch_k=5, lambda_mult=0.2, field="tokens"
                )
            )
            assert len({i for i in picked if i.startswith("cat")}) < 3  # it diversified
            with pytest.raises(InvalidInputError, match="search by vector needs a dense field"):
                p.dense_field()
            found[name] = picked
    assert found["edge"] == found["memory"]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"k": 0}, "k must be a positive int"),
        ({"k": 5, "fetch_k": 2}, "fetch_k must be an int of at least k"),
        ({"lambda_mult": 1.5}, "lambda_mult must lie in [0, 1]"),
        ({"field": "nope"}, "MMR needs a dense or token field; 'nope' is not one of"),
    ],
    ids=str,
)
def test_bad_mmr_arguments_are_refused(pipelines, kwargs: dict[str, Any], fragment: str) -> None:
    result = on_all(pipelines, lambda p: p.search_mmr("cats", **kwargs))
    assert result[0] == "InvalidInputError" and fragment in result[1]

"""The Qdrant test double: qdrant-client's remote REST path against it equals ``:memory:``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from importlib.metadata import version as installed_version
from typing import Any

import httpx
import numpy as np
import pytest
from pytest_socket import SocketConnectBlockedError
from qdrant_client import AsyncQdrantClient, QdrantClient, models
from qdrant_client.common.version_check import get_server_version, is_compatible
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from tests.qdrant_double import QdrantDouble, SilentServer

pytestmark = pytest.mark.allow_hosts(["127.0.0.1"])

NAME = "docs"
DIM = 8
N_POINTS = 60
VECTORS = {
    "dense": models.VectorParams(size=DIM, distance=models.Distance.COSINE),
    "tokens": models.VectorParams(
        size=DIM,
        distance=models.Distance.DOT,
        multivector_config=models.MultiVectorConfig(
            comparator=models.MultiVectorComparator.MAX_SIM
        ),
        hnsw_config=models.HnswConfigDiff(m=0),  # rerank only, as for late interaction
    ),
}
METADATA = {"encoder": "test", "fields": ["dense", "tokens"]}


def _points(seed: int = 0) -> list[models.PointStruct]:
    """Deterministic points: a dense vector, 2-5 token vectors, a payload."""
    rng = np.random.default_rng(seed)
    return [
        models.PointStruct(
            id=i,
            vector={
                "dense": rng.normal(size=DIM).tolist(),
                "tokens": rng.normal(size=(int(rng.integers(2, 6)), DIM)).tolist(),
            },
            payload={"group": i % 3, "title": f"doc {i}"},
        )
        for i in range(N_POINTS)
    ]


def _queries(n: int, seed: int = 1) -> list[tuple[list[float], list[list[float]]]]:
    """``n`` (dense query, token queries) pairs."""
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=DIM).tolist(), rng.normal(size=(3, DIM)).tolist()) for _ in range(n)]


def _rerank(dense: list[float], tokens: list[list[float]], **kwargs: Any) -> dict[str, Any]:
    """Query arguments: a dense prefetch, reranked by MaxSim over the token vectors."""
    return {
        "query": tokens,
        "using": "tokens",
        "prefetch": models.Prefetch(query=dense, using="dense", limit=20),
        "limit": 5,
        **kwargs,
    }


def _hits(points: list[models.ScoredPoint]) -> list[tuple[Any, float]]:
    return [(point.id, point.score) for point in points]


def _fill(client: QdrantClient) -> None:
    client.create_collection(
        NAME,
        vectors_config=VECTORS,
        metadata=METADATA,
        hnsw_config=models.HnswConfigDiff(m=32, ef_construct=200),
        quantization_config=models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8)
        ),
        shard_number=2,
    )
    client.upsert(NAME, _points())


@pytest.fixture
def double() -> Iterator[QdrantDouble]:
    with QdrantDouble() as started:
        yield started
        assert started.errors == []


@pytest.fixture
def client(double: QdrantDouble) -> Iterator[QdrantClient]:
    remote = QdrantClient(url=double.url)
    double.wait_for("GET", "/")  # the version check, before the double can stop
    yield remote
    remote.close()


@pytest.fixture
def memory() -> Iterator[QdrantClient]:
    reference = QdrantClient(":memory:")
    _fill(reference)
    yield reference
    reference.close()


@pytest.fixture
def filled(client: QdrantClient) -> QdrantClient:
    _fill(client)
    return client


def test_version_check_passes(double: QdrantDouble) -> None:
    version = get_server_version(double.url, {}, None, 5)
    assert version == double.version == installed_version("qdrant-client")
    assert is_compatible(installed_version("qdrant-client"), version)


def test_collection_lifecycle(client: QdrantClient, double: QdrantDouble) -> None:
    assert not client.collection_exists(NAME)
    _fill(client)
    assert client.collection_exists(NAME)
    assert [c.name for c in client.get_collections().collections] == [NAME]

    info = client.get_collection(NAME)
    assert info.points_count == N_POINTS
    assert info.config.metadata == METADATA
    assert info.config.params.vectors == VECTORS
    assert info.config.params.shard_number == 2
    assert info.config.hnsw_config.m == 32
    assert info.config.hnsw_config.ef_construct == 200
    assert isinstance(info.config.quantization_config, models.ScalarQuantization)

    client.update_collection(
        NAME,
        metadata={"version": 2},
        hnsw_config=models.HnswConfigDiff(ef_construct=64),
        quantization_config=models.Disabled.DISABLED,
    )
    info = client.get_collection(NAME)
    assert info.config.metadata == {**METADATA, "version": 2}
    assert (info.config.hnsw_config.m, info.config.hnsw_config.ef_construct) == (32, 64)
    assert info.config.quantization_config is None

    assert client.delete_collection(NAME)
    assert not client.collection_exists(NAME)
    assert double.calls("PUT", f"/collections/{NAME}")[0].body["metadata"] == METADATA


def test_points_match_memory(filled: QdrantClient, memory: QdrantClient) -> None:
    ids = [0, 7, 59, 1000]
    got = filled.retrieve(NAME, ids, with_vectors=True)
    assert got == memory.retrieve(NAME, ids, with_vectors=True)
    assert [record.id for record in got] == [0, 7, 59]

    in_group = models.Filter(
        must=[models.FieldCondition(key="group", match=models.MatchValue(value=1))]
    )
    assert filled.count(NAME, count_filter=in_group).count == 20
    assert filled.count(NAME, count_filter=in_group) == memory.count(NAME, count_filter=in_group)

    for dense, tokens in _queries(5):
        remote = filled.query_points(NAME, **_rerank(dense, tokens, query_filter=in_group))
        local = memory.query_points(NAME, **_rerank(dense, tokens, query_filter=in_group))
        assert _hits(remote.points) == _hits(local.points)
        assert len(remote.points) == 5
        assert all(point.payload and point.payload["group"] == 1 for point in remote.points)


def test_scroll_pagination(
    filled: QdrantClient, memory: QdrantClient, double: QdrantDouble
) -> None:
    def pages(client: QdrantClient) -> list[list[Any]]:
        seen, offset = [], None
        while True:
            records, offset = client.scroll(NAME, limit=25, offset=offset)
            seen.append([record.id for record in records])
            if offset is None:
                return seen

    remote_pages = pages(filled)
    assert remote_pages == pages(memory)
    assert [len(page) for page in remote_pages] == [25, 25, 10]
    assert len(double.calls("POST", f"/collections/{NAME}/points/scroll")) == 3


def test_query_batch_is_one_request(
    filled: QdrantClient, memory: QdrantClient, double: QdrantDouble
) -> None:
    requests = [
        models.QueryRequest(**_rerank(dense, tokens), with_payload=True)
        for dense, tokens in _queries(100)
    ]
    remote = filled.query_batch_points(NAME, requests)
    local = memory.query_batch_points(NAME, requests)
    assert [_hits(r.points) for r in remote] == [_hits(r.points) for r in local]
    batches = double.calls("POST", f"/collections/{NAME}/points/query/batch")
    assert len(batches) == 1
    assert len(batches[0].body["searches"]) == 100


def test_uploads_arrive_in_batches(client: QdrantClient, double: QdrantDouble) -> None:
    client.create_collection(NAME, vectors_config=VECTORS)
    client.upload_points(NAME, _points(), batch_size=25, wait=True)
    puts = double.calls("PUT", f"/collections/{NAME}/points")
    assert [len(put.body["points"]) for put in puts] == [25, 25, 10]
    assert all(put.params["wait"] == "true" for put in puts)
    assert client.count(NAME).count == N_POINTS


def test_delete_by_ids_and_filter(filled: QdrantClient, memory: QdrantClient) -> None:
    group_two = models.FilterSelector(
        filter=models.Filter(
            must=[models.FieldCondition(key="group", match=models.MatchValue(value=2))]
        )
    )
    for target in (filled, memory):
        target.delete(NAME, points_selector=models.PointIdsList(points=[0, 3, 6]))
        target.delete(NAME, points_selector=group_two)
    assert filled.count(NAME).count == N_POINTS - 3 - 20
    assert filled.scroll(NAME, limit=100) == memory.scroll(NAME, limit=100)


def test_payload_operations(filled: QdrantClient, memory: QdrantClient) -> None:
    for target in (filled, memory):
        target.set_payload(NAME, {"tag": "x"}, points=[1, 2])
        target.overwrite_payload(NAME, {"only": True}, points=[3])
        target.delete_payload(NAME, ["title"], points=[4])
    ids = [1, 2, 3, 4]
    assert filled.retrieve(NAME, ids) == memory.retrieve(NAME, ids)
    assert filled.retrieve(NAME, [3])[0].payload == {"only": True}


def test_payload_index(filled: QdrantClient) -> None:
    result = filled.create_payload_index(NAME, "group", models.PayloadSchemaType.INTEGER)
    assert result.status == models.UpdateStatus.COMPLETED
    schema = filled.get_collection(NAME).payload_schema
    assert schema["group"].data_type == models.PayloadSchemaType.INTEGER
    assert schema["group"].points == N_POINTS
    filled.delete_payload_index(NAME, "group")
    assert filled.get_collection(NAME).payload_schema == {}


def test_engine_errors_answer_like_a_server(client: QdrantClient, double: QdrantDouble) -> None:
    with pytest.raises(UnexpectedResponse) as missing:
        client.get_collection("absent")
    assert missing.value.status_code == 404
    assert missing.value.structured()["status"]["error"] == (
        "Not found: Collection `absent` doesn't exist!"
    )
    _fill(client)
    with pytest.raises(UnexpectedResponse) as exists:
        client.create_collection(NAME, vectors_config=VECTORS)
    assert exists.value.status_code == 409
    with pytest.raises(UnexpectedResponse) as wrong_dim:
        client.upsert(NAME, [models.PointStruct(id=1, vector={"dense": [0.1, 0.2]})])
    assert wrong_dim.value.status_code == 400
    assert double.errors == []  # the data was wrong, not the requests


async def test_async_client_concurrent_queries(double: QdrantDouble, memory: QdrantClient) -> None:
    aclient = AsyncQdrantClient(url=double.url)
    try:
        await aclient.create_collection(NAME, vectors_config=VECTORS, metadata=METADATA)
        await aclient.upsert(NAME, _points())
        queries = _queries(8)
        responses = await asyncio.gather(
            *(aclient.query_points(NAME, **_rerank(dense, tokens)) for dense, tokens in queries)
        )
    finally:
        await aclient.close()
    expected = [memory.query_points(NAME, **_rerank(d, t)).points for d, t in queries]
    assert [_hits(r.points) for r in responses] == [_hits(points) for points in expected]
    assert len(double.calls("POST", f"/collections/{NAME}/points/query")) == 8
    double.wait_for("GET", "/")


def test_invalid_requests_are_recorded() -> None:
    with QdrantDouble() as double:
        bad_body = httpx.put(
            f"{double.url}/collections/{NAME}",
            json={"vectors": {"size": "big", "distance": "Cosine"}, "shards": 2},
        )
        not_json = httpx.post(
            f"{double.url}/collections/{NAME}/points/query",
            content=b"{nope",
            headers={"Content-Type": "application/json"},
        )
        bad_param = httpx.put(
            f"{double.url}/collections/{NAME}/points",
            params={"wait": "maybe"},
            json={"points": []},
        )
        unknown = httpx.get(f"{double.url}/collections/{NAME}/nowhere")

    assert [r.status_code for r in (bad_body, not_json, bad_param, unknown)] == [400] * 3 + [404]
    assert "error" in bad_body.json()["status"]
    assert bad_body.json()["time"] == 0.0
    assert len(double.errors) == 4
    assert double.errors[0].startswith(f"PUT /collections/{NAME}: Validation error")
    assert "no route" in double.errors[3]
    assert [r.status for r in double.requests] == [400, 400, 400, 404]
    assert double.requests[0].body["shards"] == 2


def test_only_loopback_is_reachable() -> None:
    with pytest.warns(UserWarning), pytest.raises(SocketConnectBlockedError):
        httpx.get("http://192.0.2.1:6333/", timeout=1)  # TEST-NET-1: never reached


def test_silent_server_times_out() -> None:
    with SilentServer() as silent:
        client = QdrantClient(url=silent.url, timeout=1, check_compatibility=False)
        started = time.monotonic()
        with pytest.raises(ResponseHandlingException):
            client.get_collections()
        elapsed = time.monotonic() - started
        client.close()
    assert 0.9 <= elapsed < 3
    assert silent.connections >= 1

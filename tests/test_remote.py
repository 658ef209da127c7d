"""The server path, first-class: what only qdrant-client's remote code path does.

Run against the loopback double (tests/qdrant_double.py), which checks every request body
against qdrant-client's REST models and answers from its local engine. What the double
cannot show — server-side quantization, HNSW, shards and replicas — is listed in
docs/stores.md.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from qdrant_client import QdrantClient

from polyvec import Pipeline, StoreUnavailableError
from polyvec.errors import ConfigError
from tests.conftest import LOOPBACK
from tests.qdrant_double import QdrantDouble, SilentServer

pytestmark = LOOPBACK
FIELDS = [
    {"type": "late_interaction"},
    {"type": "dense", "quantization": {"type": "scalar"}},
]
DOCS = [
    {"id": i, "text": f"Document {i} about topic {i % 5}.", "metadata": {"topic": i % 5}}
    for i in range(40)
]


def remote(url: str, **store: Any) -> dict[str, Any]:
    return {"type": "qdrant", "url": url, "check_compatibility": False, **store}


@pytest.fixture
def double() -> Any:
    with QdrantDouble() as d:
        yield d
        assert d.errors == []  # every request body matched qdrant-client's REST models


@pytest.mark.parametrize("where", ["url", "location"])
def test_url_and_location_both_take_the_remote_path(double, encoder, where: str) -> None:
    store = {"type": "qdrant", where: double.url, "check_compatibility": False}
    with Pipeline.from_config({"fields": FIELDS, "store": store}, encoder=encoder) as p:
        p.ingest(DOCS[:5])
        assert p.info()["store"]["backend"] == "qdrant server"
        assert p.store.accepts_search_params
        p.search("topic", 3, plan="dense")
    query = double.calls("POST", "/collections/polyvec/points/query/batch")[-1]
    # search parameters reach the server (local mode would drop them)
    params = query.body["searches"][0]["params"]
    assert params["quantization"]["rescore"] is True


def test_version_check_runs_against_the_double(double, encoder) -> None:
    store = {"type": "qdrant", "url": double.url}
    with Pipeline.from_config({"fields": FIELDS, "store": store}, encoder=encoder) as p:
        p.ingest(DOCS[:2])
    double.wait_for("GET", "/")


def test_a_batch_of_100_queries_is_one_request(double, encoder) -> None:
    with Pipeline.from_config(
        {"fields": FIELDS, "store": remote(double.url)}, encoder=encoder
    ) as p:
        p.ingest(DOCS)
        double.clear()
        queries = [f"topic {i}" for i in range(100)]
        results = p.search_batch(queries, 3, plan="dense:10 -> tokens")
    assert len(results) == 100
    assert [r.path for r in double.requests] == ["/collections/polyvec/points/query/batch"]
    assert len(double.requests[0].body["searches"]) == 100


def test_ingest_sends_batches_in_parallel(encoder) -> None:
    with QdrantDouble(latency=0.05) as double:
        store = remote(double.url, upload_batch_size=5, upload_parallel=4)
        with Pipeline.from_config(
            {"fields": FIELDS, "store": store, "ingest_batch_size": 40}, encoder=encoder
        ) as p:
            double.clear()
            p.ingest(DOCS)
            assert p.count() == len(DOCS)
        uploads = double.calls("PUT", "/collections/polyvec/points")
        assert len(uploads) == 8 and all(u.params.get("wait") == "true" for u in uploads)
        assert double.max_in_flight >= 2
        assert double.errors == []


def test_payload_indexes_on_the_id_key_and_named_metadata(double, encoder) -> None:
    store = remote(double.url, payload_indexes={"topic": "integer"})
    with Pipeline.from_config({"fields": FIELDS, "store": store}, encoder=encoder):
        pass
    indexed = {
        r.body["field_name"]: r.body["field_schema"]
        for r in double.calls("PUT", "/collections/polyvec/index")
    }
    assert indexed == {
        "doc_id": "keyword",
        "frontend.source": "keyword",
        "metadata.topic": "integer",
    }


def test_cluster_options_reach_the_collection(double, encoder) -> None:
    store = remote(
        double.url,
        shard_number=3,
        replication_factor=2,
        write_consistency_factor=2,
        on_disk=True,
        on_disk_payload=True,
    )
    with Pipeline.from_config({"fields": FIELDS, "store": store}, encoder=encoder):
        pass
    (create,) = double.calls("PUT", "/collections/polyvec")
    body = create.body
    assert (body["shard_number"], body["replication_factor"], body["write_consistency_factor"]) == (
        3,
        2,
        2,
    )
    assert body["on_disk_payload"] is True
    assert all(v["on_disk"] is True for v in body["vectors"].values())


def test_a_client_handed_in_is_used_and_never_closed(double, encoder) -> None:
    client = QdrantClient(url=double.url, check_compatibility=False)
    store = {"type": "qdrant", "collection": "mine"}
    with Pipeline.from_config(
        {"fields": FIELDS, "store": store}, encoder=encoder, client=client
    ) as p:
        p.ingest(DOCS[:3])
        assert p.info()["store"]["backend"] == "qdrant server"
    assert client.count("mine").count == 3  # still open after the pipeline closed
    client.close()


def test_a_qdrant_store_needs_a_location_or_a_client(encoder) -> None:
    with pytest.raises(ConfigError, match="needs one of"):
        Pipeline.from_config({"fields": FIELDS, "store": {"type": "qdrant"}}, encoder=encoder)


async def test_async_twins_run_on_the_async_client_concurrently(encoder) -> None:
    with QdrantDouble(latency=0.05) as double:
        with Pipeline.from_config(
            {"fields": FIELDS, "store": remote(double.url)}, encoder=encoder
        ) as p:
            p.ingest(DOCS)
            queries = [f"topic {i}" for i in range(8)]
            expected = [[h.id for h in p.search(q, 3)] for q in queries]
            double.clear()
            found = await asyncio.gather(*(p.asearch(q, 3) for q in queries))
            assert [[h.id for h in hits] for hits in found] == expected
            assert len(p.store._aclients) == 1  # this loop's AsyncQdrantClient
            assert len(double.calls("POST", "/collections/polyvec/points/query/batch")) == 8
            assert double.max_in_flight >= 2  # the async client's queries overlapped
        assert double.errors == []


@pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")
def test_an_unresponsive_server_fails_within_the_timeout_naming_the_url(encoder) -> None:
    secret = "s3cret-api-key"
    with SilentServer() as silent:
        store = remote(silent.url, timeout=1, api_key=secret)
        start = time.perf_counter()
        with pytest.raises(StoreUnavailableError) as failed:
            Pipeline.from_config({"fields": FIELDS, "store": store}, encoder=encoder)
        elapsed = time.perf_counter() - start
    assert elapsed < 3.0  # timeout 1 s; the failure is not retried forever
    message = str(failed.value)
    assert silent.url in message and "1 s" in message
    assert secret not in message and secret not in repr(failed.value.__cause__)


def test_a_closed_port_fails_at_once_with_the_url(encoder, tmp_path: Path) -> None:
    with QdrantDouble() as double:
        url = double.url  # a port that was just free, and is closed again below
    start = time.perf_counter()
    with pytest.raises(StoreUnavailableError, match=url.replace(".", r"\.")):
        Pipeline.from_config({"fields": FIELDS, "store": remote(url)}, encoder=encoder)
    assert time.perf_counter() - start < 3.0


def test_async_twins_work_from_one_event_loop_to_the_next(double, encoder) -> None:
    """Each asyncio.run is a new loop; the async client of an ended loop is replaced."""
    with Pipeline.from_config(
        {"fields": FIELDS, "store": remote(double.url)}, encoder=encoder
    ) as p:
        p.ingest(DOCS[:10])
        expected = [h.id for h in p.search("topic 3", 3)]
        for _ in range(2):
            assert [h.id for h in asyncio.run(p.asearch("topic 3", 3))] == expected


def test_async_twins_from_several_threads_at_once(encoder) -> None:
    """Each thread's event loop gets its own async client; none closes another's."""
    import threading

    with QdrantDouble(latency=0.05) as double:
        with Pipeline.from_config(
            {"fields": FIELDS, "store": remote(double.url)}, encoder=encoder
        ) as p:
            p.ingest(DOCS[:10])
            expected = [h.id for h in p.search("topic 2", 3)]
            results: list[Any] = []

            def worker() -> None:
                for _ in range(2):
                    try:
                        results.append([h.id for h in asyncio.run(p.asearch("topic 2", 3))])
                    except Exception as err:  # collected and asserted below
                        results.append(err)

            threads = [threading.Thread(target=worker) for _ in range(3)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert results == [expected] * 6
        assert double.errors == []

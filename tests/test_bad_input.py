"""The bad-input matrix: each case gets a specific PolyvecError whose message says what and
how to fix it — or a documented, tested behaviour — and leaves the stored collection as it
was (same count, same answer to a search). Every case runs on Qdrant Edge and on
qdrant-client's local mode.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from polyvec import (
    CollectionNotFoundError,
    ConfigError,
    Document,
    InvalidInputError,
    Pipeline,
    PolyvecError,
    Stage,
    StoreError,
    StoreLockedError,
    StoreUnavailableError,
)
from polyvec.config import load_config, load_yaml
from tests.conftest import LOOPBACK, held_by_another_process, store_config

FIELDS = [{"type": "late_interaction"}, {"type": "dense"}]
STORED = [
    {"id": "a", "text": "Qdrant stores vectors.", "metadata": {"topic": "db"}},
    {"id": "b", "text": "Cats purr when content.", "metadata": {"topic": "pets"}},
    {"id": 3, "text": "Late interaction scores tokens.", "metadata": {"topic": "ir"}},
]


def nested(depth: int) -> dict[str, Any]:
    root: dict[str, Any] = {}
    node = root
    for _ in range(depth):
        node["x"] = {}
        node = node["x"]
    return root


def doc(**changes: Any) -> list[dict[str, Any]]:
    """One new document, as the bad case writes it, after a good one (nothing may land)."""
    bad = {"id": "new", "text": "a new document", **changes}
    return [{"id": "good", "text": "fine"}, bad]


# (case, action, expected error class, a fragment of its message)
ERRORS: list[tuple[str, Callable[[Pipeline], Any], type[PolyvecError], str]] = [
    ("id float", lambda p: p.ingest(doc(id=1.5)), InvalidInputError, "ids must be str or int"),
    ("id bool", lambda p: p.ingest(doc(id=True)), InvalidInputError, "ids must be str or int"),
    ("id tuple", lambda p: p.ingest(doc(id=("a",))), InvalidInputError, "ids must be str or int"),
    ("id beyond 64 bits", lambda p: p.ingest(doc(id=2**70)), InvalidInputError, "64 bits"),
    ("text not str", lambda p: p.ingest(doc(text=5)), InvalidInputError, "text must be a str"),
    ("lone surrogate", lambda p: p.ingest(doc(text="bad \ud800 text")), InvalidInputError, "UTF-8"),
    (
        "surrogate in metadata",
        lambda p: p.ingest(doc(metadata={"k": "\udfff"})),
        InvalidInputError,
        "UTF-8",
    ),
    (
        "unknown document key",
        lambda p: p.ingest([{"text": "x", "meta": {}}]),
        InvalidInputError,
        "may have 'id' and 'metadata'",
    ),
    (
        "metadata not a dict",
        lambda p: p.ingest(doc(metadata=["x"])),
        InvalidInputError,
        "metadata must be a dict",
    ),
    ("NaN", lambda p: p.ingest(doc(metadata={"x": math.nan})), InvalidInputError, "NaN"),
    (
        "infinity",
        lambda p: p.ingest(doc(metadata={"x": math.inf})),
        InvalidInputError,
        "NaN or infinity",
    ),
    (
        "set",
        lambda p: p.ingest(doc(metadata={"x": {1}})),
        InvalidInputError,
        "set cannot be stored",
    ),
    ("int key", lambda p: p.ingest(doc(metadata={1: "x"})), InvalidInputError, "must be str"),
    (
        "bytes",
        lambda p: p.ingest(doc(metadata={"x": b"x"})),
        InvalidInputError,
        "bytes cannot be stored",
    ),
    (
        "int beyond 64 bits",
        lambda p: p.ingest(doc(metadata={"x": 2**64})),
        InvalidInputError,
        "64 bits",
    ),
    (
        "nested 125 deep",
        lambda p: p.ingest(doc(metadata=nested(125))),
        InvalidInputError,
        "nested more than 32",
    ),
    (
        "nested 5000 deep",
        lambda p: p.ingest(doc(metadata=nested(5000))),
        InvalidInputError,
        "nested more than 32",
    ),
    ("k zero", lambda p: p.search("x", 0), InvalidInputError, "k must be a positive int"),
    ("k negative", lambda p: p.search("x", -3), InvalidInputError, "k must be a positive int"),
    ("k bool", lambda p: p.search("x", True), InvalidInputError, "k must be a positive int"),
    ("a str for a batch", lambda p: p.search_batch("x"), InvalidInputError, "list of queries"),
    (
        "missing field in plan",
        lambda p: p.search("x", plan="sparse:10 -> tokens"),
        ConfigError,
        "unknown field 'sparse'",
    ),
    ("limit zero", lambda p: p.search("x", plan="dense:0 -> tokens"), ConfigError, "positive int"),
    (
        "limits zero",
        lambda p: p.search("x", plan="dense:5 -> tokens", limits={"dense": 0}),
        ConfigError,
        "positive int",
    ),
    (
        "limit key of no stage",
        lambda p: p.search("x", plan="dense:5 -> tokens", limits={"dnese": 9}),
        ConfigError,
        "name no stage",
    ),
    (
        "limitless candidate stage",
        lambda p: p.search("x", plan=Stage("tokens", prefetch=(Stage("dense"),))),
        ConfigError,
        "needs a limit",
    ),
    (
        "rescore without quantization",
        lambda p: p.search("x", plan=Stage("dense", rescore=True)),
        ConfigError,
        "no quantization",
    ),
    (
        "$in with a str",
        lambda p: p.search("x", filter={"topic": {"$in": "db"}}),
        InvalidInputError,
        "takes a list",
    ),
    (
        "unknown operator",
        lambda p: p.search("x", filter={"topic": {"$like": "d"}}),
        InvalidInputError,
        "unknown operator",
    ),
    (
        "filter not a dict",
        lambda p: p.search("x", filter="topic=db"),
        InvalidInputError,
        "filter must be a dict",
    ),
    (
        "Qdrant filter invalid",
        lambda p: p.count({"must": "x"}),
        InvalidInputError,
        "read as a Qdrant filter",
    ),
    (
        "two predicates",
        lambda p: p.count(
            {"must": [{"key": "metadata.n", "match": {"value": 1}, "range": {"gt": 0}}]}
        ),
        InvalidInputError,
        "give one per condition",
    ),
    (
        "bad datetime bound",
        lambda p: p.count({"at": {"$gte": "yesterday"}}),
        InvalidInputError,
        "cannot be compared",
    ),
    ("delete a str", lambda p: p.delete("ab"), InvalidInputError, "give a list of ids"),
    ("get a str", lambda p: p.get("ab"), InvalidInputError, "give a list of ids"),
    ("delete_where everything", lambda p: p.delete_where({}), InvalidInputError, "use clear()"),
    (
        "delete_sources a str",
        lambda p: p.delete_sources("a.md"),
        InvalidInputError,
        "list of sources",
    ),
    (
        "query vectors of the wrong size",
        lambda p: p.search_vectors([{"dense": [0.1, 0.2]}], plan="dense"),
        InvalidInputError,
        "384 dimensions",
    ),
    (
        "query vector of the wrong shape",
        lambda p: p.search_vectors([{"tokens": [0.1] * 384}], plan="tokens"),
        InvalidInputError,
        "a set of vectors",
    ),
]


@pytest.fixture(params=["edge", "memory"])
def filled(request, encoder, tmp_path: Path) -> Pipeline:
    config = {"fields": FIELDS, "store": store_config(request.param, tmp_path)}
    with Pipeline.from_config(config, encoder=encoder) as p:
        p.ingest(STORED)
        yield p


def state(p: Pipeline) -> tuple[int, list[Any]]:
    return p.count(), [(h.id, round(h.score or 0, 5)) for h in p.search("vectors and tokens", 3)]


@pytest.mark.parametrize(
    ("case", "action", "error", "fragment"), ERRORS, ids=[e[0] for e in ERRORS]
)
def test_bad_input_is_refused_and_changes_nothing(filled, case, action, error, fragment) -> None:
    before = state(filled)
    with pytest.raises(error, match=None) as raised:
        action(filled)
    assert fragment in str(raised.value), str(raised.value)
    assert state(filled) == before


# --- documented behaviours --------------------------------------------------------------


def test_empty_and_blank_texts_are_documents(filled) -> None:
    """The encoder's special tokens give an empty text vectors: it is stored and found."""
    filled.ingest([{"id": "empty", "text": ""}, {"id": "blank", "text": "   \n "}])
    assert {h.id for h in filled.get(["empty", "blank"])} == {"empty", "blank"}
    assert len(filled.search("", 10)) == len(STORED) + 2  # an empty query is a query too


def test_k_beyond_the_collection_returns_everything(filled) -> None:
    assert len(filled.search("x", 1000)) == len(STORED)


def test_a_filter_on_a_missing_key_matches_nothing(filled) -> None:
    assert filled.search("x", filter={"never": "there"}) == []
    assert filled.count({"never": {"$ne": "there"}}) == len(STORED)  # $ne: also without the key


def test_an_id_twice_in_one_batch_keeps_the_last(filled) -> None:
    filled.ingest([{"id": "d", "text": "one"}, {"id": "d", "text": "two"}])
    assert [h.text for h in filled.get(["d"])] == ["two"]


def test_datetime_metadata_is_iso_text(filled) -> None:
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    filled.ingest([Document(text="dated", id="dt", metadata={"at": when, "day": when.date()})])
    assert filled.get(["dt"])[0].metadata == {"at": when.isoformat(), "day": "2024-01-02"}


# --- configuration and stores -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("- a\n- b\n", "the top level must be a mapping"),
        ("!!python/object/apply:os.system ['echo hi']\n", "not valid YAML"),
        ("a: &x [1]\nb: *x\n", "aliases"),
        ("fields: [{type: dense, dims: 3}]\n", "fields.0.dims"),
        ("store: {type: edge, collection: ../../x}\n", "store.edge.collection"),
        ("encoder: {modle: bundled}\n", "encoder.modle"),
    ],
)
def test_bad_yaml_is_a_config_error(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_yaml(path)
    assert fragment in str(raised.value)


def test_an_empty_yaml_is_the_default_pipeline(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_yaml(path) == load_config()


@pytest.mark.parametrize("bits", [8, "8"])
def test_turbo_bits_as_number_or_string(bits: Any) -> None:
    config = load_config(
        {"fields": [{"type": "dense", "quantization": {"type": "turbo", "bits": bits}}]}
    )
    assert config.fields[0].quantization.bits == "8"


def test_a_model_path_that_does_not_exist(tmp_path: Path) -> None:
    from polyvec.config import EncoderConfig
    from polyvec.pipeline import build_encoder

    with pytest.raises(ConfigError, match=r"encoder\.model"):
        build_encoder(EncoderConfig(model=str(tmp_path / "no-such-model")))


def test_a_store_path_that_is_a_file(encoder, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    store = {"type": "edge", "path": str(tmp_path / "file")}
    with pytest.raises(StoreError, match="file"):
        Pipeline.from_config({"fields": FIELDS, "store": store}, encoder=encoder)


def test_a_missing_store_is_not_created_for_reading(encoder, tmp_path: Path) -> None:
    store = {"type": "edge", "path": str(tmp_path / "typo")}
    with pytest.raises(CollectionNotFoundError, match="nothing was created"):
        Pipeline.from_config({"fields": FIELDS, "store": store}, encoder=encoder, create=False)
    assert not (tmp_path / "typo").exists()


def test_a_store_held_by_another_process(encoder, tmp_path: Path) -> None:
    """One process at a time opens an embedded store; the error names the server mode as
    the way to share a collection, and the store is intact afterwards."""
    config = {"fields": FIELDS, "store": store_config("edge", tmp_path)}
    with Pipeline.from_config(config, encoder=encoder) as p:
        p.ingest(["kept"])
    with (
        held_by_another_process(tmp_path / "edge" / "test"),
        pytest.raises(StoreLockedError, match=r"open in another process.*Qdrant server"),
    ):
        Pipeline.from_config(config, encoder=encoder)
    with Pipeline.from_config(config, encoder=encoder) as p:
        assert p.count() == 1


def _make_read_only(folder: Path) -> None:
    """Make a folder tree read-only: chmod for a user, the immutable flag for root (root
    writes through permissions); skip where neither works (e.g. a file system without it)."""
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        return
    done = subprocess.run(["chattr", "-R", "+i", str(folder)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot make {folder} read-only here: {done.stderr.decode().strip()}")


def _make_writable(folder: Path) -> None:
    if os.geteuid() == 0:
        subprocess.run(["chattr", "-R", "-i", str(folder)], capture_output=True, check=False)
    else:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)


def test_a_read_only_store_is_searched_and_never_written(encoder, tmp_path: Path) -> None:
    store = store_config("edge", tmp_path)
    config = {"fields": FIELDS, "store": store}
    with Pipeline.from_config(config, encoder=encoder) as p:
        p.ingest(["Qdrant stores vectors.", "Cats sleep all day."])
        expected = [h.id for h in p.search("vector database", 2)]
    folder = tmp_path / "edge"
    _make_read_only(folder)
    try:
        with Pipeline.from_config(config, encoder=encoder, create=False) as reader:
            assert [h.id for h in reader.search("vector database", 2)] == expected
            assert reader.count() == 2
            with pytest.raises(StoreError, match="read-only"):
                reader.ingest(["one more"])
            assert reader.count() == 2
        with pytest.raises(StoreError, match="read-only"):  # a writer is refused at once
            Pipeline.from_config(config, encoder=encoder)
    finally:
        _make_writable(folder)
    with Pipeline.from_config(config, encoder=encoder) as p:
        assert p.count() == 2  # nothing was written, nothing was lost


def test_a_hub_model_requested_offline(monkeypatch) -> None:
    """A hub id that is not in the local cache, with the hub unreachable (HF_HUB_OFFLINE,
    as in every test), is a ConfigError naming the model and what to do."""
    from polyvec.config import EncoderConfig
    from polyvec.pipeline import build_encoder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"encoder\.model: cannot load 'someone/no-such-model'"):
        build_encoder(EncoderConfig(model="someone/no-such-model"))


@LOOPBACK
def test_an_unreachable_server(encoder) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = {
        "type": "qdrant",
        "url": f"http://127.0.0.1:{port}",
        "timeout": 1,
        "check_compatibility": False,
    }
    with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{port}"):
        Pipeline.from_config({"fields": FIELDS, "store": store}, encoder=encoder)

"""Matryoshka, quantization, datatypes and token pooling — on the real Qdrant engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from polyvec import ConfigError, load_config
from polyvec.adapters.late_interaction import pool_token_sets
from polyvec.fields import Quantization, VectorField
from polyvec.sizes import field_bytes
from polyvec.store.ids import point_id

TOPICS = ["vector search", "cats", "late interaction", "rust", "quantization", "weather", "cooking"]
DOCS = [
    {
        "id": i,
        "text": f"Document {i} is about {TOPICS[i % 7]} and also {TOPICS[(i * 3) % 7]}, part {i // 7}.",
    }
    for i in range(70)
]
QUERIES = ["vector search with late interaction", "cooking cats", "rust weather"]

# every quantization polyvec exposes, with the JSON Qdrant Edge stores for it
QUANTIZATIONS = [
    ({"type": "scalar"}, {"scalar": {"type": "int8", "always_ram": True}}),
    (
        {"type": "scalar", "quantile": 0.99},
        {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}},
    ),
    (
        {"type": "binary"},
        {"binary": {"always_ram": True, "encoding": "one_bit", "query_encoding": "default"}},
    ),
    (
        {"type": "binary", "encoding": "1.5bit", "query_encoding": "scalar4bits"},
        {
            "binary": {
                "always_ram": True,
                "encoding": "one_and_half_bits",
                "query_encoding": "scalar4bits",
            }
        },
    ),
    (
        {"type": "binary", "encoding": "2bit", "query_encoding": "scalar8bits"},
        {"binary": {"always_ram": True, "encoding": "two_bits", "query_encoding": "scalar8bits"}},
    ),
    (
        {"type": "binary", "query_encoding": "binary"},
        {"binary": {"always_ram": True, "encoding": "one_bit", "query_encoding": "binary"}},
    ),
    (
        {"type": "product", "compression": 16},
        {"product": {"compression": "x16", "always_ram": True}},
    ),
    ({"type": "turbo", "bits": "1"}, {"turbo": {"always_ram": True, "bits": "bits1"}}),
    ({"type": "turbo", "bits": "1.5"}, {"turbo": {"always_ram": True, "bits": "bits1_5"}}),
    ({"type": "turbo", "bits": "2"}, {"turbo": {"always_ram": True, "bits": "bits2"}}),
    ({"type": "turbo", "bits": "4"}, {"turbo": {"always_ram": True, "bits": "bits4"}}),
    ({"type": "turbo", "bits": "8"}, {"turbo": {"always_ram": True, "bits": "bits8"}}),
]


def edge_config(pipeline) -> dict:
    return json.loads((pipeline.store.root / "shard" / "edge_config.json").read_text())


def exact_scores(pipeline, query: str, field: str, k: int) -> dict:
    return {h.id: h.score for h in pipeline.search(query, k=k, plan=field)}


@pytest.mark.parametrize(
    ("quantization", "stored"), QUANTIZATIONS, ids=lambda v: json.dumps(v, sort_keys=True)
)
def test_every_quantization_is_stored_and_rescored_on_edge(
    make_pipeline, quantization: dict, stored: dict
) -> None:
    p = make_pipeline(
        "edge",
        fields=[
            {"type": "late_interaction", "name": "tokens"},
            {"type": "late_interaction", "name": "tokens_q", "quantization": quantization},
            {"type": "dense", "name": "dense"},
            {
                "type": "dense",
                "name": "dense_q",
                "quantization": {**quantization, "oversampling": 2.0},
            },
        ],
    )
    p.ingest(DOCS)
    p.optimize()
    vectors = edge_config(p)["vectors"]
    assert vectors["tokens_q"]["quantization_config"] == stored
    assert vectors["dense_q"]["quantization_config"] == stored
    assert (
        "quantization_config" not in vectors["tokens"]
        or vectors["tokens"]["quantization_config"] is None
    )
    for query in QUERIES:
        for plain, quantized in (("tokens", "tokens_q"), ("dense", "dense_q")):
            exact = exact_scores(p, query, plain, k=len(DOCS))
            hits = p.search(query, k=5, plan=quantized)
            # rescored with the originals: the scores are the exact ones
            assert [h.score for h in hits] == pytest.approx([exact[h.id] for h in hits], abs=1e-4)
            # these templated documents are near-ties; a coarse code may reorder them, but its
            # candidates stay in the exact neighbourhood
            top20 = sorted(exact, key=exact.get, reverse=True)[:20]
            assert len(hits) == 5 and all(h.id in top20 for h in hits)


def test_rescore_can_be_turned_off(make_pipeline) -> None:
    quantization = {"type": "binary", "rescore": False}
    p = make_pipeline(
        "edge",
        fields=[
            {"type": "dense", "name": "dense"},
            {"type": "dense", "name": "dense_q", "quantization": quantization},
        ],
    )
    p.ingest(DOCS)
    p.optimize()
    exact = exact_scores(p, QUERIES[0], "dense", k=len(DOCS))
    raw = p.search(QUERIES[0], k=5, plan="dense_q")
    assert any(abs(h.score - exact[h.id]) > 1e-3 for h in raw)  # binary scores, not exact
    from polyvec import Stage

    rescored = p.search(QUERIES[0], k=5, plan=Stage("dense_q", rescore=True))
    assert [h.score for h in rescored] == pytest.approx([exact[h.id] for h in rescored], abs=1e-4)


@pytest.mark.parametrize(
    ("datatype", "tolerance"), [("float16", 2e-3), ("turbo16", 2e-3), ("turbo8", 0.05)]
)
def test_storage_datatypes(make_pipeline, datatype: str, tolerance: float) -> None:
    p = make_pipeline(
        "edge",
        fields=[
            {"type": "late_interaction", "name": "tokens"},
            {"type": "late_interaction", "name": "tokens_small", "datatype": datatype},
        ],
    )
    p.ingest(DOCS)
    p.optimize()
    assert edge_config(p)["vectors"]["tokens_small"]["datatype"] == datatype
    for query in QUERIES:
        exact = exact_scores(p, query, "tokens", k=len(DOCS))
        hits = p.search(query, k=5, plan="tokens_small")
        assert [h.score for h in hits] == pytest.approx([exact[h.id] for h in hits], rel=tolerance)
    sizes = p.info()["bytes_per_document"]
    ratio = {"float16": 0.5, "turbo16": 0.5, "turbo8": 0.25}[datatype]
    assert sizes["tokens_small"]["vectors"] == pytest.approx(ratio * sizes["tokens"]["vectors"])


def test_uint8_storage_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match=r"fields\.0\.datatype"):
        load_config({"fields": [{"type": "late_interaction", "datatype": "uint8"}]})


def test_quantization_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="compression"):
        load_config(
            {"fields": [{"type": "dense", "quantization": {"type": "scalar", "compression": 8}}]}
        )
    with pytest.raises(ConfigError, match="quantization"):
        load_config({"fields": [{"type": "dense", "quantization": {"type": "lossy"}}]})


def test_token_pooling_matches_sentence_transformers_and_spares_queries(
    make_pipeline, encoder
) -> None:
    import torch
    from sentence_transformers.multi_vector_encoder.modules.token_pooling import (
        HierarchicalTokenPooling,
    )

    tokens = encoder.encode(
        [d["text"] for d in DOCS[:8]], is_query=False, pooled=False, tokens=True
    ).tokens
    ours = pool_token_sets(tokens, 2)
    theirs = HierarchicalTokenPooling(2).pool([torch.from_numpy(t) for t in tokens])
    for a, b, original in zip(ours, theirs, tokens, strict=True):
        assert a.shape == tuple(b.shape) == (1 + (len(original) - 1) // 2, original.shape[1])
        np.testing.assert_allclose(a, b.numpy(), atol=1e-6)
    assert torch.get_num_threads() >= 1  # restored after pooling

    p = make_pipeline(
        "edge",
        fields=[
            {"type": "late_interaction", "name": "full"},
            {"type": "late_interaction", "name": "p2", "pool_factor": 2},
        ],
    )
    p.ingest(DOCS)
    sizes = p.info()["bytes_per_document"]
    assert sizes["p2"]["vectors_per_doc"] < 0.6 * sizes["full"]["vectors_per_doc"]
    q = p.encode_queries([QUERIES[0]], p.plan("p2"))[0]["p2"]
    assert len(q) == len(
        encoder.encode([QUERIES[0]], is_query=True, pooled=False, tokens=True).tokens[0]
    )
    for query in QUERIES:
        assert p.search(query, k=1, plan="p2")[0].id == p.search(query, k=1, plan="full")[0].id


def test_matryoshka_fields_and_funnel(make_pipeline, encoder) -> None:
    p = make_pipeline(
        "edge",
        fields=[
            {"type": "late_interaction", "name": "tokens"},
            {"type": "matryoshka", "name": "mrl", "dims": [384, 64, 128], "hnsw_dims": [64]},
        ],
        plans={"funnel": "mrl64:40 -> mrl384:10 -> tokens"},
    )
    assert sorted(p.vector_fields) == ["mrl128", "mrl384", "mrl64", "tokens"]
    assert p.vector_fields["mrl64"].size == 64 and p.vector_fields["mrl64"].hnsw
    p.ingest(DOCS)
    p.optimize()
    pooled = encoder.encode([DOCS[3]["text"]], is_query=False, pooled=True, tokens=False).pooled[0]
    stored = p.store.shard.retrieve([point_id(3)], False, True)[0].vector
    expected = pooled[:64] / np.linalg.norm(pooled[:64])
    np.testing.assert_allclose(stored["mrl64"], expected, atol=1e-5)
    for query in QUERIES:
        funnel = p.search(query, k=3, plan="funnel")
        exact = exact_scores(p, query, "tokens", k=len(DOCS))
        assert [h.score for h in funnel] == pytest.approx([exact[h.id] for h in funnel], rel=1e-5)
    with pytest.raises(ConfigError, match="exceed"):
        make_pipeline("memory", fields=[{"type": "matryoshka", "dims": [64, 1024]}])
    with pytest.raises(ConfigError, match="distinct"):
        load_config({"fields": [{"type": "matryoshka", "dims": [64, 64]}]})


def test_field_bytes_are_counted_honestly() -> None:
    field = VectorField(
        "t", 384, multivector=True, quantization=Quantization("binary", (("encoding", "2bit"),))
    )
    sizes = field_bytes(field, vectors_per_doc=10)
    assert sizes["vectors"] == 10 * 384 * 4  # originals kept for rescoring
    assert sizes["quantized"] == 10 * 384 * 2 / 8
    assert sizes["total"] == sizes["vectors"] + sizes["quantized"]
    hnsw = field_bytes(VectorField("d", 64, datatype="float16", hnsw=True, hnsw_m=16), 1)
    assert hnsw == {
        "vectors_per_doc": 1,
        "vectors": 128,
        "quantized": 0.0,
        "index": 128,
        "total": 256,
    }


@pytest.mark.parametrize(
    ("quantization", "stored"), QUANTIZATIONS[:7:2], ids=lambda v: json.dumps(v, sort_keys=True)
)
def test_quantization_reaches_the_qdrant_client_backend(
    make_pipeline, quantization: dict, stored: dict
) -> None:
    p = make_pipeline(
        "memory", fields=[{"type": "dense", "name": "dense_q", "quantization": quantization}]
    )
    params = p.store.client.get_collection("test").config.params.vectors["dense_q"]
    kind = next(iter(stored))
    assert getattr(params.quantization_config, kind) is not None


def test_info_reports_bytes_per_document(make_pipeline, tmp_path: Path) -> None:
    p = make_pipeline(
        "edge",
        fields=[
            {"type": "late_interaction", "name": "tokens", "quantization": {"type": "scalar"}},
            {"type": "dense"},
        ],
    )
    p.ingest(DOCS[:10])
    sizes = p.info()["bytes_per_document"]
    assert sizes["tokens"]["quantized"] == pytest.approx(sizes["tokens"]["vectors"] / 4)
    assert sizes["dense"]["total"] == 384 * 4
    assert sizes["payload"]["total"] > 50
    assert sizes["total"] == pytest.approx(
        sizes["tokens"]["total"] + sizes["dense"]["total"] + sizes["payload"]["total"]
    )

"""The FDE adapter inside pipelines: plans, manifest, tuning (numerics: test_fde_math.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyvec import CollectionMismatchError, ConfigError, Pipeline
from polyvec.tune import document_queries, tune
from tests.conftest import BACKENDS, store_config

FIELDS = [{"type": "late_interaction"}, {"type": "fde", "k_sim": 3, "dim_proj": 8, "r_reps": 6}]
TOPICS = [
    "vector databases",
    "cats and dogs",
    "late interaction",
    "quantization",
    "rust programming",
]
DOCS = [
    {
        "id": f"d{i}",
        "text": f"Note {i} on {TOPICS[i % 5]}: "
        + " ".join(TOPICS[(i * 7) % 5].split() * (1 + i % 3)),
    }
    for i in range(40)
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_fde_plan_reaches_exact_maxsim_with_enough_candidates(make_pipeline, backend: str) -> None:
    p = make_pipeline(backend, fields=FIELDS, plans={"fast": "fde:20 -> tokens"})
    p.ingest(DOCS)
    assert p.vector_fields["fde"].size == 6 * 2**3 * 8
    for q in ["what is late interaction?", "pets", "compressing vectors"]:
        exact = [h.id for h in p.search(q, k=5, plan="tokens")]
        fast = p.search(q, k=5, plan="fast")
        overlap = len(set(exact) & {h.id for h in fast})
        assert overlap >= 4, (q, exact, [h.id for h in fast])
        # the final stage is exact MaxSim: scores of shared ids are equal
        full = {h.id: h.score for h in p.search(q, k=40, plan="tokens")}
        assert all(h.score == pytest.approx(full[h.id], rel=1e-5) for h in fast)
        # all candidates -> identical to the exact scan
        assert [h.id for h in p.search(q, k=5, plan="fast", limits={"fde": 40})] == exact


def test_fde_seed_is_part_of_the_collection_identity(
    make_pipeline, encoder, tmp_path: Path
) -> None:
    p = make_pipeline("edge", fields=FIELDS)
    p.ingest(DOCS[:3])
    p.close()
    other_seed = [FIELDS[0], {**FIELDS[1], "seed": 43}]
    with pytest.raises(
        CollectionMismatchError, match=r"adapters\.fde\.seed: collection has 42, pipeline has 43"
    ):
        Pipeline.from_config(
            {"fields": other_seed, "store": store_config("edge", tmp_path)}, encoder=encoder
        )


def test_fde_config_errors() -> None:
    from polyvec import load_config

    with pytest.raises(ConfigError, match="65,536"):
        load_config(
            {"fields": [{"type": "late_interaction"}, {"type": "fde", "k_sim": 10, "r_reps": 20}]}
        )
    with pytest.raises(ConfigError, match=r"fields\.1\.k_sim"):
        load_config({"fields": [{"type": "late_interaction"}, {"type": "fde", "k_sim": 0}]})


def test_tune_recommends_the_smallest_sufficient_limit(make_pipeline) -> None:
    p = make_pipeline("edge", fields=FIELDS, plans={"fast": "fde:10 -> tokens"})
    p.ingest(DOCS)
    queries = document_queries(p, 12, words=6)
    assert len(queries) == 12
    result = tune(p, queries, plan="fast", limits=[5, 10, 40], k=5, target=0.9)
    assert [r.limit for r in result.rows] == [5, 10, 40]  # 5 < k is raised to k
    assert result.rows[-1].recall == pytest.approx(1.0)  # every document is a candidate
    assert result.rows[0].recall <= result.rows[-1].recall
    assert result.recommended is not None and result.recommended.recall >= 0.9
    assert result.recommended.limit == min(r.limit for r in result.rows if r.recall >= 0.9)
    assert "recommended" in result.table()
    with pytest.raises(ConfigError, match="single stage"):
        tune(p, queries, plan="tokens")


def test_cli_tune(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from polyvec.cli import app

    cfg = tmp_path / "p.yaml"
    cfg.write_text(
        "fields:\n  - {type: late_interaction}\n  - {type: fde, k_sim: 3, dim_proj: 8, r_reps: 6}\n"
        f"store: {{type: edge, path: {tmp_path / 's'}}}\nplans: {{fast: 'fde:10 -> tokens'}}\n"
    )
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for d in DOCS[:20]:
        (corpus / f"{d['id']}.txt").write_text(d["text"])
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(corpus), "-c", str(cfg)]).exit_code == 0
    result = runner.invoke(
        app,
        ["tune", "-c", str(cfg), "--plan", "fast", "--sample", "8", "-k", "3", "--limits", "3,20"],
    )
    assert result.exit_code == 0, result.output
    assert "recall@3" in result.stdout and "recommended" in result.stdout


HNSW_FIELDS = [FIELDS[0], {**FIELDS[1], "hnsw": True}]
EF_PLAN = {"field": "tokens", "prefetch": [{"field": "fde", "limit": 20, "hnsw_ef": 128}]}


@pytest.mark.parametrize("backend", BACKENDS)
def test_hnsw_ef_of_a_candidate_stage_reaches_the_engine(make_pipeline, backend: str) -> None:
    """A stage's ``hnsw_ef`` is sent with its prefetch (where the engine honours search
    parameters) and answers as the plan without it on every backend: a collection this
    small is searched exactly, HNSW or not."""
    from polyvec.store.requests import QueryBuilder

    plans = {
        "ef": EF_PLAN,
        "ef_text": "fde(20, hnsw_ef=128) -> tokens",
        "plain": "fde:20 -> tokens",
    }
    p = make_pipeline(backend, fields=HNSW_FIELDS, plans=plans)
    p.ingest(DOCS)
    plan = p.plan("ef")
    assert plan.prefetch[0].hnsw_ef == 128
    assert p.plan("ef_text") == plan  # the string form says the same
    assert plan.describe() == plans["ef_text"].replace(" -> tokens", " -> tokens(k)")
    vectors = {"tokens": [[0.1] * 384], "fde": [0.0] * p.vector_fields["fde"].size}
    sent = QueryBuilder(p.vector_fields).request(plan, vectors, 5)
    assert [stage.params.hnsw_ef for stage in sent.prefetch] == [128]  # type: ignore[union-attr]
    for q in ["what is late interaction?", "pets"]:
        ef = [(h.id, round(h.score, 5)) for h in p.search(q, k=5, plan="ef")]
        assert ef == [(h.id, round(h.score, 5)) for h in p.search(q, k=5, plan="plain")]


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ({"field": "fde", "limit": 20, "hnsw_ef": 0}, "greater than 0"),
        ({"field": "fde", "limit": 20, "hnsw_ef": 64, "exact": True}, "keep one"),
    ],
)
def test_hnsw_ef_is_checked(make_pipeline, stage: dict, message: str) -> None:
    plan = {"field": "tokens", "prefetch": [stage]}
    with pytest.raises(ConfigError, match=message):
        make_pipeline("edge", fields=HNSW_FIELDS, plans={"bad": plan})


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ("fde(20, hnsw_ef=0) -> tokens", "must be a positive int"),
        ("fde(20, exact, hnsw_ef=64) -> tokens", "keep one"),
        ("fde(20, oversampling=2) -> tokens", "has no quantization"),
    ],
)
def test_string_form_search_options_are_checked_as_the_tree_form(
    make_pipeline, plan: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        make_pipeline("edge", fields=HNSW_FIELDS, plans={"bad": plan})


def test_hnsw_ef_on_a_scanned_field_is_refused(make_pipeline) -> None:
    with pytest.raises(ConfigError, match="has no HNSW index"):
        make_pipeline("edge", fields=FIELDS, plans={"bad": EF_PLAN})
    fused = {"fusion": "rrf", "hnsw_ef": 64, "prefetch": [{"field": "fde", "limit": 5}] * 2}
    with pytest.raises(ConfigError, match="searches no field"):
        make_pipeline("memory", fields=HNSW_FIELDS, plans={"bad": fused})

from __future__ import annotations

from pathlib import Path

import pytest

from polyvec import ConfigError, PipelineConfig, Stage, load_config, load_yaml, parse_plan
from polyvec.config import EdgeStoreConfig


def test_defaults_are_the_embedded_late_interaction_pipeline() -> None:
    cfg = load_config()
    assert cfg.encoder.model == "bundled"
    assert [f.type for f in cfg.fields] == ["late_interaction"]
    assert isinstance(cfg.store, EdgeStoreConfig)
    assert cfg.plan() == Stage(field="tokens")


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"encoder": {"modle": "x"}}, "encoder.modle"),
        ({"fields": [{"type": "late_interaction", "pool_factr": 2}]}, "fields.0.pool_factr"),
        ({"fields": [{"type": "dense", "dim": -3}]}, "fields.0.dim"),
        ({"store": {"type": "qdrant", "url": "http://x", "path": "p"}}, "store.qdrant"),
        ({"store": {"type": "edge", "path": 3}}, "store.edge.path"),
        ({"ingest_batch_size": 0}, "ingest_batch_size"),
    ],
)
def test_every_config_error_names_its_key_path(data: dict, path: str) -> None:
    with pytest.raises(ConfigError, match=path.replace(".", r"\.")):
        load_config(data)


def test_unknown_field_type_lists_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown polyvec.adapters entry 'colbertz'.*late_interaction"
    ):
        load_config({"fields": [{"type": "colbertz"}]})


def test_field_names_must_be_unique() -> None:
    with pytest.raises(ConfigError, match="repeated"):
        load_config({"fields": [{"type": "dense"}, {"type": "dense"}]})


def test_qdrant_store_takes_at_most_one_location() -> None:
    with pytest.raises(ConfigError, match="give one of"):
        load_config({"store": {"type": "qdrant", "url": "http://x", "location": ":memory:"}})
    cfg = load_config(
        {"store": {"type": "qdrant", "url": "http://localhost:6333", "api_key": "s3cret"}}
    )
    assert "s3cret" not in repr(cfg)  # secrets are not printed


def test_plans_must_name_existing_fields() -> None:
    with pytest.raises(ConfigError, match=r"plans\.fast: unknown field"):
        load_config({"plans": {"fast": "fde:200 -> tokens"}})


def test_plan_forms_agree() -> None:
    cfg = load_config(
        {
            "fields": [{"type": "late_interaction"}, {"type": "dense"}],
            "plans": {
                "as_string": "dense:50 -> tokens",
                "as_chain": [{"field": "dense", "limit": 50}, {"field": "tokens"}],
                "as_tree": {"field": "tokens", "prefetch": [{"field": "dense", "limit": 50}]},
            },
            "default_plan": "as_tree",
        }
    )
    expected = Stage("tokens", None, (Stage("dense", 50),))
    assert (
        cfg.plan("as_string")
        == cfg.plan("as_chain")
        == cfg.plan("as_tree")
        == cfg.plan()
        == expected
    )
    assert expected.describe() == "dense(50) -> tokens(k)"
    assert expected.with_limits({"dense": 80}).prefetch[0].limit == 80


@pytest.mark.parametrize(
    "text",
    [
        "fde:abc -> tokens",
        "-> tokens",
        "fde:-3 -> tokens",
        "fde(200, fast) -> tokens",
        "fde(200, rescore=maybe) -> tokens",
        "fde(200, hnsw_ef=lots) -> tokens",
        "fde(200, oversampling=x) -> tokens",
        "fde(200, hnsw_ef) -> tokens",
    ],
)
def test_bad_plan_strings_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="write stages as"):
        parse_plan(text)


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("fde(200, hnsw_ef=800) -> tokens", {"field": "fde", "limit": 200, "hnsw_ef": 800}),
        ("fde(200, exact) -> tokens", {"field": "fde", "limit": 200, "exact": True}),
        (
            "fde(200, rescore=false, oversampling=2.5) -> tokens",
            {"field": "fde", "limit": 200, "rescore": False, "oversampling": 2.5},
        ),
    ],
)
def test_search_options_read_the_same_in_string_and_tree_forms(text: str, tree: dict) -> None:
    """A stage's search options in the string form equal the list form's, and
    ``describe()`` (what ``polyvec query`` prints as the plan) reads back to the same plan."""
    cfg = load_config(
        {
            "fields": [{"type": "late_interaction"}, {"type": "fde"}],
            "plans": {"text": text, "tree": [tree, {"field": "tokens"}]},
        }
    )
    assert cfg.plan("text") == cfg.plan("tree")
    assert parse_plan(cfg.plan("text").describe()) == cfg.plan("text")


def test_yaml_loading(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "encoder: {model: bundled}\nfields:\n  - type: late_interaction\n    name: tok\n"
        "store: {type: edge, path: ./here}\n"
    )
    cfg = load_yaml(path)
    assert isinstance(cfg, PipelineConfig)
    assert cfg.fields[0].name == "tok"
    assert cfg.store.path == str(tmp_path / "here")  # beside the file


def test_yaml_errors_name_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("fields:\n  - type: dense\n    dims: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml.*fields\.0\.dims"):
        load_yaml(path)
    path.write_text("fields: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(path)
    path.write_text("!!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError):  # safe_load: no Python objects
        load_yaml(path)


def test_server_options_pass_through_in_one_place(monkeypatch) -> None:
    """Every connection and collection option reaches qdrant-client through one typed model;
    the API key is read from the environment and never shown."""
    monkeypatch.setenv("QDRANT_API_KEY", "from-the-env")
    cfg = load_config(
        {
            "store": {
                "type": "qdrant",
                "host": "qdrant.internal",
                "port": 6334,
                "https": True,
                "prefer_grpc": True,
                "timeout": 3,
                "shard_number": 2,
                "replication_factor": 3,
                "write_consistency_factor": 2,
                "on_disk_payload": True,
            }
        }
    )
    store = cfg.store
    options = store.client_options()
    assert options["host"] == "qdrant.internal" and options["port"] == 6334
    assert options["https"] is True and options["prefer_grpc"] is True
    assert options["timeout"] == 3 and options["api_key"] == "from-the-env"
    assert store.collection_options() == {
        "shard_number": 2,
        "replication_factor": 3,
        "write_consistency_factor": 2,
        "on_disk_payload": True,
    }
    assert store.is_remote() and store.describe_location() == "https://qdrant.internal:6334"
    assert "from-the-env" not in repr(cfg) and "from-the-env" not in cfg.model_dump_json()
    given = load_config({"store": {"type": "qdrant", "url": "http://x:6333", "api_key": "given"}})
    assert given.store.client_options()["api_key"] == "given"
    local = load_config({"store": {"type": "qdrant", "location": ":memory:"}})
    assert local.store.client_options() == {"location": ":memory:"}
    assert not local.store.is_remote()


def test_yaml_aliases_are_refused(tmp_path: Path) -> None:
    """A few hundred bytes of nested aliases would expand to gigabytes."""
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
    bomb += "".join(
        f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]\n"
        for p, c in zip("bcdefgh", "cdefghi", strict=True)
    )
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb)
    with pytest.raises(ConfigError, match="aliases"):
        load_yaml(path)


def test_a_yaml_error_never_echoes_the_line(tmp_path: Path) -> None:
    path = tmp_path / "secret.yaml"
    path.write_text('store:\n  type: qdrant\n  api_key: "s3cr3t-key\n  url: http://x\n')
    with pytest.raises(ConfigError) as failed:
        load_yaml(path)
    assert "s3cr3t" not in str(failed.value) and "line" in str(failed.value)
    assert failed.value.__cause__ is None or "s3cr3t" not in str(failed.value.__cause__)


def test_secrets_come_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "env.yaml"
    path.write_text("store: {type: qdrant, url: 'http://x:6333', api_key: '${MY_QDRANT_KEY}'}\n")
    monkeypatch.setenv("MY_QDRANT_KEY", "from-env")
    assert load_yaml(path).store.resolved_api_key() == "from-env"
    monkeypatch.delenv("MY_QDRANT_KEY")
    with pytest.raises(ConfigError, match="MY_QDRANT_KEY is not set"):
        load_yaml(path)


@pytest.mark.parametrize("name", ["../../x", "a/b", ".hidden", "", "x" * 300])
def test_collection_names_stay_inside_the_store(name: str) -> None:
    with pytest.raises(ConfigError, match=r"store\.edge\.collection"):
        load_config({"store": {"type": "edge", "collection": name}})


def test_trust_remote_code_is_announced() -> None:
    from polyvec.config import EncoderConfig
    from polyvec.pipeline import build_encoder

    with pytest.warns(UserWarning, match="runs the Python code"):
        build_encoder(EncoderConfig(model="bundled", trust_remote_code=True))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"encoder": {"modle": "bundled"}},
            "encoder.modle: Extra inputs are not permitted; did you mean 'model'?",
        ),
        ({"defualt_plan": "x"}, "did you mean 'default_plan'?"),
        (
            {"store": {"type": "edge", "pathh": "x"}},
            "store.edge.pathh: Extra inputs are not permitted; did you mean 'path'?",
        ),
        (
            {"store": {"type": "qdrant", "url": "http://x", "shard_numbr": 2}},
            "did you mean 'shard_number'?",
        ),
        (
            {"fields": [{"type": "late_interaction", "pool_factr": 2}]},
            "did you mean 'pool_factor'?",
        ),
        (
            {"fields": [{"type": "dense", "quantization": {"type": "turbo", "bitz": 8}}]},
            "did you mean 'bits'?",
        ),
        ({"plans": {"a": {"field": "tokens", "limt": 3}}}, "did you mean 'limit'?"),
        ({"encoder": {"zzzzz": 1}}, "known keys: batch_size, device"),
    ],
)
def test_a_misspelled_key_gets_the_nearest_valid_one(data: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config(data)
    assert expected in str(raised.value)


def test_a_relative_store_path_in_yaml_is_read_from_the_files_folder(
    tmp_path: Path, monkeypatch
) -> None:
    from polyvec.config import load_yaml

    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "polyvec.yaml").write_text("store: {type: edge, path: ./data, collection: c}\n")
    (folder / "absolute.yaml").write_text(f"store: {{type: edge, path: {tmp_path / 'abs'}}}\n")
    monkeypatch.chdir(tmp_path)  # run from elsewhere
    assert load_yaml("project/polyvec.yaml").store.path == str(folder / "data")
    assert load_yaml(folder / "absolute.yaml").store.path == str(tmp_path / "abs")


@pytest.mark.parametrize(
    ("text", "cuts"),
    [
        ("rrf(bm25:4, dense:4):2 -> tokens", [()]),  # the fusion is cut inside its pool
        ("rrf(bm25:4, dense:4):8 -> tokens", []),  # kept whole: nothing to cut
        ("rrf(bm25:4, dense:4) -> tokens", []),  # no limit: its whole pool
        ("rrf(bm25:4, dense:4)", []),  # a fused root: polyvec ranks its pool already
        ("rrf(bm25:4, dense:4):2 -> tokens:2 -> dense", [(0,)]),
        ("rrf(rrf(bm25:4, dense:4):2 -> tokens:2, fde:4):3 -> tokens", [(0, 0), ()]),
        ("rrf(rrf(bm25:4, dense:4):2, fde:4)", []),  # inside a fusion: the engine's cut
    ],
)
def test_engine_cuts_name_the_stages_polyvec_feeds_itself(text: str, cuts: list) -> None:
    from polyvec.plans import engine_cuts, stage_at

    stage = parse_plan(text)
    assert engine_cuts(stage) == cuts
    for path in cuts:
        assert not stage_at(stage, path).fusion


def test_engine_cuts_find_a_cut_fusion_beside_another_candidate_stage() -> None:
    from polyvec.plans import engine_cuts

    fused = parse_plan("rrf(bm25:4, dense:4):2")
    stage = Stage(field="tokens", prefetch=(Stage(field="fde", limit=3), fused))
    assert engine_cuts(stage) == [()]

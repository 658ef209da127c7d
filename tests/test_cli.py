from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polyvec.cli import app

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "polyvec.yaml"
    path.write_text(
        "fields:\n  - {type: late_interaction, name: tokens}\n  - {type: dense, name: dense}\n"
        f"store: {{type: edge, path: {tmp_path / 'store'}, collection: cli}}\n"
        "plans:\n  funnel: dense:5 -> tokens\n"
    )
    return path


def run(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_ingest_query_info_on_a_folder(config: Path, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "qdrant.md").write_text(
        "# Qdrant\n\nQdrant stores vectors and payloads.\n\nIt supports MaxSim."
    )
    (docs / "cats.txt").write_text("Cats purr. " * 300)  # long: split into passages
    (docs / "skip.bin").write_bytes(b"\x00\x01")
    out = run("ingest", str(docs), "-c", str(config), "--root", str(docs))
    assert "ingested" in out
    info = json.loads(run("info", "-c", str(config)))
    assert info["count"] >= 3  # the long file became several passages
    assert {f["name"] for f in info["fields"]} == {"tokens", "dense"}
    assert info["manifest"]["encoder"]["name"] == "bundled"
    assert info["disk_bytes"] > 0
    lines = (
        run("query", "what stores vectors?", "-c", str(config), "-k", "2", "--json")
        .strip()
        .splitlines()
    )
    first = json.loads(lines[0])
    assert first["id"] == "qdrant.md" and first["metadata"] == {"source": "qdrant.md"}
    assert len(lines) == 2
    text = run(
        "query",
        "purring",
        "-c",
        str(config),
        "--plan",
        "funnel",
        "--filter",
        '{"source": "cats.txt"}',
    )
    assert "dense(5) -> tokens(k)" in text and "cats.txt#" in text and "qdrant.md" not in text
    # without --config, a reader opens the collection as it was built (its manifest's
    # config: fields, plans), not with the defaults
    store = ["--store", str(tmp_path / "store"), "--collection", "cli"]
    again = run("query", "purring", *store, "--plan", "funnel", "-k", "2")
    assert "dense(5) -> tokens(k)" in again and "cats.txt#" in again
    assert json.loads(run("info", *store))["count"] == info["count"]


def test_eval_on_a_tiny_beir_folder(config: Path, tmp_path: Path) -> None:
    beir = tmp_path / "beir"
    beir.mkdir()
    corpus = [
        {"_id": "d1", "title": "Qdrant", "text": "A vector database with MaxSim multivectors."},
        {"_id": "d2", "title": "Cats", "text": "Cats purr and sleep."},
        {"_id": "d3", "title": "Rust", "text": "A systems programming language."},
    ]
    (beir / "corpus.jsonl").write_text("\n".join(json.dumps(c) for c in corpus))
    (beir / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "vector database"})
        + "\n"
        + json.dumps({"_id": "q2", "text": "sleeping cats"})
    )
    (beir / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n")
    out = run("eval", str(beir), "-c", str(config), "--plan", "tokens", "--plan", "dense", "--json")
    rows = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["plan"] for r in rows] == ["tokens(k)", "dense(k)"]
    for row in rows:
        assert row["ndcg@10"] == pytest.approx(1.0)
        assert row["mrr@10"] == pytest.approx(1.0)
        assert row["latency_p95_ms"] >= row["latency_p50_ms"] > 0


def test_eval_subset_and_report(config: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """--subset N: every judged document, then the corpus in file order, in a collection
    of its own; --report DIR: the table as Markdown and JSON, and the two plots."""
    beir = tmp_path / "beir"
    beir.mkdir()
    texts = ["Cats purr.", "Qdrant stores vectors.", "Rust is fast.", "Dogs bark.", "Tea."]
    (beir / "corpus.jsonl").write_text(
        "\n".join(json.dumps({"_id": f"d{i}", "text": t}) for i, t in enumerate(texts))
    )
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "barking dogs"}))
    (beir / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq\td3\t1\n")
    out_dir = tmp_path / "report"
    args = ["eval", str(beir), "-c", str(config), "--plan", "tokens", "--plan", "funnel"]
    run(*args, "--subset", "2", "--report", str(out_dir))
    report = json.loads((out_dir / "report.json").read_text())
    assert [r["plan"] for r in report["rows"]] == ["tokens", "funnel"]
    assert all(r["ndcg10"] == pytest.approx(1.0) for r in report["rows"])
    assert all(r["bytes_per_doc"] > 0 and r["ingest_docs_per_s"] > 0 for r in report["rows"])
    assert "5 documents" not in report["settings"]["data"]  # two: d3 (judged), then d0
    assert "2 documents, subset of 2" in report["settings"]["data"]
    assert "cli-subset2" in report["settings"]["collection"]
    table = (out_dir / "report.md").read_text()
    assert "| `tokens` | 1.0000 |" in table and "| `funnel` | 1.0000 |" in table
    assert (out_dir / "quality_latency.png").stat().st_size > 0
    assert (out_dir / "quality_bytes.png").stat().st_size > 0
    store = ["--store", str(tmp_path / "store"), "--collection", "cli-subset2"]
    assert json.loads(run("info", *store))["count"] == 2
    # a second run encodes nothing: no ingest rate to report
    run(*args, "--subset", "2", "--report", str(out_dir))
    assert json.loads((out_dir / "report.json").read_text())["rows"][0]["ingest_docs_per_s"] is None
    code, err = main_exit(monkeypatch, capsys, *args, "--subset", "0")
    assert code == 2 and "--subset must be a positive number" in err


def test_a_subset_holds_every_judged_document_and_is_fixed() -> None:
    from polyvec.eval import load_beir
    from tests.conftest import shared_dataset

    dataset = load_beir(shared_dataset("scifact"))
    judged = {d for relevant in dataset.qrels.values() for d in relevant}
    subset = dataset.with_subset(1500)
    assert subset.subset is not None and len(subset.subset) == 1500
    assert judged <= subset.subset
    assert subset.subset == dataset.with_subset(1500).subset  # no randomness
    first = [d.id for d in subset.corpus()][:3]
    assert first == [d for d in (str(d.id) for d in dataset.corpus()) if d in subset.subset][:3]
    from polyvec import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"smaller than the .* judged documents"):
        dataset.with_subset(10)


def test_errors_are_one_clear_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("fields:\n  - {type: dense, dimm: 3}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "polyvec.cli", "info", "-c", str(bad)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "polyvec: error:" in proc.stderr and "fields.0.dimm" in proc.stderr
    assert "Traceback" not in proc.stderr


def main_exit(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    """Run the real entry point (its error handling included) in-process."""
    import sys

    from polyvec.cli import main

    monkeypatch.setattr(sys, "argv", ["polyvec", *args])
    with pytest.raises(SystemExit) as stopped:
        main()
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return int(stopped.value.code or 0), err


def test_a_bad_filter_is_a_user_error(config: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    code, err = main_exit(
        monkeypatch, capsys, "query", "cats", "-c", str(config), "--filter", "{topic: ir}"
    )
    assert code == 2 and "--filter" in err and "not JSON" in err
    code, err = main_exit(
        monkeypatch, capsys, "query", "cats", "-c", str(config), "--filter", '{"must": "x"}'
    )
    assert code == 2 and "Qdrant filter" in err


def test_exit_codes_name_the_kind_of_failure(
    config: Path, tmp_path: Path, monkeypatch, capsys, encoder
) -> None:
    from polyvec import Pipeline
    from polyvec.config import load_yaml
    from tests.conftest import held_by_another_process

    with Pipeline(load_yaml(config), encoder=encoder) as p:
        p.ingest(["one document"])
    with held_by_another_process(tmp_path / "store" / "cli"):
        code, err = main_exit(monkeypatch, capsys, "info", "-c", str(config))
        assert code == 4 and "open in another process" in err
    other = tmp_path / "other.yaml"
    other.write_text(
        config.read_text().replace(
            "{type: dense, name: dense}", "{type: dense, name: dense, dim: 64}"
        )
    )
    code, err = main_exit(monkeypatch, capsys, "info", "-c", str(other))
    assert code == 3 and "fields.dense.size" in err


@pytest.mark.allow_hosts(["127.0.0.1"])
def test_an_unreachable_server_is_exit_code_5(tmp_path: Path, monkeypatch, capsys) -> None:
    from tests.qdrant_double import QdrantDouble

    with QdrantDouble() as double:
        url = double.url  # free a moment ago, closed now
    path = tmp_path / "server.yaml"
    path.write_text(
        "fields: [{type: dense}]\n"
        f"store: {{type: qdrant, url: '{url}', timeout: 1, check_compatibility: false}}\n"
    )
    code, err = main_exit(monkeypatch, capsys, "info", "-c", str(path))
    assert code == 5 and url in err


def test_folders_with_the_same_file_names_are_two_sources(
    config: Path, tmp_path: Path, monkeypatch
) -> None:
    """`ingest alpha/ beta/` keeps both README.md; a source is replaced as one unit."""
    monkeypatch.chdir(tmp_path)
    for name in ("alpha", "beta"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "README.md").write_text(f"# {name}\n\nAbout {name} and vectors.")
    run("ingest", "alpha", "beta", "-c", str(config), "--max-tokens", "5")
    out = run("query", "vectors", "-c", str(config), "--json", "-k", "10")
    ids = {json.loads(line)["id"] for line in out.splitlines()}
    assert ids == {"alpha/README.md#0", "alpha/README.md#1", "beta/README.md#0", "beta/README.md#1"}
    (tmp_path / "alpha" / "README.md").write_text("short")
    out = run("ingest", "alpha", "-c", str(config))
    assert "collection holds 3" in out  # alpha's two passages were replaced by one
    out = run("query", "short", "-c", str(config), "--json", "-k", "10")
    ids = {json.loads(line)["id"] for line in out.splitlines()}
    assert ids == {"alpha/README.md", "beta/README.md#0", "beta/README.md#1"}


def test_ingest_of_a_file_now_blank_deletes_its_passages(config: Path, tmp_path: Path) -> None:
    """``ingest`` replaces a file's passages as ``sync`` does: a file emptied and ingested
    again leaves none (it used to keep its old ones)."""
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "long.md").write_text("\n\n".join(f"Paragraph {i} of a note." for i in range(4)))
    (notes / "keep.md").write_text("Qdrant keeps the vectors.")
    args = ["-c", str(config), "--max-tokens", "7", "--root", str(tmp_path)]
    assert "collection holds 5" in run("ingest", str(notes), *args)
    (notes / "long.md").write_text("  \n")
    assert "collection holds 1" in run("ingest", str(notes), *args)


def test_max_tokens_below_the_overlap_says_the_overlap_it_uses(
    config: Path, tmp_path: Path
) -> None:
    """The default overlap (32) cannot stay under ``--max-tokens 8``: the CLI lowers it to
    a quarter of the passage and says so, rather than changing it silently."""
    doc = tmp_path / "long.md"
    doc.write_text("\n\n".join(f"Paragraph {i} about late interaction." for i in range(9)))
    result = runner.invoke(app, ["ingest", str(doc), "-c", str(config), "--max-tokens", "8"])
    assert result.exit_code == 0, result.output
    assert "the chunking overlap (32 tokens) must be below it; using 2" in result.stderr
    result = runner.invoke(app, ["ingest", str(doc), "-c", str(config), "--max-tokens", "64"])
    assert result.exit_code == 0, result.output
    assert "overlap" not in result.stderr


def test_sync_adds_changes_and_removes(config: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    notes = tmp_path / "notes"
    notes.mkdir()
    long = "\n\n".join(f"Paragraph {i} about late interaction." for i in range(9))
    (notes / "long.md").write_text(long)
    (notes / "keep.md").write_text("Qdrant keeps the vectors.")  # 7 tokens: one passage
    out = run("sync", "notes", "-c", str(config), "--max-tokens", "7")
    assert "2 added" in out and "collection holds 10" in out  # a paragraph a passage
    (notes / "long.md").write_text("Now one short paragraph.")
    out = run("sync", "notes", "-c", str(config), "--max-tokens", "7")
    assert "1 changed, 1 unchanged" in out and "(1 passages written)" in out
    assert "collection holds 2" in out
    (notes / "long.md").write_text("   \n")  # blank: none of its passages is left
    out = run("sync", "notes", "-c", str(config), "--max-tokens", "7")
    assert "1 changed" in out and "collection holds 1" in out
    (notes / "long.md").write_text("Back again.")
    assert "1 added" in run("sync", "notes", "-c", str(config))
    (notes / "long.md").unlink()
    out = run("sync", "notes", "-c", str(config), "--max-tokens", "7")
    assert "1 removed" in out and "collection holds 1" in out
    out = run("delete", "--source", "notes/keep.md", "-c", str(config))
    assert "deleted 1 documents; collection holds 0" in out


def test_delete_needs_something_to_delete(config: Path, monkeypatch, capsys) -> None:
    code, err = main_exit(monkeypatch, capsys, "delete", "-c", str(config))
    assert code == 2 and "--id, --source or --filter" in err


def test_reading_a_missing_store_creates_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    import time

    missing = tmp_path / "typo"
    start = time.perf_counter()
    code, err = main_exit(monkeypatch, capsys, "query", "x", "--store", str(missing))
    assert code == 2 and "there is no collection" in err and "nothing was created" in err
    assert time.perf_counter() - start < 5  # refused before the model loads
    assert not missing.exists()
    for command in ("info", "tune"):
        code, _ = main_exit(monkeypatch, capsys, command, "--store", str(missing))
        assert code == 2 and not missing.exists()


def test_eval_resumes_and_refuses_another_corpus(config: Path, tmp_path: Path, encoder) -> None:
    """An interrupted ingest is resumed without re-encoding; another corpus is refused."""
    from polyvec import CollectionMismatchError, Pipeline
    from polyvec.config import load_yaml
    from polyvec.eval import ingest_corpus, load_beir

    folder = tmp_path / "beir"
    folder.mkdir()
    rows = [
        {"_id": f"d{i}", "title": "", "text": f"document {i} about topic {i % 3}"} for i in range(6)
    ]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (folder / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "topic 1"}))
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    dataset = load_beir(folder)
    with Pipeline(load_yaml(config), encoder=encoder) as p:
        p.ingest(list(p.passages(dataset.corpus()))[:4])  # as if the first run was killed here
        done = ingest_corpus(p, dataset)
        assert (done.written, done.already_stored) == (2, 4) and p.count() == 6
        again = ingest_corpus(p, dataset)
        assert (again.written, again.already_stored) == (0, 6)
        p.ingest([{"id": "stranger", "text": "from another corpus"}])
        with pytest.raises(
            CollectionMismatchError, match="1 passages of documents that are not in"
        ):
            ingest_corpus(p, dataset)


def test_files_that_are_not_text_are_skipped_with_a_count(
    config: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    docs = tmp_path / "mixed"
    docs.mkdir()
    (docs / "good.md").write_text("Qdrant stores vectors.")
    (docs / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (docs / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    result = runner.invoke(app, ["ingest", "mixed", "-c", str(config)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "skipped 2 files that are not UTF-8 text" in result.stderr
    assert "collection holds 1" in result.stdout


def test_documents_cut_at_the_models_window_are_reported(config: Path, tmp_path: Path) -> None:
    long = tmp_path / "long.md"
    long.write_text(" ".join(f"word{i}" for i in range(2000)))  # one paragraph, >256 tokens
    result = runner.invoke(
        app, ["ingest", str(long), "-c", str(config), "--max-tokens", "0"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "warning: 1 documents were longer than the model's window" in result.stderr


def test_eval_finds_what_lies_past_the_window(tmp_path: Path, encoder) -> None:
    """A BEIR document longer than the window is split; its passages rank it as one
    document (by its best passage), so an answer at its end is found. Truncated, it is not."""
    from polyvec import Pipeline
    from polyvec.eval import evaluate, ingest_corpus, load_beir

    folder = tmp_path / "beir"
    folder.mkdir()
    filler = " ".join(f"Section {i} discusses unrelated matters of procedure." for i in range(70))
    rows = [
        {
            "_id": "long",
            "title": "Notes",
            "text": f"{filler} The lighthouse keeper counted seventeen gulls at dawn.",
        },
        *(
            {"_id": f"d{i}", "title": "", "text": f"Birds number {i} fly over the sea."}
            for i in range(5)
        ),
    ]
    (folder / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (folder / "queries.jsonl").write_text(
        json.dumps({"_id": "q", "text": "how many gulls did the lighthouse keeper count?"})
    )
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq\tlong\t1\n")
    dataset = load_beir(folder)
    scores = {}
    for mode in ("split", "truncate"):
        config = {
            "fields": [{"type": "late_interaction"}],
            "chunking": {"mode": mode},
            "store": {"type": "edge", "path": str(tmp_path / mode), "collection": "e"},
        }
        with Pipeline.from_config(config, encoder=encoder) as p:
            done = ingest_corpus(p, dataset)
            result = evaluate(p, dataset, depth=3)
            scores[mode] = (done.written, result.metrics["mrr@10"], list(result.run["q"]))
    written, mrr, ranked = scores["split"]
    assert written > len(rows) and mrr == 1.0 and ranked[0] == "long"
    assert len(ranked) == 3 and len(set(ranked)) == 3  # documents, not passages
    assert scores["truncate"][0] == len(rows) and scores["truncate"][1] < 1.0


def test_a_collection_built_with_an_encoder_handed_in_says_how_the_cli_reopens_it(
    encoder, tmp_path: Path, monkeypatch, capsys
) -> None:
    """The command line cannot hand in an encoder object: the error names what it can do
    (a config naming the model, with -c), not Python's ``encoder=`` alone."""
    from polyvec import Pipeline
    from tests.conftest import store_config

    store = store_config("edge", tmp_path)
    with Pipeline.from_config({"store": store}, encoder=encoder) as built:
        built.ingest([{"id": "d1", "text": "late interaction keeps token vectors"}])
    code, err = main_exit(
        monkeypatch, capsys, "query", "x", "--store", store["path"], "--collection", "test"
    )
    assert code == 2 and "built with an encoder handed in" in err
    assert "the command line cannot rebuild it" in err and "pass it with -c" in err
    named = tmp_path / "named.yaml"  # what the message says: a config naming the model
    named.write_text(
        f"encoder: {{model: bundled}}\nstore: {{type: edge, path: {store['path']}, "
        "collection: test}\n"
    )
    assert "d1" in run("query", "token vectors", "-c", str(named), "--json")

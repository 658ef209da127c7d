"""The documentation's configuration and the runnable examples stay true."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from polyvec import load_config, load_yaml

ROOT = Path(__file__).resolve().parents[1]


def test_the_documented_configuration_is_valid() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", text, re.S)
    assert block is not None
    config = load_config(yaml.safe_load(block.group(1)))
    assert config.plan().describe() == "fde(100) -> tokens(k)"


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "examples").glob("*.yaml"))
    + sorted((ROOT / "benchmarks" / "configs").glob("*.yaml")),
    ids=lambda p: p.name,
)
def test_shipped_yaml_configs_are_valid(path: Path) -> None:
    assert load_yaml(path).fields


def _run_offline(args: list[str], cwd: Path) -> str:
    """A Python child process with the hub switched off; its stdout (it must succeed)."""
    result = subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize("script", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.name)
def test_examples_run_offline(script: Path, tmp_path: Path) -> None:
    assert _run_offline([str(script)], tmp_path).strip()


def test_the_readme_front_ends_share_one_store_in_one_process(tmp_path: Path) -> None:
    """The README's LangChain retriever and LlamaIndex store open one YAML's embedded store
    in one process: they share it (no StoreLockedError) and see the same documents."""
    readme = (ROOT / "README.md").read_text()
    block = re.search(
        r"LangChain and LlamaIndex use the same pipeline:\n\n```python\n(.*?)```", readme, re.S
    )
    assert block is not None
    (tmp_path / "examples").mkdir()
    config = (ROOT / "examples" / "pipeline.yaml").read_text()
    (tmp_path / "examples" / "pipeline.yaml").write_text(config)
    check = (
        "\nretriever.pipeline.ingest([{'id': 'q', 'text': 'Qdrant stores vectors.'}])\n"
        "from llama_index.core.vector_stores.types import VectorStoreQuery\n"
        "found = store.query(VectorStoreQuery(query_str='vector database', similarity_top_k=1))\n"
        "print(found.ids, retriever.invoke('vector database')[0].id)\n"
    )
    out = _run_offline(["-c", block.group(1) + check], tmp_path)
    assert out.split()[-1] == "q"
    assert (tmp_path / "examples" / "polyvec_data" / "example").is_dir()  # beside the YAML


def test_the_documented_fusion_plans_are_valid(encoder, tmp_path: Path) -> None:
    from polyvec import Pipeline

    text = (ROOT / "docs" / "fde.md").read_text()
    block = re.search(r"### Fusion stages.*?```yaml\n(.*?)```", text, re.S)
    assert block is not None
    plans = yaml.safe_load(block.group(1))["plans"]
    fields = [
        {"type": "bm25"},
        {"type": "late_interaction", "name": "tokens"},
        {"type": "dense"},
        {"type": "fde"},
    ]
    config = {"fields": fields, "plans": plans, "store": {"type": "edge", "path": str(tmp_path)}}
    with Pipeline.from_config(config, encoder=encoder) as pipeline:  # every plan validated
        assert pipeline.plan("weighted").weights == (0.3, 1.0)
        assert pipeline.plan("lexical_light").weights == (0.3, 1.0)
        assert pipeline.plan("fused_candidates").prefetch[0].candidate_limit() == 400


_STORES = shutil.ignore_patterns("polyvec_data", "__pycache__")
SKIP_MARK = "<!-- not executed:"  # put before a block that cannot run offline, with why
DOCUMENTS = ["README.md", *sorted(p.name for p in (ROOT / "docs").glob("*.md"))]


def python_blocks(text: str) -> list[str]:
    """The ``python`` code blocks of a Markdown text, except those marked not executed."""
    blocks = []
    for match in re.finditer(r"^( *)```python\n(.*?)^\1```", text, re.S | re.M):
        before = text[: match.start()].rstrip().splitlines()[-1:] or [""]
        if not before[0].strip().startswith(SKIP_MARK):
            indent = len(match.group(1))
            blocks.append("\n".join(line[indent:] for line in match.group(2).splitlines()))
    return blocks


@pytest.mark.parametrize("doc", DOCUMENTS)
def test_every_python_block_of_the_docs_runs(doc: str, tmp_path: Path) -> None:
    """Every ``python`` block of the README and docs/ runs offline as written: a file's
    blocks in order, in one fresh process (later blocks may use earlier ones' names), in an
    empty folder holding a copy of the repository's examples/."""
    path = ROOT / doc if doc == "README.md" else ROOT / "docs" / doc
    blocks = python_blocks(path.read_text())
    if not blocks:
        pytest.skip(f"{doc} has no python block")
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=_STORES)
    script = "\n\n".join(f"# --- block {n} of {doc}\n{b}" for n, b in enumerate(blocks, 1))
    _run_offline(["-c", script], tmp_path)


def test_the_checked_in_json_schema_is_the_code_s(tmp_path: Path) -> None:
    """docs/polyvec.schema.json is what `polyvec schema` prints (regenerate it with
    `polyvec schema > docs/polyvec.schema.json`); shipped configs validate against it, and
    what the config refuses the schema refuses too."""
    import json

    import jsonschema

    from polyvec.config import json_schema

    checked_in = json.loads((ROOT / "docs" / "polyvec.schema.json").read_text())
    assert checked_in == json.loads(json.dumps(json_schema())), (
        "docs/polyvec.schema.json is stale: run `polyvec schema > docs/polyvec.schema.json`"
    )
    validator = jsonschema.Draft202012Validator(checked_in)
    shipped = [*ROOT.glob("examples/*.yaml"), *ROOT.glob("benchmarks/configs/*.yaml")]
    assert shipped
    for path in shipped:
        errors = list(validator.iter_errors(yaml.safe_load(path.read_text())))
        assert not errors, f"{path.name}: {errors[0].message}"
    for bad in (
        {"fields": [{"type": "dense", "dimm": 3}]},
        {"fields": [{"type": "nope"}]},
        {"store": {"type": "edge", "pth": "x"}},
        {"chunking": {"mode": "cut"}},
    ):
        assert list(validator.iter_errors(bad)), bad
        with pytest.raises(Exception, match="invalid polyvec config"):
            load_config(bad)
    out = subprocess.run(
        [sys.executable, "-m", "polyvec.cli", "schema"], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == checked_in

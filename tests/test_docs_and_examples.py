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


def code_blocks(text: str, language: str = "python") -> list[str]:
    """The code blocks of one language in a Markdown text, except those marked not executed."""
    blocks = []
    for match in re.finditer(rf"^( *)```{language}\n(.*?)^\1```", text, re.S | re.M):
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
    blocks = code_blocks(_document(doc).read_text())
    if not blocks:
        pytest.skip(f"{doc} has no python block")
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=_STORES)
    script = "\n\n".join(f"# --- block {n} of {doc}\n{b}" for n, b in enumerate(blocks, 1))
    _run_offline(["-c", script], tmp_path)


def _document(doc: str) -> Path:
    return ROOT / doc if doc == "README.md" else ROOT / "docs" / doc


def _shell_checkout(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of what the docs' commands read (README, docs/, examples/, benchmarks/configs/)
    with ``../shared`` beside it, and an environment with the venv's ``bin`` first on PATH
    and the hub switched off."""
    repo = tmp_path / "main"
    repo.mkdir()
    shutil.copy2(ROOT / "README.md", repo / "README.md")
    for folder in ("docs", "examples", "benchmarks/configs"):
        shutil.copytree(ROOT / folder, repo / folder, ignore=_STORES)
    if (ROOT.parent / "shared").is_dir():
        (tmp_path / "shared").symlink_to(ROOT.parent / "shared")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return repo, {**os.environ, "HF_HUB_OFFLINE": "1", "PATH": path}


def _shell(command: list[str], repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """A command of the docs, run in the copy ``_shell_checkout`` made (10 minutes at most)."""
    return subprocess.run(
        command, cwd=repo, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def console_session(block: str) -> tuple[str, str]:
    """A ``console`` block's commands (lines after ``$ ``) as one script, and what it shows."""
    commands = [line[2:] for line in block.splitlines() if line.startswith("$ ")]
    shown = [line for line in block.splitlines() if not line.startswith("$ ")]
    return "\n".join(commands), "\n".join(shown).strip()


# pages whose commands encode a corpus (minutes on 2 cores): run with `pytest -m slow`
SLOW_SHELL = {"cli.md", "fde.md"}


@pytest.mark.parametrize(
    "doc", [pytest.param(d, marks=pytest.mark.slow) if d in SLOW_SHELL else d for d in DOCUMENTS]
)
def test_every_shell_block_of_the_docs_runs(doc: str, tmp_path: Path) -> None:
    """Every ``bash`` block of the README and docs/ runs as written (``set -euo pipefail``)
    and every ``console`` block prints exactly what it shows (stdout and stderr), in a copy
    of the repository with ``../shared`` beside it. A block that cannot run here carries a
    ``<!-- not executed: why -->`` line."""
    text = _document(doc).read_text()
    bash, console = code_blocks(text, "bash"), code_blocks(text, "console")
    if not bash and not console:
        pytest.skip(f"{doc} has no shell block to run")
    repo, env = _shell_checkout(tmp_path)
    for block in bash:
        done = _shell(["bash", "-euo", "pipefail", "-c", block], repo, env)
        assert done.returncode == 0, f"{block}\n{done.stderr[-2000:]}"
    for block in console:
        script, shown = console_session(block)
        done = _shell(["bash", "-c", f"exec 2>&1\n{script}"], repo, env)
        assert done.stdout.strip() == shown, f"{script}\nprinted:\n{done.stdout}"


def test_the_readme_demo_runs(tmp_path: Path) -> None:
    """The README's first command, ``make demo``, on a copy of the repository with this
    venv (its set-up is not redone: ``.ci/run`` has just run it)."""
    repo, env = _shell_checkout(tmp_path)
    shutil.copy2(ROOT / "Makefile", repo / "Makefile")
    venv = Path(sys.executable).parent.parent
    done = _shell(["make", f"VENV={venv}", f"--assume-old={venv}/.installed", "demo"], repo, env)
    assert done.returncode == 0, done.stderr[-2000:]
    # polyvec query's own header line (make's echo of the command has no "[plan: ")
    assert "What does MaxSim compute?   [plan: " in done.stdout, done.stdout[-2000:]


def test_the_configuration_reference_is_the_code_s() -> None:
    """docs/reference.md is what `polyvec schema --markdown` prints, and every key of every
    model there has a description (a model's ``Attributes:`` line or a field docstring)."""
    from polyvec.schema import json_schema, reference_markdown

    schema = json_schema()
    checked_in = (ROOT / "docs" / "reference.md").read_text()
    assert checked_in == reference_markdown(schema), (
        "docs/reference.md is stale: run `polyvec schema --markdown > docs/reference.md`"
    )
    for name, model in [("the top level", schema), *schema["$defs"].items()]:
        for key, prop in model.get("properties", {}).items():
            assert prop.get("description"), f"{name}.{key} has no description"


def test_attribute_sections_name_one_or_more_keys() -> None:
    from polyvec.schema import attribute_docs

    docs = attribute_docs(
        "Summary.\n\nAttributes:\n    k, b: saturation and\n        normalisation.\n"
        "    seed: a seed.\n\nAfter the section.\n    late: not an attribute.\n"
    )
    assert docs == {
        "k": "saturation and normalisation.",
        "b": "saturation and normalisation.",
        "seed": "a seed.",
    }


def test_the_checked_in_json_schema_is_the_code_s(tmp_path: Path) -> None:
    """docs/polyvec.schema.json is what `polyvec schema` prints (regenerate it with
    `polyvec schema > docs/polyvec.schema.json`); shipped configs validate against it, and
    what the config refuses the schema refuses too."""
    import json

    import jsonschema

    from polyvec.schema import json_schema

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


def test_the_cli_reference_names_every_command_and_option() -> None:
    """docs/cli.md's synopsis has one line per command of the CLI, and each line names
    exactly that command's options (as the code declares them, through typer/click)."""
    import typer.main

    from polyvec.cli import app

    text = (ROOT / "docs" / "cli.md").read_text()
    block = re.search(r"```text\n(polyvec .*?)```", text, re.S)
    assert block is not None
    lines = {line.split()[1]: line for line in block.group(1).splitlines()}
    group = typer.main.get_command(app)
    commands = group.commands  # type: ignore[attr-defined]
    assert set(lines) == set(commands), "docs/cli.md's synopsis names other commands"
    for name, command in commands.items():
        options = [
            {*param.opts, *param.secondary_opts}
            for param in command.params
            if param.opts[0].startswith("-")
        ]
        declared = set().union(*options)
        documented = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", lines[name]))
        missing = {min(opts, key=len) for opts in options if not documented & opts}
        assert not missing, f"polyvec {name}: the synopsis leaves out {sorted(missing)}"
        unknown = documented - declared
        assert not unknown, f"polyvec {name}: the synopsis names {sorted(unknown)}, not options"


def test_every_error_class_is_documented_with_its_exit_code() -> None:
    """docs/errors.md has a row for each PolyvecError class, with the CLI's exit code."""
    import polyvec.errors as errors
    from polyvec.cli import EXIT_CODES

    text = (ROOT / "docs" / "errors.md").read_text()
    classes = [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.PolyvecError)
    ]
    assert len(classes) >= 9
    for cls in classes:
        row = re.search(rf"^\| `{cls.__name__}`[^\n]*\| (\d+) \|$", text, re.M)
        assert row is not None, f"docs/errors.md has no row for {cls.__name__}"
        code = next(code for kind, code in EXIT_CODES if issubclass(cls, kind))
        assert int(row.group(1)) == code, f"{cls.__name__}: the docs say {row.group(1)}"

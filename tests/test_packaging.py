from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import polyvec

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contains_only_the_polyvec_namespace(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("polyvec-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.startswith("polyvec-")}
    assert top == {"polyvec"}
    assert "polyvec/adapters/late_interaction.py" in names
    assert "polyvec/plugins/__init__.py" in names
    assert "polyvec/py.typed" in names
    assert not any(n.startswith(("tests/", "benchmarks/", "adapters/", "plugins/")) for n in names)


def test_public_api_is_exported() -> None:
    for name in polyvec.__all__:
        assert hasattr(polyvec, name), name
    assert issubclass(polyvec.ConfigError, polyvec.PolyvecError)
    assert issubclass(polyvec.MissingDependencyError, ImportError)


def test_bare_adapters_and_plugins_are_not_importable() -> None:
    code = "import importlib.util as u; print(u.find_spec('adapters'), u.find_spec('plugins'))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd="/", check=True
    )
    assert out.stdout.strip() == "None None"


def test_every_core_module_is_held_by_the_layering_contract() -> None:
    """import-linter checks only the modules it lists: a new core module must be listed."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    core = next(c for c in contracts if c["name"].startswith("Core imports no adapter"))
    modules = {
        f"polyvec.{p.stem if p.is_file() else p.name}"
        for p in (root / "src" / "polyvec").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").exists()
    }
    assert modules == set(core["source_modules"])

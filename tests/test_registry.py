from __future__ import annotations

import pytest

from polyvec import MissingDependencyError, PolyvecError, registry


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(PolyvecError, match=r"known: .*dense.*late_interaction"):
        registry.adapters.resolve("nope")


def test_missing_optional_dependency_names_the_extra() -> None:
    reg = registry.Registry("polyvec.test", {"lc": "langchain_core_is_not_here:Thing"})
    with pytest.raises(MissingDependencyError, match=r"pip install 'polyvec\[all\]'") as info:
        reg.resolve("lc")
    assert isinstance(info.value.__cause__, ImportError)


def test_import_optional_maps_modules_to_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    err = ImportError("no", name="llama_index.core")
    assert "polyvec[llamaindex]" in str(registry.missing_dependency(err, what="x"))


def test_entry_points_are_discovered(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.metadata import EntryPoint

    fake = [EntryPoint("shiny", "polyvec.adapters.dense:DenseAdapter", "polyvec.adapters")]
    monkeypatch.setattr(registry, "entry_points", lambda group: fake)
    reg = registry.Registry("polyvec.adapters", {})
    assert reg.names() == ["shiny"]
    assert reg.resolve("shiny").__name__ == "DenseAdapter"


def test_importing_polyvec_imports_no_framework() -> None:
    import subprocess
    import sys

    code = (
        "import sys, polyvec; "
        "bad = [m for m in ('langchain_core', 'llama_index', 'polyvec.plugins.langchain') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

"""Name -> implementation registries, resolved lazily (the fsspec / fastembed pattern).

Built-in adapters and plugins are listed here by dotted path, so importing polyvec
imports none of them; third-party packages add their own through the entry-point
groups ``polyvec.adapters`` and ``polyvec.plugins``. A name that is not known fails
with the list of known names; an implementation whose optional dependency is missing
fails with :class:`MissingDependencyError` naming the extra to install.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from polyvec.errors import ConfigError, MissingDependencyError

# Which extra provides which top-level module, so an ImportError can say what to install.
_EXTRA_FOR_MODULE = {
    "langchain_core": "langchain",
    "llama_index": "llamaindex",
    "pytrec_eval": "eval",
    "matplotlib": "eval",
    "fastembed": "test",
}


def missing_dependency(err: ImportError, *, what: str) -> MissingDependencyError:
    """Translate an ImportError into an error that names the extra to install."""
    module = (err.name or "").split(".")[0]
    extra = _EXTRA_FOR_MODULE.get(module, "all")
    return MissingDependencyError(
        f"{what} needs the Python package {module!r}, which is not installed. "
        f"Install it with: pip install 'polyvec[{extra}]'"
    )


def import_optional(module: str, *, what: str) -> Any:
    """Import an optional module, or raise :class:`MissingDependencyError`."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise missing_dependency(err, what=what) from err


@dataclass
class Registry:
    """A lazily-resolved mapping from a short name to ``"module:attribute"``."""

    group: str
    builtins: dict[str, str]
    _loaded_entry_points: bool = field(default=False, repr=False)

    def _discover(self) -> None:
        if self._loaded_entry_points:
            return
        for ep in entry_points(group=self.group):
            self.builtins.setdefault(ep.name, ep.value)
        self._loaded_entry_points = True

    def names(self) -> list[str]:
        """All registered names, built-in and from entry points."""
        self._discover()
        return sorted(self.builtins)

    def register(self, name: str, target: str) -> None:
        """Register ``name`` -> ``"module:attribute"`` at run time."""
        self.builtins[name] = target

    def resolve(self, name: str) -> Any:
        """Import and return the object registered under ``name``."""
        self._discover()
        try:
            target = self.builtins[name]
        except KeyError:
            known = ", ".join(self.names())
            raise ConfigError(f"unknown {self.group} entry {name!r}; known: {known}") from None
        module_name, _, attribute = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except MissingDependencyError:
            raise  # already names its extra
        except ImportError as err:
            raise missing_dependency(err, what=f"{self.group} {name!r}") from err
        return getattr(module, attribute) if attribute else module


adapters = Registry(
    "polyvec.adapters",
    {
        "late_interaction": "polyvec.adapters.late_interaction:LateInteractionAdapter",
        "dense": "polyvec.adapters.dense:DenseAdapter",
        "bm25": "polyvec.adapters.bm25:Bm25Adapter",
        "fde": "polyvec.adapters.fde:FDEAdapter",
        "matryoshka": "polyvec.adapters.matryoshka:MatryoshkaAdapter",
    },
)

plugins = Registry(
    "polyvec.plugins",
    {
        "langchain": "polyvec.plugins.langchain",
        "llamaindex": "polyvec.plugins.llamaindex",
    },
)

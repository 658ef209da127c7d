"""polyvec: multi-vector retrieval (late interaction, MUVERA FDE, Matryoshka, quantized)
on Qdrant, for LangChain, LlamaIndex and declarative YAML pipelines."""

from __future__ import annotations

__version__ = "0.1.0"

from polyvec.config import PipelineConfig, load_config, load_yaml
from polyvec.documents import Document
from polyvec.errors import (
    CollectionMismatchError,
    CollectionNotFoundError,
    ConfigError,
    InvalidInputError,
    MissingDependencyError,
    PolyvecError,
    StoreError,
    StoreLockedError,
    StoreUnavailableError,
)
from polyvec.pipeline import Pipeline
from polyvec.plans import Stage, chain, parse_plan
from polyvec.store import Hit

__all__ = [
    "CollectionMismatchError",
    "CollectionNotFoundError",
    "ConfigError",
    "Document",
    "Hit",
    "InvalidInputError",
    "MissingDependencyError",
    "Pipeline",
    "PipelineConfig",
    "PolyvecError",
    "Stage",
    "StoreError",
    "StoreLockedError",
    "StoreUnavailableError",
    "__version__",
    "chain",
    "load_config",
    "load_yaml",
    "parse_plan",
]

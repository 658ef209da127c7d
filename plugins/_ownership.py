"""Shared by the framework plugins: who closes the pipeline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self

    from polyvec.pipeline import Pipeline


class ClosesOwnedPipeline:
    """``close()`` (and leaving a ``with`` block) closes the pipeline only where this object
    built it (from a config or a YAML file); a pipeline passed in stays the caller's."""

    if TYPE_CHECKING:
        pipeline: Pipeline
        _owns_pipeline: bool

    def close(self) -> None:
        """Close the pipeline if this object built it."""
        if getattr(self, "_owns_pipeline", False):
            self.pipeline.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

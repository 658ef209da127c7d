"""Vector helpers every adapter shares: one L2-normalisation, one token-set check."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from polyvec.errors import ConfigError, InvalidInputError
from polyvec.fields import EncoderInfo


def l2_normalise(rows: np.ndarray, dim: int | None = None) -> np.ndarray:
    """Rows (optionally cut to their first ``dim`` dimensions) scaled to unit length.

    Truncating then re-normalising is how Matryoshka embeddings are used.
    """
    if dim is not None:
        rows = rows[:, :dim]
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def check_token_sets(token_sets: list[np.ndarray] | None, what: str = "text") -> list[np.ndarray]:
    """The token sets of a batch, refusing an empty one (Qdrant rejects an empty multivector)."""
    if token_sets is None:
        raise InvalidInputError(
            f"the encoder gave no token vectors for this {what} batch; "
            "use an encoder with token outputs (sentence_transformer or multi_vector)"
        )
    for position, tokens in enumerate(token_sets):
        if len(tokens) == 0:
            raise InvalidInputError(
                f"{what} #{position} of the batch encoded to no token vectors; "
                "give it some text (empty strings are kept only by encoders that add "
                "special tokens)"
            )
    return token_sets


def require_pooled(pooled: np.ndarray | None, what: str = "text") -> np.ndarray:
    """The pooled vectors of a batch, or a clear error when the encoder gave none."""
    if pooled is None:
        raise InvalidInputError(
            f"the encoder gave no pooled vectors for this {what} batch; "
            "use an encoder with a pooled output (sentence_transformer)"
        )
    return pooled


def encoder_size(encoder: EncoderInfo, output: str, field: str, wanted: Sequence[int] = ()) -> int:
    """Dimensions of the encoder's ``pooled`` or ``tokens`` output, checked once for a field.

    Args:
        encoder: what the encoder gives.
        output: ``"pooled"`` or ``"tokens"``.
        field: the field (config name) asking, for the message.
        wanted: sizes the field would cut the output to; each must fit.
    """
    size = encoder.dim if output == "pooled" else encoder.token_dim
    if size is None:
        kind = "pooled vector" if output == "pooled" else "token vectors"
        raise ConfigError(f"fields.{field}: the encoder {encoder.name!r} gives no {kind}")
    too_big = [d for d in wanted if d > size]
    if too_big:
        raise ConfigError(
            f"fields.{field}: size {too_big} exceeds the encoder's {size} dimensions; "
            f"choose at most {size}"
        )
    return size

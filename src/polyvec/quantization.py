"""Quantized storage of any field: the byte-for-quality trade-offs Qdrant offers.

Two mechanisms, both configured on a field:

* ``datatype`` — how the *original* vectors are stored: ``float32``, ``float16``, or
  ``turbo8``/``turbo16`` (Qdrant's TurboQuant storage: 8 or 16 bits per dimension as the
  only copy; scores come from the compressed vectors).
* ``quantization`` — a compressed *copy* beside the originals, searched first and rescored
  with the originals: ``scalar`` (int8), ``binary`` (1, 1.5 or 2 bits, with an asymmetric
  query encoding), ``product`` (PQ) or ``turbo``. Qdrant builds it when the collection is
  optimised (``Pipeline.optimize()``; the CLI's ingest does it). Results are rescored to
  exact scores unless ``rescore: false``.

``uint8`` storage is not offered: Qdrant stores uint8 values as given, so float vectors would
be clipped to 0..255 (every negative component becomes 0) — use ``turbo8`` instead.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator

from polyvec.fields import Quantization, StrictModel

# bytes one stored dimension takes, per datatype
DATATYPE_BYTES = {"float32": 4.0, "float16": 2.0, "turbo8": 1.0, "turbo16": 2.0}


class _QuantizationBase(StrictModel):
    always_ram: bool = True
    """Keep the quantized copy in RAM (the originals stay where the store keeps them)."""
    rescore: bool = True
    """Rescore the candidates found on the quantized copy with the original vectors."""
    oversampling: float | None = Field(default=None, ge=1.0)
    """Fetch ``oversampling`` x the limit from the quantized copy before rescoring
    (default: the engine's)."""


class ScalarQuantization(_QuantizationBase):
    """int8 per dimension (4x smaller than float32)."""

    type: Literal["scalar"]
    quantile: float | None = Field(default=None, gt=0.5, le=1.0)
    """Clip values outside this quantile before mapping to int8 (default: the engine's)."""


class BinaryQuantization(_QuantizationBase):
    """1, 1.5 or 2 bits per dimension; ``query_encoding`` keeps more query precision (asymmetric)."""

    type: Literal["binary"]
    encoding: Literal["1bit", "1.5bit", "2bit"] = "1bit"
    """Bits stored per dimension."""
    query_encoding: Literal["default", "binary", "scalar4bits", "scalar8bits"] = "default"
    """How the query is encoded to compare with the codes (``scalar*``: asymmetric, finer)."""


class ProductQuantization(_QuantizationBase):
    """Product quantization: ``compression`` times smaller than float32."""

    type: Literal["product"]
    compression: Literal[4, 8, 16, 32, 64] = 16
    """How many times smaller than float32 the codes are."""


class TurboQuantization(_QuantizationBase):
    """TurboQuant codes of ``bits`` bits per dimension."""

    type: Literal["turbo"]
    bits: Literal["1", "1.5", "2", "4", "8"] = "4"
    """Bits per dimension of the codes (a number or a string)."""

    @field_validator("bits", mode="before")
    @classmethod
    def _bits_as_text(cls, value: Any) -> Any:
        """``bits: 8`` (a YAML number) and ``bits: "8"`` mean the same."""
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{value:g}"
        return value


QuantizationConfig = Annotated[
    Union[ScalarQuantization, BinaryQuantization, ProductQuantization, TurboQuantization],  # noqa: UP007
    Field(discriminator="type"),
]


def to_quantization(config: QuantizationConfig | None) -> Quantization | None:
    """The store-facing value object of a quantization config."""
    if config is None:
        return None
    options = config.model_dump(exclude={"type", "always_ram"})
    return Quantization(
        kind=config.type,
        options=tuple(sorted((k, v) for k, v in options.items() if v is not None)),
        always_ram=config.always_ram,
    )


def quantized_bytes_per_dimension(q: Quantization) -> float:
    """Bytes the quantized copy takes per dimension."""
    if q.kind == "scalar":
        return 1.0
    if q.kind == "binary":
        return {"1bit": 1.0, "1.5bit": 1.5, "2bit": 2.0}[q.option("encoding", "1bit")] / 8
    if q.kind == "product":
        return 4.0 / int(q.option("compression", 16))
    return float(q.option("bits", "4")) / 8

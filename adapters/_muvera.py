"""MUVERA fixed-dimensional encodings (FDE), batched and vectorised.

MUVERA (Dhulipala et al., 2024, "MUVERA: Multi-Vector Retrieval via Fixed
Dimensional Encodings") turns a variable-size set of token vectors into one
fixed-size vector whose inner products approximate Chamfer / MaxSim
similarity. This module reproduces the numbers of fastembed's
``fastembed.postprocess.Muvera`` (random matrices, partition ids, fill rule,
scaling) while encoding a whole batch of token sets with a handful of array
operations instead of Python loops over documents and tokens.

Pipeline for one repetition ``j`` (all repetitions and documents at once):

1. SimHash: ``code = sum_b [x . g_{j,b} > 0] << b`` gives each token one of
   ``2**k_sim`` partitions.
2. Every token is projected with the scaled ``+-1`` matrix ``S_j / sqrt(dim_proj)``
   *before* aggregation; projection is linear, so summing or averaging the
   projected tokens equals projecting the summed or averaged partition centre.
   This keeps the scatter ``dim / dim_proj`` times smaller.
3. Queries keep per-partition sums; documents keep per-partition means and fill
   empty partitions with a token from the nearest occupied partition.
4. Blocks are laid out ``[rep, partition, dim_proj]`` and flattened, which is
   fastembed's layout.

All arithmetic is float64 like fastembed; only the result is cast to float32.
Projecting before averaging changes the rounding order, so values agree with
fastembed to ~1e-16 relative before the cast (partition ids are identical).

An optional final Count-Sketch projection to ``d_final`` follows Google's
reference implementation; fastembed has no equivalent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["FDEEncoder", "FDEParams"]

_MAX_K_SIM = 16
# Upper bound, in array elements, on the largest per-chunk work arrays. 2**21
# float64 values are 16 MiB: small enough to stay in allocator-reused memory
# (large fresh allocations pay page faults on every chunk) yet large enough
# that per-chunk Python overhead is negligible.
_DEFAULT_CHUNK_ELEMENTS = 1 << 21


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    """Raise ``ValueError`` unless ``value`` is an int in ``[low, high]``."""
    # bool is an int subclass; True as a dimension is always a mistake.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bound}, got {value}")


@dataclass(frozen=True)
class FDEParams:
    """Hyper-parameters of a MUVERA fixed-dimensional encoding.

    Attributes:
        dim: Dimensionality of each input token vector.
        k_sim: Number of SimHash hyperplanes; each repetition has ``2**k_sim``
            partitions.
        dim_proj: Dimensionality of each partition block after the random
            ``+-1`` projection. ``dim_proj == dim`` disables the projection
            (and its scaling), as in fastembed.
        r_reps: Number of independent repetitions concatenated.
        seed: Seed of ``numpy.random.default_rng`` that draws all matrices.
        fill_empty: Fill empty document partitions from the nearest occupied
            partition (documents only; queries are never filled).
        d_final: Optional output size of a final Count-Sketch projection.
    """

    dim: int
    k_sim: int = 5
    dim_proj: int = 16
    r_reps: int = 20
    seed: int = 42
    fill_empty: bool = True
    d_final: int | None = None

    def __post_init__(self) -> None:
        """Validate the parameters.

        Raises:
            ValueError: If any parameter is out of range or of the wrong type.
        """
        _check_int("dim", self.dim, 1)
        _check_int("k_sim", self.k_sim, 1, _MAX_K_SIM)
        _check_int("dim_proj", self.dim_proj, 1)
        if self.dim_proj > self.dim:
            raise ValueError(
                f"dim_proj must be <= dim (cannot project to a higher "
                f"dimensionality), got dim_proj={self.dim_proj} > dim={self.dim}"
            )
        _check_int("r_reps", self.r_reps, 1)
        # default_rng rejects negative seeds; fail here with a clearer message.
        _check_int("seed", self.seed, 0)
        if not isinstance(self.fill_empty, (bool, np.bool_)):
            raise ValueError(f"fill_empty must be a bool, got {type(self.fill_empty).__name__}")
        if self.d_final is not None:
            _check_int("d_final", self.d_final, 1, self.fde_dim)

    @property
    def num_partitions(self) -> int:
        """Number of SimHash partitions per repetition, ``2**k_sim``."""
        return 1 << int(self.k_sim)

    @property
    def fde_dim(self) -> int:
        """Size of the encoding before the optional final projection."""
        return int(self.r_reps) * self.num_partitions * int(self.dim_proj)

    @property
    def output_dim(self) -> int:
        """Size of the encodings returned by :class:`FDEEncoder`."""
        return self.fde_dim if self.d_final is None else int(self.d_final)


class FDEEncoder:
    """Batched MUVERA encoder equal to fastembed's ``Muvera`` for given params.

    All random matrices are drawn once, in ``__init__``, from
    ``np.random.default_rng(params.seed)`` in the same order and with the same
    calls as fastembed, so encodings match it to float32 rounding.

    Args:
        params: Encoding hyper-parameters.
        chunk_elements: Soft bound, in array elements, on the per-chunk work
            arrays; documents are processed in chunks to keep memory bounded.
    """

    def __init__(self, params: FDEParams, *, chunk_elements: int = _DEFAULT_CHUNK_ELEMENTS) -> None:
        _check_int("chunk_elements", chunk_elements, 1)
        self.params = params
        self._chunk_elements = int(chunk_elements)
        dim, k, r, dp = int(params.dim), int(params.k_sim), int(params.r_reps), int(params.dim_proj)

        rng = np.random.default_rng(int(params.seed))
        # Mirror fastembed's draw sequence exactly: one normal (dim, k_sim) matrix
        # per repetition, then a single ``choice`` for all projections. Any other
        # call pattern would consume the stream differently.
        hyperplanes = np.stack([rng.normal(size=(dim, k)) for _ in range(r)])
        signs = rng.choice([-1, 1], size=(r, dim, dp))

        # One (rows, dim) matrix so a single ``W @ x.T`` gives, for every token,
        # the SimHash products of all repetitions (rows j*k + b: hyperplane b of
        # repetition j) followed by the scaled projections (rows r*k + j*dp + c:
        # output column c of repetition j). The (rows, n_tokens) result has
        # contiguous rows, which is what the bincount scatter below reads.
        rows = [hyperplanes.transpose(0, 2, 1).reshape(r * k, dim)]
        # fastembed projects (and scales by 1/sqrt(dim_proj)) only when
        # dim_proj < dim; with dim_proj == dim the raw centres are used.
        self._project = dp < dim
        if self._project:
            scaled = signs.astype(np.float64) * (1.0 / np.sqrt(dp))
            rows.append(scaled.transpose(0, 2, 1).reshape(r * dp, dim))
        self._rows: npt.NDArray[np.float64] = np.ascontiguousarray(np.concatenate(rows))
        self._bit_weights: npt.NDArray[np.int64] = np.left_shift(1, np.arange(k, dtype=np.int64))

        # Final Count Sketch (Google reference implementation of MUVERA): every
        # FDE coordinate is added, with a random sign, to one random output
        # coordinate. Drawn after fastembed's matrices from the same generator so
        # those stay identical; unbiased for inner products, so no scaling.
        self._sketch_perm: npt.NDArray[np.intp] | None = None
        self._sketch_sign: npt.NDArray[np.float64] | None = None
        self._sketch_starts: npt.NDArray[np.intp] | None = None
        self._sketch_targets: npt.NDArray[np.intp] | None = None
        if params.d_final is not None:
            fde_dim = params.fde_dim
            bucket = rng.integers(0, int(params.d_final), size=fde_dim)
            sign = rng.choice([-1.0, 1.0], size=fde_dim)
            # Sorting coordinates by bucket turns the sketch into one gather and
            # one segmented sum (reduceat) per chunk.
            perm = np.argsort(bucket, kind="stable")
            sorted_bucket = bucket[perm]
            starts = np.flatnonzero(np.r_[True, sorted_bucket[1:] != sorted_bucket[:-1]])
            self._sketch_perm = perm
            self._sketch_sign = sign[perm]
            self._sketch_starts = starts
            self._sketch_targets = sorted_bucket[starts]

    @property
    def output_dim(self) -> int:
        """Size of each returned encoding."""
        return self.params.output_dim

    def encode_documents(self, token_sets: Sequence[npt.NDArray[Any]]) -> npt.NDArray[np.float32]:
        """Encode documents: per-partition means, empty partitions filled.

        Args:
            token_sets: One ``(n_tokens_i, dim)`` array per document, ``n_tokens_i >= 1``.

        Returns:
            Array of shape ``(len(token_sets), output_dim)``, dtype float32.

        Raises:
            ValueError: If a token set is empty or has the wrong shape.
        """
        return self._encode(token_sets, average=True, fill=bool(self.params.fill_empty))

    def encode_queries(self, token_sets: Sequence[npt.NDArray[Any]]) -> npt.NDArray[np.float32]:
        """Encode queries: per-partition sums, empty partitions left at zero.

        Args:
            token_sets: One ``(n_tokens_i, dim)`` array per query, ``n_tokens_i >= 1``.

        Returns:
            Array of shape ``(len(token_sets), output_dim)``, dtype float32.

        Raises:
            ValueError: If a token set is empty or has the wrong shape.
        """
        return self._encode(token_sets, average=False, fill=False)

    def _encode(
        self, token_sets: Sequence[npt.NDArray[Any]], *, average: bool, fill: bool
    ) -> npt.NDArray[np.float32]:
        """Validate, split into memory-bounded chunks and encode each chunk."""
        docs = list(token_sets)
        n_docs = len(docs)
        out = np.empty((n_docs, self.output_dim), dtype=np.float32)
        if n_docs == 0:
            return out
        # map(len, ...) iterates in C; no numeric work happens per document.
        lengths = np.fromiter(map(len, docs), dtype=np.intp, count=n_docs)
        empty = np.flatnonzero(lengths == 0)
        if empty.size:
            raise ValueError(
                f"cannot encode an empty token set (indices {empty[:10].tolist()}"
                f"{', ...' if empty.size > 10 else ''})"
            )

        p = self.params
        r, b = int(p.r_reps), p.num_partitions
        dp = int(p.dim_proj)
        # Rough element count of the per-chunk arrays: token-sized ones (input,
        # SimHash products, projections) and partition-sized ones (sums, counts).
        per_token = int(p.dim) + r * (int(p.k_sim) + dp + 1)
        per_doc = r * b * (dp + 3)
        cost = lengths * per_token + per_doc
        start_offsets = np.cumsum(cost) - cost
        window = start_offsets // self._chunk_elements
        bounds = np.r_[0, np.flatnonzero(np.diff(window)) + 1, n_docs]
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            self._encode_chunk(docs[lo:hi], lengths[lo:hi], out[lo:hi], average=average, fill=fill)
        return out

    def _encode_chunk(
        self,
        docs: list[npt.NDArray[Any]],
        lengths: npt.NDArray[np.intp],
        out: npt.NDArray[np.float32],
        *,
        average: bool,
        fill: bool,
    ) -> None:
        """Encode one chunk of documents into ``out``, shape ``(n, output_dim)``."""
        p = self.params
        dim, k, r, dp = int(p.dim), int(p.k_sim), int(p.r_reps), int(p.dim_proj)
        b = p.num_partitions
        n_docs = len(docs)
        n_slots = n_docs * b  # one slot per (document, partition) in a repetition

        try:
            # float64 like fastembed (float32 inputs are promoted there too), so
            # SimHash signs and therefore partitions are identical.
            x = np.concatenate(docs, axis=0, dtype=np.float64)
        except ValueError as exc:
            raise ValueError(
                f"every token set must be a 2-D array of shape (n, {dim}): {exc}"
            ) from exc
        if x.ndim != 2 or x.shape[1] != dim:
            raise ValueError(
                f"every token set must be a 2-D array of shape (n, {dim}), "
                f"got tokens of shape {x.shape}"
            )
        n_tok = x.shape[0]

        products = self._rows @ x.T  # (r*k [+ r*dp], n_tok), one BLAS call
        # Partition ids for all repetitions; bit b is hyperplane b, as in
        # fastembed's ``(dot > 0) @ (1 << arange(k))``.
        bits = (products[: r * k] > 0).reshape(r, k, n_tok)
        codes = np.zeros((r, n_tok), dtype=np.int64)
        for bit in range(k):
            codes += bits[:, bit, :] * self._bit_weights[bit]
        doc_of_token = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
        # (r, n_tok) slot = document * b + partition; rows are contiguous so each
        # bincount below reads sequential memory.
        slots = codes + doc_of_token * b

        # Token values per repetition, (r or 1, dp, n_tok): projected and
        # scaled, or the raw tokens when fastembed skips the projection.
        if self._project:
            values = products[r * k :].reshape(r, dp, n_tok)
        else:
            values = np.ascontiguousarray(x.T)[None]
        shared = values.shape[0] == 1

        # Scatter-add with bincount (far faster than np.add.at): one call per
        # (repetition, output column), each reading contiguous rows. sums is
        # laid out [rep, slot, col] so empty-slot filling writes whole rows and
        # the final reordering moves whole (b * dp) blocks.
        sums = np.empty((r, n_slots, dp), dtype=np.float64)
        counts = np.empty((r, n_slots), dtype=np.int64)
        for j in range(r):
            v = values[0 if shared else j]
            counts[j] = np.bincount(slots[j], minlength=n_slots)
            for c in range(dp):
                sums[j, :, c] = np.bincount(slots[j], weights=v[c], minlength=n_slots)

        if average:
            # Empty slots hold 0; dividing them by 1 keeps them 0 and avoids a
            # slow masked divide. Occupied slots get fastembed's exact division.
            np.divide(sums, np.maximum(counts, 1)[:, :, None], out=sums)
            occupied = counts > 0
            if fill and not occupied.all():
                self._fill_empty(sums, occupied, slots, values)

        # [rep, doc, partition, col] -> fastembed's [doc, rep, partition, col];
        # without a final sketch this single pass also casts into ``out``.
        by_doc = sums.reshape(r, n_docs, b * dp).transpose(1, 0, 2)
        if self._sketch_perm is None:
            out.reshape(n_docs, r, b * dp)[...] = by_doc
        else:
            out[...] = self._count_sketch(by_doc.reshape(n_docs, p.fde_dim))

    def _fill_empty(
        self,
        sums: npt.NDArray[np.float64],
        occupied: npt.NDArray[np.bool_],
        slots: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> None:
        """Fill empty document partitions of ``sums`` in place, as fastembed does.

        fastembed picks, for an empty partition ``e``, the occupied partition
        ``o`` minimising ``(hamming(e, o), o)`` (argmin over sorted ids) and
        copies the *first* token of ``o``, not the centre of ``o``. (Google's
        reference implementation differs on ties: it takes the lowest-index
        token at minimal Hamming distance, over Gray-coded partition ids.)

        Args:
            sums: ``(r, n_docs * b, dp)`` partition centres, modified in place.
            occupied: ``(r, n_docs * b)`` mask of non-empty slots.
            slots: ``(r, n_tok)`` slot (``doc * b + partition``) of every token.
            values: ``(r or 1, dp, n_tok)`` projected token values.
        """
        r, n_slots, dp = sums.shape
        k = int(self.params.k_sim)
        b = self.params.num_partitions
        n_docs = n_slots // b
        n_tok = values.shape[2]

        # Nearest occupied partition of every partition via a separable distance
        # transform on the k-cube: key = dist * b + id, so the minimal key is
        # fastembed's choice (smallest distance, then smallest id). After the
        # pass for bit i, key[e] is the best over occupied o differing from e in
        # bits 0..i only. k passes of O(b), no (b, b) distance table; int32 is
        # enough since keys stay below 2 * (k + 1) * b <= 2**22.
        unreachable = 2 * (k + 1) * b
        keys = np.where(occupied.reshape(r * n_docs, b), np.arange(b, dtype=np.int32), unreachable)
        keys = keys.astype(np.int32, copy=False)
        for bit in range(k):
            half = 1 << bit
            # Axis 2 of this view is bit ``bit`` of the partition id.
            pairs = keys.reshape(r * n_docs, b // (2 * half), 2, half)
            low = pairs[:, :, 0, :].copy()
            np.minimum(low, pairs[:, :, 1, :] + b, out=pairs[:, :, 0, :])
            np.minimum(pairs[:, :, 1, :], low + b, out=pairs[:, :, 1, :])
        nearest = (keys % b).reshape(r * n_slots)

        # First (lowest-index) token of every slot. ufunc.at is used because
        # plain fancy assignment gives no guarantee about which duplicate wins.
        first = np.full(r * n_slots, n_tok, dtype=np.int64)
        rep_offset = (np.arange(r, dtype=np.int64) * n_slots)[:, None]
        np.minimum.at(
            first, (slots + rep_offset).ravel(), np.tile(np.arange(n_tok, dtype=np.int64), r)
        )

        empty = np.flatnonzero(~occupied.ravel())  # linear (rep, slot) index
        rep = empty // n_slots
        token = first[empty - empty % b + nearest[empty]]
        # Gather one output column at a time: for a fixed column the token
        # indices are nearly sorted, so reads stream instead of jumping rows.
        base = token if values.shape[0] == 1 else rep * (dp * n_tok) + token
        flat_values = values.reshape(-1)
        fill_values = np.empty((dp, empty.size), dtype=np.float64)
        for c in range(dp):
            np.take(flat_values, base + c * n_tok, out=fill_values[c])
        sums.reshape(r * n_slots, dp)[empty] = fill_values.T

    def _count_sketch(self, fde: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Apply the final Count-Sketch projection to ``(n, fde_dim)`` rows."""
        assert self._sketch_perm is not None
        assert self._sketch_sign is not None
        assert self._sketch_starts is not None
        assert self._sketch_targets is not None
        signed = fde[:, self._sketch_perm] * self._sketch_sign
        out = np.zeros((fde.shape[0], self.output_dim), dtype=np.float64)
        out[:, self._sketch_targets] = np.add.reduceat(signed, self._sketch_starts, axis=1)
        return out

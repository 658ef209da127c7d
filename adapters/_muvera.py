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
   empty partitions with a token from the nearest occupied partition. The
   scatter-add is one sparse (CSC) matrix product per chunk.
4. Blocks are laid out ``[rep, partition, dim_proj]`` and flattened, which is
   fastembed's layout.

Numerics. Partition ids are fastembed's: the SimHash signs come from a
float32 product, and every product within a proven float32 error bound of zero
is recomputed in float64 from the input values, as fastembed computes it (only
products within float64 rounding of zero, ~1e-13, could fall either way, as
between any two float64 summation orders). The projection and the document
means use float32 and query sums accumulate in float64; against fastembed's
float64 this costs a few float32 ulps, ~1e-6 relative (about 6e-7 absolute at
most, measured, for unit-norm tokens of dim 128). Encodings do not depend on
how documents are batched, chunked or threaded (tested bit for bit).

Speed. The batch is cut into cache-sized chunks that run on a few threads.
While an encode runs, BLAS is held to one thread (see ``_SingleThreadedBlas``).

An optional final Count-Sketch projection to ``d_final`` follows Google's
reference implementation; fastembed has no equivalent.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from threadpoolctl import ThreadpoolController

__all__ = ["FDEEncoder", "FDEParams"]

_MAX_K_SIM = 16
# Upper bound, in array elements, on the per-chunk work arrays. 2**20 (about
# 1,800 tokens of dim 128 with the default parameters, a few MiB) keeps a
# chunk's arrays in the CPU caches, yields enough chunks to share between
# threads, and keeps the per-chunk Python overhead (~40 numpy calls) small.
_DEFAULT_CHUNK_ELEMENTS = 1 << 20
# Most worker threads used by default.
_MAX_DEFAULT_THREADS = 8
# Largest max|x_i| for which the float32 SimHash pass is used; above it (or for
# non-finite tokens) float32 products could overflow, so the hash is computed
# in float64 outright.
_MAX_FAST_HASH_SCALE = 1e30


def _check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    """Raise ``ValueError`` unless ``value`` is an int in ``[low, high]``."""
    # bool is an int subclass; True as a dimension is always a mistake.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {bound}, got {value}")


def _usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1  # pragma: no cover - platform dependent


class _SingleThreadedBlas:
    """Hold BLAS to one thread, process-wide, while an encode runs.

    Why: OpenBLAS's default (one thread per core) makes every matrix product
    synchronise with helper threads that spin between calls; on a loaded
    machine a helper that is not scheduled stalls the product. Measured on a
    busy 2-core host (load average 4-8): 50 float32 products of (2048, 128) x
    (128, 320) took 4x longer with 2 BLAS threads than with 1, numpy work right
    after a product ran 1.8x slower while the helper spun, and encoding 2,000
    documents of 64 tokens took 1.5-1.7 s with default BLAS threads against
    0.35-0.45 s with this limit (with 1 or 2 chunk threads). The encoder's own
    chunk threads use the cores instead, for the whole pipeline rather than
    only the products (~45% of the time), so on an idle machine they should
    gain more than BLAS threads would; no idle machine was available to
    measure that.

    The limit is applied and restored by one thread at a time, through
    threadpoolctl's context manager in that thread: an encode that starts
    while another thread's encode holds the limit runs under it without
    touching it (overlapping limits from different threads could otherwise
    restore each other's values and leave BLAS limited).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held = False
        self._controller: Any = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        """Limit BLAS to one thread for the block, unless already limited."""
        with self._lock:
            take = not self._held
            if take:
                self._held = True
                if self._controller is None:
                    # Scanning the loaded libraries takes ~0.3 ms; do it once.
                    # numpy's BLAS, the one used here, is loaded by then.
                    self._controller = ThreadpoolController()
        if not take:
            yield
            return
        try:
            with self._controller.limit(limits=1, user_api="blas"):
                yield
        finally:
            with self._lock:
                self._held = False


_single_threaded_blas = _SingleThreadedBlas()


def _matmul_rows(x: npt.NDArray[np.float32], w: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``x @ w`` whose rows do not depend on how many rows ``x`` has.

    For a single row numpy calls BLAS ``gemv``, which sums in another order than
    ``gemm``; padding to two rows keeps float32 results bit-identical whether a
    token set is encoded alone or in a batch.
    """
    if x.shape[0] != 1:
        return x @ w
    return (np.concatenate([x, np.zeros_like(x)]) @ w)[:1]


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

    Chunks of a batch are encoded on up to ``n_threads`` threads; while an
    encode runs, BLAS is limited to one thread process-wide (see
    ``_SingleThreadedBlas``).

    Args:
        params: Encoding hyper-parameters.
        chunk_elements: Soft bound, in array elements, on the per-chunk work
            arrays; documents are processed in chunks to keep memory bounded.
        n_threads: Threads that encode chunks in parallel; ``None`` uses the
            usable CPUs, at most 8. Results do not depend on it.
    """

    def __init__(
        self,
        params: FDEParams,
        *,
        chunk_elements: int = _DEFAULT_CHUNK_ELEMENTS,
        n_threads: int | None = None,
    ) -> None:
        _check_int("chunk_elements", chunk_elements, 1)
        if n_threads is not None:
            _check_int("n_threads", n_threads, 1)
        self.params = params
        self._chunk_elements = int(chunk_elements)
        self._n_threads = (
            min(_usable_cpus(), _MAX_DEFAULT_THREADS) if n_threads is None else int(n_threads)
        )
        dim, k, r, dp = int(params.dim), int(params.k_sim), int(params.r_reps), int(params.dim_proj)
        b = params.num_partitions

        rng = np.random.default_rng(int(params.seed))
        # Mirror fastembed's draw sequence exactly: one normal (dim, k_sim) matrix
        # per repetition, then a single ``choice`` for all projections. Any other
        # call pattern would consume the stream differently.
        hyperplanes = np.stack([rng.normal(size=(dim, k)) for _ in range(r)])
        signs = rng.choice([-1, 1], size=(r, dim, dp))

        # SimHash hyperplanes, row j*k + b = hyperplane b of repetition j: float64
        # for exact re-checks, and a (dim, r*k) float32 copy for the fast pass
        # (see ``_simhash_codes``).
        self._hyper64: npt.NDArray[np.float64] = np.ascontiguousarray(
            hyperplanes.transpose(0, 2, 1).reshape(r * k, dim)
        )
        self._hyper32_t: npt.NDArray[np.float32] = np.ascontiguousarray(
            self._hyper64.T, dtype=np.float32
        )
        # Bound on |fl32(x . g) - x . g| for hyperplane g, as a + c * max_i |x_i|:
        # gamma_n * sum_i |g_i x_i| with n = dim + 3 covers rounding g (and a
        # non-float32 x) to float32 and every product and sum of any summation
        # order, FMA or not, and sum_i |g_i x_i| <= ||g||_1 * max_i |x_i|. The
        # absolute part covers underflow, including BLAS kernels that flush
        # subnormal inputs or results to zero (each flushed input loses at most
        # |g_i| * 2**-126, each flushed product or sum at most 2**-126). Both
        # parts are doubled as a safety margin.
        g_norm1 = np.abs(self._hyper64).sum(axis=1)
        self._hash_tol: npt.NDArray[np.float64] = 2.0 * (dim + 4) * 2.0**-24 * g_norm1
        self._hash_abs_tol: npt.NDArray[np.float64] = 2.0 * (g_norm1 + 2 * dim + 2) * 2.0**-126

        # fastembed projects (and scales by 1/sqrt(dim_proj)) only when
        # dim_proj < dim; with dim_proj == dim the raw centres are used. Column
        # j*dp + c of the (dim, r*dp) matrix is output column c of repetition j,
        # so ``x @ proj`` viewed as (n_tok * r, dp) has one row per (token,
        # repetition), in token order.
        self._proj_t: npt.NDArray[np.float32] | None = None
        if dp < dim:
            scaled = signs.astype(np.float64) * (1.0 / np.sqrt(dp))
            self._proj_t = np.ascontiguousarray(
                scaled.transpose(1, 0, 2).reshape(dim, r * dp), dtype=np.float32
            )
        # Offset of repetition j's first partition inside a document's block.
        self._rep_offsets: npt.NDArray[np.int64] = np.arange(0, r * b, b, dtype=np.int64)

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

    @property
    def n_threads(self) -> int:
        """Most threads one encode call uses (never more than its chunks)."""
        return self._n_threads

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
        # SimHash products, projections, slot indices) and document-sized ones
        # (the FDE block, counts).
        per_token = int(p.dim) + r * (int(p.k_sim) + dp + 3)
        per_doc = r * b * (dp + 3)
        cost = lengths * per_token + per_doc
        start_offsets = np.cumsum(cost) - cost
        window = start_offsets // self._chunk_elements
        bounds = np.r_[0, np.flatnonzero(np.diff(window)) + 1, n_docs].tolist()
        chunks = list(itertools.pairwise(bounds))

        def encode_chunk(chunk: tuple[int, int]) -> None:
            lo, hi = chunk
            self._encode_chunk(docs[lo:hi], lengths[lo:hi], out[lo:hi], average=average, fill=fill)

        n_threads = min(self._n_threads, len(chunks))
        with _single_threaded_blas():
            if n_threads == 1:
                for chunk in chunks:
                    encode_chunk(chunk)
            else:
                # Chunks write disjoint rows of ``out``; numpy, BLAS and scipy's
                # sparse kernels release the GIL for the bulk of the work.
                with ThreadPoolExecutor(n_threads, thread_name_prefix="polyvec-fde") as pool:
                    for _ in pool.map(encode_chunk, chunks):
                        pass
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
        dim, r, dp = int(p.dim), int(p.r_reps), int(p.dim_proj)
        b = p.num_partitions
        n_docs = len(docs)

        try:
            x_in = np.concatenate(docs, axis=0)
            x = x_in.astype(np.float32, copy=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"every token set must be a 2-D array of shape (n, {dim}): {exc}"
            ) from exc
        if x.ndim != 2 or x.shape[1] != dim:
            raise ValueError(
                f"every token set must be a 2-D array of shape (n, {dim}), "
                f"got tokens of shape {x.shape}"
            )
        n_tok = x.shape[0]

        # Row of every (token, repetition) in the chunk's FDE viewed as
        # (n_docs * r * b, dp): document * r * b + repetition * b + partition,
        # i.e. fastembed's [doc, rep, partition, col] layout.
        n_rows = n_docs * r * b
        # int32 indices halve the memory traffic of the scatter; chunks are far
        # below 2**31 rows unless a single document is enormous.
        index_type = np.int32 if max(n_rows, n_tok * r) < 2**31 else np.int64
        slots = self._simhash_codes(x_in, x).astype(index_type)
        slots += self._rep_offsets.astype(index_type)
        doc_start = np.arange(0, n_rows, r * b, dtype=index_type)
        slots += np.repeat(doc_start, lengths)[:, None]
        slots_flat = slots.reshape(-1)

        # Token values, one row per column of the scatter matrix below: the
        # projected and scaled tokens (row t*r + j: token t in repetition j), or
        # the raw tokens (row t, shared by all repetitions) when fastembed skips
        # the projection. float32: the entries +-1/sqrt(dp) are exact (dp a
        # power of 4) or nearly so, and a dot product of dim float32 terms is
        # within ~1e-7 relative of fastembed's float64 one. This product is
        # about 40% of the encoding time; float64 would double it.
        if self._proj_t is not None:
            values = _matmul_rows(x, self._proj_t).reshape(n_tok * r, dp)
            col_step = 1
        else:
            values = x
            col_step = r

        # Scatter-add as one sparse product: A[row, col] = weight of the value
        # row ``col`` in FDE row ``row``. Built column-compressed, every column
        # (value row) holds its one or r entries in token order, so the index
        # arrays are the slots themselves and no sorting is needed; scipy's
        # csc x dense kernel then streams through the values once.
        indptr = np.arange(0, slots_flat.size + 1, col_step, dtype=index_type)
        if average:
            # Documents: means, accumulated in float32 (terms and partial sums
            # stay below max|value|); multiplying by 1/count is within float32
            # rounding of fastembed's division.
            counts = np.bincount(slots_flat, minlength=n_rows)
            weights = (1.0 / np.maximum(counts, 1)).astype(np.float32)[slots_flat]
            scatter = sp.csc_array((weights, slots_flat, indptr), shape=(n_rows, values.shape[0]))
            fde = np.asarray(scatter @ values, dtype=np.float32).reshape(n_rows, dp)
            if fill:
                empty = np.flatnonzero(counts == 0)
                if empty.size:
                    self._fill_empty(fde, empty, counts, slots_flat, values, col_step)
        else:
            # Queries: sums, which grow with the number of tokens per partition,
            # so they are accumulated in float64 (float32 partial sums would
            # lose ~sqrt(count) ulps).
            weights64 = np.ones(slots_flat.size, dtype=np.float64)
            scatter = sp.csc_array((weights64, slots_flat, indptr), shape=(n_rows, values.shape[0]))
            fde = np.asarray(scatter @ values.astype(np.float64))

        flat = fde.reshape(n_docs, p.fde_dim)
        if self._sketch_perm is None:
            out[...] = flat
        else:
            out[...] = self._count_sketch(flat)

    def _simhash_codes(
        self, x_in: npt.NDArray[Any], x: npt.NDArray[np.float32]
    ) -> npt.NDArray[np.unsignedinteger[Any]]:
        """SimHash partition of every token in every repetition, ``(n_tok, r)``.

        Bit ``b`` of the partition is ``x . g_{j,b} > 0`` evaluated in float64,
        as fastembed does (float32 inputs are promoted there), so partitions are
        identical. The products come from one float32 matrix product; the few
        whose magnitude is within the float32 rounding bound of zero (a few in
        ten thousand for unit-norm tokens) are recomputed in float64 from the
        original values, and inputs too large or not finite fall back to a full
        float64 product.

        Args:
            x_in: ``(n_tok, dim)`` tokens as given (any real dtype).
            x: The same tokens as float32.

        Returns:
            The partition ids, ``(n_tok, r)``, uint8 (uint16 when k_sim > 8).
        """
        r, k = int(self.params.r_reps), int(self.params.k_sim)
        n_tok = x.shape[0]
        products = x @ self._hyper32_t  # (n_tok, r*k)
        scale = max(float(x.max()), -float(x.min()))
        if scale <= _MAX_FAST_HASH_SCALE:  # False for nan too
            bits = products > 0
            tol = (self._hash_tol * scale + self._hash_abs_tol).astype(np.float32)
            unsure = np.flatnonzero(np.abs(products, out=products) <= tol)
            if unsure.size:
                token, column = np.divmod(unsure, r * k)
                exact = np.einsum("ij,ij->i", x_in[token].astype(np.float64), self._hyper64[column])
                bits.reshape(-1)[unsure] = exact > 0
        else:
            bits = (x_in.astype(np.float64) @ self._hyper64.T) > 0
        # Partition id = sum_b bit_b << b, assembled from k strided bit planes.
        code_type = np.uint8 if k <= 8 else np.uint16
        planes = bits.reshape(n_tok, r, k).view(np.uint8)
        codes = planes[:, :, 0].astype(code_type)
        for bit in range(1, k):
            codes |= np.left_shift(planes[:, :, bit], bit, dtype=code_type)
        return codes

    def _fill_empty(
        self,
        fde: npt.NDArray[np.float32],
        empty: npt.NDArray[np.intp],
        counts: npt.NDArray[np.intp],
        slots: npt.NDArray[np.signedinteger[Any]],
        values: npt.NDArray[np.float32],
        col_step: int,
    ) -> None:
        """Fill empty document partitions of ``fde`` in place, as fastembed does.

        fastembed picks, for an empty partition ``e``, the occupied partition
        ``o`` minimising ``(hamming(e, o), o)`` (argmin over sorted ids) and
        copies the *first* token of ``o``, not the centre of ``o``. (Google's
        reference implementation differs on ties: it takes the lowest-index
        token at minimal Hamming distance, over Gray-coded partition ids.)

        Args:
            fde: ``(n_docs * r * b, dp)`` partition centres, modified in place.
            empty: Indices of the empty rows of ``fde``.
            counts: ``(n_docs * r * b,)`` tokens per row.
            slots: ``(n_tok * r,)`` row of every (token, repetition), token-major.
            values: Value rows; (token t, repetition j) is row ``(t * r + j) // col_step``.
            col_step: ``1`` for projected values, ``r`` for shared raw tokens.
        """
        k = int(self.params.k_sim)
        b = self.params.num_partitions
        # Only (document, repetition) groups with an empty partition matter.
        # ``empty`` is sorted, so its groups come in runs: their starts give the
        # distinct groups and a running count each empty row's group position.
        group_of_empty = empty // b
        new_group = np.empty(empty.size, dtype=bool)
        new_group[0] = True
        np.not_equal(group_of_empty[1:], group_of_empty[:-1], out=new_group[1:])
        groups = group_of_empty[new_group]
        position = np.cumsum(new_group) - 1
        occupied = counts.reshape(-1, b)[groups] > 0  # (n_groups, b)

        # Nearest occupied partition of every partition via a separable distance
        # transform on the k-cube: key = dist * b + id, so the minimal key is
        # fastembed's choice (smallest distance, then smallest id). After the
        # pass for bit i, key[e] is the best over occupied o differing from e in
        # bits 0..i only. k passes of O(b), no (b, b) distance table. Keys are
        # laid out (partition, group) so every numpy inner loop runs over all
        # groups, and stay below 2 * (k + 1) * b: int16 is enough up to k = 10.
        unreachable = 2 * (k + 1) * b
        key_type = np.int16 if unreachable + b < 2**15 else np.int32
        keys = np.where(
            occupied.T, np.arange(b, dtype=key_type)[:, None], key_type(unreachable)
        ).astype(key_type, copy=False)
        step = key_type(b)
        for bit in range(k):
            half = 1 << bit
            # Axis 1 of this view is bit ``bit`` of the partition id.
            pairs = keys.reshape(b // (2 * half), 2, half, groups.size)
            low = pairs[:, 0].copy()
            np.minimum(low, pairs[:, 1] + step, out=pairs[:, 0])
            np.minimum(pairs[:, 1], low + step, out=pairs[:, 1])
        nearest = keys[empty % b, position] % step

        # First (lowest-index) value row of every FDE row. ufunc.at is used
        # because plain fancy assignment gives no guarantee about which
        # duplicate wins.
        first = np.full(counts.size, slots.size, dtype=slots.dtype)
        np.minimum.at(first, slots, np.arange(slots.size, dtype=slots.dtype))
        source = first[group_of_empty * b + nearest] // col_step
        fde[empty] = values[source]

    def _count_sketch(self, fde: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float64]:
        """Apply the final Count-Sketch projection to ``(n, fde_dim)`` rows."""
        perm, sign = self._sketch_perm, self._sketch_sign
        starts, targets = self._sketch_starts, self._sketch_targets
        if perm is None or sign is None or starts is None or targets is None:
            raise RuntimeError("the Count-Sketch projection exists only when d_final is set")
        signed = fde[:, perm] * sign
        out = np.zeros((fde.shape[0], self.output_dim), dtype=np.float64)
        out[:, targets] = np.add.reduceat(signed, starts, axis=1)
        return out

"""Throughput of the batched MUVERA encoder against fastembed's ``Muvera``.

Builds one set of random documents (unit-norm float32 token vectors, lengths
drawn uniformly around ``--tokens``), encodes them with fastembed's
``Muvera.process_document`` (one call per document, as its users do) and with
``FDEEncoder.encode_documents`` (one call for the batch), and prints a markdown
table with the median time over ``--repeats``, documents per second, the speed
ratio and the largest absolute difference between the two outputs.

The two encoders alternate (a, b, a, b, ...) so both see the same machine
load, and the load average is printed with the result. Both run as a user
would run them, in one process with default settings: no thread variables
are needed. ``FDEEncoder`` encodes chunks of the batch on its own threads
(``--threads``, default: the usable CPUs, at most 8) and holds BLAS to one
thread while it runs; fastembed's per-document products are small enough that
OpenBLAS runs them on one thread anyway. Thread variables set in the
environment (``OPENBLAS_NUM_THREADS`` ...) are echoed in the printed command.

Example:
    python benchmarks/fde_throughput.py --docs 2000 --tokens 64 --dim 128 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from polyvec.adapters._muvera import FDEEncoder, FDEParams


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--docs", type=int, default=2000, help="number of documents")
    parser.add_argument("--tokens", type=int, default=64, help="mean tokens per document")
    parser.add_argument("--dim", type=int, default=128, help="token vector dimensionality")
    parser.add_argument("--repeats", type=int, default=5, help="timed repetitions per encoder")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random documents")
    parser.add_argument("--k-sim", type=int, default=5, help="SimHash hyperplanes")
    parser.add_argument("--dim-proj", type=int, default=16, help="projection dimensionality")
    parser.add_argument("--r-reps", type=int, default=20, help="repetitions")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="FDEEncoder chunk threads (default: usable CPUs, at most 8)",
    )
    args = parser.parse_args(argv)
    if args.docs < 1 or args.tokens < 1 or args.dim < 1 or args.repeats < 1:
        parser.error("--docs, --tokens, --dim and --repeats must be positive")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be positive")
    return args


def make_documents(
    n_docs: int, mean_tokens: int, dim: int, seed: int
) -> list[npt.NDArray[np.float32]]:
    """Random unit-norm float32 token sets with lengths in [mean/2, 3*mean/2].

    Args:
        n_docs: Number of documents.
        mean_tokens: Mean number of tokens per document.
        dim: Token dimensionality.
        seed: Seed of the generator.

    Returns:
        One ``(n_tokens_i, dim)`` float32 array per document.
    """
    rng = np.random.default_rng(seed)
    low = max(1, mean_tokens // 2)
    lengths = rng.integers(low, mean_tokens + (mean_tokens - low) + 1, size=n_docs)
    tokens = rng.standard_normal((int(lengths.sum()), dim)).astype(np.float32)
    tokens /= np.linalg.norm(tokens, axis=1, keepdims=True)
    return np.split(tokens, np.cumsum(lengths)[:-1])


def _interleaved_medians(
    fns: list[Callable[[], Any]], repeats: int
) -> tuple[list[float], list[Any]]:
    """Time each of ``fns`` ``repeats`` times, interleaved, and take medians.

    Interleaving (a, b, a, b, ...) exposes both encoders to the same machine
    load, so the ratio stays meaningful on a shared host.

    Returns:
        The median wall time of each function and its last result.
    """
    times: list[list[float]] = [[] for _ in fns]
    results: list[Any] = [None] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            results[i] = fn()
            times[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times], results


def _load_average() -> str:
    """The 1-minute load average, or ``n/a`` where the OS has none."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):  # pragma: no cover - platform dependent
        return "n/a"


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print a markdown table."""
    args = _parse_args(argv)
    try:
        from fastembed.postprocess import Muvera
    except ImportError:  # pragma: no cover - depends on the environment
        sys.exit("fastembed is required for this benchmark: pip install fastembed")

    docs = make_documents(args.docs, args.tokens, args.dim, args.seed)
    n_tokens = sum(len(d) for d in docs)
    muvera = Muvera(
        dim=args.dim, k_sim=args.k_sim, dim_proj=args.dim_proj, r_reps=args.r_reps, random_seed=42
    )
    encoder = FDEEncoder(
        FDEParams(
            dim=args.dim, k_sim=args.k_sim, dim_proj=args.dim_proj, r_reps=args.r_reps, seed=42
        ),
        n_threads=args.threads,
    )

    load_before = _load_average()
    (t_fe, t_pv), (ref, got) = _interleaved_medians(
        [
            lambda: np.stack([muvera.process_document(d) for d in docs]),
            lambda: encoder.encode_documents(docs),
        ],
        args.repeats,
    )
    max_diff = float(np.max(np.abs(got.astype(np.float64) - ref)))
    load_after = _load_average()

    # Thread-count variables change BLAS timings a lot on a shared host, so
    # they are part of the command needed to reproduce a measurement.
    thread_env = [
        f"{name}={os.environ[name]}"
        for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
        if name in os.environ
    ]
    command = shlex.join(
        [
            *thread_env,
            "python",
            "benchmarks/fde_throughput.py",
            f"--docs={args.docs}",
            f"--tokens={args.tokens}",
            f"--dim={args.dim}",
            f"--repeats={args.repeats}",
            f"--seed={args.seed}",
            f"--k-sim={args.k_sim}",
            f"--dim-proj={args.dim_proj}",
            f"--r-reps={args.r_reps}",
            *([] if args.threads is None else [f"--threads={args.threads}"]),
        ]
    )
    print(f"command: `{command}`")
    print(
        f"{args.docs} docs, {n_tokens} tokens, dim={args.dim}, k_sim={args.k_sim}, "
        f"dim_proj={args.dim_proj}, r_reps={args.r_reps}, output dim={encoder.output_dim}; "
        f"numpy {np.__version__}, python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs; median of {args.repeats} interleaved runs"
    )
    print(
        f"polyvec: {encoder.n_threads} chunk thread(s), BLAS held to 1 thread while encoding; "
        f"load average (1 min) {load_before} before, {load_after} after"
    )
    print()
    print("| encoder | median s | docs/s |")
    print("|---|---:|---:|")
    print(f"| fastembed Muvera.process_document (per doc) | {t_fe:.4f} | {args.docs / t_fe:,.0f} |")
    print(f"| polyvec FDEEncoder.encode_documents (batch) | {t_pv:.4f} | {args.docs / t_pv:,.0f} |")
    print()
    print(f"speed ratio (fastembed / polyvec): {t_fe / t_pv:.1f}x")
    print(f"max abs difference: {max_diff:.3e}")


if __name__ == "__main__":
    main()

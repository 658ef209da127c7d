"""Numerical tests of the batched MUVERA fixed-dimensional encoder."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from polyvec.adapters._muvera import FDEEncoder, FDEParams

Array = npt.NDArray[np.float64]

# Lengths 1-8 leave most of the 16 or 32 partitions of a repetition empty, so
# the fill rule is exercised; 1 is the degenerate case (every partition filled
# from the only token); 100 makes most partitions hold several tokens.
LENGTHS = [1, 2, 3, 5, 8, 1, 13, 32, 64, 100, 4, 2]


def _unit_tokens(rng: np.random.Generator, lengths: list[int], dim: int) -> list[Array]:
    """Random unit-norm token sets (float32, as models emit them)."""
    docs = []
    for n in lengths:
        tokens = rng.standard_normal((n, dim))
        docs.append((tokens / np.linalg.norm(tokens, axis=1, keepdims=True)).astype(np.float32))
    return docs


def _spearman(a: Array, b: Array) -> float:
    """Spearman rank correlation (continuous data, so no tie handling)."""
    rank_a = np.argsort(np.argsort(a)).astype(np.float64)
    rank_b = np.argsort(np.argsort(b)).astype(np.float64)
    return float(np.corrcoef(rank_a, rank_b)[0, 1])


@pytest.fixture(scope="module")
def muvera_cls() -> Any:
    """fastembed's reference ``Muvera`` class, or skip."""
    pytest.importorskip(
        "fastembed",
        reason="fastembed is a test-only peer; install polyvec[test] to run the interoperability check",
    )
    from fastembed.postprocess import Muvera

    return Muvera


EQUALITY_PARAMS = [
    pytest.param(FDEParams(dim=128), id="defaults-k5-p16-r20"),
    pytest.param(FDEParams(dim=128, k_sim=4, dim_proj=16, r_reps=10), id="k4-p16-r10"),
    # dim_proj == dim: fastembed skips the projection and its 1/sqrt scaling.
    pytest.param(
        FDEParams(dim=16, k_sim=3, dim_proj=16, r_reps=4, seed=7), id="identity-projection"
    ),
]


@pytest.mark.parametrize("params", EQUALITY_PARAMS)
def test_documents_and_queries_match_fastembed(params: FDEParams, muvera_cls: Any) -> None:
    reference = muvera_cls(
        dim=params.dim,
        k_sim=params.k_sim,
        dim_proj=params.dim_proj,
        r_reps=params.r_reps,
        random_seed=params.seed,
    )
    docs = _unit_tokens(np.random.default_rng(123), LENGTHS, params.dim)
    encoder = FDEEncoder(params)

    got_docs = encoder.encode_documents(docs)
    got_queries = encoder.encode_queries(docs)

    want_docs = np.stack([reference.process_document(d) for d in docs])
    want_queries = np.stack([reference.process_query(d) for d in docs])
    assert got_docs.shape == want_docs.shape == (len(docs), reference.embedding_size)
    np.testing.assert_allclose(got_docs, want_docs, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got_queries, want_queries, rtol=0, atol=1e-5)


@pytest.mark.parametrize(
    "params",
    [
        pytest.param(FDEParams(dim=128), id="defaults"),
        # 4 partitions: a 512-token query sums ~128 tokens per partition.
        pytest.param(FDEParams(dim=32, k_sim=2, dim_proj=4, r_reps=30, seed=3), id="k2-p4"),
    ],
)
def test_long_token_sets_match_fastembed(params: FDEParams, muvera_cls: Any) -> None:
    reference = muvera_cls(
        dim=params.dim,
        k_sim=params.k_sim,
        dim_proj=params.dim_proj,
        r_reps=params.r_reps,
        random_seed=params.seed,
    )
    docs = _unit_tokens(np.random.default_rng(8), [512, 300, 2, 511], params.dim)
    encoder = FDEEncoder(params)

    want_docs = np.stack([reference.process_document(d) for d in docs])
    want_queries = np.stack([reference.process_query(d) for d in docs])
    np.testing.assert_allclose(encoder.encode_documents(docs), want_docs, rtol=0, atol=1e-5)
    np.testing.assert_allclose(encoder.encode_queries(docs), want_queries, rtol=0, atol=1e-5)


def _near_hyperplanes(rng: np.random.Generator, hyperplanes: Array, n: int, offset: float) -> Array:
    """Unit tokens moved to within ``offset`` of two SimHash hyperplanes each.

    Args:
        rng: Random generator.
        hyperplanes: ``(n_hyperplanes, dim)`` hyperplane normals.
        n: Number of tokens.
        offset: Signed distance scale from the hyperplanes, in units of ``1/||g||``.
    """
    tokens = rng.standard_normal((n, hyperplanes.shape[1]))
    tokens /= np.linalg.norm(tokens, axis=1, keepdims=True)
    for token in tokens:
        for g in hyperplanes[rng.choice(len(hyperplanes), size=2, replace=False)]:
            token -= (token @ g) / (g @ g) * g
            token += rng.choice([-1.0, 1.0]) * offset * g / (g @ g)
    return tokens


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("offset", [1e-8, 1e-11])
def test_tokens_next_to_simhash_hyperplanes_get_fastembed_partitions(
    dtype: type, offset: float, muvera_cls: Any
) -> None:
    # The fast SimHash pass is float32; products this close to zero are below
    # its resolution, so they must be re-checked in float64 from the original
    # values. A token in a wrong partition moves a whole query block by O(0.1).
    reference = muvera_cls(dim=64, k_sim=4, dim_proj=8, r_reps=6, random_seed=42)
    hyperplanes = np.concatenate([s.simhash_vectors.T for s in reference.simhash_projections])
    rng = np.random.default_rng(11)
    docs: list[npt.NDArray[Any]] = [
        _near_hyperplanes(rng, hyperplanes, n, offset).astype(dtype) for n in (1, 3, 17, 40)
    ]
    encoder = FDEEncoder(FDEParams(dim=64, k_sim=4, dim_proj=8, r_reps=6))

    want_queries = np.stack([reference.process_query(d) for d in docs])
    want_docs = np.stack([reference.process_document(d) for d in docs])
    np.testing.assert_allclose(encoder.encode_queries(docs), want_queries, rtol=0, atol=1e-5)
    np.testing.assert_allclose(encoder.encode_documents(docs), want_docs, rtol=0, atol=1e-5)


def test_huge_tokens_use_the_float64_hash_and_match_fastembed(muvera_cls: Any) -> None:
    # Beyond ~1e30 float32 products could overflow; the whole hash is float64.
    reference = muvera_cls(dim=32, k_sim=3, dim_proj=8, r_reps=4, random_seed=42)
    docs = [np.random.default_rng(12).standard_normal((20, 32)) * 1e31]

    got = FDEEncoder(FDEParams(dim=32, k_sim=3, dim_proj=8, r_reps=4)).encode_queries(docs)

    want = np.stack([reference.process_query(d) for d in docs])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * float(np.abs(want).max()))


def test_unfilled_documents_match_fastembed(muvera_cls: Any) -> None:
    params = FDEParams(dim=32, k_sim=4, dim_proj=8, r_reps=5, fill_empty=False)
    reference = muvera_cls(dim=32, k_sim=4, dim_proj=8, r_reps=5, random_seed=42)
    docs = _unit_tokens(np.random.default_rng(5), LENGTHS, 32)

    got = FDEEncoder(params).encode_documents(docs)

    want = np.stack(
        [reference.process(d, fill_empty_clusters=False, normalize_by_count=True) for d in docs]
    )
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_chunking_and_batching_do_not_change_results() -> None:
    params = FDEParams(dim=64, k_sim=4, dim_proj=8, r_reps=6)
    docs = _unit_tokens(np.random.default_rng(9), LENGTHS, 64)
    whole = FDEEncoder(params).encode_documents(docs)
    # chunk_elements=1 puts every document in its own chunk.
    tiny_chunks = FDEEncoder(params, chunk_elements=1).encode_documents(docs)
    one_by_one = np.concatenate([FDEEncoder(params).encode_documents([d]) for d in docs])
    threaded = FDEEncoder(params, chunk_elements=1, n_threads=3)
    single = FDEEncoder(params, chunk_elements=1, n_threads=1)

    # BLAS may block a product differently for a different number of rows, which moves the
    # last float32 bit on some CPUs (seen 2026-12-01: 3e-7); anything more is a real change
    same = {"rtol": 0, "atol": 1e-6}
    np.testing.assert_allclose(tiny_chunks, whole, **same)
    np.testing.assert_allclose(one_by_one, whole, **same)
    np.testing.assert_allclose(threaded.encode_documents(docs), whole, **same)
    np.testing.assert_allclose(threaded.encode_queries(docs), single.encode_queries(docs), **same)


def test_encoding_limits_blas_threads_only_while_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = threadpoolctl.threadpool_info()
    params = FDEParams(dim=16, k_sim=2, dim_proj=4, r_reps=2)
    encoder = FDEEncoder(params, chunk_elements=1, n_threads=2)
    seen: list[int] = []
    encode_chunk = encoder._encode_chunk

    def spy(*args: Any, **kwargs: Any) -> None:
        seen.extend(
            lib["num_threads"]
            for lib in threadpoolctl.threadpool_info()
            if lib["user_api"] == "blas"
        )
        encode_chunk(*args, **kwargs)

    monkeypatch.setattr(encoder, "_encode_chunk", spy)
    docs = _unit_tokens(np.random.default_rng(10), [3, 5, 2, 7], 16)
    encoder.encode_documents(docs)
    with pytest.raises(ValueError, match="shape"):
        encoder.encode_queries([docs[0], np.ones((2, 8), dtype=np.float32)])
    assert set(seen) == {1}
    assert threadpoolctl.threadpool_info() == before

    # Overlapping encodes from several user threads leave the limits as found.
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: encoder.encode_queries(docs), range(16)))
    assert threadpoolctl.threadpool_info() == before


@pytest.mark.parametrize(
    ("params", "expected_dim"),
    [
        (FDEParams(dim=128), 20 * 32 * 16),
        (FDEParams(dim=128, k_sim=4, dim_proj=16, r_reps=10), 10 * 16 * 16),
        (FDEParams(dim=64, k_sim=3, dim_proj=8, r_reps=4, d_final=100), 100),
    ],
)
def test_output_shape_and_dtype(params: FDEParams, expected_dim: int) -> None:
    encoder = FDEEncoder(params)
    docs = _unit_tokens(np.random.default_rng(0), [3, 1, 17], params.dim)

    assert params.output_dim == encoder.output_dim == expected_dim
    for encoded in (encoder.encode_documents(docs), encoder.encode_queries(docs)):
        assert encoded.shape == (3, expected_dim)
        assert encoded.dtype == np.float32
        assert np.isfinite(encoded).all()
    assert encoder.encode_documents([]).shape == (0, expected_dim)


def test_same_seed_is_deterministic_and_seeds_differ() -> None:
    docs = _unit_tokens(np.random.default_rng(1), [4, 9, 30], 32)
    params = FDEParams(dim=32, k_sim=3, dim_proj=8, r_reps=4, seed=11)

    first = FDEEncoder(params).encode_documents(docs)
    again = FDEEncoder(params).encode_documents(docs)
    other = FDEEncoder(FDEParams(dim=32, k_sim=3, dim_proj=8, r_reps=4, seed=12)).encode_documents(
        docs
    )

    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other, atol=1e-3)


def test_single_token_document_fills_every_partition_with_that_token() -> None:
    params = FDEParams(dim=32, k_sim=4, dim_proj=8, r_reps=3)
    (token,) = _unit_tokens(np.random.default_rng(2), [1], 32)
    encoder = FDEEncoder(params)

    blocks = encoder.encode_documents([token]).reshape(3, 16, 8)
    query_blocks = encoder.encode_queries([token]).reshape(3, 16, 8)

    # Documents: all 16 partitions of a repetition hold the projected token.
    np.testing.assert_array_equal(blocks, np.broadcast_to(blocks[:, :1], blocks.shape))
    # Queries: exactly one non-zero partition per repetition, equal to it.
    nonzero = np.abs(query_blocks).sum(axis=2) > 0
    assert (nonzero.sum(axis=1) == 1).all()
    np.testing.assert_allclose(query_blocks.sum(axis=1), blocks[:, 0], atol=1e-6)


def test_filling_changes_short_documents_only_in_empty_partitions() -> None:
    docs = _unit_tokens(np.random.default_rng(3), [2, 3], 32)
    filled = FDEEncoder(FDEParams(dim=32, k_sim=4, dim_proj=8, r_reps=3)).encode_documents(docs)
    unfilled = FDEEncoder(
        FDEParams(dim=32, k_sim=4, dim_proj=8, r_reps=3, fill_empty=False)
    ).encode_documents(docs)

    changed = ~np.isclose(filled, unfilled)
    assert changed.any()
    # Wherever filling changed something, the unfilled partition was empty.
    assert (unfilled[changed] == 0).all()


def test_query_encoding_is_additive_and_document_encoding_is_a_mean() -> None:
    rng = np.random.default_rng(4)
    part_a, part_b = _unit_tokens(rng, [5, 7], 32)
    encoder = FDEEncoder(FDEParams(dim=32, k_sim=3, dim_proj=8, r_reps=4))

    whole_query = encoder.encode_queries([np.concatenate([part_a, part_b])])
    summed = encoder.encode_queries([part_a]) + encoder.encode_queries([part_b])
    np.testing.assert_allclose(whole_query, summed, atol=1e-5)

    # Repeating every token leaves partition means and fill tokens unchanged.
    doubled = encoder.encode_documents([np.concatenate([part_a, part_a])])
    np.testing.assert_allclose(doubled, encoder.encode_documents([part_a]), atol=1e-6)


def test_inner_product_tracks_maxsim_with_planted_near_duplicates() -> None:
    rng = np.random.default_rng(2024)
    dim, n_queries, n_docs, q_tokens, d_tokens = 64, 4, 40, 8, 32
    encoder = FDEEncoder(FDEParams(dim=dim))
    correlations = []
    for _ in range(n_queries):
        (query,) = _unit_tokens(rng, [q_tokens], dim)
        docs = _unit_tokens(rng, [d_tokens] * n_docs, dim)
        for doc in docs:
            # Plant a varying number of noisy copies of query tokens at a
            # varying noise level, so true MaxSim spans a wide, graded range.
            planted = int(rng.integers(0, q_tokens + 1))
            noise = rng.uniform(0.05, 1.0)
            source = query[rng.choice(q_tokens, size=planted, replace=False)]
            near = source + noise * rng.standard_normal(source.shape) / np.sqrt(dim)
            doc[:planted] = near / np.linalg.norm(near, axis=1, keepdims=True)
        maxsim = np.array([(query @ doc.T).max(axis=1).sum() for doc in docs])
        approx = encoder.encode_documents(docs) @ encoder.encode_queries([query])[0]
        correlations.append(_spearman(approx.astype(np.float64), maxsim))

    assert float(np.mean(correlations)) > 0.8, correlations


def test_final_projection_is_linear_and_roughly_preserves_inner_products() -> None:
    rng = np.random.default_rng(6)
    (query,) = _unit_tokens(rng, [6], 32)
    docs = _unit_tokens(rng, [20] * 30, 32)
    for i, doc in enumerate(docs):
        # 0-6 near copies of query tokens spread the exact inner products.
        planted = i % 7
        near = query[:planted] + 0.3 * rng.standard_normal((planted, 32)) / np.sqrt(32)
        doc[:planted] = near / np.linalg.norm(near, axis=1, keepdims=True)
    full = FDEEncoder(FDEParams(dim=32, k_sim=3, dim_proj=8, r_reps=16))
    sketched = FDEEncoder(FDEParams(dim=32, k_sim=3, dim_proj=8, r_reps=16, d_final=512))

    sketched_docs = sketched.encode_documents(docs)
    exact = full.encode_documents(docs) @ full.encode_queries([query])[0]
    approx = sketched_docs @ sketched.encode_queries([query])[0]

    assert sketched_docs.shape == (30, 512)
    assert _spearman(approx.astype(np.float64), exact.astype(np.float64)) > 0.8
    # Query sums are additive and the sketch is linear, so the sketched query
    # encoding must stay additive too.
    halves = sketched.encode_queries([query[:3]]) + sketched.encode_queries([query[3:]])
    np.testing.assert_allclose(sketched.encode_queries([query]), halves, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": 0}, "dim must be"),
        ({"dim": 128, "k_sim": 0}, "k_sim must be in"),
        ({"dim": 128, "k_sim": 17}, "k_sim must be in"),
        ({"dim": 8, "dim_proj": 16}, "dim_proj must be <= dim"),
        ({"dim": 128, "dim_proj": 0}, "dim_proj must be"),
        ({"dim": 128, "r_reps": 0}, "r_reps must be"),
        ({"dim": 128, "seed": -1}, "seed must be"),
        ({"dim": 128, "d_final": 0}, "d_final must be in"),
        ({"dim": 128, "d_final": 20 * 32 * 16 + 1}, "d_final must be in"),
        ({"dim": 128, "k_sim": True}, "k_sim must be an int"),
        ({"dim": 128.0}, "dim must be an int"),
        ({"dim": 128, "fill_empty": "yes"}, "fill_empty must be a bool"),
    ],
)
def test_invalid_params_raise(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FDEParams(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chunk_elements": 0}, "chunk_elements must be"),
        ({"n_threads": 0}, "n_threads must be"),
        ({"n_threads": 2.0}, "n_threads must be an int"),
    ],
)
def test_invalid_encoder_options_raise(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FDEEncoder(FDEParams(dim=16), **kwargs)


def test_invalid_token_sets_raise() -> None:
    encoder = FDEEncoder(FDEParams(dim=16, k_sim=2, dim_proj=4, r_reps=2))
    good = np.ones((3, 16), dtype=np.float32)
    with pytest.raises(ValueError, match="empty token set"):
        encoder.encode_documents([good, np.empty((0, 16), dtype=np.float32)])
    with pytest.raises(ValueError, match="shape"):
        encoder.encode_queries([good, np.ones((2, 8), dtype=np.float32)])
    with pytest.raises(ValueError, match="shape"):
        encoder.encode_queries([np.ones(16, dtype=np.float32)])

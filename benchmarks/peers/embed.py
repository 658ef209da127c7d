"""Encode a BEIR folder once with polyvec's bundled model, for every peer to read.

Runs in polyvec's own venv. Writes ``polyvec_data/peers/cache/<name>/`` where ``<name>`` is
the data set's folder name, ``-subset<N>`` with ``--subset N`` and ``-q<Q>`` with
``--queries Q``:

- ``doc_tokens.npy`` (float32, every document's token vectors concatenated, 384 dims,
  L2-normalised rows), ``doc_offsets.npy`` (int64, ``n_docs + 1``: document ``i`` is rows
  ``offsets[i]:offsets[i+1]``), ``doc_pooled.npy`` (float32, one L2-normalised row per
  document), ``doc_ids.json`` and ``doc_texts.json`` (the texts, for the text-keyed peers
  such as LangChain and for BM25);
- the same for the judged test queries: ``query_tokens.npy``, ``query_offsets.npy``,
  ``query_pooled.npy``, ``query_ids.json``, ``query_texts.json``;
- ``encode.json``: the per-query encoding time of the bundled model (median and p95, ms).

Documents are encoded exactly as ``polyvec eval`` encodes them with
``chunking: {mode: truncate}``: the text of ``polyvec.eval.load_beir(folder).corpus()``
(``title + " " + text``), whole, cut by the model at its window, document side
(``is_query=False``) of ``SentenceTransformerEncoder("bundled")``. Blank documents are left
out (polyvec stores no passage for them). Encodings already in the text-keyed cache of
``benchmarks/embedding_cache.py`` (``benchmarks/.cache/<dataset>-bundled/``, keys are the
sha1 of the text) are copied from it; only missing ones are encoded (that cache is read,
never written).

Queries are the judged test queries in ``queries.jsonl`` file order (``--queries Q``: the
first Q of them). Each is encoded alone (``is_query=True``, pooled and token vectors in one
forward pass), as ``polyvec eval`` encodes a query, and that call is timed with
``time.perf_counter``; ``encode.json`` holds the median and p95 of those times, with the
torch thread count it ran with.

``--subset N`` is a fixed sample, not a random one: every document judged for one of the
selected test queries first (in corpus order), then the remaining corpus documents in
file order, up to N documents in all (all judged ones are kept even past N).

    python benchmarks/peers/embed.py /work/shared/data/scifact [--subset 300] [--queries 20]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "polyvec_data" / "peers" / "cache"
TEXT_CACHES = ROOT / "benchmarks" / ".cache"


def cache_name(data: str | Path, subset: int | None, queries: int | None) -> str:
    name = Path(data).name
    if subset:
        name += f"-subset{subset}"
    if queries:
        name += f"-q{queries}"
    return name


def text_key(text: str) -> str:
    """The key of ``benchmarks/embedding_cache.py``: sha1 of the UTF-8 text."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def p95(values: list[float]) -> float:
    """The p95 ``polyvec.eval.EvalResult.p95_ms`` computes (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


class TextCache:
    """Read-only view of a ``CachedEncoder`` folder, memory-mapped (it is ~2 GB for SciFact)."""

    def __init__(self, folder: Path) -> None:
        self.index: dict[str, int] = {}
        if (folder / "keys.json").exists():
            keys = json.loads((folder / "keys.json").read_text())
            self.index = {k: i for i, k in enumerate(keys)}
            self.pooled = np.load(folder / "pooled.npy", mmap_mode="r")
            self.tokens = np.load(folder / "tokens.npy", mmap_mode="r")
            self.offsets = np.load(folder / "offsets.npy")

    def get(self, text: str) -> tuple[np.ndarray, np.ndarray] | None:
        i = self.index.get(text_key(text))
        if i is None:
            return None
        tokens = np.array(self.tokens[self.offsets[i] : self.offsets[i + 1]], np.float32)
        return np.array(self.pooled[i], np.float32), tokens


def select_documents(dataset: Any, query_ids: list[str], subset: int | None) -> list[Any]:
    """Non-blank corpus documents; with ``subset``, the judged ones first, then file order."""
    from polyvec.chunking import is_blank

    docs = [d for d in dataset.corpus() if not is_blank(d.text)]
    if not subset:
        return docs
    judged = {d for q in query_ids for d in dataset.qrels.get(q, {})}
    chosen = [d for d in docs if d.id in judged]
    rest = [d for d in docs if d.id not in judged]
    return chosen + rest[: max(0, subset - len(chosen))]


def save_side(
    folder: Path,
    side: str,
    ids: list[str],
    texts: list[str],
    pooled: np.ndarray,
    tokens: list[np.ndarray],
) -> None:
    lengths = [len(t) for t in tokens]
    np.save(folder / f"{side}_tokens.npy", np.concatenate(tokens).astype(np.float32))
    np.save(
        folder / f"{side}_offsets.npy", np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    )
    np.save(folder / f"{side}_pooled.npy", pooled.astype(np.float32))
    (folder / f"{side}_ids.json").write_text(json.dumps(ids))
    (folder / f"{side}_texts.json").write_text(json.dumps(texts))


def build(
    data: str | Path, subset: int | None = None, queries: int | None = None, threads: int = 2
) -> Path:
    """Write the cache folder for ``data`` (unless complete already) and return it."""
    import torch

    from polyvec.encoders import SentenceTransformerEncoder
    from polyvec.eval import load_beir

    folder = CACHE / cache_name(data, subset, queries)
    if (folder / "encode.json").exists():
        return folder
    torch.set_num_threads(threads)
    dataset = load_beir(data)
    query_items = list(dataset.queries.items())[: queries or None]
    query_ids = [q for q, _ in query_items]
    docs = select_documents(dataset, query_ids, subset)
    encoder = SentenceTransformerEncoder("bundled")

    text_cache = TextCache(TEXT_CACHES / f"{Path(data).name}-bundled")
    pooled: list[np.ndarray | None] = []
    tokens: list[np.ndarray | None] = []
    for doc in docs:
        hit = text_cache.get(doc.text)
        pooled.append(hit[0] if hit else None)
        tokens.append(hit[1] if hit else None)
    missing = [i for i, t in enumerate(tokens) if t is None]
    print(
        f"{folder.name}: {len(docs)} documents, {len(docs) - len(missing)} from the text "
        f"cache, {len(missing)} to encode",
        flush=True,
    )
    for start in range(0, len(missing), 64):
        chunk = missing[start : start + 64]
        fresh = encoder.encode(
            [docs[i].text for i in chunk], is_query=False, pooled=True, tokens=True
        )
        assert fresh.pooled is not None and fresh.tokens is not None
        for i, p, t in zip(chunk, fresh.pooled, fresh.tokens, strict=True):
            pooled[i], tokens[i] = p, t
        print(f"  encoded {start + len(chunk)} / {len(missing)}", flush=True)

    times: list[float] = []
    q_pooled: list[np.ndarray] = []
    q_tokens: list[np.ndarray] = []
    encoder.encode(["warm-up query"], is_query=True, pooled=True, tokens=True)
    for _, text in query_items:
        start_t = time.perf_counter()
        out = encoder.encode([text], is_query=True, pooled=True, tokens=True)
        times.append((time.perf_counter() - start_t) * 1000)
        assert out.pooled is not None and out.tokens is not None
        q_pooled.append(out.pooled[0])
        q_tokens.append(out.tokens[0])

    folder.mkdir(parents=True, exist_ok=True)
    save_side(
        folder,
        "doc",
        [str(d.id) for d in docs],
        [d.text for d in docs],
        np.stack([p for p in pooled if p is not None]),
        [t for t in tokens if t is not None],
    )
    save_side(folder, "query", query_ids, [t for _, t in query_items], np.stack(q_pooled), q_tokens)
    (folder / "qrels.json").write_text(json.dumps({q: dataset.qrels[q] for q in query_ids}))
    meta = {
        "dataset": Path(data).name,
        "data": str(Path(data).resolve()),
        "subset": subset,
        "n_docs": len(docs),
        "n_queries": len(query_ids),
        "from_text_cache": len(docs) - len(missing),
        "encoder": "bundled all-MiniLM-L6-v2 (SentenceTransformerEncoder('bundled'))",
        "torch_threads": threads,
        "query_encode_ms_median": statistics.median(times),
        "query_encode_ms_p95": p95(times),
        "query_encode_ms": times,
    }
    (folder / "encode.json").write_text(json.dumps(meta, indent=1))
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="a BEIR folder (corpus.jsonl, queries.jsonl, qrels.tsv)")
    parser.add_argument("--subset", type=int, default=None, help="documents (fixed sample)")
    parser.add_argument("--queries", type=int, default=None, help="first Q judged test queries")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for encoding")
    args = parser.parse_args(argv)
    print(build(args.data, args.subset, args.queries, args.threads))


if __name__ == "__main__":
    main()

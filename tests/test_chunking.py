"""Splitting long documents into passages that fit the encoder's window (polyvec.chunking)."""

from __future__ import annotations

import json
import threading
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from polyvec import ConfigError, Document, InvalidInputError, Pipeline
from polyvec.chunking import Chunker, windows
from tests.conftest import BACKENDS, SHARED_DATA, store_config


def _long_texts(limit: int = 40) -> list[str]:
    """Real long documents: SciFact abstracts and Cranfield papers (or a synthetic one)."""
    texts = []
    for name in ("scifact", "cranfield"):
        path = SHARED_DATA / name / "corpus.jsonl"
        if path.exists():
            with path.open(encoding="utf-8") as fh:
                for line in islice(fh, 400):
                    row = json.loads(line)
                    texts.append(f"{row.get('title', '')}\n\n{row['text']}".strip())
    texts.append("\n\n".join(f"Paragraph {i}. " + "word " * 90 for i in range(8)))
    return sorted(texts, key=len, reverse=True)[:limit]


def _in_word(text: str, a: int, b: int) -> bool:
    """Whether positions a and b lie in one whitespace-free run of ``text``."""
    low, high = min(a, b), max(a, b)
    return not any(c.isspace() for c in text[low:high])


@pytest.mark.parametrize(("max_tokens", "overlap"), [(254, 32), (64, 16), (16, 0)])
def test_passages_fit_cover_and_overlap(raw_encoder, max_tokens: int, overlap: int) -> None:
    """Every passage holds at most max_tokens of the model's tokens, together they cover
    every token, consecutive ones share at most `overlap` tokens, none starts mid-word."""
    for text in _long_texts():
        offsets = raw_encoder.token_offsets([text])[0]
        spans = windows(text, offsets, max_tokens, overlap)
        assert spans[0][0] == 0
        covered = [False] * len(offsets)
        previous_last = -1
        for a, b in spans:
            inside = [i for i, (s, e) in enumerate(offsets) if s >= a and e <= b]
            assert inside and len(inside) <= max_tokens
            assert len(raw_encoder.token_offsets([text[a:b]])[0]) <= max_tokens
            assert inside[0] > previous_last - overlap - 1 or len(spans) == 1
            begin = offsets[inside[0]][0]
            if begin and not text[begin - 1].isspace():  # inside a word: only a giant one
                run = [i for i, (s, _) in enumerate(offsets) if _in_word(text, begin, s)]
                assert len(run) > max_tokens // 2, "a passage starts inside a word"
            for i in inside:
                covered[i] = True
            previous_last = inside[-1]
        assert all(covered), "a token is in no passage"
        if len(offsets) <= max_tokens:
            assert spans == [(0, len(text))]


def test_a_document_that_fits_keeps_its_id(raw_encoder) -> None:
    chunker = Chunker(raw_encoder.token_offsets, 254, 32)
    doc = Document(text="A short text.", id=7, metadata={"a": 1})
    (same,) = chunker.split(doc)
    assert (same.id, same.text, same.metadata, same.frontend) == (
        7,
        doc.text,
        {"a": 1},
        {"source": "7"},
    )
    assert doc.frontend is None  # the caller's document is never changed
    assert chunker.split(Document(text="  \n ", id="blank")) == []


def test_a_long_document_becomes_numbered_passages(raw_encoder) -> None:
    chunker = Chunker(raw_encoder.token_offsets, 32, 8)
    text = " ".join(f"w{i}" for i in range(200))
    parts = chunker.split(Document(text=text, id="doc", metadata={"m": True}, frontend={"x": 1}))
    assert [p.id for p in parts] == [f"doc#{n}" for n in range(len(parts))] and len(parts) > 5
    assert all(p.metadata == {"m": True} for p in parts)
    assert all(p.frontend == {"x": 1, "source": "doc"} for p in parts)
    assert parts[0].text.startswith("w0 ") and parts[-1].text.endswith("w199")


def test_embed_text_is_kept_when_a_document_fits_and_refused_when_it_is_split(
    raw_encoder,
) -> None:
    from polyvec import InvalidInputError

    chunker = Chunker(raw_encoder.token_offsets, 32, 8)
    short = Document(text="A short text.", id="s", embed_text="topic: x\n\nA short text.")
    assert chunker.split(short)[0].embed_text == short.embed_text
    long = Document(text=" ".join(["word"] * 100), id="l", embed_text="topic: x")
    with pytest.raises(InvalidInputError, match="has an embed_text and is longer than 32"):
        chunker.split(long)


def test_cuts_prefer_paragraph_ends(raw_encoder) -> None:
    paragraphs = ["alpha " * 40, "beta " * 40, "gamma " * 40]  # 40 tokens each
    text = "\n\n".join(p.strip() for p in paragraphs)
    parts = Chunker(raw_encoder.token_offsets, 45, 0).split(Document(text=text, id="p"))
    assert [p.text.split()[0] for p in parts] == ["alpha", "beta", "gamma"]


@pytest.mark.parametrize(
    ("chunking", "fragment"),
    [
        ({"max_tokens": 8, "overlap": 8}, "overlap (8) must be below max_tokens (8)"),
        ({"max_tokens": 0}, "greater than 0"),
        ({"mode": "cut"}, "'split' or 'truncate'"),
    ],
)
def test_bad_chunking_settings_are_config_errors(chunking, fragment: str) -> None:
    from polyvec.config import load_config

    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        load_config({"chunking": chunking})


def test_passages_larger_than_the_window_are_refused(encoder, tmp_path: Path) -> None:
    config = {"chunking": {"max_tokens": 1000}, "store": store_config("edge", tmp_path)}
    with (
        Pipeline.from_config(config, encoder=encoder) as p,
        pytest.raises(ConfigError, match="reads only 254 tokens"),
    ):
        p.passages([])


def test_truncate_mode_keeps_documents_whole(raw_encoder, tmp_path: Path) -> None:
    config = {"chunking": {"mode": "truncate"}, "store": store_config("edge", tmp_path)}
    text = "word " * 600
    with Pipeline.from_config(config, encoder=raw_encoder) as p:  # counts what it cuts
        (whole,) = p.passages([Document(text=text, id="d")])
        assert whole.text == text and whole.id == "d"
        p.ingest([whole])
        assert p.last_ingest_truncated == 1
    config["chunking"] = {"mode": "split"}
    with Pipeline.from_config(config, encoder=raw_encoder) as p:
        passages = list(p.passages([Document(text=text, id="d")]))
        p.ingest(passages)  # passages of exactly the window are not cut
        assert len(passages) == 3 and p.last_ingest_truncated == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_ingest_reads_a_reiterable_twice_and_checks_before_writing(
    encoder, tmp_path: Path, backend: str
) -> None:
    """A re-iterable corpus is checked whole, then written batch by batch; a bad document
    at the end of it writes nothing."""

    class Corpus:
        def __init__(self, bad_at: int | None) -> None:
            self.bad_at, self.passes = bad_at, 0

        def __iter__(self):  # type: ignore[no-untyped-def]
            self.passes += 1
            for i in range(10):
                metadata = {"bad": {1, 2}} if i == self.bad_at else {"i": i}
                yield Document(text=f"document number {i}", id=i, metadata=metadata)

    config = {"store": store_config(backend, tmp_path)}
    with Pipeline.from_config(config, encoder=encoder) as p:
        bad = Corpus(bad_at=9)
        with pytest.raises(Exception, match=r"document #9 \(id 9\)"):
            p.ingest(bad, batch_size=3)
        assert p.count() == 0 and bad.passes == 1
        good = Corpus(bad_at=None)
        assert p.ingest(good, batch_size=3) == list(range(10))
        assert good.passes == 2 and p.count() == 10
        assert p.ingest(d for d in Corpus(None)) == list(range(10))  # a generator: listed


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_document_whose_id_is_a_passage_id_of_another_is_refused(
    encoder, tmp_path: Path, backend: str
) -> None:
    """``a#0`` beside a long ``a``, whose first passage is ``a#0``: one would silently
    replace the other. The ingest is refused before anything is written, in either order;
    a long document given twice is one source, and its last version is kept."""
    config = {
        "chunking": {"max_tokens": 16, "overlap": 4},
        "store": store_config(backend, tmp_path),
    }
    long = Document(text="word " * 60, id="a", metadata={"v": 1})
    note = Document(text="a short note", id="a#0")
    with Pipeline.from_config(config, encoder=encoder) as p:
        p.ingest(p.passages([Document(text="kept", id="k")]))
        for corpus in ([note, long], [long, note]):
            with pytest.raises(InvalidInputError, match=r"id 'a#0'.*have the same id"):
                p.ingest(p.passages(corpus))
            assert p.count() == 1
        again = Document(text="word " * 60, id="a", metadata={"v": 2})
        p.ingest(p.passages([long, again]))
        stored = p.get_where({"v": {"$gte": 1}})
        assert len(stored) > 1 and {h.metadata["v"] for h in stored} == {2}
        # across ingests: the other document is stored already
        with pytest.raises(InvalidInputError, match=r"holds that id already, of 'a'"):
            p.ingest(p.passages([note]))
        p.ingest(p.passages([long]))  # the same source again: its passages replaced
        assert p.count() == 1 + len(stored)
        p.delete([h.id for h in stored])
        p.ingest([note])
        with pytest.raises(InvalidInputError, match=r"holds that id already, of 'a#0'"):
            p.ingest(p.passages([long]))
        assert sorted(map(str, (h.id for h in p.get_where(None)))) == ["a#0", "k"]
        assert p.get(["a#0"])[0].text == "a short note"


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_ingest_beside_another_cannot_slip_a_colliding_id_past_its_check(
    encoder, tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two threads of one process: one writes a long ``a`` (passages ``a#0``, ...), the
    other a note ``a#0``. The note's ingest checks the collection only once the long one
    has written, so it is refused, and ``a#0`` stays the long document's first passage
    (a check made before the other's write would let the note replace it silently)."""
    config = {
        "chunking": {"max_tokens": 16, "overlap": 4},
        "store": store_config(backend, tmp_path),
    }
    long = Document(text="word " * 60, id="a")
    note = Document(text="a short note", id="a#0")
    with Pipeline.from_config(config, encoder=encoder) as p:
        writing, release = threading.Event(), threading.Event()
        upsert = p.store.upsert

        def slow_upsert(points: Any) -> Any:  # the long document's write, held open
            writing.set()
            assert release.wait(30)
            return upsert(points)

        monkeypatch.setattr(p.store, "upsert", slow_upsert)
        errors: list[BaseException] = []

        def ingest_note() -> None:
            try:
                p.ingest([note])
            except InvalidInputError as err:
                errors.append(err)

        first = threading.Thread(target=lambda: p.ingest(p.passages([long])))
        first.start()
        assert writing.wait(30)
        second = threading.Thread(target=ingest_note)
        second.start()
        second.join(0.5)  # time to run a check that does not wait for the write lock
        release.set()
        first.join(30)
        second.join(30)
        assert len(errors) == 1 and "holds that id already, of 'a'" in str(errors[0])
        assert p.get(["a#0"])[0].text.startswith("word")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_source_replaced_by_a_blank_one_leaves_none_of_its_passages(
    encoder, tmp_path: Path, backend: str
) -> None:
    """A blank document has no passage: replacing its source deletes the stored ones (a
    file emptied and ingested again), and leaves every other source as it was."""
    config = {
        "chunking": {"max_tokens": 16, "overlap": 4},
        "store": store_config(backend, tmp_path),
    }
    with Pipeline.from_config(config, encoder=encoder) as p:
        long, kept = Document(text="word " * 60, id="a"), Document(text="kept", id="k")
        p.replace_sources(p.passages([long, kept]))
        assert p.count_sources(["a"]) > 1
        blank = Document(text="  \n", id="a")
        assert p.replace_sources(p.passages([blank, Document(text="", id="new")])) == []
        assert p.count_sources(["a"]) == 0
        assert [str(h.id) for h in p.get_where(None)] == ["k"]
        # a blank version given before the document's text: the text is its last version
        assert p.replace_sources(p.passages([blank, long])) and p.count_sources(["a"]) > 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_document_stored_whole_is_replaced_by_its_passages(
    encoder, tmp_path: Path, backend: str
) -> None:
    """A document ingested whole, without a source, is its own source: once it is split
    into passages (chunking turned on, a longer version), its whole version goes, so a
    search cannot find it twice. A document whose id is that source but which belongs to
    another source (a front end's child) stays."""
    config = {
        "chunking": {"max_tokens": 16, "overlap": 4},
        "store": store_config(backend, tmp_path),
    }
    child = Document(text="a child of p", id="y", frontend={"source": "p"})
    with Pipeline.from_config(config, encoder=encoder) as p:
        p.ingest([Document(text="short text", id="x"), child])
        assert p.count_sources(["x"]) == 1 and p.count_sources(["y"]) == 0
        p.replace_sources(p.passages([Document(text="word " * 60, id="x")]))
        stored = sorted(str(h.id) for h in p.get_where(None))
        assert "x" not in stored and "x#0" in stored and "y" in stored
        assert p.count_sources(["x"]) == len(stored) - 1
        p.delete_sources(["y"])  # y is p's, not a source of its own
        assert p.get(["y"]) and p.count_sources(["p"]) == 1
        p.ingest([Document(text="whole again", id="z")])
        p.delete_sources(["x", "z"])
        assert [str(h.id) for h in p.get_where(None)] == ["y"]

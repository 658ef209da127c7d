"""Crash safety: an ingest killed with SIGKILL at a random point, then run again, ends with
every document stored exactly once, all its fields written, and nothing encoded twice that
was already stored. A real subprocess, a real kill, Qdrant Edge with its WAL on."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from polyvec import Pipeline
from tests.crash_ingest import FIELDS, documents

SCRIPT = Path(__file__).with_name("crash_ingest.py")
N_DOCS = 48


def run(path: Path, kill_after: float | None) -> str | None:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with subprocess.Popen(
        [sys.executable, str(SCRIPT), str(path), str(N_DOCS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as proc:
        if kill_after is not None:
            try:
                proc.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return None
        out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    return out


def check(path: Path, encoder) -> None:
    config = {"fields": FIELDS, "store": {"type": "edge", "path": str(path), "collection": "crash"}}
    with Pipeline.from_config(config, encoder=encoder) as p:
        assert p.count() == N_DOCS
        expected = {d["id"]: d["text"] for d in documents(N_DOCS)}
        stored = p.get(list(expected))
        assert {h.id: h.text for h in stored} == expected
        for payload, vectors in p.store.sample(N_DOCS):
            assert set(vectors) == {"tokens", "dense"}, payload.get("doc_id")
            assert len(vectors["dense"]) == 384 and len(vectors["tokens"]) > 0


def kill_and_resume(tmp_path: Path, encoder, runs: int, seed: int) -> None:
    rng = random.Random(seed)
    start = time.perf_counter()
    first = run(tmp_path / "probe", None)  # how long a whole run takes here
    full = time.perf_counter() - start
    assert first is not None and first.startswith(f"done {N_DOCS} 0")
    for attempt in range(runs):
        path = tmp_path / f"run{attempt}"
        killed_at = rng.uniform(0.4 * full, 0.98 * full)  # most kills land while writing
        run(path, killed_at)
        out = run(path, None)
        assert out is not None
        written, skipped = (int(x) for x in out.split()[1:3])
        assert written + skipped == N_DOCS  # nothing stored before the kill was encoded again
        check(path, encoder)


def test_a_killed_ingest_resumes_exactly(tmp_path: Path, encoder) -> None:
    kill_and_resume(tmp_path, encoder, runs=2, seed=1)


@pytest.mark.slow
def test_twenty_kills_in_a_row(tmp_path: Path, encoder) -> None:
    kill_and_resume(tmp_path, encoder, runs=20, seed=2026)

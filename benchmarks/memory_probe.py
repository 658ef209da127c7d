"""Memory of the running process, for benchmarks: /proc/self/status fields and the peak of
anonymous memory (RssAnon: heap, not memory-mapped files), sampled in a thread."""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType


def status(key: str) -> int:
    """A ``/proc/self/status`` field in bytes (``VmRSS``, ``VmHWM``, ``RssAnon``, ...)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


class AnonPeak:
    """``with AnonPeak() as probe: ...``; then ``probe.peak``: the largest RssAnon seen,
    sampled every ``interval`` seconds while the block ran."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(self.interval):
            self.peak = max(self.peak, status("RssAnon"))

    def __enter__(self) -> AnonPeak:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, status("RssAnon"))

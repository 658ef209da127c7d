"""The peers' virtual environments: one per dependency set, under ``polyvec_data/peers/venvs/``.

Each environment is made with ``python -m venv`` and filled with ``pip install`` from the
package registry. WARP (``xtr-warp-rs``) and ``fast-plaid`` share one environment, since
both pin torch 2.11 (``fast-plaid==1.7.0.2110`` pins ``torch==2.11.0``, ``xtr-warp-rs``
``torch>=2.11,<2.12``). PyLate pins ``fast-plaid<=1.4.6.2110``, so it gets its own
environment, with torch pinned to the same 2.11.0 so pip reuses the downloaded wheel, and
``voyager==2.1.0``: the newest voyager (2.2.x) takes only an ndarray in ``add_items`` and
``query``, while PyLate 1.6.0 passes a list of rows (``TypeError: add_items(): incompatible
function arguments``).

A successful install leaves ``.polyvec-ok`` in the environment (a later run skips it); a
failed one leaves ``.polyvec-failed`` with the last line of pip's output, which becomes the
``skipped`` reason of every peer run in that environment (delete the environment's folder
to try again). ``python venvs.py [NAME ...]`` builds them by hand.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENVS = ROOT / "polyvec_data" / "peers" / "venvs"

# environment -> pip requirements
ENVIRONMENTS: dict[str, list[str]] = {
    "torch211": ["torch==2.11.0", "xtr-warp-rs==2.1.0.2110", "fast-plaid==1.7.0.2110"],
    # voyager 2.2 refuses the list of rows PyLate 1.6.0's Voyager index passes to add_items
    "pylate": ["torch==2.11.0", "pylate[voyager]==1.6.0", "voyager==2.1.0"],
    "muvera": ["fastembed==0.9.1", "qdrant-client==1.20.0"],
    "langchain": [
        "langchain-qdrant==1.1.0",
        "qdrant-client==1.20.0",
        "fastembed==0.9.1",
        "qdrant-edge-py==0.9.0",
    ],
}


def python_of(env: str) -> Path:
    return VENVS / env / "bin" / "python"


def failure(env: str) -> str | None:
    """Why ``env`` could not be installed, or None when it is (or was never tried)."""
    marker = VENVS / env / ".polyvec-failed"
    return marker.read_text().strip() if marker.exists() else None


def ensure(env: str, log: bool = True) -> str | None:
    """Create and fill ``env`` unless done before; None when usable, else pip's last line."""
    folder = VENVS / env
    if (folder / ".polyvec-ok").exists():
        return None
    if (reason := failure(env)) is not None:
        return reason
    folder.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    logfile = VENVS / f"{env}.log"
    with logfile.open("w") as out:
        steps = [
            [sys.executable, "-m", "venv", str(folder)],
            [str(python_of(env)), "-m", "pip", "install", "-q", "--upgrade", "pip"],
            [str(python_of(env)), "-m", "pip", "install", *ENVIRONMENTS[env]],
        ]
        for step in steps:
            done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                lines = [ln for ln in logfile.read_text().splitlines() if ln.strip()]
                reason = lines[-1] if lines else f"exit {done.returncode}"
                (folder / ".polyvec-failed").write_text(reason + "\n")
                return reason
    seconds = time.perf_counter() - start
    (folder / ".polyvec-ok").write_text(f"{seconds:.0f} s\n")
    if log:
        print(f"venv {env}: installed in {seconds:.0f} s", flush=True)
    return None


if __name__ == "__main__":
    for name in sys.argv[1:] or list(ENVIRONMENTS):
        print(name, ensure(name) or "ok", flush=True)

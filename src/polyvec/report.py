"""Evaluation reports: one table of plans (Markdown + JSON) and two plots.

``polyvec eval --report DIR`` writes, for any set of plans on any BEIR folder:

* ``report.md`` — one row per plan: nDCG@10, Recall@100, MRR@10, latency p50/p95 (encode +
  search, one query at a time), bytes per document of the fields the plan reads, and the
  ingest rate of the run (documents per second, when this run encoded the corpus);
* ``report.json`` — the same rows and the run's settings, for scripts;
* ``quality_latency.png`` and ``quality_bytes.png`` — nDCG@10 against p50 latency and
  against bytes per document (log scales), when matplotlib is installed (the ``eval``
  extra); otherwise the report says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ReportRow:
    """One evaluated plan."""

    plan: str
    ndcg10: float
    recall100: float
    mrr10: float
    p50_ms: float
    p95_ms: float
    bytes_per_doc: float | None
    ingest_docs_per_s: float | None


def _number(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def markdown(rows: Sequence[ReportRow], title: str, settings: Mapping[str, Any]) -> str:
    """The report as Markdown: a heading, the settings, one table."""
    lines = [f"# {title}", ""]
    lines += [f"- {key}: {value}" for key, value in settings.items()]
    lines += [
        "",
        "| plan | nDCG@10 | Recall@100 | MRR@10 | p50 ms | p95 ms | bytes/doc | ingest docs/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| `{row.plan}` | {row.ndcg10:.4f} | {row.recall100:.4f} | {row.mrr10:.4f} | "
            f"{row.p50_ms:.1f} | {row.p95_ms:.1f} | {_number(row.bytes_per_doc, 0)} | "
            f"{_number(row.ingest_docs_per_s, 1)} |"
        )
    return "\n".join(lines) + "\n"


def _plot(rows: Sequence[ReportRow], x: str, label: str, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 6))
    for number, row in enumerate(rows, 1):
        value = getattr(row, x)
        if value is None or value <= 0:
            continue
        ax.scatter(value, row.ndcg10, label=f"{number}. {row.plan}")
        ax.annotate(str(number), (value, row.ndcg10), xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_xlabel(label)
    ax.set_ylabel("nDCG@10")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(
    rows: Sequence[ReportRow], folder: str | Path, title: str, settings: Mapping[str, Any]
) -> list[Path]:
    """Write ``report.md``, ``report.json`` and the plots into ``folder``; the paths written."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "report.md", out / "report.json"]
    notes = dict(settings)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        notes["plots"] = "not drawn: matplotlib is not installed (pip install 'polyvec[eval]')"
    else:
        for x, label, name in (
            ("p50_ms", "p50 latency per query, ms (encode + search)", "quality_latency.png"),
            ("bytes_per_doc", "bytes per document of the plan's fields", "quality_bytes.png"),
        ):
            _plot(rows, x, label, out / name, title)
            written.append(out / name)
    written[0].write_text(markdown(rows, title, notes), encoding="utf-8")
    data = {"title": title, "settings": notes, "rows": [asdict(r) for r in rows]}
    written[1].write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return written

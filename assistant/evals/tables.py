"""Text and markdown tables of metrics, for the console and the markdown report."""

from __future__ import annotations

from typing import Any

from .metrics import METRICS, format_metric
from .runner import RunResult
from .thresholds import GateResult

SHORT_NAMES = {
    "hit_at_1": "hit@1", "hit_at_3": "hit@3", "hit_at_5": "hit@5", "mrr": "MRR",
    "fact_accuracy": "facts", "citation_accuracy": "cites", "refusal_precision": "ref.P",
    "refusal_recall": "ref.R", "followup_accuracy": "follow", "answer_words_mean": "words", "answer_words_p95": "words95",
    "latency_p50_ms": "p50 ms", "latency_p95_ms": "p95 ms",
}


def table(headers: list[str], rows: list[list[str]], markdown: bool = False) -> str:
    """A markdown table, or an aligned text one (first column left, the others right)."""
    if markdown:
        esc = [[c.replace("|", "\\|").replace("\n", " ") for c in r] for r in rows]
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in esc])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*headers), "  ".join("-" * w for w in widths)] + [fmt.format(*r) for r in rows])


def metrics_table(metrics: dict[str, Any], g: GateResult | None, markdown: bool = False) -> str:
    """Metric | value | threshold | status, one row per metric."""
    limits = {c["metric"]: c for c in (g.checks if g else [])}
    rows = []
    for k in METRICS:
        c = limits.get(k)
        thr = f"{'≤' if c['direction'] == 'max' else '≥'} {format_metric(k, c['threshold'])}" if c else "—"
        status = ("ok" if c["ok"] else "FAIL") if c else ""
        rows.append([k, format_metric(k, metrics.get(k)), thr, status])
    return table(["metric", "value", "threshold", "status"], rows, markdown)


def compare_table(runs: list[RunResult], markdown: bool = False) -> str:
    """Configurations as rows, every metric as a column."""
    headers = ["config"] + [(k if markdown else SHORT_NAMES[k]) for k in METRICS]
    rows = [[r.config.name] + [format_metric(k, r.metrics.get(k)) for k in METRICS] for r in runs]
    return table(headers, rows, markdown)

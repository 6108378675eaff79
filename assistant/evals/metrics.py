"""Aggregate metrics over a run's item results, per tag, and how each metric's value is printed.

A ratio whose denominator is empty is defined as 1.0 (nothing to get wrong) and the notes say so; a
metric over no items at all (e.g. answer length when every item was refused) is ``None``.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from .scoring import ItemResult

METRICS = (
    "hit_at_1", "hit_at_3", "hit_at_5", "mrr", "fact_accuracy", "citation_accuracy",
    "refusal_precision", "refusal_recall", "followup_accuracy", "answer_words_mean", "answer_words_p95",
    "latency_p50_ms", "latency_p95_ms",
)
LOWER_IS_BETTER = frozenset({"answer_words_mean", "answer_words_p95", "latency_p50_ms", "latency_p95_ms"})


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile with linear interpolation (numpy's default); None for no values."""
    xs = sorted(values)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _ratio(num: int, den: int, what: str, notes: list[str]) -> float:
    """num / den, or 1.0 with a note when the denominator is empty."""
    if den == 0:
        notes.append(f"{what}: no items in the denominator, defined as 1.0")
        return 1.0
    return num / den


def compute_metrics(results: list[ItemResult]) -> tuple[dict[str, float | None], dict[str, int], list[str]]:
    """Metrics (snake_case names of METRICS), counts and notes on how edge cases were defined."""
    notes: list[str] = []
    ans = [r for r in results if r.answerable]
    una = [r for r in results if not r.answerable]
    refused = [r for r in results if r.refused]
    m: dict[str, float | None] = {}
    if ans:
        for k in (1, 3, 5):
            m[f"hit_at_{k}"] = sum(1 for r in ans if r.rank is not None and r.rank <= k) / len(ans)
        m["mrr"] = sum(1.0 / r.rank for r in ans if r.rank) / len(ans)
        m["fact_accuracy"] = sum(1 for r in ans if r.fact_ok) / len(ans)
        m["citation_accuracy"] = sum(1 for r in ans if r.citation_ok) / len(ans)
    else:
        notes.append("no answerable items: retrieval, fact and citation metrics are not measured (null)")
        for k in ("hit_at_1", "hit_at_3", "hit_at_5", "mrr", "fact_accuracy", "citation_accuracy"):
            m[k] = None
    true_refusals = sum(1 for r in una if r.refused)
    m["refusal_precision"] = _ratio(true_refusals, len(refused), "refusal_precision (nothing was refused)", notes)
    m["refusal_recall"] = _ratio(true_refusals, len(una), "refusal_recall (no unanswerable items)", notes)
    turns = [r for r in results if r.history]
    # a follow-up item is right when it is fully right: the fact and its citation, or the refusal
    m["followup_accuracy"] = sum(1 for r in turns if r.ok) / len(turns) if turns else None
    lengths = [r.words for r in results if not r.refused]
    m["answer_words_mean"] = sum(lengths) / len(lengths) if lengths else None
    m["answer_words_p95"] = percentile(lengths, 95)
    if not lengths:
        notes.append("every item was refused: answer length is not measured (null)")
    lat = [r.latency_ms for r in results]
    m["latency_p50_ms"] = percentile(lat, 50)
    m["latency_p95_ms"] = percentile(lat, 95)
    m = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items()}
    counts = {
        "items": len(results), "answerable": len(ans), "unanswerable": len(una), "refused": len(refused),
        "refused_answerable": sum(1 for r in ans if r.refused), "answered_unanswerable": len(una) - true_refusals,
        "facts_ok": sum(1 for r in ans if r.fact_ok), "citations_ok": sum(1 for r in ans if r.citation_ok),
        "retrieval_misses": sum(1 for r in ans if r.rank is None), "errors": sum(1 for r in results if r.error),
        "followups": len(turns), "followups_ok": sum(1 for r in turns if r.ok),
    }
    return {k: m[k] for k in METRICS}, counts, notes


def tag_breakdown(results: list[ItemResult]) -> dict[str, dict[str, float | int]]:
    """Per tag: items, hit@1 and the share of items fully right (answerable) or refused (unanswerable)."""
    out: dict[str, dict[str, float | int]] = {}
    for tag in sorted({t for r in results for t in r.tags}):
        rs = [r for r in results if tag in r.tags]
        ans = [r for r in rs if r.answerable]
        out[tag] = {"items": len(rs), "ok": round(sum(1 for r in rs if r.ok) / len(rs), 4),
                    "hit_at_1": round(sum(1 for r in ans if r.rank == 1) / len(ans), 4) if ans else None}
    return out


def format_metric(metric: str, value: Any) -> str:
    """A metric's value as printed: latencies in whole ms, answer lengths to 0.1, ratios to 0.001."""
    if value is None:
        return "n/a"
    if metric.startswith("latency"):
        return f"{value:.0f}"
    if metric.startswith("answer_words"):
        return f"{value:.1f}"
    return f"{value:.3f}"

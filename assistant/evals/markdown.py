"""The markdown report: figures, gate, and every failure with its question, expected facts and answer."""

from __future__ import annotations

from typing import Any

from .metrics import format_metric
from .runner import RunResult, gated_index
from .scoring import ItemResult
from .tables import compare_table, metrics_table, table
from .thresholds import GateResult


def _quote(text: str, limit: int = 300) -> str:
    """The text on one line, cut to ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _summary_lines(report: dict[str, Any], g: GateResult) -> list[str]:
    """Title, description and the run's summary bullets: when, what, which configuration, counts, gate."""
    c = report["counts"]
    cfg = report["config"]
    lines = [f"# Evaluation: {report['set']}", ""]
    if report["description"]:
        lines += [report["description"], ""]
    lines += [
        f"- run: {report['created']}" + (f", commit `{report['commit']}`" if report["commit"] else ""),
        f"- set file: `{report['set_file']}`" if report["set_file"] else "- set file: —",
        *([f"- distractors: {report['distractors']['paragraphs']} paragraph(s) of `{report['distractors']['file']}` "
           f"indexed beside the set's documents"] if report.get("distractors") else []),
        f"- configuration: **{cfg['name']}** — embedding `{cfg['embed_model']}`, answerer `{cfg['answerer']}`, "
        f"top_k {cfg['top_k']}, candidates {cfg['candidates']}, weights keyword {cfg['keyword_weight']:g} / "
        f"dense {cfg['dense_weight']:g}, min_score {cfg['min_score']:g}",
        f"- items: {c['items']} ({c['answerable']} answerable, {c['unanswerable']} unanswerable); "
        f"facts right {c['facts_ok']}/{c['answerable']}, citations right {c['citations_ok']}/{c['answerable']}, "
        f"answerable refused {c['refused_answerable']}, unanswerable answered {c['answered_unanswerable']}, "
        f"retrieval misses (expected paragraph not in the top {cfg['top_k']}) {c['retrieval_misses']}",
        f"- gate: **{'PASSED' if g.passed else 'FAILED'}**" + (f" — {g.note}" if g.note else ""),
        "",
    ]
    return lines


def _warning_lines(warnings: list[str]) -> list[str]:
    """The set's own problems (at most 50 listed)."""
    if not warnings:
        return []
    lines = ["## Set warnings", "", "Problems found in the set itself (check the set, not the assistant):", ""]
    lines += [f"- {w}" for w in warnings[:50]]
    if len(warnings) > 50:
        lines.append(f"- … and {len(warnings) - 50} more (see the JSON report)")
    lines.append("")
    return lines


def _tag_lines(tags: dict[str, dict[str, Any]]) -> list[str]:
    """Per-tag figures, when there are at most 40 tags."""
    if not tags:
        return []
    rows = [[t, str(v["items"]), format_metric("x", v["ok"]), format_metric("x", v["hit_at_1"])] for t, v in tags.items()]
    if len(rows) > 40:
        return []
    return ["## By tag", "", "`ok`: answered right with a right citation (answerable) or refused (unanswerable).", "",
            table(["tag", "items", "ok", "hit@1"], rows, markdown=True), ""]


def _failure_reasons(r: ItemResult) -> list[str]:
    """Why an item failed, in words."""
    if r.answerable:
        why = []
        if r.refused:
            why.append("refused an answerable question")
        elif r.missing_facts:
            why.append("missing fact(s): " + ", ".join(f"«{f}»" for f in r.missing_facts))
        if not r.refused and not r.citation_ok:
            why.append("no citation quote holds every fact in the expected source")
        if r.rank is None:
            why.append("expected paragraph not retrieved")
        elif r.rank > 1:
            why.append(f"expected paragraph ranked {r.rank}")
    else:
        why = ["answered an unanswerable question"]
    if r.error:
        why.append(r.error)
    return why


def _failure_entry(r: ItemResult) -> list[str]:
    """One failed item: its reasons as the heading, then question, expected, answer, citations and retrieval."""
    exp = r.expected
    return [f"### {r.id} — {'; '.join(_failure_reasons(r))}", "",
            f"- question: {r.question}",
            (f"- expected: {', '.join('«' + ' | '.join(f) + '»' for f in exp['facts'])} in {exp['source']} "
             f"paragraph {', '.join(map(str, exp['paragraphs']))}") if r.answerable else "- expected: a refusal",
            *([f"- asked without: {', '.join(r.exclude_sources)}"] if r.exclude_sources else []),
            f"- answer{' (refused)' if r.refused else ''}: {_quote(r.answer)}",
            f"- cited: {', '.join(str(x['source_id']) + '#' + str(x['paragraph']) for x in r.citations) or '—'}; "
            f"retrieved: {', '.join(r.retrieved) or '—'}; confidence {r.confidence:.3f}; {r.latency_ms:.0f} ms", ""]


def _failure_lines(items: list[ItemResult]) -> list[str]:
    """The failures section (at most 200 listed)."""
    failed = [r for r in items if not r.ok]
    lines = [f"## Failures ({len(failed)})", ""]
    if not failed:
        lines += ["None.", ""]
    for r in failed[:200]:
        lines += _failure_entry(r)
    if len(failed) > 200:
        lines += [f"… and {len(failed) - 200} more failures (see the JSON report).", ""]
    return lines


def _flag(v: bool | None) -> str:
    """✓, ✗, or — for a check that does not apply."""
    return "—" if v is None else ("✓" if v else "✗")


def _all_items_lines(items: list[ItemResult]) -> list[str]:
    """A one-row-per-item table of every check."""
    rows = [[r.id, "yes" if r.answerable else "no", _flag(r.fact_ok), _flag(r.citation_ok),
             "yes" if r.refused else "", str(r.rank or "—"), str(r.words), f"{r.latency_ms:.0f}", "✓" if r.ok else "✗"]
            for r in items]
    return ["## All items", "", table(["id", "answerable", "facts", "citation", "refused", "rank", "words", "ms", "ok"],
                                      rows, markdown=True), ""]


def render_markdown(report: dict[str, Any], runs: list[RunResult], g: GateResult) -> str:
    """A report a person can read and tune from: figures, gate, failures with question/expected/answer."""
    main = runs[gated_index(runs)]
    lines = _summary_lines(report, g)
    if len(runs) > 1:
        lines += ["## Configurations compared", "", compare_table(runs, markdown=True), "",
                  f"The metrics, gate and items below are those of **{main.config.name}**.", ""]
    lines += ["## Metrics", "", metrics_table(report["metrics"], g, markdown=True), ""]
    if report["notes"]:
        lines += ["Notes: " + "; ".join(report["notes"]) + ".", ""]
    lines += _warning_lines(report["set_warnings"])
    lines += _tag_lines(report["tags"])
    lines += _failure_lines(main.items)
    if len(main.items) <= 300:
        lines += _all_items_lines(main.items)
    return "\n".join(lines)

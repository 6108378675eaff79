"""``assistant eval``: load the sets, run each, print the figures, write the reports, exit by the gate."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

from ..config import Settings
from .base import EXIT_GATE, EXIT_OK, EXIT_USER, ROOT, EvalSetError, Progress
from .distractors import add_distractors, parse_distractors_arg
from .markdown import render_markdown
from .report import build_report, reports_dir, write_reports
from .runner import Config, compare_configs, gated_index, run_set
from .squad import load_squad
from .suites import EvalSet, load_set
from .tables import compare_table, metrics_table
from .thresholds import GateResult, gate, load_thresholds, thresholds_path


def default_set_path(settings: Settings) -> Path:
    """HOME/evals/article.yaml, else the repository's copy."""
    local = settings.home / "evals" / "article.yaml"
    return local if local.is_file() else ROOT / "evals" / "article.yaml"


def evaluate(settings: Settings, eval_set: EvalSet, thresholds: dict[str, dict[str, float]], compare: bool = False,
             progress: Progress | None = None, out: Callable[[str], None] = print,
             reports: Path | None = None) -> tuple[GateResult, dict[str, Any], tuple[Path, Path]]:
    """Run one set (or compare configurations on it), print the table, write the reports, check the gate."""
    configs = compare_configs(settings) if compare else [Config(f"hybrid {settings.keyword_weight:g}/{settings.dense_weight:g}")]
    runs = run_set(settings, eval_set, configs, progress)
    main = runs[gated_index(runs)]
    g = gate(main.metrics, thresholds.get(eval_set.name), eval_set.name)
    report = build_report(eval_set, runs, g, compare=compare)
    md = render_markdown(report, runs, g)
    stem = f"{eval_set.name}{'-compare' if compare else ''}-{time.strftime('%Y%m%d-%H%M%S')}"
    paths = write_reports(report, md, reports or reports_dir(settings), stem)
    c = main.counts
    if eval_set.distractor_info:
        d = eval_set.distractor_info
        out(f"\ndistractors: {d['paragraphs']} paragraph(s) of {d['file']} indexed beside the set's documents")
    out(f"\n{eval_set.name}: {c['items']} items ({c['answerable']} answerable, {c['unanswerable']} unanswerable), "
        f"embedding {settings.embed_model}, answered in {main.seconds:.1f} s")
    if compare:
        out(compare_table(runs))
        out(f"\ngated configuration: {main.config.name}")
    out(metrics_table(main.metrics, g))
    for w in eval_set.warnings[:10]:
        out(f"set warning: {w}")
    if len(eval_set.warnings) > 10:
        out(f"set warning: … {len(eval_set.warnings) - 10} more in the report")
    out(f"gate: {'passed' if g.passed else 'FAILED'}" + (f" — {g.note}" if g.note else ""))
    out(f"reports: {paths[1]}  {paths[0]}")
    return g, report, paths


def _load_sets(settings: Settings, args: Any) -> list[EvalSet]:
    """The sets the command line names (the default set when none), cut to --limit, with --distractors added."""
    limit = getattr(args, "limit", None)
    sets: list[EvalSet] = []
    for p in getattr(args, "sets", None) or []:
        sets.append(load_set(p))
    if getattr(args, "squad", None):
        sets.append(load_squad(args.squad, limit))
    if not sets:
        sets.append(load_set(default_set_path(settings)))
    if limit is not None:
        if limit < 1:
            raise EvalSetError("--limit must be at least 1")
        for s in sets:
            s.items = s.items[:limit]
    distractors = getattr(args, "distractors", None)
    if distractors:
        dfile, dcount = parse_distractors_arg(distractors)
        for s in sets:
            add_distractors(settings, s, dfile, dcount)
    return sets


def run_cli(settings: Settings, args: Any) -> int:
    """``assistant eval [SET ...] [--squad FILE] [--limit N] [--compare] [--no-gate] [--distractors FILE [N]]``.

    Exit status: 0 when every set passes its thresholds (or ``--no-gate``), 1 when a metric is past its
    threshold, 2 for a set, SQuAD or thresholds file that cannot be used.
    """
    os.environ.setdefault("TQDM_DISABLE", "1")

    def progress(text: str) -> None:
        print(f"… {text}", file=sys.stderr, flush=True)

    try:
        sets = _load_sets(settings, args)
        tpath = Path(getattr(args, "thresholds", None) or thresholds_path(settings))
        thresholds = load_thresholds(tpath)
    except EvalSetError as exc:
        print(f"eval: {exc}", file=sys.stderr)
        return EXIT_USER
    rc = EXIT_OK
    for s in sets:
        try:
            g, _, _ = evaluate(settings, s, thresholds, compare=bool(getattr(args, "compare", False)), progress=progress,
                               reports=getattr(args, "reports", None))
        except EvalSetError as exc:
            print(f"eval: {exc}", file=sys.stderr)
            return EXIT_USER
        if not g.passed and not getattr(args, "no_gate", False):
            rc = EXIT_GATE
    if rc and len(sets) > 1:
        print("eval: at least one set is below its thresholds", file=sys.stderr)
    return rc

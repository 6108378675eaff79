"""The JSON report of a run and where reports are written."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..config import Settings
from .base import ROOT
from .metrics import tag_breakdown
from .runner import RunResult, gated_index
from .scoring import ItemResult
from .suites import EvalSet
from .thresholds import GateResult


def _git_commit() -> str:
    """The repository's short commit, "+dirty" when tracked files changed; "" outside git."""
    try:
        rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if rev.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def reports_dir(settings: Settings) -> Path:
    """Where reports go: ``ASSISTANT_EVAL_REPORTS`` or HOME/evals/reports."""
    env = os.environ.get("ASSISTANT_EVAL_REPORTS")
    return Path(env) if env else settings.home / "evals" / "reports"


def _item_json(r: ItemResult) -> dict[str, Any]:
    """One item's result as JSON."""
    return asdict(r)


def build_report(eval_set: EvalSet, runs: list[RunResult], g: GateResult, compare: bool = False) -> dict[str, Any]:
    """The JSON report: ``metrics`` (the gated run), ``gate``, ``counts``, ``items`` and, for --compare, ``compare``."""
    main = runs[gated_index(runs)]
    report: dict[str, Any] = {
        "set": eval_set.name, "description": eval_set.description,
        "set_file": str(eval_set.path) if eval_set.path else "",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "commit": _git_commit(),
        "config": {"name": main.config.name, **main.settings},
        "metrics": main.metrics, "counts": main.counts, "notes": main.notes,
        "gate": {"passed": g.passed, "gated": g.gated, "note": g.note, "checks": g.checks},
        "set_warnings": eval_set.warnings, "seconds": main.seconds,
        "distractors": eval_set.distractor_info or None,
        "tags": tag_breakdown(main.items),
        "items": [_item_json(r) for r in main.items],
    }
    if compare:
        report["compare"] = [{"config": r.config.name, "settings": r.settings, "metrics": r.metrics, "counts": r.counts,
                              "seconds": r.seconds, "failed_ids": [i.id for i in r.items if not i.ok]} for r in runs]
    return report


def write_reports(report: dict[str, Any], markdown: str, folder: Path, stem: str) -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` (a numeric suffix when the name is taken)."""
    folder.mkdir(parents=True, exist_ok=True)
    base, n = stem, 1
    while (folder / f"{base}.json").exists() or (folder / f"{base}.md").exists():
        n += 1
        base = f"{stem}-{n}"
    jp, mp = folder / f"{base}.json", folder / f"{base}.md"
    jp.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    mp.write_text(markdown + "\n", encoding="utf-8")
    return jp, mp

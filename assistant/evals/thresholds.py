"""Thresholds per set (``evals/thresholds.yaml``) and the gate: floors for quality, ceilings for length and latency."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..config import Settings
from .base import ROOT, EvalSetError
from .metrics import LOWER_IS_BETTER, METRICS, format_metric


@dataclass
class GateResult:
    """The outcome of checking a run's metrics against its set's thresholds."""

    passed: bool
    gated: bool
    checks: list[dict[str, Any]]
    note: str = ""

    @property
    def failures(self) -> list[dict[str, Any]]:
        """The checks that failed."""
        return [c for c in self.checks if not c["ok"]]


def thresholds_path(settings: Settings) -> Path:
    """``ASSISTANT_EVAL_THRESHOLDS``, else HOME/evals/thresholds.yaml, else the repository's copy."""
    env = os.environ.get("ASSISTANT_EVAL_THRESHOLDS")
    if env:
        return Path(env)
    local = settings.home / "evals" / "thresholds.yaml"
    return local if local.is_file() else ROOT / "evals" / "thresholds.yaml"


def load_thresholds(path: Path) -> dict[str, dict[str, float]]:
    """Thresholds keyed by set name; every metric must be one of METRICS and every value a number."""
    path = Path(path)
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise EvalSetError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise EvalSetError(f"{path}: expected a mapping of set name -> {{metric: threshold}}")
    out: dict[str, dict[str, float]] = {}
    for name, table in data.items():
        if table is None:
            continue
        if not isinstance(table, dict):
            raise EvalSetError(f"{path}: {name}: expected a mapping of metric -> threshold")
        for metric, value in table.items():
            if metric not in METRICS:
                raise EvalSetError(f"{path}: {name}: unknown metric {metric!r}; known: {', '.join(METRICS)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise EvalSetError(f"{path}: {name}.{metric}: threshold must be a number, got {value!r}")
        out[str(name)] = {str(k): float(v) for k, v in table.items()}
    return out


def gate(metrics: dict[str, float | None], thresholds: dict[str, float] | None, set_name: str = "") -> GateResult:
    """Floors for quality metrics, ceilings for LOWER_IS_BETTER ones; a metric not measured fails its check."""
    if not thresholds:
        return GateResult(True, False, [], f"no thresholds for set {set_name!r}: not gated")
    checks = []
    for metric, limit in thresholds.items():
        value = metrics.get(metric)
        lower = metric in LOWER_IS_BETTER
        ok = value is not None and (value <= limit if lower else value >= limit)
        checks.append({"metric": metric, "value": value, "threshold": limit, "direction": "max" if lower else "min", "ok": ok})
    passed = all(c["ok"] for c in checks)
    return GateResult(passed, True, checks, "" if passed else
                      "below threshold: " + ", ".join(f"{c['metric']} {format_metric(c['metric'], c['value'])} "
                                                     f"({'>' if c['direction'] == 'max' else '<'} {format_metric(c['metric'], c['threshold'])})"
                                                     for c in checks if not c["ok"]))

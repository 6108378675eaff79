"""Asking a set's questions through ``Assistant.ask`` under one or more retrieval configurations."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import Settings
from ..models import Answer
from .base import EvalSetError, Progress
from .metrics import compute_metrics
from .prepare import prepare_index
from .scoring import ItemResult, score_item
from .suites import EvalSet


@dataclass
class Config:
    """One retrieval configuration: the ``mode`` of Assistant.ask plus settings changes."""

    name: str
    mode: str = "hybrid"
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    """A set run under one configuration."""

    set_name: str
    config: Config
    settings: dict[str, Any]
    metrics: dict[str, float | None]
    counts: dict[str, int]
    notes: list[str]
    items: list[ItemResult]
    seconds: float


def _settings_summary(s: Settings, config: Config) -> dict[str, Any]:
    """The settings that shape the answers, as recorded in the report."""
    keep = ("embed_model", "answerer", "top_k", "candidates", "keyword_weight", "dense_weight", "min_score",
            "chunk_max_words", "max_answer_words")
    d = {k: getattr(s, k) for k in keep}
    d["mode"] = config.mode
    return d


def run_items(settings: Settings, eval_set: EvalSet, config: Config, progress: Progress | None = None) -> RunResult:
    """Ask every item through ``Assistant.ask`` on an already prepared index and score it."""
    from ..errors import QuestionError
    from ..service import Assistant

    s = settings.replace(**config.changes) if config.changes else settings
    assistant = Assistant(s)
    t0 = time.perf_counter()
    assistant.warm_up()
    first = eval_set.items[0]
    try:  # one untimed question so that lazy first-call work does not count as latency
        assistant.ask(first.question, history=list(first.history) or None, mode=config.mode,
                      exclude_sources=first.exclude_sources)
    except QuestionError:
        pass
    results = []
    for n, item in enumerate(eval_set.items, start=1):
        error = ""
        t = time.perf_counter()
        try:
            answer = assistant.ask(item.question, history=list(item.history) or None, mode=config.mode,
                                   exclude_sources=item.exclude_sources)
        except QuestionError as exc:
            answer = Answer(question=item.question, text=exc.text(), refused=True)
            error = f"question rejected: {exc.text()}"
        ms = (time.perf_counter() - t) * 1000.0
        results.append(score_item(item, answer, ms, error))
        if progress and (n % 25 == 0 or n == len(eval_set.items)):
            progress(f"{config.name}: {n}/{len(eval_set.items)}")
    metrics, counts, notes = compute_metrics(results)
    return RunResult(set_name=eval_set.name, config=config, settings=_settings_summary(s, config), metrics=metrics,
                     counts=counts, notes=notes, items=results, seconds=round(time.perf_counter() - t0, 2))


def run_set(settings: Settings, eval_set: EvalSet, configs: list[Config] | None = None,
            progress: Progress | None = None) -> list[RunResult]:
    """Index the set's sources into a temporary folder and run it under each configuration."""
    configs = configs or [Config("hybrid")]
    with tempfile.TemporaryDirectory(prefix=f"assistant-eval-{eval_set.name}-", ignore_cleanup_errors=True) as tmp:
        s = prepare_index(settings, eval_set, Path(tmp), progress)
        if not eval_set.items:
            raise EvalSetError(f"set {eval_set.name}: no items left to run")
        return [run_items(s, eval_set, c, progress) for c in configs]


def compare_configs(settings: Settings) -> list[Config]:
    """Keyword only, dense only, hybrid as configured, and hybrid with other fusion weights."""
    kw, dn = settings.keyword_weight, settings.dense_weight
    configs = [Config("keyword", "keyword"), Config("dense", "dense"), Config(f"hybrid {kw:g}/{dn:g} (configured)", "hybrid")]
    for wk, wd in ((0.3, 0.7), (0.7, 0.3)):
        if (wk, wd) != (kw, dn):
            configs.append(Config(f"hybrid {wk:g}/{wd:g}", "hybrid", {"keyword_weight": wk, "dense_weight": wd}))
    configs.append(Config("hybrid, no score threshold", "hybrid", {"min_score": -1e9}))
    return configs


def gated_index(runs: list[RunResult]) -> int:
    """The run that stands for the product: hybrid with the configured settings (the first such)."""
    for i, r in enumerate(runs):
        if r.config.mode == "hybrid" and not r.config.changes:
            return i
    return 0

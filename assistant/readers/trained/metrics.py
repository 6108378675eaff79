"""Figures for reader designs: sentence choice, fact in answer, span EM/F1, refusals, calibration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np


@dataclass
class Decision:
    """What one design did with one retrieval."""

    answerable: bool  # the retrieval still held the answer (False for twins)
    chosen_ok: bool  # the chosen sentence holds a gold answer
    prob: float  # calibrated probability that the answer holds the fact
    answered: bool
    fact_ok: bool  # answered and the quoted text holds the fact
    words: int
    span_em: float
    span_f1: float
    near: bool = False  # a near miss: the answerable retrieval with the answer's sentences taken out


def ece(probs: Sequence[float], outcomes: Sequence[bool], bins: int = 10) -> float:
    """Expected calibration error over equal-width confidence bins."""
    p = np.asarray(probs, dtype=float)
    o = np.asarray(outcomes, dtype=float)
    if not len(p):
        return 0.0
    idx = np.minimum((p * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            total += m.sum() / len(p) * abs(p[m].mean() - o[m].mean())
    return float(total)


def summarise(ds: Sequence[Decision]) -> dict[str, float]:
    """The table's figures over answerable questions and their twins."""
    ans = [d for d in ds if d.answerable]
    unanswerable = [d for d in ds if not d.answerable]
    twins = [d for d in unanswerable if not d.near]
    near = [d for d in unanswerable if d.near]
    answered = [d for d in ds if d.answered]
    n = max(len(ans), 1)
    return {
        "sentence_choice": sum(d.chosen_ok for d in ans) / n,
        "fact_accuracy": sum(d.fact_ok for d in ans) / n,
        "span_em": sum(d.span_em for d in ans) / n,
        "span_f1": sum(d.span_f1 for d in ans) / n,
        "answerable_refused": sum(not d.answered for d in ans) / n,
        "twin_refusal_recall": sum(not d.answered for d in twins) / max(len(twins), 1),
        "near_refusal_recall": sum(not d.answered for d in near) / len(near) if near else float("nan"),
        "unanswerable_refused": sum(not d.answered for d in unanswerable) / max(len(unanswerable), 1),
        "words_mean": float(np.mean([d.words for d in answered])) if answered else 0.0,
        "ece": ece([d.prob for d in ds], [d.answered and d.fact_ok if d.answerable else False for d in ds]),
    }

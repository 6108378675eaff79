"""Figures for reader designs: sentence choice, fact in answer, span EM/F1, refusals, calibration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .. import arabic
from .dataset import Asked, Example
from .features import Question, answerable_vector
from .spans import exact, f1

Scorer = Callable[[Asked], np.ndarray]


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
    twins = [d for d in ds if not d.answerable]
    answered = [d for d in ds if d.answered]
    n = max(len(ans), 1)
    return {
        "sentence_choice": sum(d.chosen_ok for d in ans) / n,
        "fact_accuracy": sum(d.fact_ok for d in ans) / n,
        "span_em": sum(d.span_em for d in ans) / n,
        "span_f1": sum(d.span_f1 for d in ans) / n,
        "answerable_refused": sum(not d.answered for d in ans) / n,
        "twin_refusal_recall": sum(not d.answered for d in twins) / max(len(twins), 1),
        "words_mean": float(np.mean([d.words for d in answered])) if answered else 0.0,
        "ece": ece([d.prob for d in ds], [d.answered and d.fact_ok if d.answerable else False for d in ds]),
    }


def decide(ex: Example, a: Asked, probs: np.ndarray, p_answer: float, threshold: float, texts: dict[str, str],
           quote: Callable[[Question, str, object], tuple[tuple[int, int], tuple[int, int]]] | None,
           answerable: bool) -> Decision:
    """Score one retrieval: choose, decide, quote."""
    if not len(a.cands):
        return Decision(answerable, False, 0.0, False, False, 0, 0.0, 0.0)
    i = int(np.argmax(probs))
    c = a.cands[i]
    answered = p_answer >= threshold
    text = texts[c.source_id]
    if quote is not None:
        span, window = quote(ex.analysed, text, c)
    else:
        span = window = (c.start, c.end)
    shown = text[window[0]:window[1]]
    short = text[span[0]:span[1]]
    gold = ex.q.answers
    fact_ok = answered and answerable and any(arabic.contains_fact(shown, g) for g in gold)
    em = max(float(exact(short, g)) for g in gold) if answered and answerable else 0.0
    sf1 = max(f1(short, g) for g in gold) if answered and answerable else 0.0
    return Decision(answerable, bool(a.labels[i]) and answerable, p_answer, answered, fact_ok,
                    len(arabic.WORD.findall(shown)) if answered else 0, em, sf1)


def answer_probs(exs: Sequence[Example], scorer: Scorer, stage2) -> list[tuple[Asked, np.ndarray, float, bool]]:  # type: ignore[no-untyped-def]
    """(retrieval, sentence probs, answer probability, answerable) for every retrieval of every example."""
    out = []
    for ex in exs:
        for a, is_ans in ((ex.answerable, True), (ex.twin, False)):
            if not len(a.cands):
                out.append((a, np.zeros(0), 0.0, is_ans))
                continue
            probs = scorer(a)
            v = answerable_vector(ex.analysed, probs, a.feats)[None, :]
            out.append((a, probs, float(stage2.proba(v)[0]), is_ans))
    return out

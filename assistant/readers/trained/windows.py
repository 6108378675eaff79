"""The quoted window inside a long answer sentence: every run of the allowed length is scored, a learned model picks one.

A sentence longer than the reader's ``whole_words`` is cut to ``window_words`` words. Centring the cut on the span
head's single best span loses the fact whenever that span is wrong (it often is: span F1 is about 0.3), so each
window is scored instead from what the span head spreads over it (its start and end probability mass), the best
feature-model span it holds, where the question's words fall around it, and whether it holds the kind of thing asked.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np

from ... import arabic
from ...qtypes import type_satisfied
from .features import IDF, Question
from .spans import Token, candidate_spans, span_matrix

WINDOW_FEATURES: tuple[str, ...] = (
    "log_mass", "start_mass", "end_mass", "best_span", "q_cover", "q_first", "q_last", "q_before", "q_after",
    "fresh", "typed", "at_start", "at_end", "after_punct", "before_punct", "position",
)
_PUNCT = re.compile(r"[،,؛;:.()\"«»\-–؟?!]")
_CONTEXT = 5  # words either side of a window whose question words count as "before" and "after"


def windows(n: int, size: int) -> list[tuple[int, int]]:
    """(first, last + 1) word indices of every run of ``size`` words in a sentence of ``n`` words."""
    if n <= size:
        return [(0, n)]
    return [(lo, lo + size) for lo in range(n - size + 1)]


def window_matrix(q: Question, text: str, toks: Sequence[Token], p_start: np.ndarray, p_end: np.ndarray,
                  span_logits: np.ndarray, idf: IDF, size: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """One row of WINDOW_FEATURES per window of ``size`` words, and the windows.

    ``p_start``/``p_end``: the span head's probability that the answer starts/ends at each word (zeros when
    there is no span head); ``span_logits``: the feature span model's score of every ``candidate_spans`` run.
    """
    n = len(toks)
    wins = windows(n, size)
    qstems = set(q.stems)
    in_q = np.array([1.0 if (t.norm in q.word_set or t.stem in qstems) else 0.0 for t in toks])
    q_weight = np.array([idf.weight(t.stem) if in_q[i] else 0.0 for i, t in enumerate(toks)])
    q_total = sum(idf.weight(s) for s in set(q.stems)) or 1.0
    gaps = [bool(_PUNCT.search(text[toks[k].end:toks[k + 1].start])) for k in range(n - 1)]
    cs = np.concatenate([[0.0], np.cumsum(p_start)])
    ce = np.concatenate([[0.0], np.cumsum(p_end)])
    spans = np.asarray(candidate_spans(list(toks)), dtype=np.int64).reshape(-1, 2)
    third = max(size // 3, 1)
    rows = []
    for lo, hi in wins:
        ps, pe = float(cs[hi] - cs[lo]), float(ce[hi] - ce[lo])
        inside = (spans[:, 0] >= lo) & (spans[:, 1] < hi)
        best = float(span_logits[inside].max()) if inside.any() else -10.0
        seen = {toks[k].stem for k in range(lo, hi) if in_q[k]}
        words = [t.norm for t in toks[lo:hi]]
        fresh = sum(1 for k in range(lo, hi) if not in_q[k])
        rows.append([
            math.log(ps * pe + 1e-6), ps, pe, best, sum(idf.weight(s) for s in seen) / q_total,
            q_weight[lo:lo + third].sum() / q_total, q_weight[hi - third:hi].sum() / q_total,
            q_weight[max(0, lo - _CONTEXT):lo].sum() / q_total, q_weight[hi:hi + _CONTEXT].sum() / q_total,
            fresh / (hi - lo), 1.0 if type_satisfied(q.qtype, words, set(q.word_set)) else 0.0,
            1.0 if lo == 0 else 0.0, 1.0 if hi == n else 0.0,
            1.0 if lo > 0 and gaps[lo - 1] else 0.0, 1.0 if hi < n and gaps[hi - 1] else 0.0, lo / max(n, 1),
        ])
    return np.asarray(rows, dtype=np.float32).reshape(len(wins), len(WINDOW_FEATURES)), wins


def holds_answer(text: str, toks: Sequence[Token], win: tuple[int, int], answers: Sequence[str]) -> bool:
    """Whether the window's words hold one of the gold answers."""
    shown = text[toks[win[0]].start:toks[win[1] - 1].end]
    return any(arabic.contains_fact(shown, a) for a in answers)


_OPEN, _CLOSE = "([«", ")]»"
MAX_BRACKET_GROWTH = 8  # words a window may grow by to take in the rest of a bracket it cuts


def _pairs(text: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """Matched bracket pairs (offsets of the opening and the closing mark) inside ``text[lo:hi]``."""
    stack: list[tuple[int, str]] = []
    out = []
    for i in range(lo, hi):
        ch = text[i]
        if ch in _OPEN:
            stack.append((i, _CLOSE[_OPEN.index(ch)]))
        elif ch in _CLOSE and stack and stack[-1][1] == ch:
            out.append((stack.pop()[0], i))
    return out


def balanced(text: str, start: int, end: int, lo: int, hi: int) -> tuple[int, int]:
    """The window ``text[start:end]`` of the sentence ``text[lo:hi]`` grown to take in the rest of a bracket it cuts
    open («…مربّعا (من 160000 إلى 227000 ميلا مربّعاً)» rather than «…(من 160000»), when that rest is short; a window
    never loses words this way (dropping the cut part lost facts on dev: the part can be what was asked)."""
    for o, c in _pairs(text, lo, hi):
        if o < start <= c and len(arabic.WORD.findall(text, o, start)) <= MAX_BRACKET_GROWTH:
            start = o
        if o < end <= c and len(arabic.WORD.findall(text, end, c + 1)) <= MAX_BRACKET_GROWTH:
            end = c + 1
    return start, end

"""The answer span inside a chosen sentence: every short word run is a candidate, a learned scorer picks one."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ... import arabic
from ...qtypes import QTYPES
from .features import Question

TOKEN = arabic.MARKED_WORD
MAX_SPAN_WORDS = 10
_PREPOSITIONS = {"في", "من", "الي", "علي", "عن", "منذ", "حتي", "بين", "نحو", "عند", "لدي", "مع"}
_LENGTH_BUCKETS = ((1, 1), (2, 2), (3, 3), (4, 4), (5, 6), (7, MAX_SPAN_WORDS))

SPAN_FEATURES: tuple[str, ...] = (
    *(f"len_{a}_{b}" for a, b in _LENGTH_BUCKETS),
    "q_share", "q_stem_share", "first_stop", "last_stop", "near_q_log", "q_left3", "q_right3", "q_in_sentence",
    "punct_inside", "after_punct", "before_punct", "prev_preposition", "prev_b_prefix", "position", "whole",
    "has_number", "has_year", "has_month", "al_share",
    *(f"{t}_x_number" for t in QTYPES), *(f"{t}_x_month" for t in QTYPES), *(f"{t}_x_len1" for t in QTYPES),
    *(f"{t}_x_prep" for t in QTYPES),
)


@dataclass(frozen=True)
class Token:
    """A word of the sentence: its offsets in the source text and its normalised form."""

    start: int
    end: int
    norm: str
    stem: str


def tokens(text: str, start: int, end: int) -> list[Token]:
    """Words of ``text[start:end]`` with absolute offsets."""
    out = []
    for m in TOKEN.finditer(text, start, end):
        n = arabic.normalize(m.group())
        out.append(Token(m.start(), m.end(), n, arabic.stem(n)))
    return out


def candidate_spans(toks: list[Token]) -> list[tuple[int, int]]:
    """(first, last) token index pairs of every run of at most MAX_SPAN_WORDS words."""
    return [(i, j) for i in range(len(toks)) for j in range(i, min(i + MAX_SPAN_WORDS, len(toks)))]


def span_matrix(q: Question, text: str, toks: list[Token], spans: list[tuple[int, int]]) -> np.ndarray:
    """One row of SPAN_FEATURES per candidate span."""
    stops = arabic.stopwords()
    qstems = set(q.stems)
    in_q = [t.norm in q.word_set or (t.stem in qstems and t.norm not in stops) for t in toks]
    q_pos = [k for k, v in enumerate(in_q) if v]
    n = len(toks)
    gaps = [text[toks[k].end:toks[k + 1].start] for k in range(n - 1)]
    punct_gap = [bool(re.search(r"[،,؛;:.()\"«»\-–]", g)) for g in gaps]
    rows = []
    for i, j in spans:
        L = j - i + 1
        span = toks[i:j + 1]
        outside = [k for k in q_pos if k < i or k > j]
        near = min((i - k if k < i else k - j) for k in outside) if outside else n + 1
        prev = toks[i - 1].norm if i > 0 else ""
        has_num = any(arabic.is_number_token(t.norm) for t in span)
        has_month = any(arabic.is_month_token(t.norm) for t in span)
        prep = prev in _PREPOSITIONS
        len1 = L == 1
        rows.append([
            *(1.0 if a <= L <= b else 0.0 for a, b in _LENGTH_BUCKETS),
            sum(in_q[i:j + 1]) / L, sum(1 for t in span if t.stem in qstems) / L,
            1.0 if span[0].norm in stops else 0.0, 1.0 if span[-1].norm in stops else 0.0,
            math.log1p(near), sum(1 for k in q_pos if i - 3 <= k < i), sum(1 for k in q_pos if j < k <= j + 3),
            len(q_pos) / max(n, 1),
            sum(punct_gap[i:j]), 1.0 if i == 0 or punct_gap[i - 1] else 0.0, 1.0 if j == n - 1 or punct_gap[j] else 0.0,
            1.0 if prep else 0.0, 1.0 if span[0].norm.startswith("ب") and len(span[0].norm) > 4 else 0.0,
            i / max(n - 1, 1), 1.0 if L == n else 0.0,
            1.0 if has_num else 0.0, 1.0 if any(t.norm.isdigit() and len(t.norm) == 4 for t in span) else 0.0,
            1.0 if has_month else 0.0, sum(1 for t in span if t.norm.startswith("ال")) / L,
            *(1.0 if has_num and q.qtype == t else 0.0 for t in QTYPES),
            *(1.0 if has_month and q.qtype == t else 0.0 for t in QTYPES),
            *(1.0 if len1 and q.qtype == t else 0.0 for t in QTYPES),
            *(1.0 if prep and q.qtype == t else 0.0 for t in QTYPES),
        ])
    return np.asarray(rows, dtype=np.float32).reshape(len(spans), len(SPAN_FEATURES))


def gold_span(toks: list[Token], spans: list[tuple[int, int]], answers: tuple[str, ...]) -> int | None:
    """Index of the candidate span whose words are exactly a gold answer's words, or None."""
    golds = {" ".join(arabic.words(a)) for a in answers}
    for k, (i, j) in enumerate(spans):
        if " ".join(t.norm for t in toks[i:j + 1]) in golds:
            return k
    return None


def f1(pred: str, gold: str) -> float:
    """SQuAD-style token F1 over normalised words."""
    p, g = arabic.words(pred), arabic.words(gold)
    if not p or not g:
        return float(p == g)
    common: dict[str, int] = {}
    for w in p:
        if w in g:
            common[w] = min(p.count(w), g.count(w))
    same = sum(common.values())
    if same == 0:
        return 0.0
    prec, rec = same / len(p), same / len(g)
    return 2 * prec * rec / (prec + rec)


def exact(pred: str, gold: str) -> bool:
    """Exact match after normalisation."""
    return arabic.words(pred) == arabic.words(gold)


_LEADING_IN = {"في"}
_PUNCT_BETWEEN = re.compile(r"[،,؛;:.()]")


def _datish(t: Token) -> bool:
    return arabic.is_number_token(t.norm) or arabic.is_month_token(t.norm)


def grow(text: str, toks: list[Token], i: int, j: int, part: Callable[[Token], bool]) -> tuple[int, int]:
    """Token indices ``i..j`` grown over the neighbours that are ``part`` of the same expression with no punctuation
    between them (a date's day, month and year; a number's «200 ألف»), never across a comma or a full stop."""
    def joined(a: int, b: int) -> bool:
        return not _PUNCT_BETWEEN.search(text, toks[a].end, toks[b].start)
    while i > 0 and part(toks[i - 1]) and joined(i - 1, i):
        i -= 1
    while j + 1 < len(toks) and part(toks[j + 1]) and joined(j, j + 1):
        j += 1
    return i, j


def tidy_span(qtype: str, text: str, span: tuple[int, int], win: tuple[int, int]) -> tuple[int, int]:
    """The short answer of a date, number or place question tidied inside the quoted window: a date grown over the
    numbers and month names next to it («2025» -> «24 و27 نونبر 2025»), a leading «في» dropped («في 1891» -> «1891»)."""
    if qtype not in ("date", "number", "place"):
        return span
    toks = tokens(text, win[0], win[1])
    inside = [k for k, t in enumerate(toks) if t.end > span[0] and t.start < span[1]]
    if not inside:
        return span
    i, j = inside[0], inside[-1]
    if qtype == "date" and any(_datish(toks[k]) for k in range(i, j + 1)):
        i, j = grow(text, toks, i, j, _datish)
    if i < j and toks[i].norm in _LEADING_IN:
        i += 1
    return toks[i].start, toks[j].end

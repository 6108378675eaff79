"""Reading the span head's start and end scores: the best span, its margin over "no answer", per-word probabilities.

Torch-free on purpose: the span head runs on ONNX Runtime at answer time (``onnx_span.py``) and on torch while
training (``neural.py``); both hand their scores here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ... import arabic

MAX_TOKENS = 160
MAX_SPAN_TOKENS = 24
QUERY_PREFIX = "query: "
PASSAGE_PREFIX = "passage: "


@dataclass(frozen=True)
class SpanScore:
    """How a sentence reads for a question: answer margin over "no answer", and the best span (sentence offsets)."""

    margin: float
    start: int
    end: int
    p_start: np.ndarray | None = None  # probability that the answer starts at each word (spans.tokens of the sentence)
    p_end: np.ndarray | None = None


def clean_question(q: str) -> str:
    """The question as the span head reads it: e5's query prefix, marks stripped, digits folded."""
    return QUERY_PREFIX + arabic.fold_digits(arabic.strip_marks(q))


def best_spans(start: np.ndarray, end: np.ndarray, offsets: Sequence[Sequence[Sequence[int]]],
               seq_ids: Sequence[Sequence[int | None]], sentences: Sequence[str]) -> list[SpanScore]:
    """The best answer span of each pair, its margin over "no answer", in sentence character offsets.

    ``start``/``end``: logits per pair and token; ``offsets``: each token's offsets in its own sequence;
    ``seq_ids``: 0 for the question's tokens, 1 for the sentence's, None for special tokens."""
    out = []
    shift = len(PASSAGE_PREFIX)
    for i, sent in enumerate(sentences):
        offs = [tuple(o) for o in offsets[i]]
        ids = [t for t, s in enumerate(seq_ids[i]) if s == 1 and offs[t][1] - shift > 0 and offs[t][1] > offs[t][0]]
        if not ids:
            out.append(SpanScore(-1e9, 0, len(sent)))
            continue
        st = np.asarray(start[i], dtype=np.float64)
        en = np.asarray(end[i], dtype=np.float64)
        lo, hi = ids[0], ids[-1]
        s_sc, e_sc = st[lo:hi + 1], en[lo:hi + 1]
        # best start <= end within MAX_SPAN_TOKENS: a banded outer sum
        n = len(s_sc)
        grid = s_sc[:, None] + e_sc[None, :]
        band = np.triu(np.ones((n, n), dtype=bool)) & ~np.triu(np.ones((n, n), dtype=bool), MAX_SPAN_TOKENS)
        grid = np.where(band, grid, -np.inf)
        a, b = divmod(int(np.argmax(grid)), n)
        null = float(st[0] + en[0])
        c0 = max(offs[lo + a][0] - shift, 0)
        c1 = max(offs[lo + b][1] - shift, c0)
        c0, c1 = _snap(sent, c0, c1)
        rel = [(offs[t][0] - shift, offs[t][1] - shift) for t in range(lo, hi + 1)]
        p_start, p_end = _word_probs(sent, st, en, lo, hi, rel)
        out.append(SpanScore(float(grid[a, b]) - null, c0, c1, p_start, p_end))
    return out


def _softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max())
    return e / e.sum()


def _word_probs(sent: str, st: np.ndarray, en: np.ndarray, lo: int, hi: int,
                offs: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Start and end probabilities per word of the sentence: a softmax over "no answer" (the first token) and the
    sentence's tokens ``lo..hi``, each token's share going to the word it falls in (``offs``: their sentence offsets)."""
    from .spans import tokens

    words = tokens(sent, 0, len(sent))
    ps, pe = np.zeros(len(words)), np.zeros(len(words))
    if not words:
        return ps, pe
    s_p = _softmax(np.concatenate([[st[0]], st[lo:hi + 1]]))[1:]
    e_p = _softmax(np.concatenate([[en[0]], en[lo:hi + 1]]))[1:]
    w = 0
    for k, (o0, _o1) in enumerate(offs):
        while w < len(words) - 1 and words[w].end <= o0:
            w += 1
        ps[w] += s_p[k]
        pe[w] += e_p[k]
    return ps, pe


def _snap(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a span to whole words (a sub-word token never cuts a word in two)."""
    words = [m.span() for m in arabic.MARKED_WORD.finditer(text) if m.end() > start and m.start() < end]
    return (words[0][0], words[-1][1]) if words else (start, end)

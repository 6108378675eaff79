"""What the reader sees of a question and its candidate sentences: plain numbers, the same at training and at run time.

A candidate is one indexed chunk (a sentence, or a clause run of a long sentence) from a paragraph that
retrieval brought back. Its features combine the signals the issue measured separately: e5 cosine of
question and sentence (their vectors are already in Chroma), IDF-weighted word overlap, retrieval rank and
score, where the sentence sits in its paragraph, and whether it holds the kind of thing asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from ... import arabic
from ...qtypes import QTYPES, question_type, type_satisfied


@dataclass
class Candidate:
    """One candidate answer sentence: where it is, its text and its embedding."""

    source_id: str
    paragraph: int
    start: int
    end: int
    text: str
    vector: np.ndarray
    position: int = 0  # index among its paragraph's chunks
    siblings: int = 1  # chunks in its paragraph
    retrieved_rank: int = 0  # 1-based rank among retrieved chunks, 0 when not retrieved itself
    fused: float = 0.0
    paragraph_rank: int = 1  # rank of its paragraph among retrieved paragraphs
    stems: list[str] = field(default_factory=list)
    words: list[str] = field(default_factory=list)


SENTENCE_FEATURES: tuple[str, ...] = (
    "cos", "cos_gap", "cos_rank_inv", "cos_z",
    "cov", "cov_gap", "cov_rank_inv", "cov_neighbours", "cov_paragraph", "bigrams",
    "retrieved", "retrieved_rank_inv", "fused", "paragraph_rank_inv", "paragraph_max_cos",
    "log_words", "fresh", "position", "first",
    *(f"q_{t}" for t in QTYPES), "typed", *(f"typed_{t}" for t in QTYPES if t != "other"),
    "has_number", "has_month",
)


class IDF:
    """Inverse document frequencies of stems, learned once from the training paragraphs and shipped."""

    def __init__(self, df: Mapping[str, int], n_docs: int) -> None:
        self.n = max(int(n_docs), 1)
        self.df = dict(df)
        self.unseen = math.log(1 + self.n)

    def weight(self, term: str) -> float:
        """IDF weight of a stem (an unseen stem weighs most)."""
        c = self.df.get(term)
        return math.log(1 + self.n / c) if c else self.unseen

    def coverage(self, terms: Sequence[str], pool: set[str]) -> float:
        """IDF-weighted share of ``terms`` found in ``pool``."""
        if not terms:
            return 0.0
        total = sum(self.weight(t) for t in terms)
        return sum(self.weight(t) for t in terms if t in pool) / total

    @classmethod
    def fit(cls, texts: Sequence[str]) -> "IDF":
        """Document frequencies over texts (one per paragraph)."""
        df: dict[str, int] = {}
        for t in texts:
            for s in set(arabic.analyze(t)):
                df[s] = df.get(s, 0) + 1
        return cls(df, len(texts))


@dataclass(frozen=True)
class Question:
    """A question analysed once: its words, stems, bigrams and type."""

    text: str
    words: tuple[str, ...]
    word_set: frozenset[str]
    stems: tuple[str, ...]
    bigrams: frozenset[tuple[str, str]]
    qtype: str

    @classmethod
    def of(cls, text: str) -> "Question":
        """Analyse a question."""
        ws = arabic.words(text)
        stems = arabic.analyze(text)
        return cls(text, tuple(ws), frozenset(ws), tuple(stems), frozenset(zip(stems, stems[1:])), question_type(text))


def prepare(c: Candidate) -> Candidate:
    """Fill a candidate's words and stems (once)."""
    if not c.words:
        c.words = arabic.words(c.text)
        c.stems = arabic.analyze(c.text)
    return c


def sentence_matrix(q: Question, q_vec: np.ndarray, cands: Sequence[Candidate], idf: IDF) -> np.ndarray:
    """One row of SENTENCE_FEATURES per candidate."""
    n = len(cands)
    if n == 0:
        return np.zeros((0, len(SENTENCE_FEATURES)), dtype=np.float32)
    for c in cands:
        prepare(c)
    vecs = np.stack([c.vector for c in cands])
    cos = vecs @ q_vec
    cov = np.array([idf.coverage(q.stems, set(c.stems)) for c in cands])
    by_para: dict[tuple[str, int], list[int]] = {}
    for i, c in enumerate(cands):
        by_para.setdefault((c.source_id, c.paragraph), []).append(i)
    cov_nb = np.zeros(n)
    cov_para = np.zeros(n)
    para_max = np.zeros(n)
    for idx in by_para.values():
        idx_sorted = sorted(idx, key=lambda i: cands[i].start)
        pool_all = set().union(*(cands[i].stems for i in idx_sorted))
        cp = idf.coverage(q.stems, pool_all)
        pm = max(cos[i] for i in idx_sorted)
        for j, i in enumerate(idx_sorted):
            nb = set(cands[i].stems)
            for k in (j - 1, j + 1):
                if 0 <= k < len(idx_sorted):
                    nb |= set(cands[idx_sorted[k]].stems)
            cov_nb[i] = idf.coverage(q.stems, nb)
            cov_para[i] = cp
            para_max[i] = pm
    cos_order = np.argsort(-cos)
    cos_rank = np.empty(n)
    cos_rank[cos_order] = np.arange(1, n + 1)
    cov_order = np.argsort(-cov, kind="stable")
    cov_rank = np.empty(n)
    cov_rank[cov_order] = np.arange(1, n + 1)
    sd = float(cos.std()) or 1.0
    rows = []
    for i, c in enumerate(cands):
        fresh = [w for w in c.words if w not in q.word_set]
        typed = type_satisfied(q.qtype, c.words, set(q.word_set))
        cbig = set(zip(c.stems, c.stems[1:]))
        rows.append([
            cos[i], cos[i] - cos.max(), 1.0 / cos_rank[i], (cos[i] - cos.mean()) / sd,
            cov[i], cov[i] - cov.max(), 1.0 / cov_rank[i], cov_nb[i], cov_para[i],
            len(q.bigrams & cbig) / len(q.bigrams) if q.bigrams else 0.0,
            1.0 if c.retrieved_rank else 0.0, 1.0 / c.retrieved_rank if c.retrieved_rank else 0.0, c.fused,
            1.0 / max(c.paragraph_rank, 1), para_max[i],
            math.log1p(len(c.words)), len(fresh) / max(len(c.words), 1),
            c.position / max(c.siblings - 1, 1), 1.0 if c.position == 0 else 0.0,
            *(1.0 if q.qtype == t else 0.0 for t in QTYPES), 1.0 if typed else 0.0,
            *(1.0 if typed and q.qtype == t else 0.0 for t in QTYPES if t != "other"),
            1.0 if any(arabic.is_number_token(w) for w in fresh) else 0.0,
            1.0 if any(arabic.is_month_token(w) for w in fresh) else 0.0,
        ])
    return np.asarray(rows, dtype=np.float32)


ANSWERABLE_FEATURES: tuple[str, ...] = (
    "p1", "p_gap", "logit1", "cos1", "cos_max", "cov1", "cov_max", "fused_max", "typed1",
    *(f"q_{t}" for t in QTYPES), "n_candidates_log",
)


def answerable_vector(q: Question, probs: np.ndarray, feats: np.ndarray) -> np.ndarray:
    """Features of the decision "do these passages answer at all", from the sentence scores."""
    i = int(np.argmax(probs))
    top2 = np.sort(probs)[-2:]
    gap = float(top2[-1] - top2[0]) if len(probs) > 1 else float(probs[i])
    col = {name: k for k, name in enumerate(SENTENCE_FEATURES)}
    p1 = float(np.clip(probs[i], 1e-6, 1 - 1e-6))
    return np.asarray([
        p1, gap, math.log(p1 / (1 - p1)), feats[i, col["cos"]], feats[:, col["cos"]].max(), feats[i, col["cov"]],
        feats[:, col["cov"]].max(), feats[:, col["fused"]].max(), feats[i, col["typed"]],
        *(1.0 if q.qtype == t else 0.0 for t in QTYPES), math.log1p(len(probs)),
    ], dtype=np.float32)

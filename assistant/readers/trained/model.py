"""The trained reader at run time: three small linear models and an IDF table, read from one JSON file.

The artefact is plain numbers (no pickle, nothing executable): loading it cannot run code, and a damaged
file is caught by its sha256 before any number is used.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ...errors import ReaderUnavailable
from .features import (ANSWERABLE_FEATURES, IDF, SENTENCE_FEATURES, Candidate, Question, answerable_vector,
                       sentence_matrix)

COMBINER_FEATURES: tuple[str, ...] = ("logit_a", "margin", "margin_gap", "rank_a_inv", "cos", "cos_gap")
NEURAL_ANSWERABLE_FEATURES: tuple[str, ...] = (*ANSWERABLE_FEATURES, "margin_chosen", "margin_max")
SPAN_HEAD = "span-head.safetensors"
from .spans import SPAN_FEATURES, candidate_spans, span_matrix, tidy_span, tokens
from .windows import WINDOW_FEATURES, balanced

ARTEFACT_DIR = Path(__file__).resolve().parent / "artefact"
ARTEFACT = ARTEFACT_DIR / "reader.json.gz"
FORMAT = 1



@dataclass(frozen=True)
class Linear:
    """A standardised logistic model: p = sigmoid(((x - mean) / scale) . coef + intercept)."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Raw scores."""
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def proba(self, x: np.ndarray) -> np.ndarray:
        """Probabilities."""
        return 1.0 / (1.0 + np.exp(-np.clip(self.logits(x), -40, 40)))

    def to_json(self) -> dict[str, Any]:
        """Plain lists for the artefact."""
        return {"names": list(self.names), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": float(self.intercept)}

    @classmethod
    def from_json(cls, d: dict[str, Any], expected: Sequence[str]) -> "Linear":
        """Read one model, checking that it was trained on the features this code computes."""
        if tuple(d["names"]) != tuple(expected):
            raise ReaderUnavailable("reader_incompatible", "feature names differ")
        arrs = [np.asarray(d[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(expected),) or not np.all(np.isfinite(a)) for a in arrs):
            raise ReaderUnavailable("reader_corrupt", "bad shapes")
        return cls(tuple(expected), arrs[0], arrs[1], arrs[2], float(d["intercept"]))


@dataclass(frozen=True)
class Reading:
    """What the reader decided: the best sentence, the span in it, and the probability that it answers."""

    candidate: Candidate
    sentence_prob: float
    answer_prob: float
    answers: bool
    span: tuple[int, int]  # absolute offsets of the short answer in the source text
    window: tuple[int, int]  # absolute offsets of the quoted answer text
    p_start: np.ndarray | None = None  # the span head's start/end probability per word of the candidate
    p_end: np.ndarray | None = None


@dataclass(frozen=True)
class TrainedReader:
    """Scores candidate sentences, decides answerability, finds the span and the quote window."""

    sentence: Linear
    answerable: Linear
    span: Linear
    idf: IDF
    threshold: float
    whole_words: int  # a sentence up to this many words is quoted whole
    window_words: int  # a longer one is cut to this many words around the span
    meta: dict[str, Any]
    combiner: Linear | None = None  # design C: re-ranks the top sentences with the span head's margins
    top_n: int = 6
    neural: Any = None  # a neural.SpanReader once attached (design C)
    neural_state: Any = None  # its trained tensors, until attached to a base model
    windower: Linear | None = None  # scores the windows of a long sentence (windows.WINDOW_FEATURES)

    def sentence_probs(self, q: Question, q_vec: np.ndarray, cands: Sequence[Candidate]) -> tuple[np.ndarray, np.ndarray]:
        """(features, probability that each candidate holds the answer)."""
        feats = sentence_matrix(q, q_vec, cands, self.idf)
        return feats, self.sentence.proba(feats)

    def answer_prob(self, q: Question, probs: np.ndarray, feats: np.ndarray) -> float:
        """Calibrated probability that the best candidate holds the answer."""
        return float(self.answerable.proba(answerable_vector(q, probs, feats)[None, :])[0])

    def best_span(self, q: Question, text: str, c: Candidate) -> tuple[int, int]:
        """Absolute offsets of the most likely answer span in a candidate sentence."""
        toks = tokens(text, c.start, c.end)
        if not toks:
            return c.start, c.end
        spans = candidate_spans(toks)
        scores = self.span.logits(span_matrix(q, text, toks, spans))
        i, j = spans[int(np.argmax(scores))]
        return toks[i].start, toks[j].end

    def window(self, text: str, c: Candidate, span: tuple[int, int], question: str = "",
               p_start: np.ndarray | None = None, p_end: np.ndarray | None = None) -> tuple[int, int]:
        """The quoted text: the whole sentence when short, else the best-scored run of words (or one around the span)."""
        toks = tokens(text, c.start, c.end)
        if len(toks) <= self.whole_words:
            return c.start, c.end
        if self.windower is not None and question:
            s, e = self._scored_window(Question.of(question), text, toks, p_start, p_end)
            return balanced(text, s, e, c.start, c.end)
        i = next((k for k, t in enumerate(toks) if t.end > span[0]), 0)
        j = next((k for k in range(len(toks) - 1, -1, -1) if toks[k].start < span[1]), len(toks) - 1)
        need = max(self.window_words - (j - i + 1), 0)
        # question words usually come before the answer in Arabic prose: take two thirds of the room before
        lo = max(0, i - math.ceil(need * 2 / 3))
        hi = min(len(toks) - 1, j + (need - (i - lo)))
        lo = max(0, min(lo, hi - self.window_words + 1))
        start = c.start if lo == 0 else toks[lo].start
        end = c.end if hi == len(toks) - 1 else toks[hi].end
        return balanced(text, start, end, c.start, c.end)

    def _scored_window(self, q: Question, text: str, toks: list, p_start: np.ndarray | None,
                       p_end: np.ndarray | None) -> tuple[int, int]:
        """The window of ``window_words`` words the window model scores best."""
        from .windows import window_matrix

        n = len(toks)
        if p_start is None or p_end is None or len(p_start) != n:
            p_start = p_end = np.zeros(n)
        span_logits = self.span.logits(span_matrix(q, text, toks, candidate_spans(toks)))
        feats, wins = window_matrix(q, text, toks, p_start, p_end, span_logits, self.idf, self.window_words)
        lo, hi = wins[int(np.argmax(self.windower.logits(feats)))]
        return toks[lo].start, toks[hi - 1].end

    def span_inside(self, q: Question, text: str, span: tuple[int, int], win: tuple[int, int], c: Candidate | None = None,
                    p_start: np.ndarray | None = None, p_end: np.ndarray | None = None) -> tuple[int, int]:
        """``span`` when the quoted window holds it, else the best span inside the window (the short answer is always
        part of the quote)."""
        if win[0] <= span[0] and span[1] <= win[1]:
            return span
        toks = tokens(text, win[0], win[1])
        if not toks:
            return win
        spans = candidate_spans(toks)
        first = len(tokens(text, c.start, win[0])) if c is not None else 0
        if c is not None and p_start is not None and p_end is not None and p_start.any() \
                and first + len(toks) <= len(p_start):
            scores = np.array([p_start[first + i] * p_end[first + j] for i, j in spans])
        else:
            scores = self.span.logits(span_matrix(q, text, toks, spans))
        i, j = spans[int(np.argmax(scores))]
        return toks[i].start, toks[j].end

    def read(self, question: str, q_vec: np.ndarray, cands: Sequence[Candidate], texts: dict[str, str]) -> Reading | None:
        """The best reading of the candidates (``texts``: source id -> source text), or None without any."""
        if not cands:
            return None
        q = Question.of(question)
        feats, probs = self.sentence_probs(q, np.asarray(q_vec, dtype=np.float32), cands)
        if self.neural is not None and self.combiner is not None:
            return self._read_neural(q, feats, probs, cands, texts)
        best = int(np.argmax(probs))
        c = cands[best]
        p_ans = self.answer_prob(q, probs, feats)
        text = texts[c.source_id]
        span = self.best_span(q, text, c)
        win = self.window(text, c, span, question)
        span = tidy_span(q.qtype, text, self.span_inside(q, text, span, win), win)
        return Reading(c, float(probs[best]), p_ans, p_ans >= self.threshold, span, win)

    def combine(self, probs: np.ndarray, feats: np.ndarray, margins: np.ndarray) -> np.ndarray:
        """Design C's probabilities for the top sentences (in ``probs`` order given)."""
        return self.combiner.proba(combiner_matrix(probs, feats, margins))

    def neural_answer_prob(self, q: Question, p_top: np.ndarray, f_top: np.ndarray, margins: np.ndarray) -> float:
        """Calibrated probability that the chosen top sentence holds the answer (design C)."""
        base = answerable_vector(q, p_top, f_top)
        i = int(np.argmax(p_top))
        v = np.concatenate([base, [margins[i], margins.max()]]).astype(np.float32)
        return float(self.answerable.proba(v[None, :])[0])

    def _read_neural(self, q: Question, feats: np.ndarray, probs: np.ndarray, cands: Sequence[Candidate],
                     texts: dict[str, str]) -> Reading:
        top = np.argsort(-probs, kind="stable")[: self.top_n]
        scores = self.neural.score(q.text, [cands[i].text for i in top])
        margins = np.array([s.margin for s in scores])
        p_top = self.combine(probs[top], feats[top], margins)
        k = int(np.argmax(p_top))
        c = cands[int(top[k])]
        p_ans = self.neural_answer_prob(q, p_top, feats[top], margins)
        text = texts[c.source_id]
        span = (c.start + scores[k].start, c.start + scores[k].end)
        if span[1] <= span[0]:
            span = self.best_span(q, text, c)
        sc = scores[k]
        win = self.window(text, c, span, q.text, sc.p_start, sc.p_end)
        span = tidy_span(q.qtype, text, self.span_inside(q, text, span, win, c, sc.p_start, sc.p_end), win)
        return Reading(c, float(p_top[k]), p_ans, p_ans >= self.threshold, span, win, sc.p_start, sc.p_end)

    def to_json(self) -> dict[str, Any]:
        """The whole reader as plain data."""
        return {"format": FORMAT, "sentence": self.sentence.to_json(), "answerable": self.answerable.to_json(),
                "span": self.span.to_json(), "idf": {"n": self.idf.n, "df": self.idf.df},
                "threshold": self.threshold, "whole_words": self.whole_words, "window_words": self.window_words,
                "combiner": self.combiner.to_json() if self.combiner else None, "top_n": self.top_n,
                "windower": self.windower.to_json() if self.windower else None, "meta": self.meta}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "TrainedReader":
        """Build from plain data (ReaderUnavailable when it does not fit this code)."""
        if d.get("format") != FORMAT:
            raise ReaderUnavailable("reader_incompatible", f"format {d.get('format')}")
        neural = d.get("combiner") is not None
        return cls(Linear.from_json(d["sentence"], SENTENCE_FEATURES),
                   Linear.from_json(d["answerable"], NEURAL_ANSWERABLE_FEATURES if neural else ANSWERABLE_FEATURES),
                   Linear.from_json(d["span"], SPAN_FEATURES),
                   IDF({str(k): int(v) for k, v in d["idf"]["df"].items()}, int(d["idf"]["n"])),
                   float(d["threshold"]), int(d["whole_words"]), int(d["window_words"]), dict(d.get("meta", {})),
                   Linear.from_json(d["combiner"], COMBINER_FEATURES) if neural else None, int(d.get("top_n", 6)),
                   windower=Linear.from_json(d["windower"], WINDOW_FEATURES) if d.get("windower") else None)


def combiner_matrix(probs: np.ndarray, feats: np.ndarray, margins: np.ndarray) -> np.ndarray:
    """COMBINER_FEATURES for the top sentences (``probs``: design A's, in the order given)."""
    col = {name: k for k, name in enumerate(SENTENCE_FEATURES)}
    p = np.clip(probs, 1e-6, 1 - 1e-6)
    order = np.argsort(-probs, kind="stable")
    rank = np.empty(len(probs))
    rank[order] = np.arange(1, len(probs) + 1)
    return np.column_stack([np.log(p / (1 - p)), margins, margins - margins.max(), 1.0 / rank,
                            feats[:, col["cos"]], feats[:, col["cos_gap"]]]).astype(np.float32)


def save(reader: TrainedReader, path: Path = ARTEFACT) -> str:
    """Write the artefact atomically with its sha256 beside it (and the span head's); returns the digest."""
    if type(reader) is not TrainedReader:
        raise TypeError(f"{type(reader).__name__} does not ship as plain numbers")
    path.parent.mkdir(parents=True, exist_ok=True)
    if reader.neural_state is not None:
        from safetensors.torch import save_file

        head = path.parent / SPAN_HEAD
        tmp_head = head.with_suffix(".tmp")
        save_file(reader.neural_state, str(tmp_head), metadata={"format": str(FORMAT)})
        tmp_head.replace(head)
        reader.meta["span_head_sha256"] = hashlib.sha256(head.read_bytes()).hexdigest()
    raw = json.dumps(reader.to_json(), ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    data = gzip.compress(raw, compresslevel=9, mtime=0)
    digest = hashlib.sha256(data).hexdigest()
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    (path.parent / (path.name + ".sha256")).write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    return digest


def load(path: Path = ARTEFACT) -> TrainedReader:
    """Read and verify the artefact (ReaderUnavailable, with the reason, when it is missing or damaged)."""
    path = Path(path)
    if not path.is_file():
        raise ReaderUnavailable("reader_missing", str(path))
    data = path.read_bytes()
    sums = path.parent / (path.name + ".sha256")
    if sums.is_file():
        want = sums.read_text(encoding="utf-8").split()[0] if sums.read_text(encoding="utf-8").split() else ""
        if hashlib.sha256(data).hexdigest() != want:
            raise ReaderUnavailable("reader_corrupt", "sha256 mismatch")
    try:
        reader = TrainedReader.from_json(json.loads(gzip.decompress(data).decode("utf-8")))
    except ReaderUnavailable:
        raise
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise ReaderUnavailable("reader_corrupt", type(exc).__name__) from None
    if reader.combiner is None:
        return reader
    head = path.parent / SPAN_HEAD
    if not head.is_file():
        raise ReaderUnavailable("reader_missing", str(head))
    blob = head.read_bytes()
    if hashlib.sha256(blob).hexdigest() != reader.meta.get("span_head_sha256"):
        raise ReaderUnavailable("reader_corrupt", "span head sha256 mismatch")
    try:
        from safetensors.numpy import load as load_tensors  # numpy arrays: loading the reader never imports torch

        state = load_tensors(blob)
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise ReaderUnavailable("reader_corrupt", type(exc).__name__) from None
    return replace(reader, neural_state=state)


def attach(reader: TrainedReader, base: Any, tokenizer: Any) -> TrainedReader:
    """The reader with its span head built over ``base`` (the embedder's BertModel, shared, not copied)."""
    if reader.neural_state is None:
        return reader
    from .neural import SpanReader, shared_head

    try:
        head = shared_head(base, reader.neural_state)
    except (KeyError, RuntimeError) as exc:
        raise ReaderUnavailable("reader_incompatible", str(exc)[:200]) from None
    return replace(reader, neural=SpanReader(head, tokenizer))

"""The reader designs compared by `assistant train-reader`, each run through the same read path and figures."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from ... import arabic
from .dataset import Example, askings
from .features import ANSWERABLE_FEATURES, SENTENCE_FEATURES, answerable_vector
from .metrics import Decision, summarise
from .model import (COMBINER_FEATURES, NEURAL_ANSWERABLE_FEATURES, Linear, Reading, TrainedReader,
                    combiner_matrix)
from .spans import exact, f1

Progress = Callable[[str], None]
WHOLE_WORDS = (20, 25, 30, 35, 100)
WINDOW_WORDS = (12, 15, 18, 20, 22, 25)
TARGET_WORDS = 24.0  # mean answer length the windows are tuned to stay under (the goal is 25)
MAX_ANSWERABLE_REFUSED = 0.03  # the refusal threshold may refuse at most this share of dev's answerable questions


@dataclass(frozen=True)
class BoostedReader(TrainedReader):
    """Design B: boosted trees score the sentences; everything else as design A."""

    boost: Any = None

    def sentence_probs(self, q, q_vec, cands):  # type: ignore[no-untyped-def]
        """Tree probabilities instead of the logistic ones."""
        from .features import sentence_matrix

        feats = sentence_matrix(q, q_vec, cands, self.idf)
        return feats, self.boost.proba(feats)


def cosine_linear() -> Linear:
    """A 'model' that ranks by e5 cosine alone (the baseline row)."""
    n = len(SENTENCE_FEATURES)
    coef = np.zeros(n)
    coef[SENTENCE_FEATURES.index("cos")] = 20.0
    return Linear(SENTENCE_FEATURES, np.zeros(n), np.ones(n), coef, -16.0)


def readings(reader: TrainedReader, exs: Sequence[Example], texts: dict[str, str]) -> list[tuple[Example, Reading | None, bool, bool]]:
    """Every retrieval of every example read once (threshold and windows applied later): (example, reading,
    holds the answer, is a near miss)."""
    out = []
    for ex in exs:
        for a, is_ans in askings(ex):
            out.append((ex, reader.read(ex.q.question, a.q_vec, a.cands, texts), is_ans, a is ex.near))
    return out


def decisions(reader: TrainedReader, rows, texts: dict[str, str], threshold: float, whole: int, window: int) -> list[Decision]:  # type: ignore[no-untyped-def]
    """Figures of each reading under a threshold and window sizes."""
    r = replace(reader, whole_words=whole, window_words=window)
    out = []
    for ex, rd, is_ans, near in rows:
        if rd is None:
            out.append(Decision(is_ans, False, 0.0, False, False, 0, 0.0, 0.0, near))
            continue
        c = rd.candidate
        text = texts[c.source_id]
        ws, we = r.window(text, c, rd.span, ex.q.question, rd.p_start, rd.p_end)
        sp = r.span_inside(ex.analysed, text, rd.span, (ws, we), c, rd.p_start, rd.p_end)
        shown, short = text[ws:we], text[sp[0]:sp[1]]
        answered = rd.answer_prob >= threshold
        gold = ex.q.answers
        ok = answered and is_ans
        out.append(Decision(is_ans, is_ans and any(arabic.contains_fact(c.text, g) for g in gold), rd.answer_prob,
                            answered, ok and any(arabic.contains_fact(shown, g) for g in gold),
                            len(arabic.WORD.findall(shown)) if answered else 0,
                            max(float(exact(short, g)) for g in gold) if ok else 0.0,
                            max(f1(short, g) for g in gold) if ok else 0.0, near))
    return out


def choose(reader: TrainedReader, rows, texts: dict[str, str]) -> tuple[float, int, int, dict[str, float]]:  # type: ignore[no-untyped-def]
    """Threshold, then window sizes, chosen on dev.

    The refusal threshold maximises right answers plus right refusals among thresholds that refuse at most
    MAX_ANSWERABLE_REFUSED of the answerable questions (weighing both equally without that bound refuses two in
    five answerable questions to catch the twins, which share their topic and wording); the windows maximise
    fact accuracy with the mean answer under TARGET_WORDS words.
    """
    probs = sorted({round(rd.answer_prob, 3) for _, rd, _, _ in rows if rd is not None})
    grid = [0.0] + [p for p in np.quantile(probs, np.linspace(0, 0.95, 60))] if probs else [0.5]
    best = None
    for th in grid:
        s = summarise(decisions(reader, rows, texts, th, 1000, 1000))
        score = s["fact_accuracy"] + s["twin_refusal_recall"]
        if s["answerable_refused"] > MAX_ANSWERABLE_REFUSED:
            continue
        if best is None or score > best[0]:
            best = (score, float(th))
    th = best[1] if best else 0.0
    pick = None
    for whole in WHOLE_WORDS:
        for window in WINDOW_WORDS:
            if window > whole:
                continue
            s = summarise(decisions(reader, rows, texts, th, whole, window))
            key = (s["words_mean"] <= TARGET_WORDS, s["fact_accuracy"], -s["words_mean"])
            if pick is None or key > pick[0]:
                pick = (key, whole, window, s)
    return th, pick[1], pick[2], pick[3]


def stage2_linear(reader: TrainedReader, exs: Sequence[Example], texts: dict[str, str], neural: bool) -> Linear:
    """Fit the answerability model on a design's own choices (label: the chosen sentence holds the fact)."""
    from .fit import fit_logistic

    X, y = [], []
    for ex in exs:
        # near misses stay out of fitting: on dev they raised near-miss refusal (0.39 -> 0.43) but lowered twin
        # refusal more (0.43 -> 0.29), for the same fact accuracy
        for a, is_ans in askings(ex, near=False):
            if not len(a.cands):
                continue
            q = ex.analysed
            feats, probs = reader.sentence_probs(q, a.q_vec, a.cands)
            if neural:
                top = np.argsort(-probs, kind="stable")[: reader.top_n]
                margins = np.array([s.margin for s in reader.neural.score(q.text, [a.cands[i].text for i in top])])
                p_top = reader.combine(probs[top], feats[top], margins)
                k = int(np.argmax(p_top))
                v = np.concatenate([answerable_vector(q, p_top, feats[top]), [margins[k], margins.max()]])
                chosen = int(top[k])
            else:
                v = answerable_vector(q, probs, feats)
                chosen = int(np.argmax(probs))
            X.append(v)
            y.append(1 if is_ans and a.labels[chosen] else 0)
    return fit_logistic(np.vstack(X), np.asarray(y), NEURAL_ANSWERABLE_FEATURES if neural else ANSWERABLE_FEATURES)


def combiner_linear(reader: TrainedReader, exs: Sequence[Example]) -> Linear:
    """Fit design C's re-ranker over the top sentences of design A, with the span head's margins."""
    from .fit import fit_logistic

    X, y = [], []
    for ex in exs:
        for a, _ in askings(ex, near=False):
            if not len(a.cands):
                continue
            feats, probs = reader.sentence_probs(ex.analysed, a.q_vec, a.cands)
            top = np.argsort(-probs, kind="stable")[: reader.top_n]
            margins = np.array([s.margin for s in reader.neural.score(ex.q.question, [a.cands[i].text for i in top])])
            X.append(combiner_matrix(probs[top], feats[top], margins))
            y.append(a.labels[top])
    return fit_logistic(np.vstack(X), np.concatenate(y), COMBINER_FEATURES)


WINDOW_FIT_WORDS = 22  # the window length the window model is fitted at (its features do not depend on it much)


def window_linear(reader: TrainedReader, exs: Sequence[Example], texts: dict[str, str]) -> Linear:
    """Fit the window model on the long gold sentences of ``exs`` (label: the window holds a gold answer)."""
    from .fit import fit_logistic
    from .spans import candidate_spans, span_matrix, tokens
    from .windows import WINDOW_FEATURES, holds_answer, window_matrix

    X, y = [], []
    for ex in exs:
        a = ex.answerable
        gold = [c for c, label in zip(a.cands, a.labels) if label]
        if not gold:
            continue
        c = gold[0]
        text = texts[c.source_id]
        toks = tokens(text, c.start, c.end)
        if len(toks) <= WINDOW_FIT_WORDS:
            continue
        sc = reader.neural.score(ex.q.question, [c.text])[0]
        n = len(toks)
        ps = sc.p_start if sc.p_start is not None and len(sc.p_start) == n else np.zeros(n)
        pe = sc.p_end if sc.p_end is not None and len(sc.p_end) == n else np.zeros(n)
        logits = reader.span.logits(span_matrix(ex.analysed, text, toks, candidate_spans(toks)))
        feats, wins = window_matrix(ex.analysed, text, toks, ps, pe, logits, reader.idf, WINDOW_FIT_WORDS)
        labels = np.array([holds_answer(text, toks, w, ex.q.answers) for w in wins], dtype=np.int8)
        if labels.any():
            X.append(feats)
            y.append(labels)
    return fit_logistic(np.vstack(X), np.concatenate(y), WINDOW_FEATURES)


def rules_decisions(index, exs: Sequence[Example]) -> list[Decision]:  # type: ignore[no-untyped-def]
    """Today's rule answerer on the same retrievals (the baseline row)."""
    from ..rules import ExtractiveAnswerer
    from ...evals import answer_words

    rules = ExtractiveAnswerer(index)
    out = []
    for ex in exs:
        for a, is_ans in askings(ex):
            near = a is ex.near
            # a near miss keeps the retrieved passages that do not overlap a sentence holding the answer
            passages = _without_answer(ex.answerable, ex.answerable.passages) if near else list(a.passages)
            ans = rules.answer(ex.q.question, passages)
            gold = ex.q.answers
            hit = not ans.refused and is_ans and any(arabic.contains_fact(ans.text, g) for g in gold)
            out.append(Decision(is_ans, hit, ans.confidence, not ans.refused, hit,
                                0 if ans.refused else answer_words(ans.text), float("nan"), float("nan"), near))
    return out


def _without_answer(a, passages):  # type: ignore[no-untyped-def]
    """Passages that overlap no candidate sentence holding the answer."""
    gone = [c for c, y in zip(a.cands, a.labels) if y]
    return [p for p in passages
            if not any(c.source_id == p.source_id and c.start < p.end and p.start < c.end for c in gone)]

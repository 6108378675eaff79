"""The extractive answerer: the shortest passage that answers, cited; a refusal when nothing does."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Callable, Sequence

from .. import arabic
from ..messages import message
from ..models import Answer, Citation, Passage
from ..qtypes import asks_reason, counted_noun, counting_numbers, gives_reason, question_type, type_satisfied

if TYPE_CHECKING:
    from ..config import Settings
    from ..retrieve import Index



TOPIC_WEIGHT = 0.5  # in a follow-up, a word of the earlier question counts half, as a word of the same document does
# Chosen on the dev conversations (evals/dev/xquad-followups-dev.yaml) and the why-questions of the training data;
# never on the gated suites.
NEAR_PARAGRAPH = 0.15  # in a follow-up, a chunk of the paragraph that answered the previous turn
REASON_BONUS = 0.2  # for a why-question, a window that states a cause or a purpose (qtypes.gives_reason)
_TRAILING_PUNCT = re.compile(r"[\s،,؛;:\-–—]+$")


@dataclass(frozen=True)
class Asked:
    """What a question asks, as the window choice reads it."""

    terms: list[str]  # analysed terms of the question (completed from the conversation in a follow-up)
    words: set[str]  # its normalised words
    qtype: str  # number, date, place, name or other
    topic: frozenset[str]  # in a follow-up, the terms that came from the earlier question (they weigh half)
    why: bool  # a why-question: a window that states a cause is preferred
    counted: set[str] | None  # where a number's noun is looked for by stem (a follow-up's own words), None: all
    noun: str  # the noun a number question counts, also met by root and unit

    @classmethod
    def read(cls, question: str, typed_question: str = "") -> "Asked":
        """The question (``typed_question``: a follow-up as the person typed it, when ``question`` was completed)."""
        terms = arabic.analyze(question)
        # in a follow-up the topic found the paragraph; the window should hold what the new question asks
        topic = frozenset(set(terms) - set(arabic.analyze(typed_question))) \
            if typed_question and typed_question != question else frozenset()
        # «وكم شجرة ماتت فيه؟» counts trees, not the earlier question's nouns: a follow-up that asks something itself
        # is typed on its own words
        own = arabic.words(typed_question) if topic else []
        asks = any(arabic.is_question_word(w) for w in own)
        counted = set(own) if asks and set(own) - arabic.stopwords() - arabic.QUESTION_WORDS else None
        return cls(terms, set(arabic.words(question)), question_type(question), topic,
                   asks_reason(typed_question or question), counted,
                   counted_noun(typed_question if counted is not None else question))

    def typed(self, span_words: list[str]) -> bool:
        """Whether span words hold the kind of thing asked for."""
        return type_satisfied(self.qtype, span_words, self.words, self.counted, self.noun)

    def counts_noun(self, span_words: list[str]) -> list[int]:
        """Indices of the span's numbers that count the very noun a number question counts («181 دولة» for «كم عدد
        الدول»; by stem, root or unit), none when the question counts no noun."""
        if self.qtype != "number" or not self.noun:
            return []
        return counting_numbers(span_words, self.words, {self.noun}, self.noun)

    def counted_in(self, span_words: list[str]) -> bool:
        """Whether span words hold a number, or a dual, that counts the question's own counted noun."""
        return bool(self.noun) and type_satisfied("number", span_words, self.words, {self.noun}, self.noun)


@dataclass
class _Candidate:
    passage: Passage
    start: int
    end: int
    coverage: float
    typed: bool
    score: float


class ExtractiveAnswerer:
    """Picks the best clause window of the best retrieved chunks and decides whether it answers."""

    def __init__(self, index: "Index") -> None:
        self.index = index
        self.settings = index.settings
        self._para_terms: dict[tuple[str, int], set[str]] = {}
        self._doc_terms: dict[str, set[str]] = {}

    @cached_property
    def _idf(self) -> dict[str, float]:
        df: dict[str, int] = {}
        n = 0
        for src in self.index.sources.values():
            for ps, pe in arabic.paragraph_spans(src.text):
                n += 1
                for t in set(arabic.analyze(src.text[ps:pe])):
                    df[t] = df.get(t, 0) + 1
        self._n_paragraphs = max(n, 1)
        return {t: math.log(1 + self._n_paragraphs / c) for t, c in df.items()}

    def _weight(self, term: str) -> float:
        idf = self._idf
        return idf.get(term, math.log(1 + self._n_paragraphs * 2))

    def coverage(self, terms: list[str], context_terms: set[str], topic: set[str] = frozenset()) -> float:
        """IDF-weighted share of the question's terms found in a context (terms unseen anywhere weigh most; terms
        of the conversation's ``topic`` weigh ``TOPIC_WEIGHT`` of their own)."""
        if not terms:
            return 0.0
        w = {t: self._weight(t) * (TOPIC_WEIGHT if t in topic else 1.0) for t in terms}
        total = sum(w[t] for t in terms)
        return sum(w[t] for t in terms if t in context_terms) / total

    def _document_terms(self, source_id: str) -> set[str]:
        if source_id not in self._doc_terms:
            src = self.index.sources.get(source_id)
            self._doc_terms[source_id] = set(arabic.analyze(src.text)) if src else set()
        return self._doc_terms[source_id]

    def _paragraph_terms(self, p: Passage) -> set[str]:
        key = (p.source_id, p.paragraph)
        if key not in self._para_terms:
            self._para_terms[key] = self._compute_paragraph_terms(p)
        return self._para_terms[key]

    def _compute_paragraph_terms(self, p: Passage) -> set[str]:
        src = self.index.sources.get(p.source_id)
        if src is None:
            return set(arabic.analyze(p.text))
        spans = arabic.paragraph_spans(src.text)
        if 0 < p.paragraph <= len(spans):
            ps, pe = spans[p.paragraph - 1]
            return set(arabic.analyze(src.text[ps:pe]))
        return set(arabic.analyze(p.text))

    def _best_window(self, p: Passage, text: str, q: Asked) -> tuple[int, int, bool, float]:
        """The shortest clause window of a chunk that covers the question best (absolute offsets), whether it holds
        the asked type, and the preference it earned (for a why-question, a stated cause)."""
        clauses = arabic.clause_spans(text, p.start, p.end) or [(p.start, p.end)]
        best: tuple[float, int, int, bool, float] | None = None  # score, start, end, typed, preference
        for i in range(len(clauses)):
            for j in range(i, min(i + 3, len(clauses))):
                s, e = clauses[i][0], clauses[j][1]
                ws = arabic.words(text[s:e])
                if len(ws) < 8 and not (i == 0 and j == len(clauses) - 1):  # a fragment is no answer
                    continue
                if len(ws) > self.settings.max_answer_words and i != j:
                    continue
                typed = q.typed(ws)
                cov = self.coverage(q.terms, {arabic.stem(w) for w in ws}, q.topic)
                extra = REASON_BONUS if q.why and gives_reason(text[s:e]) else 0.0
                score = cov + (0.6 if typed else 0.0) - 0.006 * len(ws) + extra
                if best is None or score > best[0]:
                    best = (score, s, e, typed, extra)
        if best is None:
            return p.start, p.end, q.typed(arabic.words(text[p.start:p.end])), 0.0
        return best[1], best[2], best[3], best[4]

    def candidates(self, question: str, passages: list[Passage], typed_question: str = "",
                   near: Sequence[Citation] = ()) -> list[_Candidate]:
        """Score each retrieved chunk's best window for answerability (``typed_question``: a follow-up as the person
        typed it, when ``question`` was completed from the conversation; ``near``: the previous answer's citations)."""
        q = Asked.read(question, typed_question)
        out = []
        for rank, p in enumerate(passages):
            src = self.index.sources.get(p.source_id)
            text = src.text if src else p.text
            if src is None:  # a chunk whose source is gone from the manifest cannot be cited exactly
                continue
            s, e, typed, extra = self._best_window(p, text, q)
            context = self._paragraph_terms(p)
            local = self.coverage(q.terms, context | set(arabic.analyze(text[p.start:p.end])))
            # terms found elsewhere in the same document (its topic: "الجمعية العامة") earn half credit
            cov = local + 0.5 * (self.coverage(q.terms, self._document_terms(p.source_id) | context) - local)
            dense = _dense_confidence(p.dense_score)
            score = 0.55 * cov + 0.45 * dense + 0.05 * p.score - 0.02 * rank + extra
            if not typed:
                score -= 0.3
            if any(c.source_id == p.source_id and c.paragraph == p.paragraph for c in near):
                score += NEAR_PARAGRAPH  # a follow-up asks on about what was just answered
            out.append(_Candidate(p, s, e, cov, typed, score))
        out.sort(key=lambda c: c.score, reverse=True)
        return out

    def answer(self, question: str, passages: list[Passage], resolved: str = "",
               near: Sequence[Citation] = ()) -> Answer:
        """Answer from retrieved passages, or refuse when none of them supports an answer (``near``: in a follow-up,
        the previous answer's citations, beside which the answer is looked for first)."""
        asked = resolved or question
        cands = self.candidates(asked, passages, typed_question=question, near=near)
        if not cands or cands[0].score < self.settings.min_score or not cands[0].typed:
            conf = cands[0].score if cands else 0.0
            return Answer(question=question, text=message("refusal"), refused=True, resolved_question=asked,
                          passages=tuple(passages), confidence=conf)
        chosen = [cands[0]]
        for c in cands[1:]:
            # a second claim only when it is nearly as good, from elsewhere, and adds what the first lacks
            if c.score >= cands[0].score - 0.05 and c.passage.paragraph != chosen[0].passage.paragraph \
                    and c.coverage > chosen[0].coverage and len(chosen) < 2:
                chosen.append(c)
        citations, parts = [], []
        for n, c in enumerate(chosen, start=1):
            src = self.index.sources[c.passage.source_id]
            s, e = _tidy(src.text, c.start, c.end)
            citations.append(Citation(n=n, source_id=src.source_id, title=src.title, paragraph=c.passage.paragraph,
                                      start=s, end=e, quote=src.text[s:e], origin=src.origin, date=src.date,
                                      score=round(c.score, 4)))
            parts.append(f"{src.text[s:e]} [{n}]")
        return Answer(question=question, text=" ".join(parts), refused=False, citations=tuple(citations),
                      resolved_question=asked, passages=tuple(passages), confidence=cands[0].score)


def rules_answerer(index: "Index", settings: "Settings", progress: Callable[[str], None]) -> ExtractiveAnswerer:
    """The hand-written rule answerer (the ``rules`` reader)."""
    return ExtractiveAnswerer(index)


def _dense_confidence(cosine: float) -> float:
    """Map an e5 cosine (which sits in a narrow band) onto 0..1; other models land close enough."""
    if cosine <= 0:
        return 0.0
    return min(1.0, max(0.0, (cosine - 0.78) / 0.12))


def _tidy(text: str, start: int, end: int) -> tuple[int, int]:
    """Trim a span's trailing commas and spaces so the quote ends cleanly."""
    m = _TRAILING_PUNCT.search(text, start, end)
    if m and m.start() > start:
        end = m.start()
    while start < end and text[start].isspace():
        start += 1
    return start, end

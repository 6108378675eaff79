"""Checking one answer against its item: retrieval rank, facts, citation, refusal, length."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from .. import arabic
from ..models import Answer
from .suites import EvalItem


@dataclass
class ItemResult:
    """How one item went: the answer, the checks and the timings."""

    id: str
    question: str
    answerable: bool
    expected: dict[str, Any]
    answer: str
    refused: bool
    citations: list[dict[str, Any]]
    retrieved: list[str]  # distinct "source_id#paragraph" in retrieval order
    rank: int | None  # 1-based rank of the expected paragraph among distinct retrieved paragraphs
    fact_ok: bool | None
    citation_ok: bool | None
    refusal_ok: bool
    ok: bool
    missing_facts: list[str]
    words: int
    latency_ms: float
    confidence: float = 0.0
    tags: list[str] = field(default_factory=list)
    error: str = ""
    exclude_sources: list[str] = field(default_factory=list)  # source ids the question was asked without
    history: list[str] = field(default_factory=list)  # earlier questions of the conversation (a follow-up item)
    resolved_question: str = ""  # how the assistant understood the question, in context


_MARKER = re.compile(r"\[\d+\]")


def answer_words(text: str) -> int:
    """Words in an answer, citation markers ([1]) not counted."""
    return len(arabic.WORD.findall(_MARKER.sub(" ", text)))


def fact_in(text: str, alts: Iterable[str]) -> bool:
    """Whether the text holds one of a fact's alternatives."""
    return any(arabic.contains_fact(text, a) for a in alts)


def distinct_paragraphs(answer: Answer) -> list[tuple[str, int]]:
    """(source_id, paragraph) of the retrieved passages, first occurrence only, in retrieval order."""
    out: list[tuple[str, int]] = []
    for p in answer.passages:
        key = (p.source_id, p.paragraph)
        if key not in out:
            out.append(key)
    return out


def score_item(item: EvalItem, answer: Answer, latency_ms: float, error: str = "") -> ItemResult:
    """Check one answer against its item."""
    paras = distinct_paragraphs(answer)
    expected = item.expected_paragraphs
    rank = next((i for i, key in enumerate(paras, start=1) if key in expected), None) if item.answerable else None
    fact_ok = citation_ok = None
    missing: list[str] = []
    if item.answerable:
        missing = [" | ".join(alts) for alts in item.facts if not fact_in(answer.text, alts)]
        fact_ok = not answer.refused and not missing
        citation_ok = not answer.refused and any(
            c.source_id == item.source and all(fact_in(c.quote, alts) for alts in item.facts) for c in answer.citations)
    refusal_ok = answer.refused != item.answerable
    ok = bool(fact_ok and citation_ok) if item.answerable else answer.refused
    return ItemResult(
        id=item.id, question=item.question, answerable=item.answerable,
        expected={"facts": [list(a) for a in item.facts], "source": item.source,
                  "paragraphs": sorted(p for _, p in expected) if expected else []},
        answer=answer.text, refused=answer.refused,
        citations=[{"source_id": c.source_id, "paragraph": c.paragraph, "start": c.start, "end": c.end, "quote": c.quote}
                   for c in answer.citations],
        retrieved=[f"{s}#{p}" for s, p in paras], rank=rank, fact_ok=fact_ok, citation_ok=citation_ok,
        refusal_ok=refusal_ok, ok=ok, missing_facts=missing, words=0 if answer.refused else answer_words(answer.text),
        latency_ms=round(latency_ms, 1), confidence=round(answer.confidence, 4), tags=list(item.tags), error=error,
        exclude_sources=list(item.exclude_sources), history=list(item.history),
        resolved_question=answer.resolved_question or item.question,
    )

"""Opt-in generative answering through an OpenAI-compatible endpoint (Ollama, llama.cpp server, vLLM, hosted).

The model only writes prose. Citations are assigned and checked by code: each generated sentence is
matched to the retrieved sentence it overlaps most; a sentence with too little support is dropped, and
when nothing survives the extractive answer stands. Model-made citations are never trusted.
"""

from __future__ import annotations

import json
from dataclasses import replace
import urllib.error
import urllib.request

from .. import arabic
from ..config import Settings
from ..messages import message, prompt
from ..models import Answer, Citation, Passage, Source

SUPPORT = 0.6  # share of a generated sentence's content words that the cited sentence must hold


def _complete(settings: Settings, system: str, user: str) -> str:
    body = json.dumps({"model": settings.llm_model, "temperature": 0, "max_tokens": 300,
                       "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}).encode()
    req = urllib.request.Request(settings.llm_base_url.rstrip("/") + "/chat/completions", data=body, method="POST",
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {settings.llm_api_key}"} if settings.llm_api_key else {})})
    with urllib.request.urlopen(req, timeout=settings.llm_timeout) as resp:
        data = json.loads(resp.read().decode("utf-8"))
    return str(data["choices"][0]["message"]["content"]).strip()


def backed(extractive: Answer, passage: Passage) -> bool:
    """Whether the reader stands behind a passage: its own answer quotes that passage. (Reading a passage alone is
    too weak a test: a paragraph on the topic, like the one on the session's workshops for «how many countries
    took part», reads as an answer more likely than not.)"""
    return any(c.source_id == passage.source_id and c.start < passage.end and passage.start < c.end
               for c in extractive.citations)


def generate(settings: Settings, extractive: Answer, passages: list[Passage], sources: dict[str, Source]) -> Answer:
    """A generated answer whose every sentence is backed by a retrieved sentence, else the extractive one.

    A sentence also needs the reader (the rules or the trained reader, whichever answered) to stand behind its
    cited passage (``backed``): being in the source is not enough.
    """
    if extractive.refused or not passages:
        return extractive  # the answerability decision stays with code
    context = "\n".join(f"[{i}] {p.text}" for i, p in enumerate(passages, start=1))
    try:
        text = _complete(settings, prompt("system.txt", settings.prompts),
                         prompt("user.txt", settings.prompts).format(passages=context, question=extractive.resolved_question))
    except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
        return replace(extractive, text=extractive.text + "\n\n" + message("llm_unavailable", error=type(exc).__name__))
    citations: list[Citation] = []
    parts: list[str] = []
    for s, e in arabic.sentence_spans(text):
        sentence = text[s:e]
        terms = arabic.analyze(sentence)
        best, best_share = None, 0.0
        for p in passages:
            share = arabic.share(terms, arabic.analyze(p.text))
            if share > best_share:
                best, best_share = p, share
        if best is None or best_share < SUPPORT:
            continue  # unsupported: dropped, never shown as if sourced
        if not backed(extractive, best):
            continue  # sourced, but the reader (rules or trained) does not quote that passage: it does not answer
        src = sources[best.source_id]
        n = next((c.n for c in citations if (c.source_id, c.start) == (best.source_id, best.start)), len(citations) + 1)
        if n > len(citations):
            citations.append(Citation(n=n, source_id=src.source_id, title=src.title, paragraph=best.paragraph,
                                      start=best.start, end=best.end, quote=src.text[best.start:best.end],
                                      origin=src.origin, date=src.date, score=round(best_share, 3)))
        parts.append(f"{sentence} [{n}]")
    if not parts:
        return extractive
    return Answer(question=extractive.question, text=" ".join(parts), refused=False, citations=tuple(citations),
                  resolved_question=extractive.resolved_question, passages=extractive.passages,
                  confidence=extractive.confidence, backend="llm", reader=extractive.reader,
                  reader_note=extractive.reader_note, followup_of=extractive.followup_of,
                  followup_near=extractive.followup_near)

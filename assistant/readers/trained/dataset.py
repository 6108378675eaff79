"""Turn SQuAD questions into reader examples by running the real retrieval over a real index of their paragraphs.

Each question is asked twice: once against every paragraph (answerable), and once as its SQuAD 2.0 style
unanswerable twin, with every paragraph that holds its answer left out of retrieval (near misses from the
same article and other articles stay in).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ... import arabic
from ...config import Settings
from .candidates import gather
from .data import Paragraph, Question as SquadQuestion
from .features import IDF, Candidate, Question, sentence_matrix
from .spans import candidate_spans, gold_span, span_matrix, tokens

Progress = Callable[[str], None]


@dataclass
class Asked:
    """One retrieval of one question: its candidates, their features and labels."""

    cands: list[Candidate]
    feats: np.ndarray
    labels: np.ndarray  # 1 where the candidate holds a gold answer
    q_vec: np.ndarray
    passages: list = field(default_factory=list)


@dataclass
class Example:
    """A question with its answerable retrieval and its unanswerable twin."""

    q: SquadQuestion
    analysed: Question
    answerable: Asked
    twin: Asked
    holders: list[str]
    span_feats: np.ndarray | None = None  # span features of the gold sentence (first one holding the answer)
    span_gold: int | None = None
    near: Asked | None = None  # the answerable retrieval with every sentence holding the answer taken out


def askings(ex: Example, near: bool = True) -> list[tuple[Asked, bool]]:
    """The example's retrievals with whether each holds the answer: answerable, twin, near miss."""
    out = [(ex.answerable, True), (ex.twin, False)]
    if near and ex.near is not None:
        out.append((ex.near, False))
    return out


def near_miss(a: Asked, q: Question, idf: IDF) -> Asked | None:
    """SQuAD 2.0's hardest unanswerable case: the same passages, on topic, with the answer's sentences gone.

    The twin leaves whole paragraphs out, so it mostly teaches "off topic"; a near miss keeps the question's
    paragraph and its wording, and lacks only the fact (the paragraph reads as if it never held that sentence).
    """
    keep = [i for i, y in enumerate(a.labels) if not y]
    if not keep or len(keep) == len(a.labels):
        return None
    cands = [replace(a.cands[i]) for i in keep]
    by_para: dict[tuple[str, int], list[int]] = {}
    for k, c in enumerate(cands):
        by_para.setdefault((c.source_id, c.paragraph), []).append(k)
    for idx in by_para.values():
        for pos, k in enumerate(sorted(idx, key=lambda k: cands[k].start)):
            cands[k].position, cands[k].siblings = pos, len(idx)
    feats = sentence_matrix(q, a.q_vec, cands, idf)
    return Asked(cands, feats, np.zeros(len(cands), dtype=np.int8), a.q_vec, [])


def write_sources(paragraphs: Sequence[Paragraph], folder: Path) -> None:
    """Write one Markdown source per paragraph (source id = paragraph key); unchanged files are left alone."""
    folder.mkdir(parents=True, exist_ok=True)
    want = set()
    for p in paragraphs:
        name = f"{p.key}.md"
        want.add(name)
        body = f"---\ntitle: {json.dumps(p.title, ensure_ascii=False)}\nlanguage: ar\n---\n{p.text}\n"
        f = folder / name
        if not f.is_file() or f.read_text(encoding="utf-8") != body:
            f.write_text(body, encoding="utf-8")
    for f in folder.glob("*.md"):
        if f.name not in want:
            f.unlink()


def build_index(settings: Settings, paragraphs: Sequence[Paragraph], workdir: Path, progress: Progress):  # type: ignore[no-untyped-def]
    """Index the paragraphs in ``workdir`` (reused when unchanged) and return (settings, Index)."""
    from ...ingest import sync
    from ...retrieve import Index

    s = settings.replace(home=workdir, sources_dir=workdir / "sources", index_dir=workdir / "index", chroma_host="")
    write_sources(paragraphs, s.sources)
    progress(f"indexing {len(paragraphs)} paragraphs in {workdir} (unchanged ones are skipped)")
    report = sync(s, progress=progress)
    if report.failed:
        raise RuntimeError(f"paragraphs could not be indexed: {list(report.failed)[:5]}")
    return s, Index(s, progress=progress)


def embed_questions(index, texts: Sequence[str], progress: Progress) -> None:  # type: ignore[no-untyped-def]
    """Embed every question once, in batches, into the index's query cache (as query_vector would)."""
    for i in range(0, len(texts), 512):
        index.embed_questions(list(texts[i:i + 512]))
        progress(f"questions embedded: {min(i + 512, len(texts))}/{len(texts)}")


def holders_of(q: SquadQuestion, paragraphs: Sequence[Paragraph], hays: dict[str, str]) -> list[str]:
    """Keys of every paragraph whose text holds one of the question's gold answers."""
    out = []
    for a in q.answers:
        ws = arabic.words(a)
        if not ws:
            continue
        core = max(ws, key=len)
        for p in paragraphs:
            if p.key not in out and core in hays[p.key] and arabic.contains_fact(p.text, a):
                out.append(p.key)
    if q.paragraph_key not in out:
        out.append(q.paragraph_key)
    return out


def ask(index, q: Question, exclude: Sequence[str], answers: Sequence[str], idf: IDF, top_k: int) -> Asked:  # type: ignore[no-untyped-def]
    """Retrieve as the assistant does, gather candidates, compute features and labels."""
    passages = index.search(q.text, k=top_k, exclude=frozenset(exclude))
    cands = gather(index, passages)
    q_vec = np.asarray(index.query_vector(q.text), dtype=np.float32)
    feats = sentence_matrix(q, q_vec, cands, idf)
    labels = np.array([1 if any(arabic.contains_fact(c.text, a) for a in answers) else 0 for c in cands], dtype=np.int8)
    return Asked(cands, feats, labels, q_vec, passages)


def build_examples(index, questions: Sequence[SquadQuestion], paragraphs: Sequence[Paragraph], idf: IDF,  # type: ignore[no-untyped-def]
                   top_k: int, progress: Progress) -> list[Example]:
    """Every question asked against all paragraphs and as its twin without the paragraphs that answer it."""
    hays = {p.key: " ".join(arabic.words(p.text)) for p in paragraphs}
    texts = {p.key: p.text for p in paragraphs}
    out = []
    for n, sq in enumerate(questions, start=1):
        q = Question.of(sq.question)
        holders = holders_of(sq, paragraphs, hays)
        a = ask(index, q, (), sq.answers, idf, top_k)
        t = ask(index, q, holders, sq.answers, idf, top_k)
        ex = Example(sq, q, a, t, holders, near=near_miss(a, q, idf))
        gold = next((c for c, y in zip(a.cands, a.labels) if y and c.source_id == sq.paragraph_key), None)
        if gold is None:  # the answer sentence itself, straight from its paragraph, for span training
            gold = next((c for c in _paragraph_candidates(index, sq.paragraph_key)
                         if any(arabic.contains_fact(c.text, x) for x in sq.answers)), None)
        if gold is not None:
            toks = tokens(texts[gold.source_id], gold.start, gold.end)
            spans = candidate_spans(toks)
            g = gold_span(toks, spans, sq.answers)
            if g is not None:
                ex.span_feats = span_matrix(q, texts[gold.source_id], toks, spans)
                ex.span_gold = g
        out.append(ex)
        if n % 100 == 0 or n == len(questions):
            progress(f"questions read: {n}/{len(questions)}")
    return out


def _paragraph_candidates(index, key: str) -> list[Candidate]:  # type: ignore[no-untyped-def]
    chunks = index.paragraph_chunks(key, 1)
    return [Candidate(key, 1, s, e, t, np.asarray(v, dtype=np.float32), i, len(chunks))
            for i, (_, s, e, t, v) in enumerate(chunks)]

"""Candidate answer sentences: every chunk of every paragraph that retrieval brought back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np

from ...models import Passage
from .features import Candidate

if TYPE_CHECKING:
    from ...retrieve import Index

MAX_PARAGRAPHS = 4


def gather(index: "Index", passages: Sequence[Passage], max_paragraphs: int = MAX_PARAGRAPHS) -> list[Candidate]:
    """The chunks of the best ``max_paragraphs`` retrieved paragraphs, with their retrieval ranks and vectors."""
    rank_of = {p.node_id: (r, p.score) for r, p in enumerate(passages, start=1)}
    paragraphs: list[tuple[str, int]] = []
    for p in passages:
        key = (p.source_id, p.paragraph)
        if key not in paragraphs and p.source_id in index.sources:
            paragraphs.append(key)
    out: list[Candidate] = []
    for p_rank, (sid, para) in enumerate(paragraphs[:max_paragraphs], start=1):
        chunks = index.paragraph_chunks(sid, para)
        for pos, (node_id, start, end, text, vec) in enumerate(chunks):
            r, fused = rank_of.get(node_id, (0, 0.0))
            out.append(Candidate(sid, para, start, end, text, np.asarray(vec, dtype=np.float32), pos, len(chunks),
                                 r, float(fused), p_rank))
    return out

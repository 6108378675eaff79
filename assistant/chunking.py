"""Arabic-aware chunking: paragraphs, then sentences, then clauses for long sentences, offsets kept."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from llama_index.core.node_parser import NodeParser
from llama_index.core.schema import BaseNode, NodeRelationship, TextNode

from . import arabic

METADATA_KEYS = ("source_id", "title", "paragraph", "origin", "date")


@dataclass(frozen=True)
class Span:
    """A chunk of a source: ``text[start:end]`` inside paragraph ``paragraph`` (1-based)."""

    start: int
    end: int
    paragraph: int


def _word_count(text: str, start: int, end: int) -> int:
    return len(arabic.WORD.findall(text, start, end))


def _pack(text: str, pieces: list[tuple[int, int]], max_words: int) -> list[tuple[int, int]]:
    """Greedily join consecutive pieces while the total stays within ``max_words``."""
    out: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    for s, e in pieces:
        if cur is None:
            cur = (s, e)
        elif _word_count(text, cur[0], e) <= max_words:
            cur = (cur[0], e)
        else:
            out.append(cur)
            cur = (s, e)
    if cur:
        out.append(cur)
    return out


def split_spans(text: str, max_words: int = 45, min_words: int = 6) -> list[Span]:
    """Chunks of ``text``: one sentence each; long sentences cut at clause marks; tiny ones merged."""
    spans: list[Span] = []
    for p_no, (ps, pe) in enumerate(arabic.paragraph_spans(text), start=1):
        sentences = arabic.sentence_spans(text, ps, pe)
        pieces: list[tuple[int, int]] = []
        for s, e in sentences:
            if _word_count(text, s, e) > max_words:
                clauses = arabic.clause_spans(text, s, e)
                pieces.extend(_pack(text, clauses, max_words) if len(clauses) > 1 else [(s, e)])
            else:
                pieces.append((s, e))
        merged: list[tuple[int, int]] = []
        for s, e in pieces:
            if merged and (_word_count(text, *merged[-1]) < min_words or _word_count(text, s, e) < min_words) \
                    and _word_count(text, merged[-1][0], e) <= max_words:
                merged[-1] = (merged[-1][0], e)
            else:
                merged.append((s, e))
        spans.extend(Span(s, e, p_no) for s, e in merged)
    return spans


class ArabicSentenceSplitter(NodeParser):
    """A llama-index node parser that cuts documents into sentence chunks with exact character offsets."""

    max_words: int = 45

    @classmethod
    def class_name(cls) -> str:
        """Name used by llama-index serialisation."""
        return "ArabicSentenceSplitter"

    def _parse_nodes(self, nodes: Sequence[BaseNode], show_progress: bool = False, **kwargs: Any) -> list[BaseNode]:
        out: list[BaseNode] = []
        for doc in nodes:
            text = doc.get_content()
            source_id = doc.metadata.get("source_id", doc.node_id)
            for i, span in enumerate(split_spans(text, self.max_words)):
                meta = {k: doc.metadata.get(k, "") for k in METADATA_KEYS}
                meta.update(paragraph=span.paragraph, start=span.start, end=span.end, chunk=i)
                node = TextNode(
                    id_=f"{source_id}:{span.start}-{span.end}",
                    text=text[span.start:span.end],
                    metadata=meta,
                    start_char_idx=span.start,
                    end_char_idx=span.end,
                    excluded_embed_metadata_keys=list(meta),
                    excluded_llm_metadata_keys=list(meta),
                    relationships={NodeRelationship.SOURCE: doc.as_related_node_info()},
                )
                out.append(node)
        return out

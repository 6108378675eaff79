"""The keyword side of retrieval: llama-index's BM25 retriever with Arabic normalisation, stopwords and stemming.

Ingest builds and persists its state beside the Chroma collection; retrieval loads it. Neither imports the other.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import bm25s
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.retrievers.bm25 import BM25Retriever

from . import arabic


class _ArabicAnalyzer:
    """Stands in for a PyStemmer object: bm25s calls ``stemWords`` on already-split tokens."""

    def stemWords(self, tokens: list[str]) -> list[str]:  # noqa: N802 (PyStemmer's name)
        return [arabic.stem(arabic.normalize(t)) for t in tokens]


class ArabicBM25Retriever(BM25Retriever):
    """llama-index's BM25 retriever with Arabic normalisation, stopwords and stemming on both sides."""

    @classmethod
    def from_texts(cls, ids: list[str], texts: list[str], metadatas: list[dict[str, Any]], top_k: int) -> "ArabicBM25Retriever":
        """Build the keyword index over chunks given as parallel lists."""
        corpus = [dict(m, node_id=i, text=t) for i, t, m in zip(ids, texts, metadatas)]
        bm = bm25s.BM25()
        bm.index([arabic.analyze(t) or [""] for t in texts], show_progress=False)
        bm.corpus = corpus
        return cls(existing_bm25=bm, similarity_top_k=min(top_k, len(corpus)), stemmer=_ArabicAnalyzer())

    @classmethod
    def load(cls, path: Path, top_k: int) -> "ArabicBM25Retriever":
        """Load a persisted keyword index."""
        # the corpus is read here rather than by bm25s, whose reader prints a progress bar on every load
        bm = bm25s.BM25.load(str(path), load_corpus=False)
        with open(path / "corpus.jsonl", encoding="utf-8") as fh:
            bm.corpus = [json.loads(line) for line in fh if line.strip()]
        return cls(existing_bm25=bm, similarity_top_k=min(top_k, len(bm.corpus)), stemmer=_ArabicAnalyzer())

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        tokens = arabic.analyze(query_bundle.query_str)
        if not tokens:
            return []
        k = min(self.similarity_top_k, len(self.corpus))
        docs, scores = self.bm25.retrieve([tokens], k=k, show_progress=False)
        out = []
        for doc, score in zip(docs[0], scores[0]):
            if score <= 0:
                continue
            d = dict(doc) if isinstance(doc, dict) else dict(self.corpus[int(doc)])
            node = TextNode(id_=d.pop("node_id"), text=d.pop("text"), metadata=d)
            out.append(NodeWithScore(node=node, score=float(score)))
        return out


def build_keyword_state(collection: Any, path: Path) -> None:
    """Rebuild and persist the BM25 state from every chunk in the Chroma collection."""
    got = collection.get(include=["documents", "metadatas"])
    ids, texts, metas = got["ids"], got["documents"] or [], got["metadatas"] or []
    path.mkdir(parents=True, exist_ok=True)
    keep = ("source_id", "title", "paragraph", "start", "end", "origin", "date", "chunk")
    clean = [{k: m.get(k) for k in keep} for m in metas]
    if not ids:
        (path / "EMPTY").write_text("", encoding="utf-8")
        return
    with contextlib.redirect_stderr(io.StringIO()):  # bm25s draws a progress bar while saving its corpus
        ArabicBM25Retriever.from_texts(list(ids), list(texts), clean, top_k=10).persist(str(path))

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


KEEP = ("source_id", "title", "paragraph", "start", "end", "origin", "date", "chunk")
TOKENS = "tokens.npz"  # every chunk's analysed tokens, so that a write analyses only the chunks it adds
CORPUS = "corpus.jsonl"


def build_keyword_state(collection: Any, path: Path) -> None:
    """Rebuild and persist the BM25 state from every chunk in the Chroma collection."""
    got = collection.get(include=["documents", "metadatas"])
    ids, texts, metas = got["ids"], got["documents"] or [], got["metadatas"] or []
    _write(path, _Rows.empty(), list(ids), list(texts), [{k: m.get(k) for k in KEEP} for m in metas])


def update_keyword_state(collection: Any, path: Path, dropped: set[str], nodes: list[Any]) -> None:
    """Bring a working generation's BM25 state (copied from the live one) up to date, analysing only the chunks
    added: chunks of ``dropped`` source ids leave, ``nodes`` (llama-index nodes just stored) join. A state
    without its token table (older indexes) is rebuilt once from the collection."""
    rows = _Rows.read(path)
    if rows is None:
        build_keyword_state(collection, path)
        return
    rows = rows.without(dropped)
    metas = [{k: n.metadata.get(k) for k in KEEP} for n in nodes]
    _write(path, rows, [n.node_id for n in nodes], [n.get_content() for n in nodes], metas)


class _Rows:
    """The persisted chunks of a BM25 state: ids, sources, token ids (CSR rows), vocabulary and corpus lines."""

    def __init__(self, ids: Any, sources: Any, indptr: Any, tokens: Any, vocab: Any, lines: list[str]) -> None:
        self.ids, self.sources, self.indptr, self.tokens, self.vocab, self.lines = ids, sources, indptr, tokens, vocab, lines

    @classmethod
    def empty(cls) -> "_Rows":
        """No chunks."""
        import numpy as np

        return cls(np.array([], dtype=str), np.array([], dtype=str), np.zeros(1, dtype=np.int64),
                   np.array([], dtype=np.int32), np.array([], dtype=str), [])

    @classmethod
    def read(cls, path: Path) -> "_Rows | None":
        """The state's rows, or None when it has no token table (or an unreadable one)."""
        import numpy as np

        if (path / "EMPTY").exists():
            return cls.empty()
        try:
            with np.load(path / TOKENS, allow_pickle=False) as z:
                parts = [z[k] for k in ("ids", "sources", "indptr", "tokens", "vocab")]
            with open(path / CORPUS, encoding="utf-8") as fh:
                lines = [line for line in fh.read().split("\n") if line.strip()]
        except (OSError, ValueError, KeyError):
            return None
        if len(lines) != len(parts[0]) or len(parts[2]) != len(lines) + 1:
            return None
        return cls(*parts, lines)

    def without(self, dropped: set[str]) -> "_Rows":
        """These rows less the chunks of the dropped sources."""
        import numpy as np

        if not dropped or not len(self.ids):
            return self
        keep = ~np.isin(self.sources, np.array(sorted(dropped), dtype=str))
        lens = np.diff(self.indptr)
        tok_keep = np.repeat(keep, lens)
        indptr = np.concatenate([[0], np.cumsum(lens[keep])]).astype(np.int64)
        return _Rows(self.ids[keep], self.sources[keep], indptr, self.tokens[tok_keep], self.vocab,
                     [line for line, k in zip(self.lines, keep) if k])


def _write(path: Path, rows: _Rows, ids: list[str], texts: list[str], metas: list[dict[str, Any]]) -> None:
    """Append chunks to ``rows``, then persist the token table, the corpus and the BM25 index built over them."""
    import numpy as np
    from bm25s.tokenization import Tokenized

    path.mkdir(parents=True, exist_ok=True)
    index = {t: i for i, t in enumerate(rows.vocab.tolist())}
    new_tokens: list[int] = []
    lens = []
    for text in texts:
        toks = arabic.analyze(text) or [""]
        lens.append(len(toks))
        new_tokens += [index.setdefault(t, len(index)) for t in toks]
    vocab_all = np.array(list(index), dtype=str) if index else np.array([], dtype=str)
    tokens = np.concatenate([rows.tokens, np.asarray(new_tokens, dtype=np.int32)]).astype(np.int32)
    indptr = np.concatenate([rows.indptr, rows.indptr[-1] + np.cumsum(np.asarray(lens, dtype=np.int64))]).astype(np.int64)
    used, tokens = np.unique(tokens, return_inverse=True)  # tokens of departed chunks leave the vocabulary
    vocab = vocab_all[used] if len(used) else vocab_all[:0]
    all_ids = np.concatenate([rows.ids, np.asarray(ids, dtype=str)]) if ids else rows.ids
    sources = np.concatenate([rows.sources, np.asarray([m.get("source_id") or "" for m in metas], dtype=str)]) if ids else rows.sources
    lines = rows.lines + [json.dumps(dict(m, node_id=i, text=t), ensure_ascii=False) for i, t, m in zip(ids, texts, metas)]
    for f in path.iterdir():
        if f.is_file():
            f.unlink()
    if not lines:
        (path / "EMPTY").write_text("", encoding="utf-8")
        return
    with open(path / TOKENS, "wb") as fh:
        np.savez(fh, ids=all_ids.astype(str), sources=sources.astype(str), indptr=indptr, tokens=tokens.astype(np.int32),
                 vocab=vocab.astype(str))
    (path / CORPUS).write_text("\n".join(lines) + "\n", encoding="utf-8")
    bm = bm25s.BM25()
    docs = [tokens[a:b].tolist() for a, b in zip(indptr[:-1], indptr[1:])]
    bm.index(Tokenized(ids=docs, vocab={t: i for i, t in enumerate(vocab.tolist())}), show_progress=False)
    with contextlib.redirect_stderr(io.StringIO()):  # bm25s draws a progress bar while saving
        bm.save(str(path))

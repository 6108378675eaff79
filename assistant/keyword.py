"""The keyword side of retrieval: BM25 (bm25s) over normalised, stemmed Arabic without stopwords.

Ingest keeps the state beside the Chroma collection (each chunk's analysed tokens too, so a write analyses only
the chunks it adds); retrieval loads it. llama-index's BM25Retriever is a thin wrapper over the same bm25s index:
reading bm25s directly keeps llama-index (about a second of imports) off a cold CLI answer, and a search takes
its own ``k`` instead of the retriever's shared ``similarity_top_k``, so concurrent questions need no lock.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import bm25s

from . import arabic


class KeywordIndex:
    """The BM25 state as questions use it: bm25s's index and the chunks it ranks."""

    def __init__(self, bm: Any, corpus: list[dict[str, Any]], layer: "_LayerScorer | None" = None,
                 dead: frozenset[str] = frozenset(), dead_chunks: int = 0, avg_length: float = 0.0) -> None:
        self.bm, self.corpus, self.layer, self.dead, self.dead_chunks = bm, corpus, layer, dead, dead_chunks
        self.avg_length = avg_length  # the base's mean analysed chunk length (0: unknown)
        self._counts: dict[Any, int] | None = None  # the base's chunks by source id, counted when first needed

    def updated(self, dropped: set[str], ids: list[str], texts: list[str], metas: list[dict]) -> "KeywordIndex | None":
        """This state with the chunks of ``dropped`` sources gone and the given chunks joined, kept in memory as a
        layer over the same base (a team library reloading after a write: only what changed is read from the
        server). None when the layer would pass ``FOLD_SHARE`` of the base: build the state again instead."""
        rows = (self.layer.rows if self.layer is not None else _Rows.empty()).without(dropped)
        rows = rows.append(ids, texts, [{k: m.get(k) for k in KEEP} for m in metas])
        if len(rows.lines) > max(FOLD_MIN, FOLD_SHARE * len(self.corpus)):
            return None
        if self._counts is None:
            self._counts = {}
            for c in self.corpus:
                self._counts[c.get("source_id")] = self._counts.get(c.get("source_id"), 0) + 1
        dead = self.dead | dropped
        layer = _LayerScorer(rows, self.bm, self.avg_length) if rows.lines else None
        fresh = KeywordIndex(self.bm, self.corpus, layer, frozenset(dead), sum(self._counts.get(x, 0) for x in dead),
                             self.avg_length)
        fresh._counts = self._counts
        return fresh

    def over(self, layer_path: Path | None, dead: frozenset[str], dead_chunks: int) -> "KeywordIndex":
        """This state's base with another layer over it (layers.py): the base is shared, not loaded again."""
        layer = _LayerScorer.load(layer_path, self.bm, self.avg_length) if layer_path is not None else None
        return KeywordIndex(self.bm, self.corpus, layer, dead, dead_chunks, self.avg_length)

    @classmethod
    def load(cls, path: Path | None, layer_path: Path | None = None, dead: frozenset[str] = frozenset(),
             dead_chunks: int = 0) -> "KeywordIndex":
        """Load a persisted keyword state (re-analysed in memory when an older analyser wrote it: the index may be
        read-only, and the next write rebuilds it on disk). With ``layer_path`` (see layers.py), the base at
        ``path`` answers less the chunks of its ``dead`` sources, and the layer's chunks join, scored with the
        base's statistics."""
        bm, corpus = None, []
        if path is not None and (path / CORPUS).exists():
            with open(path / CORPUS, encoding="utf-8") as fh:
                corpus = [json.loads(line) for line in fh if line.strip()]
            if _analyzer_of(path) == arabic.ANALYZER_VERSION:
                bm = bm25s.BM25.load(str(path), load_corpus=False)  # its corpus reader draws a bar: read here
            else:
                bm = _bm25([arabic.analyze(c.get("text") or "") or [""] for c in corpus])
        return cls(bm, corpus, avg_length=_avg_length(path)).over(layer_path, dead, dead_chunks)

    def search(self, question: str, k: int) -> list[tuple[dict[str, Any], float]]:
        """The ``k`` best chunks for a question (each a copy of its metadata with ``node_id`` and ``text``) and
        their BM25 scores, best first; chunks sharing no term with the question are left out."""
        tokens = arabic.analyze(question)
        if not tokens:
            return []
        got: list[tuple[dict[str, Any], float]] = []
        if self.corpus:
            docs, scores = self.bm.retrieve([tokens], k=min(k + self.dead_chunks, len(self.corpus)), show_progress=False)
            got = [(dict(self.corpus[int(d)]), float(sc)) for d, sc in zip(docs[0], scores[0])
                   if sc > 0 and self.corpus[int(d)].get("source_id") not in self.dead]
        if self.layer is not None:
            got = sorted(got + self.layer.search(tokens, k), key=lambda g: -g[1])
        return got[:k]


class _LayerScorer:
    """BM25 over a layer's chunks (layers.py) with its base's statistics, so that its scores and the base's rank
    together: bm25s's defaults (Lucene's idf and term weight), document frequencies and counts of base and layer
    added, the base's mean length. A layer is small (a few thousand chunks): postings are built when it loads."""

    def __init__(self, rows: "_Rows", base: Any, avg_length: float) -> None:
        import numpy as np

        self.rows = rows
        self.corpus = [json.loads(line) for line in rows.lines]
        lens = np.diff(rows.indptr)
        order = np.argsort(rows.tokens, kind="stable")
        self.doc_of = np.repeat(np.arange(len(lens)), lens)[order]
        self.starts = np.searchsorted(rows.tokens[order], np.arange(len(rows.vocab) + 1))
        self.term = {t: i for i, t in enumerate(rows.vocab.tolist())}
        self.lens = lens.astype(np.float64)
        self.base_vocab = getattr(base, "vocab_dict", None) or {}
        self.base_df = np.diff(base.scores["indptr"]) if base is not None else np.zeros(0, dtype=np.int64)
        self.n = len(lens) + (int(base.scores["num_docs"]) if base is not None else 0)
        self.k1, self.b = (float(base.k1), float(base.b)) if base is not None else (1.5, 0.75)
        self.avg = avg_length or (float(lens.mean()) if len(lens) else 1.0)

    @classmethod
    def load(cls, path: Path, base: Any, avg_length: float) -> "_LayerScorer":
        """A layer's state (re-analysed in memory when another analyser wrote it)."""
        rows = _Rows.read(path)
        if rows is None:
            with open(path / CORPUS, encoding="utf-8") as fh:
                lines = [line for line in fh.read().split("\n") if line.strip()]
            chunks = [json.loads(x) for x in lines]
            rows = _Rows.empty().append([c.get("node_id", "") for c in chunks], [c.get("text") or "" for c in chunks],
                                        chunks, lines)
        return cls(rows, base, avg_length)

    def search(self, tokens: list[str], k: int) -> list[tuple[dict[str, Any], float]]:
        """The layer's ``k`` best chunks for analysed question tokens, with their scores."""
        import numpy as np

        scores = np.zeros(len(self.lens))
        norm = self.k1 * (1 - self.b + self.b * self.lens / self.avg)
        for t in tokens:  # a repeated question word counts again, as in bm25s
            i = self.term.get(t)
            if i is None:
                continue
            tf = np.bincount(self.doc_of[self.starts[i]:self.starts[i + 1]], minlength=len(self.lens))
            j = self.base_vocab.get(t)
            df = self.starts[i + 1] - self.starts[i] + (int(self.base_df[j]) if j is not None and j < len(self.base_df) else 0)
            idf = np.log(1 + (self.n - df + 0.5) / (df + 0.5))
            scores += idf * tf / (tf + norm)
        best = np.argsort(-scores, kind="stable")[:k]
        return [(dict(self.corpus[int(d)]), float(scores[d])) for d in best if scores[d] > 0]


def _avg_length(path: Path | None) -> float:
    """The mean analysed length of a stored state's chunks (0 when it has no token table)."""
    import numpy as np

    try:
        with np.load(path / TOKENS, allow_pickle=False) as z:  # type: ignore[operator]
            indptr = z["indptr"]
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0
    return float(indptr[-1] / (len(indptr) - 1)) if len(indptr) > 1 else 0.0


def _analyzer_of(path: Path) -> int:
    """The analyser version a stored state was written with (1: before versions were recorded)."""
    import numpy as np

    if (path / "EMPTY").exists():
        return arabic.ANALYZER_VERSION
    try:
        with np.load(path / TOKENS, allow_pickle=False) as z:
            return int(z["analyzer"][0]) if "analyzer" in z.files else 1
    except (OSError, ValueError, KeyError):
        return 1


def _bm25(docs: list[list[str]]) -> Any:
    """A bm25s index over analysed chunks."""
    from bm25s.tokenization import Tokenized

    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in doc] for doc in docs]
    bm = bm25s.BM25()
    bm.index(Tokenized(ids=ids, vocab=vocab), show_progress=False)
    return bm


KEEP = ("source_id", "title", "paragraph", "start", "end", "origin", "date", "chunk")
TOKENS = "tokens.npz"  # every chunk's analysed tokens, so that a write analyses only the chunks it adds
CORPUS = "corpus.jsonl"


FOLD_MIN, FOLD_SHARE = 2000, 0.1  # an in-memory layer (KeywordIndex.updated) past both: the state is built again
PAGE = 5000  # chunks read from Chroma per call: one call for a whole large library fails ("too many SQL variables")


def every_chunk(collection: Any, where: dict[str, Any] | None = None,
                documents: bool = True) -> tuple[list[str], list[str], list[dict]]:
    """(ids, texts, metadatas) of every record in a Chroma collection (those matching ``where``), read a page at
    a time (``documents=False``: no texts, only ids and metadatas)."""
    ids: list[str] = []
    texts: list[str] = []
    metas: list[dict] = []
    while True:
        got = collection.get(where=where, include=["documents", "metadatas"] if documents else ["metadatas"],
                             limit=PAGE, offset=len(ids))
        if not got["ids"]:
            return ids, texts, metas
        ids += got["ids"]
        texts += got.get("documents") or [""] * len(got["ids"])
        metas += got["metadatas"] or [{}] * len(got["ids"])


def keyword_index(ids: list[str], texts: list[str], metas: list[dict]) -> KeywordIndex | None:
    """A BM25 state in memory over the given chunks (None when there are none)."""
    if not ids:
        return None
    corpus = [dict({k: m.get(k) for k in KEEP}, node_id=i, text=t) for i, t, m in zip(ids, texts, metas)]
    docs = [arabic.analyze(t) or [""] for t in texts]
    return KeywordIndex(_bm25(docs), corpus, avg_length=sum(map(len, docs)) / len(docs))


def build_keyword_state(collection: Any, path: Path) -> None:
    """Rebuild and persist the BM25 state from every chunk in the Chroma collection."""
    ids, texts, metas = every_chunk(collection)
    _write(path, _Rows.empty(), ids, texts, [{k: m.get(k) for k in KEEP} for m in metas])


def update_keyword_state(collection: Any, path: Path, dropped: set[str], added: list[tuple[str, str, dict]],
                         index: bool = True, fold: tuple[Path, frozenset[str]] | None = None) -> None:
    """Bring a working generation's BM25 state (copied from the live one) up to date, analysing only the chunks
    added: chunks of ``dropped`` source ids leave, ``added`` ((chunk id, text, metadata) just stored) join. A state
    without its token table (older indexes) is rebuilt once from the collection.

    ``index=False`` writes a layer's state (no bm25s index: layers.py). ``fold`` (a layer's keyword folder and
    its base's dead sources) folds a layer into the base state copied at ``path``: the dead chunks leave, the
    layer's join."""
    rows = _Rows.read(path)
    if rows is None and not path.exists() and collection.count() == len(added):
        rows = _Rows.empty()  # a new index: the chunks just stored are all there is, nothing to read back
    layer = _Rows.read(fold[0]) if fold is not None else None
    if rows is None or (fold is not None and layer is None):
        build_keyword_state(collection, path)
        return
    if fold is not None and layer is not None:
        rows = rows.without(dropped | fold[1]).concat(layer.without(dropped))
    else:
        rows = rows.without(dropped)
    metas = [{k: m.get(k) for k in KEEP} for _, _, m in added]
    _write(path, rows, [i for i, _, _ in added], [t for _, t, _ in added], metas, index)


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
        if _analyzer_of(path) != arabic.ANALYZER_VERSION:  # tokens from another analyser: rebuild from the collection
            return None
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

    def append(self, ids: list[str], texts: list[str], metas: list[dict[str, Any]],
               lines: list[str] | None = None) -> "_Rows":
        """These rows and the given chunks after them, analysed (``lines``: their corpus lines when already
        written); tokens no chunk uses any more leave the vocabulary."""
        import numpy as np

        index = {t: i for i, t in enumerate(self.vocab.tolist())}
        new_tokens: list[int] = []
        lens = []
        for text in texts:
            toks = arabic.analyze(text) or [""]
            lens.append(len(toks))
            new_tokens += [index.setdefault(t, len(index)) for t in toks]
        vocab_all = np.array(list(index), dtype=str) if index else np.array([], dtype=str)
        tokens = np.concatenate([self.tokens, np.asarray(new_tokens, dtype=np.int32)]).astype(np.int32)
        indptr = np.concatenate([self.indptr, self.indptr[-1] + np.cumsum(np.asarray(lens, dtype=np.int64))]).astype(np.int64)
        used, tokens = np.unique(tokens, return_inverse=True)
        vocab = vocab_all[used] if len(used) else vocab_all[:0]
        all_ids = np.concatenate([self.ids, np.asarray(ids, dtype=str)]) if ids else self.ids
        sources = np.concatenate([self.sources, np.asarray([m.get("source_id") or "" for m in metas], dtype=str)]) \
            if ids else self.sources
        if lines is None:
            lines = [json.dumps(dict(m, node_id=i, text=t), ensure_ascii=False) for i, t, m in zip(ids, texts, metas)]
        return _Rows(all_ids, sources, indptr, tokens.astype(np.int32), vocab, self.lines + lines)

    def concat(self, other: "_Rows") -> "_Rows":
        """These rows and another state's after them (its token ids mapped into this vocabulary)."""
        import numpy as np

        if not other.lines:
            return self
        index = {t: i for i, t in enumerate(self.vocab.tolist())}
        remap = np.array([index.setdefault(t, len(index)) for t in other.vocab.tolist()], dtype=np.int32)
        tokens = np.concatenate([self.tokens, remap[other.tokens] if len(other.tokens) else other.tokens]).astype(np.int32)
        return _Rows(np.concatenate([self.ids, other.ids]), np.concatenate([self.sources, other.sources]),
                     np.concatenate([self.indptr, self.indptr[-1] + other.indptr[1:]]).astype(np.int64), tokens,
                     np.array(list(index), dtype=str), self.lines + other.lines)

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


def _write(path: Path, rows: _Rows, ids: list[str], texts: list[str], metas: list[dict[str, Any]],
           index: bool = True) -> None:
    """Append chunks to ``rows``, then persist the token table, the corpus and (``index``) the BM25 index built
    over them (a layer's state has none: layers.py)."""
    _persist(path, rows.append(ids, texts, metas), index)


def _persist(path: Path, rows: _Rows, index: bool = True) -> None:
    """Write rows as a keyword state: token table, corpus lines and, with ``index``, bm25s's index."""
    import numpy as np
    from bm25s.tokenization import Tokenized

    path.mkdir(parents=True, exist_ok=True)
    for f in path.iterdir():
        if f.is_file():
            f.unlink()
    if not rows.lines:
        (path / "EMPTY").write_text("", encoding="utf-8")
        return
    with open(path / TOKENS, "wb") as fh:
        np.savez(fh, ids=rows.ids.astype(str), sources=rows.sources.astype(str), indptr=rows.indptr,
                 tokens=rows.tokens.astype(np.int32), vocab=rows.vocab.astype(str),
                 analyzer=np.array([arabic.ANALYZER_VERSION]))
    (path / CORPUS).write_text("\n".join(rows.lines) + "\n", encoding="utf-8")
    if not index:
        return
    bm = bm25s.BM25()
    tokens, indptr = rows.tokens, rows.indptr
    docs = [tokens[a:b].tolist() for a, b in zip(indptr[:-1], indptr[1:])]
    bm.index(Tokenized(ids=docs, vocab={t: i for i, t in enumerate(rows.vocab.tolist())}), show_progress=False)
    with contextlib.redirect_stderr(io.StringIO()):  # bm25s draws a progress bar while saving
        bm.save(str(path))

"""Hybrid retrieval: BM25 over normalised, stemmed Arabic plus dense embeddings, fused by weighted scores.

The fusion is written here rather than taken from llama-index's QueryFusionRetriever because the
answerer needs each retriever's raw score (cosine similarity, keyword coverage) to decide whether the
sources answer at all; the fused, min-max normalised score alone cannot tell that.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection

from . import arabic, backends, layers, store, team
from .config import Settings
from .keyword import CORPUS, KeywordIndex, every_chunk, keyword_index
from .models import Passage, Source

if TYPE_CHECKING:
    from .backends import Embedder


TEAM_REREAD = 500  # a team library reload reads again at most this many changed sources; more: everything
TEAM_CHECK_S = 1.0  # how often a team library's version on the server is looked at (one small request)


@dataclass
class Hit:
    """One chunk with its component scores before conversion to a Passage."""

    node_id: str
    text: str
    meta: dict[str, Any]
    keyword: float = 0.0
    dense: float = 0.0
    fused: float = 0.0


class Index:
    """The live index loaded for answering: sources, Chroma collection, BM25 state and embedding model."""

    def __init__(self, settings: Settings, progress: Callable[[str], None] | None = None,
                 embedder: "Embedder | None" = None, previous: "Index | None" = None) -> None:
        """Load the live generation; with ``previous`` (the index it replaces), a base they share is not loaded
        again: after a small write (a layer, layers.py) only the layer is read."""
        self.settings = settings
        gen = store.current_generation(settings.index)
        if gen is None:
            raise store.NoIndex()
        self.generation = gen
        self.sources: dict[str, Source] = store.read_manifest(gen)
        # the model loads (about 1 s, mostly native code) while Chroma and BM25 open: a cold CLI answer waits less
        pool = None if embedder is not None else ThreadPoolExecutor(1, thread_name_prefix="embedder")
        loading = pool.submit(backends.embedder_for, settings, progress) if pool else None
        # a generation written as a layer answers from its base less the dead sources, plus its own chunks
        self._layer = None if settings.chroma_host else layers.read(gen)
        self._base = store.base_of(gen) if self._layer is not None else gen
        self._dead = self._layer.dead if self._layer is not None else frozenset()
        self._dead_chunks = self._layer.dead_chunks if self._layer is not None else 0
        try:
            self._open(gen, previous)
        finally:
            self.embed_model = embedder if loading is None else loading.result()
            if pool is not None:
                pool.shutdown(wait=False)
        self._lock = threading.Lock()
        self._qcache: dict[str, list[float]] = {}
        self._chunks: dict[tuple[str, int], list[tuple[str, int, int, str, list[float]]]] = {}

    def _open(self, gen: Path, previous: "Index | None") -> None:
        """Open the Chroma collections and the keyword state (the base's taken from ``previous`` when shared)."""
        settings, name, space = self.settings, store.collection_name(self.settings), {"hnsw:space": "cosine"}
        self._team_version, self._team_checked = "", time.monotonic()
        self._team_stamps: dict[str, str] | None = None
        if team.enabled(settings):
            shared = previous is not None and previous._team_stamps is not None  # one collection on the server
        else:
            shared = previous is not None and previous._base == self._base and not settings.chroma_host
        if shared and previous is not None:
            self._client, self._collection = previous._client, previous._collection
        else:
            self._client = store.chroma_client(self._base, settings)
            self._collection = self._client.get_or_create_collection(name, metadata=space)
        self._own = None if self._layer is None else \
            store.chroma_client(gen, settings).get_or_create_collection(name, metadata=space)
        layer_bm25 = gen / "bm25" if self._layer is not None and (gen / "bm25" / CORPUS).exists() else None
        if team.enabled(settings):  # every home's sources: what the server holds, at its version
            self._open_team(previous if shared else None)
        elif shared and previous is not None and previous._bm25 is not None:
            self._bm25 = previous._bm25.over(layer_bm25, self._dead, self._dead_chunks)
        else:
            self._bm25 = _keyword_state(self._base / "bm25", layer_bm25, self._dead, self._dead_chunks)

    def _open_team(self, previous: "Index | None") -> None:
        """A team library's sources and keyword state: after a write, only the sources whose record changed are
        read again (their texts and chunks), the rest kept from ``previous``; the first time, all of them."""
        self._team_version = team.version(self.settings, self._client)
        stamps = team.stamps(self.settings, self._client)
        self._bm25 = None
        old = previous._team_stamps if previous is not None else None
        changed = {sid for sid, st in stamps.items() if old is not None and old.get(sid) != st}
        if previous is not None and old is not None and previous._bm25 is not None and len(changed) <= TEAM_REREAD:
            kept = {sid: src for sid, src in previous.sources.items() if sid in stamps and sid not in changed}
            chunks = every_chunk(self._collection, {"source_id": {"$in": sorted(changed)}}) if changed else ([], [], [])
            self._bm25 = previous._bm25.updated(changed | (set(old) - set(stamps)), *chunks)
            self.sources = {**kept, **team.sources(self.settings, self._client, only=changed)}
        if self._bm25 is None:
            self.sources = team.sources(self.settings, self._client)
            self._bm25 = keyword_index(*every_chunk(self._collection))
        self._team_stamps = stamps

    @property
    def size(self) -> int:
        """Number of chunks indexed."""
        own = int(self._own.count()) if self._own is not None else 0
        return int(self._collection.count()) - self._dead_chunks + own

    def is_stale(self) -> bool:
        """True when another writer has published a newer generation (on a team's server: any home's write,
        looked for at most once every ``TEAM_CHECK_S`` seconds)."""
        if store.current_generation(self.settings.index) != self.generation:
            return True
        if not team.enabled(self.settings) or time.monotonic() - self._team_checked < TEAM_CHECK_S:
            return False
        self._team_checked = time.monotonic()
        try:
            return team.version(self.settings, self._client) != self._team_version
        except Exception:  # noqa: BLE001  (a server away for a moment: keep answering from what is loaded)
            return False

    def keyword(self, question: str, k: int, exclude: Collection[str] = ()) -> list[Hit]:
        """BM25 hits for a question (chunks of the ``exclude`` source ids left out)."""
        if self._bm25 is None:
            return []
        got = self._bm25.search(question, k + (4 * k if exclude else 0))
        hits = [Hit(d.pop("node_id"), d.pop("text"), d, keyword=score) for d, score in got]
        return [h for h in hits if str(h.meta.get("source_id")) not in exclude][:k]

    def query_vector(self, question: str) -> list[float]:
        """The question's embedding (cached: the retriever and the reader share it)."""
        # marks and Arabic-Indic digits pull e5 away from unmarked, ASCII-digit prose
        key = arabic.fold_digits(arabic.strip_marks(question))
        with self._lock:
            vec = self._qcache.get(key)
        if vec is None:  # embedded outside the lock: users asking at once do not wait on each other's model call
            vec = self.embed_model.get_query_embedding(key)
            with self._lock:
                if len(self._qcache) > 256:
                    self._qcache.pop(next(iter(self._qcache)))
                self._qcache[key] = vec
        return vec

    def embed_questions(self, questions: list[str], batch: int = 64) -> None:
        """Embed many questions in batches ahead of asking them (training and evaluation runs)."""
        keys = list(dict.fromkeys(arabic.fold_digits(arabic.strip_marks(q)) for q in questions))
        model = self.embed_model
        for i in range(0, len(keys), batch):
            part = [k for k in keys[i:i + batch] if k not in self._qcache]
            # the ONNX and HuggingFace embedders embed a list of questions in one pass; other models one at a time
            if not part:
                continue
            if hasattr(model, "query_embeddings"):
                vecs = model.query_embeddings(part)
            elif hasattr(model, "_embed"):
                vecs = model._embed(part, prompt_name="query")
            else:
                vecs = [model.get_query_embedding(k) for k in part]
            with self._lock:
                self._qcache.update(zip(part, vecs))

    def dense(self, question: str, k: int, exclude: Collection[str] = ()) -> list[Hit]:
        """Nearest chunks by embedding cosine similarity (chunks of the ``exclude`` source ids left out)."""
        if self.size == 0:
            return []
        vec = self.query_vector(question)
        hits = _nearest(self._collection, vec, k, set(exclude) | self._dead)
        if self._own is not None:
            hits = sorted(hits + _nearest(self._own, vec, k, set(exclude)), key=lambda h: -h.dense)[:k]
        return hits

    def paragraph_chunks(self, source_id: str, paragraph: int) -> list[tuple[str, int, int, str, list[float]]]:
        """Every chunk of one paragraph in text order: (node id, start, end, text, embedding); cached per index."""
        key = (source_id, paragraph)
        got = self._chunks.get(key)
        if got is None:
            own = self._own is not None and self._layer is not None and source_id in self._layer.own
            res = (self._own if own else self._collection).get(
                where={"$and": [{"source_id": source_id}, {"paragraph": paragraph}]},
                include=["documents", "metadatas", "embeddings"])
            got = sorted(((i, int(m.get("start", 0)), int(m.get("end", 0)), d, list(e))
                          for i, d, m, e in zip(res["ids"], res["documents"], res["metadatas"], res["embeddings"])),
                         key=lambda r: r[1])
            if len(self._chunks) > 4096:
                self._chunks.clear()
            self._chunks[key] = got
        return got

    def search(self, question: str, k: int | None = None, mode: str = "hybrid",
               exclude: Collection[str] = ()) -> list[Passage]:
        """Top chunks for a question: ``mode`` is "hybrid", "keyword" or "dense"; ``exclude``: source ids left out."""
        k = k or self.settings.top_k
        cand = self.settings.candidates
        merged: dict[str, Hit] = {}
        if mode in ("hybrid", "keyword"):
            for h in self.keyword(question, cand, exclude):
                merged[h.node_id] = h
        if mode in ("hybrid", "dense"):
            for h in self.dense(question, cand, exclude):
                if h.node_id in merged:
                    merged[h.node_id].dense = h.dense
                else:
                    merged[h.node_id] = h
        hits = list(merged.values())
        if not hits:
            return []
        kw_max = max(h.keyword for h in hits) or 1.0
        dense_vals = [h.dense for h in hits if h.dense > 0]
        d_lo, d_hi = (min(dense_vals), max(dense_vals)) if dense_vals else (0.0, 1.0)
        wk, wd = self.settings.keyword_weight, self.settings.dense_weight
        if mode == "keyword":
            wk, wd = 1.0, 0.0
        elif mode == "dense":
            wk, wd = 0.0, 1.0
        for h in hits:
            kw = h.keyword / kw_max
            dn = (h.dense - d_lo) / (d_hi - d_lo) if d_hi > d_lo and h.dense > 0 else (1.0 if h.dense > 0 else 0.0)
            h.fused = (wk * kw + wd * dn) / ((wk + wd) or 1.0)
        hits.sort(key=lambda h: h.fused, reverse=True)
        return [self._passage(h) for h in hits[:k]]

    def _passage(self, h: Hit) -> Passage:
        m = h.meta
        src = self.sources.get(str(m.get("source_id")))
        return Passage(
            node_id=h.node_id, source_id=str(m.get("source_id")), title=src.title if src else str(m.get("title", "")),
            paragraph=int(m.get("paragraph", 0)), start=int(m.get("start", 0)), end=int(m.get("end", 0)), text=h.text,
            score=h.fused, keyword_score=h.keyword, dense_score=h.dense,
            origin=src.origin if src else str(m.get("origin", "")), date=src.date if src else str(m.get("date", "")),
        )


def _keyword_state(base: Path, layer: Path | None, dead: frozenset[str], dead_chunks: int) -> KeywordIndex | None:
    """The BM25 state a generation answers with (None when it has no chunks)."""
    has = lambda p: p is not None and (p / CORPUS).exists()  # noqa: E731  (an empty state is marked EMPTY instead)
    if not has(base) and not has(layer):
        return None
    return KeywordIndex.load(base if has(base) else None, layer if has(layer) else None, dead, dead_chunks)


def _nearest(collection: Any, vec: list[float], k: int, exclude: Collection[str] = ()) -> list[Hit]:
    """The ``k`` chunks of one collection nearest to a vector, those of the ``exclude`` sources left out.

    Left-out sources (other users' private uploads, a conversation's exclusions, a base's sources that a layer
    removed or replaced) are asked for more of and dropped here, not filtered by Chroma: a filter naming 150
    sources cost 330 ms a question at 100,000 chunks, against 28 ms unfiltered."""
    total = int(collection.count())
    if total == 0:
        return []
    n = min(2 * k if exclude else k, total)
    while True:
        res = collection.query(query_embeddings=[vec], n_results=n, include=["documents", "metadatas", "distances"])
        hits = [Hit(i, doc, dict(meta), dense=1.0 - float(dist))
                for i, doc, meta, dist in zip(res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0])
                if meta.get("source_id") not in exclude]
        if len(hits) >= k or n >= total:
            return hits[:k]
        n = min(n * 4, total)

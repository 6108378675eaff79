"""The assistant as one object every face shares: one model and one index per process, thread-safe."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from dataclasses import replace
from typing import Any, Callable, Collection

from . import chat, ingest, store
from .answer import ExtractiveAnswerer, validate_question
from .config import Settings, load_settings
from .messages import use_folder
from .models import Answer, Source

Progress = Callable[[str], None]


class Assistant:
    """Ask questions, add and remove sources; reloads the index when a newer generation is published."""

    def __init__(self, settings: Settings | None = None, progress: Progress | None = None) -> None:
        self.settings = settings or load_settings()
        use_folder(self.settings.prompts)
        self._progress = progress
        self._lock = threading.RLock()
        self._index = None
        self._answerer: Any = None
        self._reader: Any = None  # the trained reader, loaded once per process (None: not wanted or unusable)
        self.reader_note = ""  # why the rules answer when the trained reader was wanted (Arabic)

    def _load(self):  # type: ignore[no-untyped-def]
        from .retrieve import Index

        with self._lock:
            if self._index is None or self._index.is_stale():
                self._index = Index(self.settings, progress=self._progress)
                if self._reader is None and self.settings.reader == "trained" and not self.reader_note:
                    self._reader = self._load_reader(self._index)
                if self._reader is not None:
                    from .reader.answerer import ReaderAnswerer

                    self._answerer = ReaderAnswerer(self._index, self._reader)
                else:
                    self._answerer = ExtractiveAnswerer(self._index)
            return self._index, self._answerer

    def _load_reader(self, index):  # type: ignore[no-untyped-def]
        """The trained reader over the embedder's own model, or None with ``reader_note`` saying why."""
        from .messages import message
        from .reader import model as reader_model

        try:
            reader = reader_model.load(self.settings.reader_path or reader_model.ARTEFACT)
            if reader.neural_state is not None:
                base, tokenizer = _span_base(index.embed_model, self.settings)
                reader = reader_model.attach(reader, base, tokenizer)
            return reader
        except reader_model.ReaderUnavailable as exc:
            self.reader_note = message(exc.key, self.settings.prompts)
            if self._progress:
                self._progress(self.reader_note)
            return None

    @property
    def index(self):  # type: ignore[no-untyped-def]
        """The loaded index (loading it on first use)."""
        return self._load()[0]

    def ask(self, question: str, history: list[str] | None = None, mode: str = "hybrid",
            exclude_sources: Collection[str] = ()) -> Answer:
        """Answer a question (a follow-up is resolved against ``history``; ``exclude_sources`` are not searched)."""
        q = validate_question(question, self.settings.max_question_chars)
        resolved = chat.resolve(q, history or [])
        index, answerer = self._load()
        passages = index.search(resolved, k=self.settings.top_k, mode=mode, exclude=exclude_sources)
        answer = answerer.answer(q, passages, resolved=resolved)
        if self.reader_note:
            answer = replace(answer, reader_note=self.reader_note)
        if self.settings.answerer == "llm":
            from .llm import generate

            answer = generate(self.settings, answer, passages, index.sources,
                              answers=getattr(answerer, "supports", None))
        return answer

    def sources(self) -> list[Source]:
        """Indexed sources, by id."""
        gen = store.current_generation(self.settings.index)
        return sorted(store.read_manifest(gen).values(), key=lambda s: s.source_id)

    def source(self, source_id: str) -> Source | None:
        """One indexed source with its text, or None."""
        return store.read_manifest(store.current_generation(self.settings.index)).get(source_id)

    def sync(self, progress: Progress | None = None) -> ingest.SyncReport:
        """Sync the sources folder into the index."""
        return ingest.sync(self.settings, progress or self._progress)

    def add_files(self, paths: list[Path], progress: Progress | None = None) -> ingest.SyncReport:
        """Add files; answerable as soon as this returns."""
        return ingest.add_files(self.settings, paths, progress or self._progress)

    def add_text(self, title: str, text: str, progress: Progress | None = None) -> ingest.SyncReport:
        """Add pasted text under a title."""
        return ingest.add_text(self.settings, title, text, progress or self._progress)

    def remove(self, source_id: str, progress: Progress | None = None) -> ingest.SyncReport:
        """Remove a source from the folder and the index."""
        return ingest.remove_source(self.settings, source_id, progress or self._progress)

    def warm_up(self) -> float:
        """Load the model and the index now; returns the seconds it took."""
        t0 = time.perf_counter()
        self._load()
        return time.perf_counter() - t0


def _span_base(embed_model: Any, settings: Settings):  # type: ignore[no-untyped-def]
    """The e5-small BertModel and tokenizer the span head sits on: the embedder's own when it is e5-small."""
    st = getattr(embed_model, "_model", None)
    try:
        bert = st[0].auto_model  # type: ignore[index]
        if getattr(bert.config, "hidden_size", 0) == 384 and getattr(bert.config, "vocab_size", 0) > 250000:
            return bert, st.tokenizer  # type: ignore[union-attr]
    except (TypeError, AttributeError, IndexError, KeyError):
        pass
    from .embedding import E5_SMALL_DIRNAME, prepare_e5_small
    from .reader.neural import load_base

    return load_base(prepare_e5_small(settings.cache_dir / E5_SMALL_DIRNAME, lambda _m: None))

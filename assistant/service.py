"""The assistant as one object every face shares: one model and one index per process, thread-safe."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, Mapping

from . import backends, chat, ingest, rights, store, team
from .errors import QuestionError
from .question import validate_question
from .config import Settings, load_settings
from .messages import use_digits, use_folder
from .models import Answer, Citation, Source
from .pages import page_at

if TYPE_CHECKING:
    from .backends import AnswererFactory, Embedder

Progress = Callable[[str], None]


class Assistant:
    """Ask questions, add and remove sources; reloads the index when a newer generation is published.

    Built by :func:`build_assistant` from settings; ``embedder`` and ``answerer`` (a factory taking the index)
    replace the backends the settings name, which is how tests pass their fakes in.
    """

    def __init__(self, settings: Settings, progress: Progress | None = None, *,
                 embedder: "Embedder | None" = None, answerer: "AnswererFactory | None" = None) -> None:
        self.settings = settings
        use_folder(self.settings.prompts)
        use_digits(self.settings.digits)
        backends.load_plugins(self.settings.plugins)
        self._progress = progress
        self._embedder = embedder
        self._make_answerer = answerer
        self._lock = threading.RLock()
        self._index = None
        self._answerer: Any = None

    def _load(self):  # type: ignore[no-untyped-def]
        from .retrieve import Index

        with self._lock:
            if self._index is None or self._index.is_stale():
                self._index = Index(self.settings, progress=self._progress, embedder=self._embedder, previous=self._index)
                say = self._progress or (lambda _m: None)
                if self._make_answerer is not None:
                    self._answerer = self._make_answerer(self._index, self.settings, say)
                else:
                    self._answerer = backends.answerer(self.settings.reader, self._index, self.settings, say)
            return self._index, self._answerer

    def ask(self, question: str, history: list[str] | None = None, mode: str = "hybrid",
            exclude_sources: Collection[str] = (), user: str | None = rights.OWNER,
            sources: Collection[str] = ()) -> Answer:
        """Answer a question for ``user`` from the sources they may read (a follow-up is resolved against
        ``history``; ``exclude_sources`` are not searched either; ``sources``, when given, are the only ones searched)."""
        q = validate_question(question, self.settings.max_question_chars)
        history = self._askable(history)
        turn = chat.resolve_turn(q, history)
        resolved = turn.question
        index, answerer = self._load()
        exclude = set(exclude_sources) | rights.hidden_ids(index.sources, user) | _outside(index.sources, sources, user)
        passages = index.search(resolved, k=self.settings.top_k, mode=mode, exclude=exclude)
        near = self._previous_answer(history, mode, exclude) if turn.followup_of else ()
        answer = replace(backends.answer_with(answerer, q, passages, resolved, near), followup_of=turn.followup_of,
                         followup_near=tuple(dict.fromkeys(f"{c.source_id}#{c.paragraph}" for c in near)))
        if self.settings.answerer == "llm":
            from .readers.llm import generate

            answer = generate(self.settings, answer, passages, index.sources)
        return _with_pages(answer, index.sources)

    def _previous_answer(self, history: list[str], mode: str, exclude: Collection[str]) -> tuple[Citation, ...]:
        """The citations of the previous turn's answer, asked again as it was then (its own follow-up resolved
        against the turns before it): a follow-up is answered beside them first. Empty when it was refused."""
        prev = history[-1]
        turn = chat.resolve_turn(prev, history[:-1])
        index, answerer = self._load()
        passages = index.search(turn.question, k=self.settings.top_k, mode=mode, exclude=exclude)
        earlier = answerer.answer(prev, passages, resolved=turn.question)
        return () if earlier.refused else earlier.citations

    def _askable(self, history: Collection[str] | None) -> list[str]:
        """The earlier turns that could have been asked (a blank or oversized entry sent by a client is no turn)."""
        out = []
        for h in history or ():
            try:
                out.append(validate_question(h, self.settings.max_question_chars))
            except (QuestionError, AttributeError, TypeError):  # not a question: left out of the conversation
                continue
        return out

    def embed_ahead(self, requests: list[dict[str, Any]]) -> None:
        """Embed the questions of several :meth:`ask` requests in one pass of the model, ahead of answering them
        (a question that cannot be asked is left to its own ask, which says why)."""
        index, _ = self._load()
        resolved = []
        for r in requests:
            history = self._askable(r.get("history"))
            try:
                turn = chat.resolve_turn(validate_question(r["question"], self.settings.max_question_chars), history)
                resolved.append(turn.question)
                if turn.followup_of:  # the previous turn is asked again too (see _previous_answer)
                    resolved.append(chat.resolve(history[-1], history[:-1]))
            except Exception:  # noqa: BLE001
                continue
        index.embed_questions(resolved)

    def sources(self, user: str | None = rights.OWNER) -> list[Source]:
        """Indexed sources ``user`` may read, by id."""
        return sorted(rights.visible(self._manifest().values(), user), key=lambda s: s.source_id)

    def source(self, source_id: str, user: str | None = rights.OWNER) -> Source | None:
        """One indexed source with its text, or None (also when ``user`` may not read it)."""
        src = self._manifest().get(source_id)
        return src if src is not None and rights.can_see(src, user) else None

    def _manifest(self) -> dict[str, Source]:
        """The sources indexed: this home's, or on a team's Chroma server every home's."""
        if team.enabled(self.settings):
            return team.sources(self.settings)
        return store.read_manifest(store.current_generation(self.settings.index))

    def sync(self, progress: Progress | None = None) -> ingest.SyncReport:
        """Sync the sources folder into the index."""
        return ingest.sync(self.settings, progress or self._progress)

    def add_files(self, paths: list[Path], progress: Progress | None = None, owner: str = "",
                  replace_existing: bool = False, apart: bool = False) -> ingest.SyncReport:
        """Add files (shared, or private to ``owner``; ``replace_existing``: new versions of sources already there;
        ``apart``: in a lower-priority child process, so that questions asked meanwhile are not slowed)."""
        kwargs = {"settings": self.settings, "paths": paths, "owner": owner, "replace_existing": replace_existing}
        if apart:
            from . import apart as _apart

            return _apart.run("add_files", progress or self._progress, **kwargs)
        return ingest.add_files(progress=progress or self._progress, **kwargs)

    def add_text(self, title: str, text: str, progress: Progress | None = None, owner: str = "",
                 apart: bool = False) -> ingest.SyncReport:
        """Add pasted text under a title (shared, or private to ``owner``; ``apart`` as for :meth:`add_files`)."""
        kwargs = {"settings": self.settings, "title": title, "text": text, "owner": owner}
        if apart:
            from . import apart as _apart

            return _apart.run("add_text", progress or self._progress, **kwargs)
        return ingest.add_text(progress=progress or self._progress, **kwargs)

    def warm_up(self) -> float:
        """Load the model and the index now; returns the seconds it took."""
        t0 = time.perf_counter()
        self._load()
        return time.perf_counter() - t0


def build_assistant(settings: Settings | None = None, progress: Progress | None = None, *,
                    embedder: "Embedder | None" = None, answerer: "AnswererFactory | None" = None) -> Assistant:
    """The assistant assembled from settings (every backend by its registered name), or from the fakes given."""
    return Assistant(settings or load_settings(), progress, embedder=embedder, answerer=answerer)


def _with_pages(answer: Answer, sources: dict[str, Source]) -> Answer:
    """The answer with each citation's page, for citations into paged sources (PDFs, scans)."""
    if not any(sources.get(c.source_id) and sources[c.source_id].pages for c in answer.citations):
        return answer
    cites = tuple(replace(c, page=page_at(sources[c.source_id].pages, c.start)) if c.source_id in sources else c
                  for c in answer.citations)
    return replace(answer, citations=cites)


def _outside(indexed: Mapping[str, Source], scope: Collection[str], user: str | None) -> set[str]:
    """The indexed sources a question limited to ``scope`` must not search (none when no scope is given); a scope
    naming a source this user cannot read, or none at all, is said plainly rather than silently widened."""
    wanted = {str(s).strip() for s in scope if str(s).strip()}  # an id pasted with a space still names it
    if not wanted:
        return set()
    readable = set(indexed) - rights.hidden_ids(indexed, user)
    unknown = sorted(wanted - readable)
    if unknown:
        raise QuestionError("unknown_scope", ids="، ".join(unknown))
    return set(indexed) - wanted

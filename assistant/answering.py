"""Answering apart from serving: the web chat's questions are answered in one child process.

Gradio's own work for a question (HTTP, its queue, the event stream, JSON) is pure Python and costs about as
much CPU as the answer itself; in one process both share one interpreter lock, so a server on two cores used
little more than one of them however many people asked at once. The child holds the one loaded model and index
(and the trained reader when chosen), answers one question after another at full speed, and picks up a new
index generation on its next question as the serving process did; the serving process keeps the pages, the
queue and the files. Errors come back as the same exceptions (they pickle whole), so every face says the same.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Collection

from . import rights
from .config import Settings
from .models import Answer

_CHILD: Any = None  # the child's Assistant


def _start(settings: Settings, plugins: list[str]) -> None:
    import importlib

    from .service import build_assistant

    global _CHILD
    for name in plugins:
        importlib.import_module(name)
    _CHILD = build_assistant(settings)


def _ask(question: str, history: list[str] | None, mode: str, exclude: tuple[str, ...], user: str | None) -> Answer:
    return _CHILD.ask(question, history=history, mode=mode, exclude_sources=exclude, user=user)


def _warm_up() -> float:
    return float(_CHILD.warm_up())


class AnswerProcess:
    """``ask`` and ``warm_up`` of an Assistant, run in a spawned child process that holds the model and index."""

    def __init__(self, settings: Settings) -> None:
        from .backends import registering_modules

        self.settings = settings
        self._args = (settings, registering_modules())
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"), initializer=_start,
                                   initargs=self._args)

    def _call(self, fn: Any, *args: Any) -> Any:
        pool = self._pool
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool:  # the child died (killed, out of memory): start another, ask it once more
            with self._lock:
                if self._pool is pool:
                    self._pool = self._new_pool()
            return self._pool.submit(fn, *args).result()

    def ask(self, question: str, history: list[str] | None = None, mode: str = "hybrid",
            exclude_sources: Collection[str] = (), user: str | None = rights.OWNER) -> Answer:
        """As :meth:`Assistant.ask`, answered by the child."""
        return self._call(_ask, question, list(history) if history else None, mode, tuple(exclude_sources), user)

    def warm_up(self) -> float:
        """Start the child and load its model and index now; returns the seconds the loading took."""
        return self._call(_warm_up)

    def close(self) -> None:
        """Stop the child."""
        self._pool.shutdown(wait=False, cancel_futures=True)

"""Answering apart from serving: the web chat's questions are answered in one child process.

Gradio's own work for a question (HTTP, its queue, the event stream, JSON) is pure Python and costs about as
much CPU as the answer itself; in one process both share one interpreter lock, so a server on two cores used
little more than one of them however many people asked at once. The child holds the one loaded model and index
(and the trained reader when chosen), takes the questions waiting together (their embeddings in one pass of the
model, which costs about half as much CPU a question as one at a time), and picks up a new
index generation on its next question as the serving process did; the serving process keeps the pages, the
queue and the files. Errors come back as the same exceptions (they pickle whole), so every face says the same.
"""

from __future__ import annotations

import functools
import multiprocessing as mp
import queue
import threading
from concurrent.futures import Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Collection

from . import rights
from .config import Settings
from .models import Answer

_CHILD: Any = None  # the child's Assistant
MAX_BATCH = 16  # questions sent to the child at once: enough to fill one pass of the model under load


def _start(settings: Settings, plugins: list[str]) -> None:
    import importlib

    from .service import build_assistant

    global _CHILD
    for name in plugins:
        importlib.import_module(name)
    _CHILD = build_assistant(settings)


def _embed_ahead(requests: list[dict[str, Any]]) -> None:
    _CHILD.embed_ahead(requests)


def _ask(request: dict[str, Any]) -> Answer:
    return _CHILD.ask(**request)


def _warm_up() -> float:
    return float(_CHILD.warm_up())


def _failed(exc: BaseException) -> Future:
    future: Future = Future()
    future.set_exception(exc)
    return future


def _settle(caller: Future, future: Future) -> None:
    """Hand a child's answer (or error) to the one who asked; a dead child is left to the dispatcher."""
    if future.cancelled():  # the chat is closing
        caller.cancel()
        return
    exc = future.exception()
    if isinstance(exc, BrokenProcessPool):
        return
    if exc is not None:
        caller.set_exception(exc)
    else:
        caller.set_result(future.result())


class AnswerProcess:
    """``ask`` and ``warm_up`` of an Assistant, run in a spawned child process that holds the model and index."""

    def __init__(self, settings: Settings) -> None:
        from .backends import registering_modules

        self.settings = settings
        self._args = (settings, registering_modules())
        self._lock = threading.Lock()
        self._pool = self._new_pool()
        self._waiting: queue.SimpleQueue[tuple[dict[str, Any], Future] | None] = queue.SimpleQueue()
        threading.Thread(target=self._dispatch, name="answer-batches", daemon=True).start()

    def _dispatch(self) -> None:
        """Send the questions waiting to the child together: their embeddings in one pass of the model, then
        each answered and returned as soon as it is ready, while the next batch gathers."""
        while (first := self._waiting.get()) is not None:
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    item = self._waiting.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._waiting.put(None)
                    break
                batch.append(item)
            pool = self._pool
            try:
                if len(batch) > 1:
                    pool.submit(_embed_ahead, [request for request, _ in batch])
                asked = [pool.submit(_ask, request) for request, _ in batch]
            except (BrokenProcessPool, RuntimeError) as exc:  # a dead child, or the chat closing
                asked = [_failed(exc) for _ in batch]
            for (_, caller), future in zip(batch, asked):
                future.add_done_callback(functools.partial(_settle, caller))
            wait(asked)
            for (request, caller), future in zip(batch, asked):  # a child that died: another one asks again
                if not future.cancelled() and isinstance(future.exception(), BrokenProcessPool):
                    try:
                        caller.set_result(self._call(_ask, request))
                    except BaseException as exc:  # noqa: BLE001  (its caller hears of it)
                        caller.set_exception(exc)

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
            exclude_sources: Collection[str] = (), user: str | None = rights.OWNER,
            sources: Collection[str] = ()) -> Answer:
        """As :meth:`Assistant.ask`, answered by the child (with the other questions asked meanwhile)."""
        future: Future = Future()
        self._waiting.put(({"question": question, "history": list(history) if history else None, "mode": mode,
                            "exclude_sources": tuple(exclude_sources), "user": user, "sources": tuple(sources)}, future))
        return future.result()

    def warm_up(self) -> float:
        """Start the child and load its model and index now; returns the seconds the loading took."""
        return self._call(_warm_up)

    def close(self) -> None:
        """Stop the child."""
        self._waiting.put(None)
        self._pool.shutdown(wait=False, cancel_futures=True)

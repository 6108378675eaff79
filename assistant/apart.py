"""Indexing apart from answering: the web chat's uploads run in a child process at a lower CPU priority.

In the serving process an upload's embedding ran in a worker thread beside the questions: the model's native
threads took both cores and the Python half of indexing held the interpreter lock, so every question waited.
A child process, niced like ``assistant add``, leaves the scheduler free to put questions first; the index's
writer lock and its atomic generations are unchanged, and the serving process picks the new generation up on
its next question. Progress messages and the result (or the error) come back over a queue.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
from typing import Any, Callable

NICE = 10
POLL_SECONDS = 0.2


def run(fn: str, progress: Callable[[str], None] | None, /, **kwargs: Any) -> Any:
    """``assistant.ingest.<fn>(settings..., progress=..., **kwargs)`` run in a niced child process; its result,
    or its exception raised here. The child is spawned (never forked from a threaded server)."""
    from .backends import registering_modules

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    child = ctx.Process(target=_child, args=(fn, kwargs, registering_modules(), q), daemon=True, name=f"assistant-{fn}")
    child.start()
    try:
        while True:
            try:
                kind, value = q.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if not child.is_alive():
                    raise RuntimeError(f"the indexing process ended without an answer (exit {child.exitcode})") from None
                continue
            if kind == "progress":
                if progress is not None:
                    progress(value)
            elif kind == "done":
                return value
            else:
                raise value
    finally:
        child.join(timeout=30)
        if child.is_alive():  # pragma: no cover - a child that will not finish after its answer
            child.kill()


def _child(fn: str, kwargs: dict[str, Any], plugins: list[str], q: Any) -> None:
    try:
        os.nice(NICE)
    except (OSError, AttributeError):  # not permitted here: index at the same priority
        pass
    try:
        import importlib

        from . import ingest

        for name in plugins:
            importlib.import_module(name)

        result = getattr(ingest, fn)(progress=lambda m: q.put(("progress", str(m))), **kwargs)
        q.put(("done", result))
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller, who reports it
        try:
            import pickle

            pickle.dumps(exc)
            q.put(("error", exc))
        except Exception:  # noqa: BLE001 - an error that cannot travel is sent as its description
            q.put(("error", RuntimeError(f"{type(exc).__name__}: {exc}"[:2000])))

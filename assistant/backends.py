"""The kinds of backend the assistant is built from, each a small protocol, and the registries that name them.

A backend is chosen by a setting (``embed_model``, ``reader``) and found here by name. A new one is one class
and one ``register_*`` call, from this package or from a plugin module named in the ``plugins`` setting
(imported when the assistant is assembled; the tests register their fakes this way). Built-in backends are
named by ``"module:function"`` strings and imported only when chosen, so that naming them costs nothing.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Collection, Protocol, Sequence, Union, runtime_checkable

if TYPE_CHECKING:
    from .config import Settings
    from .models import Answer, Passage

Progress = Callable[[str], None]


@runtime_checkable
class Embedder(Protocol):
    """Turns questions and passages into vectors (llama-index's ``BaseEmbedding`` is one)."""

    def get_query_embedding(self, query: str) -> list[float]:
        """The vector of a question."""

    def get_text_embedding_batch(self, texts: list[str], show_progress: bool = False) -> list[list[float]]:
        """The vectors of passages, in order."""


@runtime_checkable
class Retriever(Protocol):
    """Finds the passages most likely to answer a question."""

    def search(self, question: str, k: int | None = None, mode: str = "hybrid",
               exclude: Collection[str] = ()) -> list["Passage"]:
        """The best ``k`` passages (sources in ``exclude`` left out)."""


@runtime_checkable
class Answerer(Protocol):
    """Writes the answer (or the refusal) from the retrieved passages."""

    def answer(self, question: str, passages: Sequence["Passage"], resolved: str = "") -> "Answer":
        """The answer to ``question`` (``resolved``: the question with a follow-up's subject filled in).

        An answerer may also take ``near``: the citations of the previous turn's answer, beside which a
        follow-up's answer is looked for first (see :func:`answer_with`)."""


EmbedderFactory = Callable[[str, Path, Progress], Embedder]  # (setting value, cache folder, progress)
AnswererFactory = Callable[[Any, "Settings", Progress], Answerer]  # (the loaded retrieve.Index, settings, progress)
_Entry = Union[str, Callable]

FALLBACK_EMBEDDER = "sentence-transformers"  # any other embed_model value: a sentence-transformers id or folder
EMBEDDERS: dict[str, _Entry] = {
    "e5-small": "assistant.embedding:load_e5_small",
    "e5-small-int8": "assistant.embedding:load_e5_small_int8",
    "e5-small-torch": "assistant.embedding:load_e5_small_torch",
    FALLBACK_EMBEDDER: "assistant.embedding:load_sentence_transformer",
}
ANSWERERS: dict[str, _Entry] = {
    "rules": "assistant.readers.rules:rules_answerer",
    "trained": "assistant.readers.trained.answerer:trained_answerer",
    "combined": "assistant.readers.combined:combined_answerer",
}
_LOADED: dict[tuple[str, str], Embedder] = {}
_LOCK = threading.Lock()


def register_embedder(name: str, factory: EmbedderFactory) -> None:
    """Make ``factory`` the embedder named ``name`` (the value of the ``embed_model`` setting)."""
    EMBEDDERS[name] = factory


def register_answerer(name: str, factory: AnswererFactory) -> None:
    """Make ``factory`` the answerer named ``name`` (the value of the ``reader`` setting)."""
    ANSWERERS[name] = factory


def registering_modules() -> list[str]:
    """The modules outside this package that registered a backend in this process (a child process imports them
    to know the same backends)."""
    mods = {getattr(e, "__module__", "") for e in (*EMBEDDERS.values(), *ANSWERERS.values()) if callable(e)}
    return sorted(m for m in mods if m and m != "__main__" and not m.startswith("assistant"))


def _resolve(entry: _Entry) -> Callable:
    if callable(entry):
        return entry
    module, _, attr = entry.partition(":")
    return getattr(importlib.import_module(module), attr)


def load_plugins(modules: str) -> None:
    """Import the comma-separated plugin modules (each registers its backends when imported)."""
    from .errors import UserError

    for name in filter(None, (m.strip() for m in modules.split(","))):
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise UserError("plugin_missing", name=name, error=str(exc)[:200]) from None


def embedder(spec: str, cache_dir: Path, progress: Progress | None = None) -> Embedder:
    """The embedder for a setting value, loaded once per process and cache folder."""
    key = (spec, str(Path(cache_dir).expanduser().resolve()))
    with _LOCK:
        model = _LOADED.get(key)
        if model is None:
            factory = _resolve(EMBEDDERS.get(spec, EMBEDDERS[FALLBACK_EMBEDDER]))
            model = _LOADED[key] = factory(spec, Path(cache_dir).expanduser(), progress or (lambda _m: None))
        return model


def embedder_for(settings: "Settings", progress: Progress | None = None) -> Embedder:
    """The embedder the settings call for (the trained reader's span head runs on its own ONNX graph)."""
    return embedder(settings.embed_model, settings.cache_dir, progress)


def answerer(name: str, index: Any, settings: "Settings", progress: Progress | None = None) -> Answerer:
    """The answerer named by the ``reader`` setting, over ``index``."""
    if name not in ANSWERERS:
        from .errors import UserError

        raise UserError("reader_unknown", name=name, known="، ".join(sorted(ANSWERERS)))
    return _resolve(ANSWERERS[name])(index, settings, progress or (lambda _m: None))


def answer_with(answerer: Answerer, question: str, passages: Sequence["Passage"], resolved: str = "",
                near: Sequence[Any] = ()) -> "Answer":
    """``answerer.answer``, passing a follow-up's ``near`` (the previous answer's citations) to answerers that take it."""
    if near and _takes_near(type(answerer)):
        return answerer.answer(question, passages, resolved=resolved, near=tuple(near))  # type: ignore[call-arg]
    return answerer.answer(question, passages, resolved=resolved)


@functools.lru_cache(maxsize=None)
def _takes_near(kind: type) -> bool:
    try:
        return "near" in inspect.signature(kind.answer).parameters
    except (TypeError, ValueError, AttributeError):
        return False

"""Two costs Gradio pays on every call that this app never uses, taken off the serving process.

Profiled with py-spy under 20 concurrent API clients (2 cores), the serving process, not the answering child,
was the bottleneck, and half of its CPU went to two things:

- Gradio's queue rebuilt a pandas table of its last 10,000 events after every event, for its monitoring page
  (`GRADIO_ANALYTICS_CACHE_FREQUENCY`, `GRADIO_ANALYTICS_MAX_EVENTS`; set in ``web.py`` before Gradio loads).
- Every call without a browser session (each structured-API call) builds a fresh ``SessionState``, which at once
  renders the configuration of every block of the page (inspecting each component's signature) for deep links,
  and drops it when the call ends. Here that table is filled the first time something reads it, as it was before.

The second one replaces ``SessionState.__init__`` of the Gradio release pinned in ``constraints.txt``; if a
later release changes that method, nothing is replaced and Gradio runs as shipped.
"""

from __future__ import annotations

import inspect
import logging
import os
from copy import copy
from typing import Any, Callable

log = logging.getLogger(__name__)
ORIGINAL: list[Callable[..., None]] = []  # Gradio's own SessionState.__init__, once replaced
_EXPECTED = ("self.blocks_config = copy(blocks.default_config)", "self.config_values = {", "self.state_data",
             "self._state_ttl", "self.is_closed", "self.STATE_TTL_WHEN_CLOSED")


class LazyConfigValues(dict):
    """``SessionState.config_values``, computed on first read; entries written before then win, as they would."""

    def __init__(self, fill: Callable[[], dict]) -> None:
        super().__init__()
        self._fill: Callable[[], dict] | None = fill

    def _ready(self) -> None:
        if self._fill is not None:
            fill, self._fill = self._fill, None
            merged = {**fill(), **dict(super().items())}
            super().clear()
            super().update(merged)

    def __getitem__(self, key: Any) -> Any:
        self._ready()
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._ready()
        return super().__contains__(key)

    def __iter__(self):  # type: ignore[no-untyped-def]
        self._ready()
        return super().__iter__()

    def __len__(self) -> int:
        self._ready()
        return super().__len__()

    def __eq__(self, other: object) -> bool:
        self._ready()
        return super().__eq__(other)

    __hash__ = None  # type: ignore[assignment]

    def get(self, key: Any, default: Any = None) -> Any:
        self._ready()
        return super().get(key, default)

    def items(self):  # type: ignore[no-untyped-def]
        self._ready()
        return super().items()

    def keys(self):  # type: ignore[no-untyped-def]
        self._ready()
        return super().keys()

    def values(self):  # type: ignore[no-untyped-def]
        self._ready()
        return super().values()


def _lazy_session_init(self: Any, blocks: Any) -> None:
    """Gradio's ``SessionState.__init__`` with ``config_values`` filled on first read."""
    self.blocks_config = copy(blocks.default_config)
    config = self.blocks_config
    self.config_values = LazyConfigValues(lambda: {k: config.config_for_block(k, [], v)
                                                   for k, v in config.blocks.items() if k in blocks.blocks})
    self.state_data = {}
    self._state_ttl = {}
    self.is_closed = False
    self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST", None) else 3600


def install() -> bool:
    """Replace ``SessionState.__init__`` when it is the one this module was written against; True when done."""
    from gradio import state_holder

    cls = state_holder.SessionState
    if cls.__init__ is _lazy_session_init:
        return True
    try:
        source = inspect.getsource(cls.__init__)
    except (OSError, TypeError):
        return False
    if not all(part in source for part in _EXPECTED) or source.count("self.") != 8:
        log.warning("Gradio's SessionState changed; its per-call configuration is left as shipped")
        return False
    ORIGINAL.append(cls.__init__)
    cls.__init__ = _lazy_session_init  # type: ignore[method-assign]
    return True

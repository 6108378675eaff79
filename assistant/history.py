"""Conversations kept on the server per user (with accounts), so a reload, a restart or another device finds them.

Anonymous visitors keep theirs in the browser (``gr.BrowserState``); nothing about them is stored here.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

MAX_TURNS = 200  # older turns are dropped: a conversation file stays small


class History:
    """One JSON file of turns per user under ``HOME/history/``, written atomically."""

    def __init__(self, home: Path) -> None:
        self.folder = Path(home) / "history"

    def _path(self, user: str) -> Path:
        return self.folder / f"{hashlib.sha256(user.encode('utf-8')).hexdigest()[:32]}.json"

    def _read(self, user: str) -> dict[str, Any]:
        try:
            data = json.loads(self._path(user).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def load(self, user: str) -> list[dict[str, Any]]:
        """The user's current conversation, oldest turn first (none when there is none or the file is unreadable)."""
        turns = self._read(user).get("turns")
        return [t for t in turns if isinstance(t, dict)] if isinstance(turns, list) else []

    def load_chats(self, user: str) -> list[dict[str, Any]]:
        """The user's past conversations, newest first."""
        chats = self._read(user).get("chats")
        return chats if isinstance(chats, list) else []

    def save(self, user: str, turns: list[dict[str, Any]] | None = None, chats: list[dict[str, Any]] | None = None) -> None:
        """Replace the user's current conversation (its last MAX_TURNS turns) and/or past conversations."""
        data = self._read(user)
        if turns is not None:
            data["turns"] = turns[-MAX_TURNS:]
        if chats is not None:
            data["chats"] = chats
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(user)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**data, "user": user}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, path)

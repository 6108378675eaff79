"""Past conversations: kept beside the current one, opened, renamed, deleted, and exported as Markdown.

A conversation is a list of turns (``{"question", "answer", "resolved"?, "error"?}``, the answer being
``Answer.to_dict()``); the archive is a list of ``{"id", "title", "turns"}``, newest first. Plain data in,
plain data out: the web chat keeps it in the browser, or on the server for a signed-in user.
"""

from __future__ import annotations

import secrets
from typing import Any

Turns = list[dict[str, Any]]
Chats = list[dict[str, Any]]
MAX_CHATS = 50
TITLE_CHARS = 60


def title_of(turns: Turns) -> str:
    """A conversation's default title: its first question, shortened."""
    q = " ".join(str(turns[0].get("question", "")).split()) if turns else ""
    return q if len(q) <= TITLE_CHARS else q[: TITLE_CHARS - 1].rstrip() + "…"


def clean(chats: Any) -> Chats:
    """The archive as stored, with anything malformed dropped (it comes back from a browser)."""
    out = []
    for c in chats if isinstance(chats, list) else []:
        if isinstance(c, dict) and isinstance(c.get("turns"), list) and c.get("id"):
            out.append({"id": str(c["id"]), "title": str(c.get("title") or title_of(c["turns"])), "turns": c["turns"]})
    return out[:MAX_CHATS]


def archive(turns: Turns, chats: Any) -> Chats:
    """The archive with the current conversation put first (nothing added for an empty one)."""
    chats = clean(chats)
    if not turns:
        return chats
    return [{"id": secrets.token_hex(6), "title": title_of(turns), "turns": list(turns)}, *chats][:MAX_CHATS]


def open_chat(chat_id: str, turns: Turns, chats: Any) -> tuple[Turns, Chats]:
    """(the chosen conversation, the archive without it and with the current one kept)."""
    chats = clean(chats)
    chosen = next((c for c in chats if c["id"] == chat_id), None)
    if chosen is None:
        return list(turns), chats
    rest = [c for c in chats if c["id"] != chat_id]
    return list(chosen["turns"]), archive(turns, rest)


def rename(chat_id: str, title: str, chats: Any) -> Chats:
    """The archive with one conversation renamed (an empty name keeps the old one)."""
    title = " ".join((title or "").split())[:TITLE_CHARS]
    return [{**c, "title": title or c["title"]} if c["id"] == chat_id else c for c in clean(chats)]


def delete(chat_id: str, chats: Any) -> Chats:
    """The archive without one conversation."""
    return [c for c in clean(chats) if c["id"] != chat_id]


def choices(chats: Any) -> list[tuple[str, str]]:
    """(label, id) pairs for a menu of past conversations."""
    return [(c["title"] or "…", c["id"]) for c in clean(chats)]


def to_markdown(turns: Turns, heading: str, labels: dict[str, str]) -> str:
    """The conversation as Markdown: each question, its answer, and the quoted passages it cites."""
    lines = [f"# {heading}", ""]
    for tn in turns:
        lines += [f"## {labels['question']}: {tn.get('question', '')}", ""]
        answer = tn.get("answer") or {}
        lines += [str(answer.get("answer") or tn.get("error") or ""), ""]
        for c in answer.get("citations") or []:
            where = f"{c.get('title', '')} — {labels['paragraph']} {c.get('paragraph', '')}"
            lines += [f"- [{c.get('n', '')}] {where}", f"  > {c.get('quote', '')}"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"

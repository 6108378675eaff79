"""Markdown files: YAML front matter as metadata, the body as plain text read through markdown-it's token stream.

Citations quote the words a person reads, never the markup: headings, emphasis, links, images (their alt text),
block quotes, lists, tables (a row a line, cells joined by " | "), code (the code kept) and HTML blocks (their
text) are handled as CommonMark parses them, not by patterns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

from ..encodings import decode
from ..frontmatter import split_front_matter

_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_INLINE_TEXT = {"text", "code_inline"}
_INLINE_BREAKS = {"softbreak", "hardbreak"}


def _inline(token: Token) -> str:
    """The words of an inline token: markup dropped, images as their alt text, line breaks kept."""
    out: list[str] = []
    for child in token.children or []:
        if child.type in _INLINE_TEXT:
            out.append(child.content)
        elif child.type in _INLINE_BREAKS:
            out.append("\n")
        elif child.type == "image":
            out.append(_inline(child))
    return "".join(out).strip()


def _html_text(html: str) -> str:
    """The text of an HTML block (comments and tags dropped)."""
    from bs4 import BeautifulSoup, Comment

    soup = BeautifulSoup(html, "html.parser")
    for c in soup.find_all(string=lambda s: isinstance(s, Comment)):
        c.extract()
    return soup.get_text().strip()


_CONTAINERS = {"bullet_list_open", "ordered_list_open", "table_open"}


def _blocks(tokens: Sequence[Token]) -> list[tuple[str, int]]:
    """(text, top-level list or table it belongs to, 0 for none) for every block of the document."""
    out: list[tuple[str, int]] = []
    row: list[str] | None = None
    container = depth = 0
    markers: list[str] = []  # the marker of each item being read ("1." in ordered lists, "" for bullets)
    for tok in tokens:
        if tok.type in _CONTAINERS:
            container += depth == 0
            depth += 1
        elif tok.type in ("bullet_list_close", "ordered_list_close", "table_close"):
            depth -= 1
        elif tok.type == "list_item_open":
            markers.append(f"{tok.info}{tok.markup} " if tok.markup in (".", ")") else "")
        elif tok.type == "list_item_close":
            markers.pop()
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "tr_close" and row is not None:
            out.append((" | ".join(row), container))
            row = None
        elif tok.type == "inline":
            text = _inline(tok)
            if row is not None:
                row.append(text)
            elif text:
                out.append(((markers[-1] if markers else "") + text, container if depth else 0))
                if markers:
                    markers[-1] = ""  # an item's later paragraphs carry no marker
        elif tok.type in ("fence", "code_block") and tok.content.strip():
            out.append((tok.content.strip("\n"), container if depth else 0))
        elif tok.type == "html_block" and _html_text(tok.content):
            out.append((_html_text(tok.content), container if depth else 0))
    return out


def to_text(markdown: str) -> str:
    """Plain text of a Markdown document: one paragraph a block, list items and table rows one a line."""
    parts: list[str] = []
    previous = 0
    for text, container in _blocks(_PARSER.parse(markdown)):
        tight = bool(container) and container == previous
        parts.append(("\n" if tight else "\n\n" if parts else "") + text)
        previous = container
    return "".join(parts)


def read_markdown(path: Path, data: bytes) -> tuple[dict[str, Any], str]:
    """A Markdown file: YAML front matter as metadata, the body as plain text."""
    meta, body = split_front_matter(decode(data))
    return meta, to_text(body)

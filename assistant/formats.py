"""Readers for rich document formats (HTML, DOCX, PDF), registered into ``sources.READERS``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .sources import READERS, SourceError, decode_bytes, split_front_matter

_DROP_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "svg", "button", "template")
_DROP_HINTS = re.compile(r"share|social|advert|\bads?\b|banner|promo|related|comment|cookie|newsletter|breadcrumb|menu|sidebar|footer|nav", re.I)
_BLOCKS = ("p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "td", "th", "dd", "dt", "figcaption")


def read_html(path: Path, data: bytes) -> tuple[dict[str, Any], str]:
    """Main text of an HTML page: scripts, styles, navigation, share buttons and ad blocks removed."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_bytes(data), "html.parser")
    meta: dict[str, Any] = {}
    if soup.title and soup.title.get_text(strip=True):
        meta["title"] = soup.title.get_text(strip=True)
    for name in ("og:url", "canonical"):
        tag = soup.find("meta", property=name) or soup.find("link", rel=name)
        if tag and (tag.get("content") or tag.get("href")):
            meta["url"] = tag.get("content") or tag.get("href")
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.attrs is None:
            continue
        hints = " ".join([*(tag.get("class") or []), tag.get("id") or "", tag.get("role") or ""])
        if hints.strip() and _DROP_HINTS.search(hints) and tag.name not in ("html", "body", "main", "article"):
            tag.decompose()
    root = soup.find("article") or soup.find("main") or soup.body or soup
    blocks = [b.get_text(" ", strip=True) for b in root.find_all(_BLOCKS)]
    text = "\n\n".join(b for b in blocks if b) or root.get_text("\n", strip=True)
    return meta, re.sub(r"[ \t]+", " ", text)


READERS.update({".html": read_html, ".htm": read_html})

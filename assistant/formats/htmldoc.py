"""HTML pages: the main text, with scripts, styles, navigation, share buttons and ad blocks removed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..encodings import decode
from ..errors import SourceError

_DROP_TAGS = ("script", "style", "noscript", "nav", "header", "footer", "aside", "form", "iframe", "svg", "button",
              "template", "object", "embed", "canvas", "select", "dialog", "input", "textarea", "link", "meta")
# class / id / role words that mark page furniture rather than the article
_JUNK_WORDS = {"share", "sharing", "sharer", "social", "ad", "ads", "advert", "adverts", "advertisement", "adsbygoogle",
               "adslot", "sponsor", "sponsored", "banner", "promo", "related", "comment", "comments", "cookie",
               "cookies", "consent", "newsletter", "breadcrumb", "breadcrumbs", "menu", "sidebar", "footer", "nav",
               "navbar", "navigation", "popup", "modal", "subscribe", "subscription", "tags", "toolbar", "widget",
               "outbrain", "taboola", "dfp", "gpt"}
_BLOCK_TAGS = ("p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol",
               "blockquote", "pre", "table", "tr", "dd", "dt", "dl", "figure", "figcaption", "header", "address", "hr")
_CELL_TAGS = ("td", "th")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._-]+)""", re.I)
_DATE_META = ("article:published_time", "og:published_time", "datePublished", "pubdate", "publishdate", "date",
              "dc.date", "DC.date.issued", "article:modified_time")


def _is_junk(tag) -> bool:  # type: ignore[no-untyped-def]
    words = " ".join([*(tag.get("class") or []), tag.get("id") or "", tag.get("role") or ""])
    parts = {w for w in re.split(r"[\s_\-:]+", words.lower()) if w}
    return bool(parts & _JUNK_WORDS) or tag.get("role") in ("navigation", "banner", "complementary", "contentinfo")


def read_html(path: Path, data: bytes) -> tuple[dict[str, Any], str]:
    """Main text of an HTML page: scripts, styles, navigation, share buttons and ad blocks removed."""
    from bs4 import BeautifulSoup, Comment, NavigableString

    m = _META_CHARSET.search(data[:4096])
    text = decode(data, declared=m.group(1).decode("ascii", "ignore") if m else None)
    try:
        soup = BeautifulSoup(text, "html.parser")
    except Exception:  # noqa: BLE001 - html.parser rarely fails, but a reader must never crash a batch
        raise SourceError("corrupt") from None
    meta: dict[str, Any] = {}
    og_title = soup.find("meta", property="og:title")
    if og_title and og_title.get("content", "").strip():
        meta["title"] = og_title["content"].strip()
    elif soup.title and soup.title.get_text(strip=True):
        meta["title"] = soup.title.get_text(strip=True)
    for tag in (soup.find("meta", property="og:url"), soup.find("link", rel="canonical")):
        if tag and (tag.get("content") or tag.get("href")):
            meta["url"] = (tag.get("content") or tag.get("href")).strip()
            break
    date = _html_date(soup)
    if date:
        meta["date"] = date
    for c in soup.find_all(string=lambda s: isinstance(s, Comment)):
        c.extract()
    for tag in soup(_DROP_TAGS):
        tag.decompose()
    body = soup.body or soup
    total = len(body.get_text(" ", strip=True)) or 1
    for tag in body.find_all(True):
        if getattr(tag, "decomposed", False) or tag.attrs is None or tag.name in ("body", "html"):
            continue
        # page furniture by its class or role, unless it holds most of the page's text (a badly named wrapper)
        if _is_junk(tag) and len(tag.get_text(" ", strip=True)) < 0.5 * total:
            tag.decompose()
    candidates = body.find_all(["article", "main"]) or [body]
    root = max(candidates, key=lambda t: len(t.get_text(" ", strip=True)))
    for node in root.find_all(string=True):
        if not isinstance(node, Comment) and node.parent is not None and node.parent.name != "pre":
            node.replace_with(NavigableString(re.sub(r"\s+", " ", str(node))))
    for br in root.find_all("br"):
        br.replace_with("\n")
    for tag in root.find_all(_CELL_TAGS):
        tag.insert_after(" | ")
    for tag in root.find_all(_BLOCK_TAGS):
        tag.insert_before("\n\n")
        tag.insert_after("\n\n")
    paragraphs = []
    for block in re.split(r"\n\s*\n", root.get_text()):
        lines = [re.sub(r"[ \t]+", " ", ln).strip(" |") .strip() for ln in block.split("\n")]
        para = "\n".join(ln for ln in lines if ln)
        if para:
            paragraphs.append(para)
    return meta, "\n\n".join(paragraphs)


def _html_date(soup) -> str:  # type: ignore[no-untyped-def]
    for name in _DATE_META:
        tag = soup.find("meta", attrs={"property": name}) or soup.find("meta", attrs={"name": name}) \
            or soup.find("meta", attrs={"itemprop": name})
        if tag and tag.get("content"):
            return iso_date(tag["content"])
    t = soup.find("time", attrs={"datetime": True})
    return iso_date(t["datetime"]) if t else ""


def iso_date(value: str) -> str:
    """The YYYY-MM-DD date at the start of a value, or an empty string."""
    m = re.match(r"\s*(\d{4})-?(\d{2})-?(\d{2})", value or "")
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else ""


"""Pages of paged sources (PDFs, scans): readers mark where each page starts; the marks become offsets.

A reader puts ``PAGE_MARK`` (a private-use character no document holds) at the start of every page's text;
once the text is cleaned, :func:`split_pages` removes the marks and returns where each page starts, so that a
citation's offset tells its page whatever cleaning moved.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Sequence

PAGE_MARK = "\ue000"


def split_pages(text: str) -> tuple[str, tuple[int, ...]]:
    """(the text without marks, the offset where each marked page starts); no marks: (text, ())."""
    if PAGE_MARK not in text:
        return text, ()
    pieces = text.split(PAGE_MARK)
    out, starts, pos = [pieces[0]], [], len(pieces[0])
    for piece in pieces[1:]:
        starts.append(pos)
        out.append(piece)
        pos += len(piece)
    return "".join(out), tuple(starts)


def page_at(starts: Sequence[int], offset: int) -> int:
    """The 1-based page holding ``offset`` (0 for a source without pages)."""
    return bisect_right(list(starts), offset) if starts else 0

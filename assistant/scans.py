"""OCR'd pages kept for the viewer: each page's image and its lines with their boxes, so that a citation into a
scan can show the page with the cited lines boxed.

They are written when a scan is read (under ``index/scans/<sha256 of the file>/``, beside the index generations,
one JPEG a page and a ``lines.json``), and found again from the source's ``file_hash``: the generations, copied
on every write, stay text only.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from . import arabic

SCANS_DIRNAME = "scans"
THUMB_WIDTH = 1000  # pixels: enough to read a page in the viewer, ~100 KB as JPEG
MIN_SHARE = 0.6  # a line is cited when this share of its words is in the quote


@dataclass(frozen=True)
class ScanLine:
    """One OCR'd line: its text, Tesseract's mean confidence in its words (0-100), its box on the cleaned page
    image (x0, y0, x1, y1 in pixels) and the (block, paragraph) of the page layout it belongs to."""

    text: str
    confidence: float
    box: tuple[int, int, int, int] = (0, 0, 0, 0)
    paragraph: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class ScanPage:
    """One OCR'd page: the size its boxes refer to, its image as JPEG bytes, and its lines."""

    width: int
    height: int
    jpeg: bytes
    lines: tuple[ScanLine, ...]


def thumbnail(img: Any) -> bytes:
    """The page image as a JPEG at most ``THUMB_WIDTH`` wide (boxes are kept relative to the full size)."""
    small = img.convert("L")
    if small.width > THUMB_WIDTH:
        small = small.resize((THUMB_WIDTH, round(small.height * THUMB_WIDTH / small.width)))
    buf = io.BytesIO()
    small.save(buf, format="JPEG", quality=70, optimize=True)
    return buf.getvalue()


def save(folder: Path, key: str, pages: Sequence[ScanPage]) -> None:
    """Keep a scan's pages under ``folder/key`` (written aside, then renamed into place whole)."""
    target = Path(folder) / key
    if target.is_dir() or not pages:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-", dir=target.parent))
    try:
        meta = []
        for n, page in enumerate(pages, start=1):
            (work / f"page-{n:04d}.jpg").write_bytes(page.jpeg)
            meta.append({"width": page.width, "height": page.height, "lines": [asdict(line) for line in page.lines]})
        (work / "lines.json").write_text(json.dumps({"pages": meta}, ensure_ascii=False), encoding="utf-8")
        work.chmod(0o755)
        os.replace(work, target)
    except OSError:  # a full disk or a race with another writer: the viewer shows text only, nothing breaks
        pass
    finally:
        shutil.rmtree(work, ignore_errors=True)


def load_page(folder: Path, key: str, page: int) -> ScanPage | None:
    """Page ``page`` (1-based) of the scan kept under ``key``, or None when it was not kept."""
    if not key or page < 1:
        return None
    base = Path(folder) / key
    try:
        meta = json.loads((base / "lines.json").read_text(encoding="utf-8"))["pages"][page - 1]
        jpeg = (base / f"page-{page:04d}.jpg").read_bytes()
    except (OSError, ValueError, KeyError, IndexError):
        return None
    lines = tuple(ScanLine(str(d["text"]), float(d["confidence"]), tuple(int(v) for v in d["box"]),  # type: ignore[arg-type]
                           tuple(int(v) for v in d.get("paragraph", (0, 0))))  # type: ignore[arg-type]
                  for d in meta["lines"])
    return ScanPage(int(meta["width"]), int(meta["height"]), jpeg, lines)


def cited_boxes(page: ScanPage, quote: str) -> list[tuple[float, float, float, float]]:
    """Boxes (left, top, width, height in % of the page) of the lines whose words are mostly in ``quote``."""
    quoted = {arabic.normalize(w) for w in arabic.words(quote)}
    boxes = []
    for line in page.lines:
        words = [arabic.normalize(w) for w in arabic.words(line.text)]
        if len(words) < 2 or sum(w in quoted for w in words) < MIN_SHARE * len(words):
            continue
        x0, y0, x1, y1 = line.box
        boxes.append((100 * x0 / page.width, 100 * y0 / page.height,
                      100 * (x1 - x0) / page.width, 100 * (y1 - y0) / page.height))
    return boxes

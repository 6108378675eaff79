"""Arabic OCR, offline: photographed pages and scans read by Tesseract with its Arabic model.

Pages are cleaned first (greyscale, specks removed by a median filter, contrast stretched, straightened by the
skew of their text lines, brought to 2000-3000 pixels, rotated upright by Tesseract's orientation detection when
it is sure), then read line by line; a band of ink that Tesseract's layout analysis dropped is read again on its
own. Each line keeps Tesseract's mean word confidence. Bounds: at most ``max_pages`` pages a document and ``page_seconds`` a page (the ``max_pages`` and
``ocr_page_seconds`` settings, set for a run with :func:`bounds`); an image over ``MAX_PIXELS`` (a
decompression bomb) is refused before it is decoded. Progress is reported page by page through :func:`bounds`.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import threading
from collections import OrderedDict
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .. import arabic, scans
from ..errors import SourceError
from ..pages import PAGE_MARK

MAX_PAGES = 200  # defaults of the ``max_pages`` and ``ocr_page_seconds`` settings
PAGE_SECONDS = 60.0
MAX_PIXELS = 60_000_000  # ~ an A4 page at 600 dpi is 35 Mpx
LANG = "ara"  # alone: with "ara+eng", Arabic words came out as Latin garbage (CER 5.3% -> 1.9% on the test scan)
MIN_SIDE = 2000  # pixels (an A4 page at ~170 dpi): smaller scans are enlarged before reading; at 1400, bold text
# photographed at 150 dpi came out with 13 % of its characters wrong, 1.1 % at 2000 (tests/test_ocr.py)
MAX_SIDE = 3000  # larger pages are reduced: an A4 page at 300 dpi (3508 px) lost its whole first line in
# Tesseract 5 (CER 0.33 on the test page), read whole at 3000 and below


@dataclass(frozen=True)
class Bounds:
    """How far OCR may go for one run, and whom to tell of each page read (page number, pages in all)."""

    max_pages: int = MAX_PAGES
    page_seconds: float = PAGE_SECONDS
    progress: Callable[[int, int], None] | None = None
    keep_dir: Path | None = None  # where page images and line boxes are kept for the viewer (none: not kept)


_BOUNDS: ContextVar[Bounds] = ContextVar("ocr_bounds", default=Bounds())


@contextmanager
def bounds(max_pages: int = MAX_PAGES, page_seconds: float = PAGE_SECONDS,
           progress: Callable[[int, int], None] | None = None, keep_dir: Path | None = None) -> Iterator[Bounds]:
    """Within this block, OCR reads at most ``max_pages`` pages of ``page_seconds`` each, reporting each page
    and keeping page images with their line boxes under ``keep_dir``."""
    token = _BOUNDS.set(Bounds(max_pages, page_seconds, progress, keep_dir))
    try:
        yield _BOUNDS.get()
    finally:
        _BOUNDS.reset(token)


def check_pages(n: int) -> None:
    """SourceError('too_many_pages') when a document has more pages than the run allows."""
    limit = _BOUNDS.get().max_pages
    if n > limit:
        raise SourceError("too_many_pages", limit=limit, pages=n)


Line = scans.ScanLine  # one OCR'd line: text, confidence, box and layout paragraph (kept as is for the viewer)


def available() -> bool:
    """Whether the Tesseract engine and its Arabic model are installed."""
    if shutil.which("tesseract") is None:
        return False
    try:
        import pytesseract

        return "ara" in pytesseract.get_languages(config="")
    except Exception:  # noqa: BLE001 - an engine that cannot even list its languages is not usable
        return False


def _prepare(img: Any) -> Any:
    from PIL import Image, ImageFilter, ImageOps

    img = ImageOps.exif_transpose(img).convert("L")
    img = img.filter(ImageFilter.MedianFilter(3))  # specks and sensor noise, before they are read as dots and marks
    img = ImageOps.autocontrast(img, cutoff=1)
    target = min(max(max(img.size), MIN_SIDE), MAX_SIDE)
    angle = skew_angle(img) if DESKEW else 0.0
    if abs(angle) >= MIN_SKEW:
        # turned at twice the size it is read at, then reduced: the glyphs' edges resampled on a finer grid
        # (24 test pages: mean character error 0.089 -> 0.011 with the deskew, worst page 0.43 -> 0.023)
        scale = 2 * target / max(img.size)
        img = img.resize((round(img.width * scale), round(img.height * scale)), resample=Image.Resampling.LANCZOS)
        img = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    if max(img.size) != target:
        scale = target / max(img.size)
        img = img.resize((round(img.width * scale), round(img.height * scale)), resample=Image.Resampling.LANCZOS)
    return _upright(img)


DESKEW = True
MIN_SKEW = 0.3  # degrees: a page straighter than this is read as it is (every rotation resamples the glyphs)


def skew_angle(img: Any, limit: float = 8.0) -> float:
    """The rotation (degrees, counter-clockwise) that lays the page's text lines flat: the angle whose rows of ink
    differ most from one row to the next (projection profile, coarse then fine, on a small copy of the page)."""
    import numpy as np
    from PIL import Image

    small = img.copy()
    small.thumbnail((900, 900))
    ink = np.asarray(small, dtype=np.uint8) < 128
    if ink.mean() < 0.001:
        return 0.0
    src = Image.fromarray(ink.astype(np.uint8) * 255)

    def sharpness(angle: float) -> float:
        rows = np.asarray(src.rotate(angle, resample=Image.Resampling.NEAREST), dtype=np.float32).sum(axis=1)
        return float(np.square(np.diff(rows)).sum())

    coarse = max(np.arange(-limit, limit + 0.01, 0.5), key=sharpness)
    return round(float(max(np.arange(coarse - 0.5, coarse + 0.51, 0.1), key=sharpness)), 2)


def _upright(img: Any) -> Any:
    """The page turned upright when Tesseract's orientation detection is confident it is not."""
    import pytesseract

    try:
        osd = pytesseract.image_to_osd(img, output_type=pytesseract.Output.DICT, timeout=_BOUNDS.get().page_seconds)
    except Exception:  # noqa: BLE001 - too little text to tell: read it as it is
        return img
    angle = int(osd.get("rotate", 0) or 0)
    return img.rotate(-angle, expand=True) if angle and float(osd.get("orientation_conf", 0)) > 2.0 else img


def read_lines(img: Any, prepared: list[Any] | None = None) -> list[Line]:
    """The lines of one page image, in reading order, with their confidences and boxes (in the pixels of the
    cleaned page, which is appended to ``prepared`` when given)."""
    page = _prepare(img)
    if prepared is not None:
        prepared.append(page)
    lines = _lines(page, "--psm 3")
    for top, bottom in missed_bands(page, lines):
        for line in _read_band(page, top, bottom):
            near = min(lines, key=lambda x: min(abs(x.box[1] - line.box[3]), abs(line.box[1] - x.box[3])), default=None)
            line = Line(line.text, line.confidence, line.box, near.paragraph if near else line.paragraph)
            at = next((i for i, x in enumerate(lines) if x.box[1] > line.box[1] and x.paragraph == line.paragraph),
                      None)
            if at is None:
                at = max((i + 1 for i, x in enumerate(lines) if x.paragraph == line.paragraph), default=len(lines))
            lines.insert(at, line)
    return lines


def _read_band(page: Any, top: int, bottom: int) -> list[Line]:
    """A band of the page read again on its own, cut to its ink with a white margin: as a block first, and
    raw (psm 13) when Tesseract rejects it that way too, which reads the lines it drops."""
    import numpy as np
    from PIL import ImageOps

    crop = page.crop((0, top, page.width, bottom))
    cols = np.flatnonzero((np.asarray(crop, dtype=np.uint8) < 128).any(axis=0))
    if not len(cols):
        return []
    left, pad = max(0, int(cols[0]) - 10), 20
    tight = ImageOps.expand(crop.crop((left, 0, min(crop.width, int(cols[-1]) + 10), crop.height)), pad, fill=255)
    got = _lines(tight, "--psm 6", dx=left - pad, dy=top - pad) or _lines(tight, "--psm 13", dx=left - pad, dy=top - pad)
    return [Line(t, ln.confidence, ln.box, ln.paragraph) for ln in got
            if (t := arabic.strip_invisible(ln.text).strip()) and ln.confidence >= BAND_MIN_CONFIDENCE]


BAND_MIN_CONFIDENCE = 40.0  # a re-read band is kept only above this: text dropped by the layout read at ~60, a
# picture of bars at ~21


_DIGIT_RUN = re.compile(r"[0-9]+")
_NUMBER_WORD = re.compile(r"[(\[«“\"']?[0-9]+[.,،؛:;)\]»”\"'%]*")


def reread_number(page: Any, word: str, box: tuple[int, int, int, int]) -> str:
    """A word holding Latin digits, its digits read again on their own: Tesseract's Arabic model misreads digits
    inside right-to-left lines (181 as 151, 43 as 3), which its Latin model, limited to digits, reads right on
    the test pages. Read twice, from the word's box and from the box widened by half its height (a number cut at
    the box's edge); a reading both agree on wins, else the close one when it is not shorter than the first."""
    runs = _DIGIT_RUN.findall(word)
    if len(runs) != 1 or not _NUMBER_WORD.fullmatch(word):
        return word  # a number joined to letters (و27): the letters would be read as digits too
    h = box[3] - box[1]
    close, wide = (_digits(page, box, margin) for margin in (h // 6, h // 2))
    got = close if close and (close == wide or len(close) >= len(runs[0])) else ""
    return word.replace(runs[0], got, 1) if got and len(got) <= len(runs[0]) + 2 else word


def _digits(page: Any, box: tuple[int, int, int, int], margin: int) -> str:
    """The digits Tesseract's Latin model reads in a box widened by ``margin`` pixels ("" when none)."""
    import pytesseract
    from PIL import Image, ImageOps

    x0, y0, x1, y1 = box
    crop = page.crop((max(0, x0 - margin), max(0, y0 - margin // 2), min(page.width, x1 + margin),
                      min(page.height, y1 + margin // 2)))
    crop = ImageOps.expand(crop.resize((crop.width * 2, crop.height * 2), Image.Resampling.LANCZOS), 20, fill=255)
    try:
        got = pytesseract.image_to_string(crop, lang="eng", config="--psm 7 -c tessedit_char_whitelist=0123456789",
                                          timeout=_BOUNDS.get().page_seconds).strip()
    except Exception:  # noqa: BLE001 - no Latin model, or a timeout: keep the first reading
        return ""
    return got if got.isdigit() else ""


def _lines(page: Any, config: str, dx: int = 0, dy: int = 0) -> list[Line]:
    """Tesseract's lines of a page (or of a part of it, ``dx``, ``dy`` pixels from its corner), in its reading
    order."""
    import pytesseract

    data = pytesseract.image_to_data(page, lang=LANG, config=config, timeout=_BOUNDS.get().page_seconds,
                                     output_type=pytesseract.Output.DICT)
    lines: dict[tuple[int, int, int], list[tuple[str, float, tuple[int, int, int, int]]]] = {}
    for i, word in enumerate(data["text"]):
        conf = float(data["conf"][i])
        if word.strip() and conf >= 0:
            key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            x, y, w, h = (int(data[k][i]) for k in ("left", "top", "width", "height"))
            if _DIGIT_RUN.search(word):
                word = reread_number(page, word, (x, y, x + w, y + h))
            lines.setdefault(key, []).append((word, conf, (x + dx, y + dy, x + dx + w, y + dy + h)))
    out = []
    for key in sorted(lines):
        words = lines[key]
        box = (min(b[0] for *_, b in words), min(b[1] for *_, b in words),
               max(b[2] for *_, b in words), max(b[3] for *_, b in words))
        out.append(Line(" ".join(w for w, _, _ in words), sum(c for _, c, _ in words) / len(words), box, key[:2]))
    return out


MIN_BAND = 12  # pixels: a band of ink at least this tall can be a line of text


def missed_bands(page: Any, lines: list[Line]) -> list[tuple[int, int]]:
    """Bands of the page that hold a line's worth of ink but no line Tesseract read: its layout analysis
    sometimes drops a whole clean line (the first of an A4 page at 300 dpi, in the tests), and such a band is
    read again on its own. Vertical only: a line missed beside a column that was read stays missed."""
    import numpy as np

    ink = (np.asarray(page, dtype=np.uint8) < 128).sum(axis=1) > max(3, page.width // 200)
    bands, top = [], None
    for y, on in enumerate(np.append(ink, False)):
        if on and top is None:
            top = y
        elif not on and top is not None:
            if bands and top - bands[-1][1] <= 4:  # the dots and marks above and below a line join it
                bands[-1] = (bands[-1][0], y)
            else:
                bands.append((top, y))
            top = None
    out = []
    for a, b in bands:
        if b - a < MIN_BAND:
            continue
        covered = sum(max(0, min(b, ln.box[3]) - max(a, ln.box[1])) for ln in lines)
        if covered < (b - a) / 3:
            out.append((max(0, a - 6), min(page.height, b + 6)))
    return out


def page_text(lines: Iterable[Line]) -> str:
    """A page's text: the lines of one paragraph (as Tesseract's layout analysis found them) joined by spaces,
    paragraphs by blank lines (a printed line ends where the page is full, not where a sentence does)."""
    paragraphs: list[list[str]] = []
    last = None
    for line in lines:
        if not line.text.strip():
            continue
        if line.paragraph != last or not paragraphs:
            paragraphs.append([])
            last = line.paragraph
        paragraphs[-1].append(line.text.strip())
    return "\n\n".join(" ".join(p) for p in paragraphs)


def open_image(data: bytes) -> Any:
    """A decoded image, or SourceError for a damaged one or one too large to decode safely."""
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    try:
        img = Image.open(io.BytesIO(data))
        if img.width * img.height > MAX_PIXELS:
            raise SourceError("image_too_large")
        img.load()
        return img
    except SourceError:
        raise
    except Image.DecompressionBombError:
        raise SourceError("image_too_large") from None
    except Exception:  # noqa: BLE001 - every decoding failure means a damaged or fake image
        raise SourceError("corrupt") from None


def require_engine() -> None:
    """SourceError('ocr_missing'), saying how to install it, when Tesseract or its Arabic model is absent."""
    if not available():
        raise SourceError("ocr_missing")


_READ: "OrderedDict[str, tuple[str, float]]" = OrderedDict()  # the last few files' OCR text and confidence
_READ_KEEP = 8
_READ_LOCK = threading.Lock()


def remembered(data: bytes, read: Callable[[], "tuple[str, float, list[scans.ScanPage]]"]) -> tuple[str, float]:
    """``read()``'s (text, confidence) for a file's bytes, computed once: ``add`` reads a file to check it, then
    the sync that indexes it reads it again, and a scan must not be OCR'd twice. Its page images and line
    boxes are kept for the viewer when the run names a folder for them (:func:`bounds`)."""
    digest = hashlib.sha256(data).hexdigest()
    run = _BOUNDS.get()
    key = f"{digest}:{run.max_pages}:{run.keep_dir}"  # a lower page limit is not bypassed; pages go to each folder
    with _READ_LOCK:
        got = _READ.get(key)
        if got is not None:
            _READ.move_to_end(key)
            return got
    text, confidence, pages = read()
    if run.keep_dir is not None:
        scans.save(run.keep_dir, digest, pages)
    with _READ_LOCK:  # the text only: the page images are on disk now, not held in memory
        _READ[key] = (text, confidence)
        while len(_READ) > _READ_KEEP:
            _READ.popitem(last=False)
    return text, confidence


def ocr_pages(images: Iterable[Any], total: int) -> "tuple[str, float, list[scans.ScanPage]]":
    """(text with pages separated by blank lines, mean line confidence, the pages with their boxed lines) of
    ``total`` page images."""
    check_pages(total)
    run = _BOUNDS.get()
    texts, confs, pages = [], [], []
    for n, img in enumerate(images, start=1):
        check_pages(n)
        prepared: list[Any] = []
        try:
            lines = read_lines(img, prepared)
        except RuntimeError:  # pytesseract's timeout
            raise SourceError("ocr_timeout", page=n, seconds=round(run.page_seconds)) from None
        texts.append(page_text(lines))
        confs += [line.confidence for line in lines]
        if run.keep_dir is not None and prepared:
            pages.append(scans.ScanPage(prepared[0].width, prepared[0].height, scans.thumbnail(prepared[0]), tuple(lines)))
        if run.progress:
            run.progress(n, total)
    return "\n\n".join(PAGE_MARK + t for t in texts), (sum(confs) / len(confs) if confs else 0.0), pages

"""Arabic OCR, offline: photographed pages and scans read by Tesseract with its Arabic model.

Pages are cleaned first (greyscale, specks removed by a median filter, contrast stretched, upscaled when small, rotated upright by Tesseract's
orientation detection when it is sure), then read line by line; each line keeps Tesseract's mean word
confidence. Bounds: at most ``MAX_PAGES`` pages a document and ``PAGE_SECONDS`` a page; an image over
``MAX_PIXELS`` (a decompression bomb) is refused before it is decoded.
"""

from __future__ import annotations

import io
import shutil
from dataclasses import dataclass
from typing import Any, Iterable

from ..errors import SourceError
from ..pages import PAGE_MARK

MAX_PAGES = 200
PAGE_SECONDS = 60
MAX_PIXELS = 60_000_000  # ~ an A4 page at 600 dpi is 35 Mpx
LANG = "ara"  # alone: with "ara+eng", Arabic words came out as Latin garbage (CER 5.3% -> 1.9% on the test scan)
MIN_SIDE = 1400  # pixels: smaller scans are enlarged before reading (Tesseract reads ~30 px letters best)


@dataclass(frozen=True)
class Line:
    """One line of an OCR'd page and Tesseract's mean confidence in its words (0-100)."""

    text: str
    confidence: float


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
    from PIL import ImageFilter, ImageOps

    img = ImageOps.exif_transpose(img).convert("L")
    img = img.filter(ImageFilter.MedianFilter(3))  # specks and sensor noise, before they are read as dots and marks
    img = ImageOps.autocontrast(img, cutoff=1)
    if max(img.size) < MIN_SIDE:
        scale = MIN_SIDE / max(img.size)
        img = img.resize((round(img.width * scale), round(img.height * scale)))
    return _upright(img)


def _upright(img: Any) -> Any:
    """The page turned upright when Tesseract's orientation detection is confident it is not."""
    import pytesseract

    try:
        osd = pytesseract.image_to_osd(img, output_type=pytesseract.Output.DICT, timeout=PAGE_SECONDS)
    except Exception:  # noqa: BLE001 - too little text to tell: read it as it is
        return img
    angle = int(osd.get("rotate", 0) or 0)
    return img.rotate(-angle, expand=True) if angle and float(osd.get("orientation_conf", 0)) > 2.0 else img


def read_lines(img: Any) -> list[Line]:
    """The lines of one page image, in reading order, with their confidences."""
    import pytesseract

    data = pytesseract.image_to_data(_prepare(img), lang=LANG, config="--psm 3", timeout=PAGE_SECONDS,
                                     output_type=pytesseract.Output.DICT)
    lines: dict[tuple[int, int, int], list[tuple[str, float]]] = {}
    for i, word in enumerate(data["text"]):
        conf = float(data["conf"][i])
        if word.strip() and conf >= 0:
            key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            lines.setdefault(key, []).append((word, conf))
    out = []
    for key in sorted(lines):
        words = lines[key]
        out.append(Line(" ".join(w for w, _ in words), sum(c for _, c in words) / len(words)))
    return out


def page_text(lines: Iterable[Line]) -> str:
    """A page's text: its lines joined, blank-line-free."""
    return "\n".join(line.text for line in lines if line.text.strip())


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


def ocr_pages(images: Iterable[Any], progress: Any = None) -> tuple[str, float]:
    """(text with pages separated by blank lines, mean line confidence) of page images."""
    texts, confs = [], []
    for n, img in enumerate(images, start=1):
        if n > MAX_PAGES:
            raise SourceError("too_many_pages", limit=MAX_PAGES)
        try:
            lines = read_lines(img)
        except RuntimeError:  # pytesseract's timeout
            raise SourceError("ocr_timeout", page=n, seconds=PAGE_SECONDS) from None
        texts.append(page_text(lines))
        confs += [line.confidence for line in lines]
        if progress:
            progress(n)
    return "\n\n".join(PAGE_MARK + t for t in texts), (sum(confs) / len(confs) if confs else 0.0)

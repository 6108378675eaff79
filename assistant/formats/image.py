"""Photographed pages and scans (png, jpg, tiff, webp): their text read by Arabic OCR."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ..errors import SourceError
from .ocr import ocr_pages, open_image, remembered, require_engine

EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")


def _frames(img: Any) -> Iterator[Any]:
    """Every page of an image (a multi-page TIFF has several)."""
    for i in range(getattr(img, "n_frames", 1)):
        img.seek(i)
        yield img.copy()


def read_image(path: Path, data: bytes) -> tuple[dict[str, Any], str]:
    """The OCR'd text of an image, with its mean line confidence in the metadata."""
    require_engine()

    def read():  # type: ignore[no-untyped-def]  (text, confidence, pages)
        img = open_image(data)
        return ocr_pages(_frames(img), getattr(img, "n_frames", 1))

    text, confidence = remembered(data, read)
    if sum(1 for c in text if c.isalpha()) < 3:
        raise SourceError("no_text")
    return {"ocr_confidence": round(confidence, 1), "origin": f"OCR ({path.name})"}, text

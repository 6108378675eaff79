"""Readers of every source format, by file extension: each takes ``(path, data)`` and returns ``(metadata, text)``.

A reader raises ``SourceError`` with a reason a person can act on (``corrupt``, ``encrypted``, ``scanned``,
``garbled``, ``no_text``, ``encoding``, ``binary``, ``ocr_missing``...); no other exception leaves a reader.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..encodings import decode
from ..frontmatter import split_front_matter
from .docx import read_docx
from .htmldoc import read_html
from .image import EXTENSIONS as IMAGE_EXTENSIONS
from .image import read_image
from .markdown import read_markdown
from .pdf import Glyph, normalize_glyph_text, read_pdf, visual_to_logical

Reader = Callable[[Path, bytes], tuple[dict[str, Any], str]]

__all__ = ["READERS", "Glyph", "Reader", "normalize_glyph_text", "read_docx", "read_html", "read_image", "read_markdown",
           "read_pdf",
           "read_text", "supported_extensions", "visual_to_logical"]


def read_text(path: Path, data: bytes) -> tuple[dict[str, Any], str]:
    """A plain text file: YAML front matter as metadata, the rest as it is."""
    return split_front_matter(decode(data))


READERS: dict[str, Reader] = {
    ".txt": read_text, ".md": read_markdown, ".markdown": read_markdown, ".html": read_html, ".htm": read_html,
    ".docx": read_docx, ".pdf": read_pdf,
    **{ext: read_image for ext in IMAGE_EXTENSIONS},
}


def supported_extensions() -> list[str]:
    """File extensions that can be added as sources."""
    return sorted(READERS)

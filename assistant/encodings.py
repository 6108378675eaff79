"""Decoding text files whatever their encoding: UTF-8 (BOM or not), UTF-16/32, Windows-1256, ISO-8859-6.

Order of evidence: a byte-order mark; UTF-16 without a mark (NUL bytes on one side); strict UTF-8
(legacy Arabic bytes are almost never valid UTF-8); then the Arabic code pages, and a charset the file
declares (HTML ``<meta charset>``), scored by how much the result reads like Arabic; last,
charset-normalizer for other languages. Bytes that are not text at all raise ``SourceError('binary')``.
"""

from __future__ import annotations

import codecs
import re

from .errors import SourceError

_ARABIC_LETTER = re.compile("[\u0621-\u064a]")
_STRAY_MARK = re.compile("(?<![\u0621-\u064a\u064b-\u0652])[\u064b-\u0652]")  # a haraka on no letter
_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_LEGACY = ("cp1256", "iso-8859-6")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _score(text: str) -> float:
    """Higher for text that reads like Arabic prose: Arabic letters, the article ال, no stray marks or controls."""
    if not text:
        return -1.0
    arabic = len(_ARABIC_LETTER.findall(text))
    bad = len(_BAD.findall(text))
    # Latin-1 range letters (é, ç, Ø...) in an Arabic file usually mean the wrong code page
    latin_ext = sum(1 for c in text if "\u00c0" <= c <= "\u024f")
    stray = len(_STRAY_MARK.findall(text))
    article = text.count("ال")
    return (arabic + 2 * article - 5 * bad - 2 * latin_ext - 3 * stray) / len(text)


def _bom(data: bytes) -> tuple[str, int] | None:
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return enc, len(bom)
    return None


def _utf16_side(sample: bytes) -> str | None:
    """'le' or 'be' for UTF-16 without a BOM (mostly-ASCII or Arabic text has NULs or 0x06 on one side)."""
    if len(sample) < 4:
        return None
    half = len(sample) // 2
    even, odd = sample[0::2], sample[1::2]
    for side, hi, lo in (("le", odd, even), ("be", even, odd)):
        # high bytes of BMP text in Latin or Arabic: 0x00 (ASCII) or 0x06 (Arabic); low bytes vary
        share = sum(1 for b in hi if b in (0, 6, 0x20, 0xfe, 0xfb)) / half
        if share > 0.9 and hi.count(0) + hi.count(6) > 0.3 * half and lo.count(0) < 0.1 * half:
            return side
    return None


def looks_binary(data: bytes) -> bool:
    """True for bytes that are not text in any supported encoding (NULs outside UTF-16, many controls)."""
    sample = data[:8192]
    if _bom(sample) or _utf16_side(sample):
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32 or b == 127)
    return controls > len(sample) * 0.02


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().lower()).name
    except LookupError:
        return None


def decode(data: bytes, declared: str | None = None) -> str:
    """Decode ``data`` to text, or raise ``SourceError('encoding')`` / ``SourceError('binary')``.

    ``declared`` is a charset the file itself names (an HTML ``<meta charset>``); it is one candidate
    among others, not trusted blindly (pages often declare one charset and are saved in another).
    """
    found = _bom(data)
    if found:
        enc, skip = found
        return data[skip:].decode(enc, errors="replace")
    side = _utf16_side(data[:8192])
    if side:
        try:
            text = data.decode(f"utf-16-{side}")
        except UnicodeDecodeError:
            raise SourceError("encoding") from None
        if len(_BAD.findall(text)) > 0.02 * len(text):
            raise SourceError("binary")
        return text
    if looks_binary(data):
        raise SourceError("binary")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    candidates = list(_LEGACY)
    hint = _codec(declared)
    if hint and hint not in ("utf-8", "ascii") and hint not in candidates:
        candidates.insert(0, hint)
    best, best_score = "", 0.0
    for enc in candidates:
        try:
            text = data.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
        s = _score(text) + (0.05 if enc == hint else 0.0)
        if s > best_score:
            best, best_score = text, s
    if best:
        return best
    from charset_normalizer import from_bytes

    match = from_bytes(data).best()
    if match is None:
        raise SourceError("encoding")
    text = str(match)
    if len(_BAD.findall(text)) > 0.02 * len(text):
        raise SourceError("binary")
    return text

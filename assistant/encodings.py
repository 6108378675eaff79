"""Decoding text files whatever their encoding: UTF-8 (BOM or not), UTF-16, Windows-1256, ISO-8859-6."""

from __future__ import annotations

import codecs
import re

_ARABIC_LETTER = re.compile("[\u0621-\u064a]")
_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]")
_LEGACY = ("cp1256", "iso-8859-6")


def _score(text: str) -> float:
    """Higher for text that reads like Arabic prose: Arabic letters, few control characters."""
    if not text:
        return -1.0
    arabic = len(_ARABIC_LETTER.findall(text))
    bad = len(_BAD.findall(text))
    # Latin-1 range letters (é, ß, Ø...) in an Arabic file usually mean a wrong code page
    latin_ext = sum(1 for c in text if "\u00c0" <= c <= "\u024f")
    return (arabic - 5 * bad - 2 * latin_ext) / len(text)


def looks_binary(data: bytes) -> bool:
    """True for bytes that are not text in any supported encoding (NULs outside UTF-16, many controls)."""
    sample = data[:4096]
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF8)):
        return False
    if b"\x00" in sample:
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        half = max(1, len(sample) // 2)
        return not (odd / half > 0.3 or even / half > 0.3)  # UTF-16 without BOM has NULs on one side
    controls = sum(1 for b in sample if b < 9 or 13 < b < 32)
    return controls > len(sample) * 0.05


def decode(data: bytes) -> str:
    """Decode ``data`` to text, or raise ``SourceError('encoding')`` / ``SourceError('binary')``."""
    from .sources import SourceError

    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    if looks_binary(data):
        raise SourceError("binary")
    if b"\x00" in data[:4096]:
        le = data[1::2].count(0) > data[0::2].count(0)
        try:
            return data.decode("utf-16-le" if le else "utf-16-be")
        except UnicodeDecodeError:
            raise SourceError("encoding") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best, best_score = "", -1.0
    for enc in _LEGACY:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        s = _score(text)
        if s > best_score:
            best, best_score = text, s
    if best and best_score > 0:
        return best
    from charset_normalizer import from_bytes

    match = from_bytes(data).best()
    if match is None:
        raise SourceError("encoding")
    return str(match)

"""Reading source documents: decode, extract the main text, clean, validate, give a stable id and hash."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .errors import SourceError
from .formats import READERS, supported_extensions
from .frontmatter import split_front_matter
from .models import Source
from .pages import split_pages

__all__ = ["PRIVATE_DIR", "READERS", "SourceError", "clean_text", "content_hash", "discover", "file_hash", "make_source", "owner_of",
           "read_source", "safe_upload_name", "slugify", "source_id_for", "split_front_matter", "supported_extensions"]

_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_CODE_CHARS = re.compile(r"[{}();=<>\[\]]")
_CODE_WORDS = re.compile(r"\b(function|var|let|const|return|window|document|googletag|adsbygoogle|push|display)\b|=>|\(\)")


def slugify(name: str) -> str:
    """A stable, file-system and URL safe id from a file name (Arabic letters kept)."""
    name = unicodedata.normalize("NFC", Path(name).stem).strip().lower()
    name = re.sub(r"[^\w.-]+", "-", name, flags=re.UNICODE).strip("-._")
    return name[:80] or "source"


_UNSAFE_NAME = re.compile(r"[/\\\x00-\x1f\x7f:]")


PRIVATE_DIR = "private"  # sources/private/<user>/<file>: a user's private uploads


def owner_of(path: Path, folder: Path) -> str:
    """The user a file under ``folder`` privately belongs to ("" for a shared source)."""
    try:
        parts = Path(path).relative_to(folder).parts
    except ValueError:
        return ""
    return parts[1] if len(parts) >= 3 and parts[0] == PRIVATE_DIR else ""


def source_id_for(path: Path, folder: Path) -> str:
    """The stable id of a file under ``folder``: its slug, prefixed with ``owner~`` for a private upload."""
    owner = owner_of(path, folder)
    return f"{slugify(owner)}~{slugify(Path(path).name)}" if owner else slugify(Path(path).name)


def safe_upload_name(name: str) -> str:
    """The plain file name of an upload, or ``SourceError('bad_name')`` when it is not one.

    A name that reaches outside the sources folder (``../x``, ``/etc/x``, ``..\\x``, ``C:x``), hides
    itself (``.x``), carries control characters or is too long is refused, not silently rewritten:
    the person sees which file was refused and why. Arabic and spaces are kept.
    """
    raw = "" if name is None else str(name)
    clean = unicodedata.normalize("NFC", raw).strip()
    if (not clean or _UNSAFE_NAME.search(clean) or clean.startswith(".")
            or len(clean) > 200 or len(clean.encode("utf-8")) > 255):
        raise SourceError("bad_name", name=re.sub(r"[\x00-\x1f\x7f]", "?", raw)[:120])
    return clean


def content_hash(text: str) -> str:
    """SHA-256 of the cleaned text (identical content under another name is a duplicate)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_code_line(line: str) -> bool:
    """True for a line that is script or markup residue rather than prose (a general rule, no list of ads)."""
    stripped = line.strip()
    if not stripped:
        return False
    letters = [c for c in stripped if c.isalpha()]
    arabic = sum(1 for c in letters if _ARABIC.match(c))
    if letters and arabic / len(letters) > 0.3:
        return False
    code_marks = len(_CODE_CHARS.findall(stripped))
    return code_marks >= 3 or (code_marks >= 1 and _CODE_WORDS.search(stripped) is not None)


def clean_text(text: str) -> str:
    """Normalise line ends and Unicode form, drop script residue lines, squeeze blank runs."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = text.replace("\ufeff", "").replace("\u00a0", " ")
    lines = [ln.rstrip() for ln in text.split("\n") if not is_code_line(ln)]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def _as_str(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return "" if value is None else str(value).strip()


def read_source(path: Path, max_bytes: int | None = None, source_id: str | None = None) -> Source:
    """Read one file into a ``Source``, or raise ``SourceError`` with a reason a person can act on."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in READERS:
        raise SourceError("unsupported", name=path.name, formats="، ".join(sorted(READERS)))
    try:
        size = path.stat().st_size
    except OSError:
        raise SourceError("unreadable", name=path.name) from None
    if max_bytes is not None and size > max_bytes:
        raise SourceError("too_large", name=path.name, size_mb=round(size / 1e6, 1), limit_mb=round(max_bytes / 1e6, 1))
    try:
        data = path.read_bytes()
    except OSError:
        raise SourceError("unreadable", name=path.name) from None
    if not data.strip():
        raise SourceError("empty", name=path.name)
    try:
        meta, body = READERS[ext](path, data)
    except SourceError as err:
        err.values.setdefault("name", path.name)
        raise
    except Exception:  # noqa: BLE001 - a reader's unexpected failure is a bad file, never a crashed batch
        raise SourceError("corrupt", name=path.name) from None
    src = make_source(body, meta, source_id or slugify(path.name), origin=path.name, path=str(path))
    return replace(src, file_hash=file_hash(data))


def file_hash(data: bytes) -> str:
    """The fingerprint of a file's bytes (a file whose fingerprint is unchanged is not read again)."""
    return hashlib.sha256(data).hexdigest()


def make_source(body: str, meta: dict[str, Any], source_id: str, origin: str = "", path: str = "") -> Source:
    """Build a ``Source`` from extracted text and metadata, validating that real text remains."""
    text, pages = split_pages(clean_text(body))
    lead = len(text) - len(text.lstrip())
    text = text.strip()
    pages = tuple(min(max(p - lead, 0), len(text)) for p in pages)
    letters = sum(1 for c in text if c.isalpha())
    if letters < 3:
        raise SourceError("no_text", name=origin or source_id)
    title = _as_str(meta.get("title")) or _first_line(text) or source_id
    return Source(
        source_id=source_id,
        title=title,
        text=text,
        content_hash=content_hash(text),
        origin=_as_str(meta.get("url") or meta.get("origin")) or origin,
        date=_as_str(meta.get("date")),
        language=_as_str(meta.get("language")) or "ar",
        path=path,
        pages=pages,
    )


def _first_line(text: str) -> str:
    line = text.split("\n", 1)[0].strip()
    return line if len(line) <= 80 else line[:77].rsplit(" ", 1)[0] + "…"


def discover(folder: Path, recursive: bool = True) -> list[Path]:
    """Source files in ``folder`` (recursively unless told not to), in a stable order, hidden files and READMEs
    skipped."""
    if not folder.is_dir():
        return []
    exts = set(supported_extensions())
    out = []
    for p in sorted(folder.rglob("*") if recursive else folder.iterdir()):
        if p.is_file() and p.suffix.lower() in exts and not any(part.startswith(".") for part in p.relative_to(folder).parts):
            if p.name.lower() in {"readme.md", "readme.txt"}:
                continue
            out.append(p)
    return out

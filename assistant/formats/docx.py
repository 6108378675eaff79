"""Word documents: paragraphs, table rows and text boxes in order (tracked deletions left out)."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any, Iterable

from ..errors import SourceError

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MAX_UNZIPPED = 200_000_000  # a zip bomb is refused rather than unpacked


def read_docx(path: Path, data: bytes) -> tuple[dict[str, Any], str]:
    """Text of a Word document: paragraphs, table rows and text boxes in order (tracked deletions left out)."""
    if data.startswith(_OLE_MAGIC):
        # an Office file protected with a password is an OLE container holding "EncryptedPackage"
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise SourceError("encrypted")
        raise SourceError("corrupt")
    if not data.startswith(b"PK"):
        raise SourceError("corrupt")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if sum(i.file_size for i in zf.infolist()) > _MAX_UNZIPPED or zf.testzip() is not None:
                raise SourceError("corrupt")
        import docx

        doc = docx.Document(io.BytesIO(data))
        paragraphs = list(_docx_blocks(doc.element.body))
        props = doc.core_properties
        meta: dict[str, Any] = {}
        if (props.title or "").strip():
            meta["title"] = props.title.strip()
        created = props.created
        if created and created.year > 1990 and created.replace(tzinfo=None) != _PYTHON_DOCX_TEMPLATE_DATE:
            meta["date"] = created.date().isoformat()
    except SourceError:
        raise
    except Exception:  # noqa: BLE001 - BadZipFile, KeyError, XMLSyntaxError, ValueError...: all mean unreadable
        raise SourceError("corrupt") from None
    return meta, "\n\n".join(paragraphs)


_PYTHON_DOCX_TEMPLATE_DATE = __import__("datetime").datetime(2013, 12, 23, 23, 15)  # python-docx's blank template
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"


def _docx_blocks(parent) -> Iterable[str]:  # type: ignore[no-untyped-def]
    """Paragraphs in document order; a table row is one line with its cells joined by " | "."""
    for el in parent:
        if el.tag == f"{_W}p":
            yield from _docx_paragraph(el)
        elif el.tag == f"{_W}tbl":
            for row in el.findall(f"{_W}tr"):
                cells = [" ".join(_docx_blocks(tc)) for tc in row.findall(f"{_W}tc")]
                line = " | ".join(c for c in cells if c)
                if line:
                    yield line
        elif el.tag not in (f"{_W}sectPr", f"{_W}tblPr", f"{_W}tcPr", f"{_W}trPr"):
            yield from _docx_blocks(el)  # content controls, custom XML, sdtContent...


def _docx_paragraph(p) -> Iterable[str]:  # type: ignore[no-untyped-def]
    """A paragraph's own text, then the paragraphs of its text boxes (their fallback copies skipped)."""
    parts: list[str] = []
    boxes = []
    for el in p.iter(f"{_W}t", f"{_W}tab", f"{_W}br", f"{_W}cr", f"{_W}txbxContent"):
        if any(a.tag == _MC_FALLBACK for a in el.iterancestors()):
            continue
        if el.tag == f"{_W}txbxContent":
            if next(el.iterancestors(f"{_W}txbxContent"), None) is None:
                boxes.append(el)
            continue
        if next(el.iterancestors(f"{_W}p")) is not p:
            continue  # text of a paragraph inside a text box
        parts.append((el.text or "") if el.tag == f"{_W}t" else " ")
    line = re.sub(r"\s+", " ", "".join(parts)).strip()
    if line:
        yield line
    for box in boxes:
        yield from _docx_blocks(box)


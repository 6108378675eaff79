"""PDF text rebuilt from the glyphs and their positions.

A PDF stores Arabic as it is *shown*: glyphs left to right (visual order), often as presentation forms
(U+FB50-U+FEFF). ``visual_to_logical`` turns each line back into the order it is read and written in
(logical order), numbers and Latin words kept left to right, mirrored brackets swapped back, presentation
forms mapped to plain letters.
"""

from __future__ import annotations

import bisect
import io
import logging
import re
import unicodedata
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from ..errors import SourceError
from ..pages import PAGE_MARK
from .ocr import MAX_PIXELS, check_pages, ocr_pages, remembered, require_engine

if TYPE_CHECKING:
    from ..scans import ScanPage

_PRESENTATION = re.compile("[\ufb50-\ufdff\ufe70-\ufeff]+")
_MIRROR = str.maketrans("()[]{}<>«»‹›", ")(][}{><»«›‹")
_CID = re.compile(r"\(cid:\d+\)")
_SENTENCE_END = ".!?؟…:»\"”)]"
_PAGE_NUMBER = re.compile(r"^[\W\d_٠-٩]*$")


@dataclass
class Glyph:
    """One drawn glyph: its box and the text its ToUnicode map gives (logical order inside a ligature)."""

    x0: float
    x1: float
    y0: float
    y1: float
    size: float
    text: str
    order: int = 0  # position in the page's content stream
    marks: list[str] = field(default_factory=list)  # combining marks drawn on this glyph

    @property
    def cls(self) -> str:
        """Bidi class of the glyph: 'R', 'L', 'N' (number), 'S' (separator in a number), 'W' (space), 'O'."""
        return _bidi_class(self.text)

    @property
    def full(self) -> str:
        return self.text + "".join(self.marks)


def _bidi_class(text: str) -> str:
    for c in text:
        b = unicodedata.bidirectional(c)
        if b in ("R", "AL"):
            return "R"
        if b == "L":
            return "L"
        if b in ("EN", "AN"):
            return "N"
    if text.isspace() or not text:
        return "W"
    b = unicodedata.bidirectional(text[0])
    return "S" if b in ("ES", "CS", "ET") else "O"


def normalize_glyph_text(text: str) -> str:
    """Plain letters for Arabic presentation forms (U+FB50-U+FDFF, U+FE70-U+FEFF); other text unchanged."""
    def plain(m: re.Match[str]) -> str:
        return "".join(_HARAKA_FORMS.get(c) or unicodedata.normalize("NFKC", c) for c in m.group())
    return _PRESENTATION.sub(plain, text.replace("\ufeff", ""))


# isolated and medial forms of harakat decompose to "space + mark" and "tatweel + mark": only the mark is text
_HARAKA_FORMS = {chr(c): unicodedata.normalize("NFKC", chr(c)).strip(" \u0640") for c in range(0xFE70, 0xFE80)
                 if unicodedata.name(chr(c), "")}
_HARAKA_FORMS["\ufe73"] = ""  # ARABIC TAIL FRAGMENT: a piece of a glyph, no text


def _is_mark(text: str) -> bool:
    return bool(text) and all(unicodedata.combining(c) or unicodedata.category(c) == "Mn" for c in text)


def _number_runs(seq: list[Glyph], lo: int, hi: int) -> list[tuple[int, int]]:
    """Runs ``[a, b)`` of digits inside ``seq[lo:hi]`` as the bidi algorithm forms them next to Arabic letters.

    After an Arabic letter, digits are "Arabic numbers": one common separator between two of them joins
    them (24/11/2025, 12.5, 1,000, 10:30), but a minus sign or a percent sign does not: a writer's
    ``24-27`` is drawn ``27-24`` and ``50%`` is drawn ``%50``, as Word, LibreOffice and browsers do.
    """
    runs: list[tuple[int, int]] = []
    i = lo
    while i < hi:
        if seq[i].cls != "N":
            i += 1
            continue
        j = i + 1
        while j < hi:
            if seq[j].cls == "N":
                j += 1
            elif j + 1 < hi and seq[j + 1].cls == "N" and len(seq[j].text) == 1 \
                    and unicodedata.bidirectional(seq[j].text) == "CS":
                j += 2
            else:
                break
        runs.append((i, j))
        i = j
    return runs


def _reverse(seq: list[Glyph], a: int, b: int) -> None:
    seq[a:b] = seq[a:b][::-1]


def visual_to_logical(glyphs: list[Glyph], rtl: bool) -> str:
    """Text of one line whose glyphs are sorted left to right, in logical (reading) order.

    An RTL line is reversed, then its left-to-right runs (Latin words with what lies between them, and
    numbers) are put back left to right; in an LTR line only the Arabic stretches are reversed.
    Brackets drawn mirrored in right-to-left text are swapped back.
    """
    seq = list(glyphs)
    mirrored: set[int] = set()  # ids of glyphs that sit in right-to-left runs
    if rtl:
        seq.reverse()
        mirrored = {id(g) for g in seq}
        n = len(seq)
        i = 0
        while i < n:
            if seq[i].cls not in ("L", "N"):
                i += 1
                continue
            # a stretch of left-to-right material: no Arabic letter inside
            j, last = i, i
            while j < n and seq[j].cls != "R":
                if seq[j].cls in ("L", "N"):
                    last = j
                j += 1
            a, b = i, last + 1
            if any(seq[k].cls == "L" for k in range(a, b)):
                runs = [(a, b)]
            else:
                runs = _number_runs(seq, a, b)
            for ra, rb in runs:
                _reverse(seq, ra, rb)
                mirrored.difference_update(id(g) for g in seq[ra:rb])
            i = b
    else:
        n = len(seq)
        i = 0
        while i < n:
            if seq[i].cls != "R":
                i += 1
                continue
            j, last = i, i
            while j < n and seq[j].cls != "L":
                if seq[j].cls == "R":
                    last = j
                j += 1
            a, b = i, last + 1
            _reverse(seq, a, b)
            mirrored.update(id(g) for g in seq[a:b])
            for ra, rb in _number_runs(seq, a, b):
                _reverse(seq, ra, rb)
                mirrored.difference_update(id(g) for g in seq[ra:rb])
            i = b
    plain = "".join(g.full for g in seq)
    swapped = "".join(g.full.translate(_MIRROR) if id(g) in mirrored else g.full for g in seq)
    # Most writers map a mirrored bracket to the character that was typed, some to the glyph's own
    # shape: swap back only when that is what makes the brackets pair up.
    return swapped if _bracket_errors(swapped) < _bracket_errors(plain) else plain


def _bracket_errors(text: str) -> int:
    """How badly the brackets of ``text`` pair up (closing before opening, or left open)."""
    errors = 0
    for open_, close in ("()", "[]", "{}", "«»", "‹›"):
        depth = 0
        for c in text:
            if c == open_:
                depth += 1
            elif c == close:
                if depth == 0:
                    errors += 1
                else:
                    depth -= 1
        errors += depth
    return errors


@dataclass
class _Line:
    glyphs: list[Glyph]
    y: float  # vertical centre
    size: float

    @property
    def x0(self) -> float:
        return min(g.x0 for g in self.glyphs)

    @property
    def x1(self) -> float:
        return max(g.x1 for g in self.glyphs)


def _cluster_marks(glyphs: list[Glyph]) -> list[Glyph]:
    """Attach combining marks (harakat drawn as glyphs of their own) to the letter they belong to.

    Writers draw a mark right next to its letter in the content stream (HarfBuzz-based ones, such as
    LibreOffice, just before it), at about the letter's position: of the two letters around it in the
    stream, the mark goes to the one it sits on, the following one when it touches both.
    """
    glyphs = sorted(glyphs, key=lambda g: g.order)
    bases = [i for i, g in enumerate(glyphs) if not _is_mark(g.text)]
    if not bases:
        return []
    for i, g in enumerate(glyphs):
        if not _is_mark(g.text):
            continue
        k = bisect.bisect_left(bases, i)
        cands = [glyphs[bases[j]] for j in (k, k - 1) if 0 <= j < len(bases)]
        cy = (g.y0 + g.y1) / 2
        cands = [b for b in cands if not b.text.isspace() and abs((b.y0 + b.y1) / 2 - cy) < 0.8 * max(b.size, g.size)]
        if not cands:
            continue
        cx = (g.x0 + g.x1) / 2
        tol = 0.12 * g.size

        def distance(b: Glyph) -> float:
            d = 0.0 if b.x0 <= cx <= b.x1 else min(abs(cx - b.x0), abs(cx - b.x1))
            return 0.0 if d <= tol else d

        min(cands, key=distance).marks.append(g.text)  # min keeps the first (following) glyph on a tie
    return [glyphs[i] for i in bases]


def _lines(glyphs: list[Glyph]) -> list[_Line]:
    """Group glyphs into lines by their vertical centre, top of the page first; glyphs sorted left to right."""
    lines: list[_Line] = []
    for g in sorted(_cluster_marks(glyphs), key=lambda g: -(g.y0 + g.y1) / 2):
        cy = (g.y0 + g.y1) / 2
        if lines and abs(lines[-1].y - cy) <= 0.4 * max(lines[-1].size, g.size):
            lines[-1].glyphs.append(g)
            lines[-1].size = max(lines[-1].size, g.size)
        else:
            lines.append(_Line([g], cy, g.size))
    for line in lines:
        line.glyphs.sort(key=lambda g: ((g.x0 + g.x1) / 2, g.order))
    return lines


def _with_spaces(glyphs: list[Glyph]) -> list[Glyph]:
    """Insert a space glyph where a visible gap separates two glyphs (many PDFs draw no space glyphs)."""
    out: list[Glyph] = []
    for g in glyphs:
        if out:
            prev = out[-1]
            gap = g.x0 - prev.x1
            if gap > 0.15 * max(g.size, prev.size) and not prev.text.isspace() and not g.text.isspace():
                out.append(Glyph(prev.x1, g.x0, g.y0, g.y1, g.size, " "))
            elif g.text.isspace() and prev.text.isspace():
                continue
        out.append(g)
    return out


GUTTER_MIN = 12.0  # points: an empty vertical band this wide, down the page, separates two columns


def _rows(glyphs: list[Glyph]) -> list[list[Glyph]]:
    """Glyphs grouped by line (vertical centre), top first, without touching them (``_lines`` attaches marks)."""
    rows: list[tuple[float, float, list[Glyph]]] = []
    for g in sorted(glyphs, key=lambda g: -(g.y0 + g.y1) / 2):
        cy = (g.y0 + g.y1) / 2
        if rows and abs(rows[-1][0] - cy) <= 0.4 * max(rows[-1][1], g.size):
            rows[-1][2].append(g)
        else:
            rows.append((cy, g.size, [g]))
    return [r[2] for r in rows]


def _gutter(glyphs: list[Glyph]) -> float | None:
    """The x of the gap between two columns of text, or None for a page set in one column.

    A gutter is a vertical band in the middle half of the page's text, at least GUTTER_MIN wide, that no row of
    text crosses but one, or one in ten (headings over both columns), with a fifth of the glyphs or more on
    each side. Word spaces are a few points wide, so a page in one column has none.
    """
    ink = [g for g in glyphs if g.text.strip() and not _is_mark(g.text)]
    lines = _rows(ink)  # a row holds a line of each column
    if len(lines) < 4:
        return None
    x0, x1 = min(g.x0 for g in ink), max(g.x1 for g in ink)
    crossing = [0] * (int(x1 - x0) + 2)
    for ln in lines:
        covered = set()
        for g in ln:
            covered.update(range(int(g.x0 - x0), int(g.x1 - x0) + 1))
        for b in covered:
            crossing[b] += 1
    allowed = max(1, len(lines) // 10)
    best, run = (0, 0), None
    for b in range(int(0.25 * (x1 - x0)), int(0.75 * (x1 - x0)) + 2):
        if crossing[b] <= allowed:
            run = b if run is None else run
            continue
        if run is not None and b - run > best[1] - best[0]:
            best = (run, b)
        run = None
    if best[1] - best[0] < GUTTER_MIN:
        return None
    cut = x0 + (best[0] + best[1]) / 2
    left = sum(1 for g in ink if (g.x0 + g.x1) / 2 < cut)
    return cut if min(left, len(ink) - left) >= 0.2 * len(ink) else None


def _page_text(glyphs: list[Glyph]) -> str:
    """The text of one page, in reading order: lines top to bottom, paragraphs separated by blank lines.

    A page set in two columns is read column by column, the right one first when the page is right to left.
    """
    cut = _gutter(glyphs)
    if cut is not None:
        # a line with a glyph across the gutter (a heading over both columns) is read whole, first
        spanning = {id(g) for ln in _rows(glyphs) if any(g.x0 < cut < g.x1 for g in ln) for g in ln}
        across = [g for g in glyphs if id(g) in spanning]
        right = [g for g in glyphs if id(g) not in spanning and (g.x0 + g.x1) / 2 >= cut]
        left = [g for g in glyphs if id(g) not in spanning and (g.x0 + g.x1) / 2 < cut]
        strong = [g.cls for g in glyphs]
        first, second = (right, left) if strong.count("R") > strong.count("L") else (left, right)
        parts = [_lines_text(across), _lines_text(first), _lines_text(second)]
        return "\n\n".join(p for p in parts if p)
    return _lines_text(glyphs)


def _lines_text(glyphs: list[Glyph]) -> str:
    """The text of a block of glyphs set as one column."""
    lines = _lines(glyphs)
    if not lines:
        return ""
    strong = [g.cls for ln in lines for g in ln.glyphs]
    page_rtl = strong.count("R") > strong.count("L")
    texts: list[tuple[_Line, str]] = []
    for ln in lines:
        classes = [g.cls for g in ln.glyphs]
        r, l = classes.count("R"), classes.count("L")
        rtl = r > l or (r > 0 and page_rtl) or (r == 0 and l == 0 and page_rtl)
        text = re.sub(r"\s+", " ", visual_to_logical(_with_spaces(ln.glyphs), rtl)).strip()
        if text and not _PAGE_NUMBER.match(text):
            texts.append((ln, text))
    if not texts:
        return ""
    # the tightest pitch between lines is the line spacing; more space than that starts a paragraph
    pitches = [a.y - b.y for (a, _), (b, _) in zip(texts, texts[1:]) if a.y - b.y >= 0.9 * min(a.size, b.size)]
    pitch = min(pitches) if pitches else 0.0
    widest = max(ln.x1 - ln.x0 for ln, _ in texts)
    out = texts[0][1]
    for (prev, ptext), (ln, text) in zip(texts, texts[1:]):
        gap = prev.y - ln.y
        new_para = (
            (pitch and gap > 1.3 * pitch)
            or abs(ln.size - prev.size) > 0.15 * max(ln.size, prev.size)  # a heading
            or (prev.x1 - prev.x0) < 0.8 * widest  # a short line ends its paragraph
        )
        if new_para:
            out += "\n\n" + text
        elif re.search(r"[a-z]-$", out) and text[:1].islower():
            out = out[:-1] + text  # a Latin word hyphenated at the line end (manip- ulation)
        else:
            out += " " + text
    return out


def _pdf_glyphs(layout) -> tuple[list[Glyph], int, int]:  # type: ignore[no-untyped-def]
    """Glyphs in content-stream order with their text (presentation forms mapped back), the number of
    images, and the number of glyphs that map to no character at all (fonts without a Unicode map)."""
    from pdfminer.layout import LTChar, LTContainer, LTImage

    glyphs: list[Glyph] = []
    images = unmapped = 0

    def walk(obj) -> None:  # type: ignore[no-untyped-def]
        nonlocal images, unmapped
        if isinstance(obj, LTChar):
            raw = obj.get_text()
            text = normalize_glyph_text(_CID.sub("", raw))
            if text:
                glyphs.append(Glyph(obj.x0, obj.x1, obj.y0, obj.y1, obj.size or 1.0, text, order=len(glyphs)))
            elif raw:
                unmapped += 1
        elif isinstance(obj, LTImage):
            images += 1
        elif isinstance(obj, LTContainer):
            for child in obj:
                walk(child)

    walk(layout)
    return glyphs, images, unmapped


def _pdf_date(value: Any) -> str:
    m = re.match(r"(?:D:)?(\d{4})(\d{2})(\d{2})", str(value or ""))
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else ""


def _pdf_open(data: bytes) -> dict[str, Any]:
    """Check the PDF opens (not corrupt, not locked by a password) and read its title and date."""
    import pypdf
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise SourceError("encrypted")
            except (FileNotDecryptedError, DependencyError, NotImplementedError):
                raise SourceError("encrypted") from None
        if len(reader.pages) == 0:
            raise SourceError("corrupt")
        info = reader.metadata or {}
        meta: dict[str, Any] = {}
        title = str(info.get("/Title") or "").strip()
        if title and not re.fullmatch(r"(?i)untitled|microsoft word - .*|.*\.(docx?|pdf)", title):
            meta["title"] = title
        date = _pdf_date(info.get("/CreationDate"))
        if date:
            meta["date"] = date
        return meta
    except SourceError:
        raise
    except (PdfReadError, Exception):  # noqa: BLE001 - any parse failure means the file is damaged
        raise SourceError("corrupt") from None


@contextmanager
def _quiet(*names: str) -> Iterator[None]:
    """Silence the warnings PDF libraries log about every damaged file (the reason reaches the user instead)."""
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def read_pdf(path: Path, data: bytes) -> tuple[dict[str, Any], str]:
    """Text layer of a PDF in logical reading order; clear errors for encrypted, damaged and scanned files."""
    if b"%PDF-" not in data[:1024]:
        raise SourceError("corrupt")
    with _quiet("pypdf", "pdfminer"):
        meta = _pdf_open(data)
        pages, images, unmapped = _pdf_pages(data)
    text = ""
    for page in _drop_running_heads(pages):
        if page:
            # a paragraph that runs over the page break continues on the next page
            text += (" " if text and text[-1] not in _SENTENCE_END else "\n\n" if text else "") + PAGE_MARK + page
        else:
            text += PAGE_MARK  # an empty page still counts
    letters = sum(1 for c in text if c.isalpha())
    if letters < 3:
        if unmapped > 20:
            raise SourceError("garbled")
        if not images:
            raise SourceError("no_text")
        text, confidence = remembered(data, lambda: ocr_pdf(data))  # a scan: its pages read by OCR
        return {**meta, "ocr_confidence": round(confidence, 1)}, text
    visible = sum(1 for c in text if not c.isspace())
    if unmapped > letters or letters < 0.2 * visible:
        # fonts whose glyphs map to no letters: what comes out is symbols, not the document's words
        raise SourceError("garbled")
    return meta, text


def _scan_image(page: Any) -> Any:
    """The page as OCR should see it: a page that is one scanned image gives that image at its own resolution;
    anything else is rendered at 300 dpi. Rendered, a scan is drawn larger than it was taken and its specks
    grow into marks read as letters (character error 26 % on a test page at 300 dpi, 0.4 % from the image
    itself; 13-26 % against 1.3-2.2 % on the article's scanned pages)."""
    import pypdfium2.raw as pdfium_c

    try:
        images = list(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=1))
        if len(images) == 1:
            w, h = images[0].get_px_size()
            if min(w, h) >= 600 and w * h <= MAX_PIXELS:  # a real scan, and no decompression bomb
                return images[0].get_bitmap(render=False).to_pil()
    except Exception:  # noqa: BLE001 - an image pdfium cannot hand over whole is rendered like any page
        pass
    return page.render(scale=300 / 72).to_pil()


def ocr_pdf(data: bytes) -> "tuple[str, float, list[ScanPage]]":
    """(text, mean line confidence, pages with their line boxes) of a PDF without a text layer, each page OCR'd
    from its scanned image (or rendered at 300 dpi when it is not one image)."""
    import pypdfium2

    require_engine()
    try:
        doc = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError:
        raise SourceError("corrupt") from None
    try:
        check_pages(len(doc))
        pages = (_scan_image(doc[i]) for i in range(len(doc)))
        text, confidence, scanned = ocr_pages(pages, len(doc))
    finally:
        doc.close()
    if sum(1 for c in text if c.isalpha()) < 3:
        raise SourceError("scanned")
    return text, confidence, scanned


def _drop_running_heads(pages: list[str]) -> list[str]:
    """Remove short paragraphs repeated on most pages (running heads and feet: a journal's name, a site)."""
    if len(pages) < 3:
        return pages
    split = [page.split("\n\n") for page in pages]
    counts = Counter(p for paras in split for p in set(paras) if len(p) <= 120)
    repeated = {p for p, n in counts.items() if n >= max(3, (len(pages) + 1) // 2)}
    return ["\n\n".join(p for p in paras if p not in repeated) for paras in split]


def _pdf_pages(data: bytes) -> tuple[list[str], int, int]:
    from pdfminer.converter import PDFPageAggregator
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
    from pdfminer.pdfpage import PDFPage

    pages: list[str] = []
    images = unmapped = 0
    try:
        manager = PDFResourceManager(caching=True)
        device = PDFPageAggregator(manager, laparams=None)
        interpreter = PDFPageInterpreter(manager, device)
        for page in PDFPage.get_pages(io.BytesIO(data), password=""):
            interpreter.process_page(page)
            glyphs, n_images, n_unmapped = _pdf_glyphs(device.get_result())
            images += n_images
            unmapped += n_unmapped
            pages.append(_page_text(glyphs))
    except (PDFPasswordIncorrect, PDFEncryptionError):
        raise SourceError("encrypted") from None
    except Exception:  # noqa: BLE001 - pdfminer raises many kinds of errors on damaged files
        if not any(pages):
            raise SourceError("corrupt") from None
    return pages, images, unmapped


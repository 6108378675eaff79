"""Real documents for the tests, made on the spot: Arabic PDFs (shaped, or drawn as presentation forms),
image-only and encrypted PDFs, Word files, in any text encoding.

The PDFs embed a subset of DejaVu Sans kept under ``tests/fixtures/fonts`` (license beside it), so they
do not depend on the fonts of the machine. ``fpdf2`` lays the text out with HarfBuzz (``uharfbuzz``) the
way word processors do: glyphs in visual order, joined letter forms, mirrored brackets.
"""

from __future__ import annotations

import io
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
FONT = FIXTURES / "fonts" / "DejaVuSans-Arabic-subset.ttf"
BOLD_FONT = FIXTURES / "fonts" / "DejaVuSans-Bold-Arabic-subset.ttf"  # a second face for the OCR measurements


def _pdf(title: str | None = None, font: Path = FONT):  # type: ignore[no-untyped-def]
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_creation_date(__import__("datetime").datetime(2025, 11, 24, 10, 0, 0))
    if title:
        pdf.set_title(title)
    pdf.add_font("arabic", fname=str(font))
    pdf.set_font("arabic", size=13)
    return pdf


def arabic_pdf(path: Path, paragraphs: list[str], title: str | None = None, heading: str | None = None,
               running_head: str | None = None, font: Path = FONT) -> Path:
    """A text PDF of right-to-left paragraphs, shaped by HarfBuzz (what LibreOffice and browsers produce);
    ``running_head`` is printed at the top of every page, with the page number at the bottom."""
    pdf = _pdf(title, font)
    if running_head:
        def header() -> None:
            pdf.set_font_size(9)
            pdf.cell(0, 6, running_head, align="C", new_x="LMARGIN", new_y="NEXT")
            pdf.ln(6)
            pdf.set_font_size(13)

        def footer() -> None:
            pdf.set_y(-15)
            pdf.set_font_size(9)
            pdf.cell(0, 6, str(pdf.page_no()), align="C")
            pdf.set_font_size(13)

        pdf.header, pdf.footer = header, footer  # type: ignore[method-assign]
    pdf.set_text_shaping(use_shaping_engine=True)
    pdf.add_page()
    if heading:
        pdf.set_font_size(18)
        pdf.multi_cell(0, 12, heading, align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font_size(13)
    for p in paragraphs:
        pdf.multi_cell(0, 8, p, align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    pdf.output(str(path))
    return path


def _visual_forms(line: str) -> str:
    """``line`` as an old-style generator draws it: presentation-form letters, right to left reversed."""
    import uharfbuzz as hb
    from fontTools.ttLib import TTFont

    tt = TTFont(str(FONT))
    order = tt.getGlyphOrder()
    by_glyph: dict[str, int] = {}
    for cp, name in sorted(tt.getBestCmap().items()):
        # prefer the presentation-form code point where a glyph has several
        if name not in by_glyph or 0xFB50 <= cp <= 0xFEFF:
            by_glyph[name] = cp
    face = hb.Face(hb.Blob.from_file_path(str(FONT)))
    font = hb.Font(face)
    buf = hb.Buffer()
    buf.add_str(line)
    buf.guess_segment_properties()
    hb.shape(font, buf, {})
    return "".join(chr(by_glyph[order[info.codepoint]]) for info in buf.glyph_infos)


def presentation_forms_pdf(path: Path, paragraphs: list[str], words_per_line: int = 7) -> Path:
    """A PDF whose text layer holds presentation forms in visual order (reshaper + bidi + a plain PDF
    writer, as many older tools make them). Paragraphs must be Arabic words only."""
    pdf = _pdf()
    pdf.add_page()
    for p in paragraphs:
        words = p.split()
        for i in range(0, len(words), words_per_line):
            line = " ".join(words[i:i + words_per_line])
            pdf.cell(0, 8, _visual_forms(line), align="R", new_x="LMARGIN", new_y="NEXT")
        pdf.ln(6)
    pdf.output(str(path))
    return path


def image_pdf(path: Path) -> Path:
    """A 'scanned' PDF: one page holding only a picture, no text layer."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (600, 300), "white")
    draw = ImageDraw.Draw(img)
    for y in range(30, 280, 30):
        draw.rectangle([40, y, 560, y + 12], fill="black")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    pdf = _pdf()
    pdf.add_page()
    pdf.image(buf, x=10, y=10, w=180)
    pdf.output(str(path))
    return path


def encrypted_pdf(source: Path, path: Path, user_password: str = "secret") -> Path:
    """A copy of ``source`` encrypted with AES-256 (an empty ``user_password`` only restricts permissions)."""
    import pypdf

    reader = pypdf.PdfReader(str(source))
    writer = pypdf.PdfWriter()
    for page in reader.pages:
        writer.add_page(page)
    writer.encrypt(user_password=user_password, owner_password="owner-secret", algorithm="AES-256")
    with open(path, "wb") as fh:
        writer.write(fh)
    return path


def docx_file(path: Path, paragraphs: list[str], title: str | None = None, heading: str | None = None,
              table: list[list[str]] | None = None) -> Path:
    """A Word document with right-to-left paragraphs (and optionally a heading and a table)."""
    import docx
    from docx.oxml import OxmlElement

    doc = docx.Document()
    if title:
        doc.core_properties.title = title
    if heading:
        doc.add_heading(heading, level=1)
    for text in paragraphs:
        p = doc.add_paragraph()
        p._p.get_or_add_pPr().append(OxmlElement("w:bidi"))
        run = p.add_run(text)
        run._r.get_or_add_rPr().append(OxmlElement("w:rtl"))
    if table:
        t = doc.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, cell in enumerate(row):
                t.cell(r, c).text = cell
    doc.save(str(path))
    return path


def assert_answered(assistant, question: str, source_id: str, fact: str):  # type: ignore[no-untyped-def]
    """The answer is not refused, cites ``source_id`` first, and the quote is the exact kept text holding ``fact``."""
    ans = assistant.ask(question)
    assert not ans.refused, f"{question} -> refused: {ans.text}"
    c = ans.citations[0]
    assert c.source_id == source_id, f"{question} -> cites {c.source_id}, not {source_id}: {ans.text}"
    src = assistant.source(source_id)
    assert src is not None and src.text[c.start:c.end] == c.quote
    assert fact in c.quote, f"{fact!r} not in {c.quote!r}"
    return ans

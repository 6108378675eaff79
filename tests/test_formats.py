"""Every document format, as real files: each is added, then asked a question only it answers.

PDFs are made by the tests (fpdf2 + HarfBuzz, the way word processors lay Arabic out) or kept as a small
fixture exported by LibreOffice; their Arabic must come back in logical reading order.
"""

from __future__ import annotations

import json
import shutil
import unicodedata

import pytest

from assistant.formats import Glyph, normalize_glyph_text, read_docx, read_pdf, visual_to_logical
from assistant.ingest import add_files
from assistant.service import Assistant
from assistant.sources import read_source

from assistant.pages import split_pages
from conftest import ARTICLE, make_settings
from makedocs import FIXTURES, arabic_pdf, assert_answered, docx_file, encrypted_pdf, presentation_forms_pdf

LIBREOFFICE_PDF = FIXTURES / "arabic-libreoffice.pdf"

TXT = "سجلت محطة الرصد الجوي في إفران أدنى درجة حرارة هذا الشتاء، إذ بلغت ناقص 14 درجة مئوية يوم 3 فبراير."
MD = """---
title: سد الوحدة
date: 2024-05-10
url: https://example.org/ar/dams/al-wahda
---
# سد الوحدة

يعد **سد الوحدة** أكبر سد في [المغرب](https://ar.wikipedia.org/wiki/المغرب)، وتبلغ السعة التخزينية لسد الوحدة نحو 3.7 مليار متر مكعب.

| السنة | نسبة الملء |
|---|---|
| 2024 | 41% |
"""
HTML = """<!doctype html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8">
<title>قاعة المخطوطات | موقع الأخبار</title>
<meta property="og:title" content="قاعة جديدة للمخطوطات في مكتبة الإسكندرية">
<meta property="og:url" content="https://news.example.com/library/manuscripts">
<meta property="article:published_time" content="2025-03-14T09:30:00+02:00">
<style>.ad { color: red } body { font-family: serif }</style>
<script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}</script>
</head><body>
<nav><ul><li><a href="/">الرئيسية</a></li><li><a href="/sport">رياضة</a></li></ul></nav>
<header class="site-header">عاجل: أخبار الساعة</header>
<div class="share-buttons"><a href="#">شارك على فيسبوك</a> <a href="#">غرّد</a></div>
<article>
<h1>قاعة جديدة للمخطوطات</h1>
<p>افتتحت مكتبة الإسكندرية قاعة جديدة للمخطوطات النادرة تضم 2500 مخطوطة عربية قديمة.</p>
<div class="ad-slot"><ins class="adsbygoogle" data-ad-client="ca-pub-1"></ins>
<script>(adsbygoogle = window.adsbygoogle || []).push({});</script></div>
<p>ويمكن للباحثين زيارة القاعة من الأحد إلى الخميس بعد حجز موعد مسبق.</p>
</article>
<aside class="related">اقرأ أيضا: أسعار الذهب اليوم</aside>
<footer>جميع الحقوق محفوظة</footer>
<script>googletag.cmd.push(function() { googletag.display('div-gpt-ad-1'); });</script>
</body></html>
"""
DOCX = ["أعلنت وزارة الفلاحة أن إنتاج الزعفران في تالوين بلغ 6.8 أطنان خلال موسم 2023.",
        "ويعمل في سلسلة الزعفران نحو 1200 أسرة في الدواوير الجبلية المحيطة بتالوين."]
DOCX_TABLE = [["المنتج", "سعر الكيلوغرام"], ["زعفران تالوين الحر", "35 ألف درهم"]]
PDF = ["بلغ طول الجسر المعلق الجديد فوق وادي أبي رقراق 950 مترا (وهو أطول جسر من نوعه في إفريقيا)، "
       "وافتُتح بين 6-7 يوليوز 2016 بكلفة قدرها 12.5% من ميزانية المشروع الطرقي.",
       "ويربط الجسر بين الطريق السيار الرابط بين الرباط وطنجة ونظيره نحو الدار البيضاء، ويعبره يوميا آلاف السائقين."]
PRESENTATION = ["يشتهر سوق الخميس في مدينة تزنيت بصناعة الحلي الفضية التقليدية التي تتوارثها الأسر جيلا بعد جيل",
                "وتقام في المدينة كل صيف تظاهرة ثقافية تعرض فيها الحرف اليدوية"]
PERMS_PDF = ["وصل عدد زوار معرض الفرس في مدينة الجديدة إلى 220 ألف زائر في دورته الأخيرة."]
LIBREOFFICE = [  # the text of tests/fixtures/arabic-libreoffice.pdf (see make_libreoffice_pdf.py)
    "مهرجان الورود في قلعة مكونة",
    "احتضنت مدينة قلعة مكونة الدورة 59 من مهرجان الورود بين 2-5 ماي 2024، بمشاركة 40 تعاونية نسائية.",
    "وقطفت التعاونيات نحو 3.500 طن من الورد العطري (Rosa damascena) خلال الموسم، أي بزيادة 15% عن السنة الماضية، "
    "ويصدّر جزء كبير من ماء الورد المقطر إلى أوروبا والخليج، بينما يباع الباقي في الأسواق المحلية خلال أيام المهرجان.",
    "وتُنتخب في ختام المهرجان «ملكة جمال الورود» أمام جمهور يقدَّر بعشرات الآلاف من الزوار.",
]


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@pytest.fixture(scope="module")
def library(tmp_path_factory):  # type: ignore[no-untyped-def]
    """One index holding a file of every format, added together like ``assistant add FOLDER``."""
    home = tmp_path_factory.mktemp("formats")
    incoming = home / "incoming"
    incoming.mkdir()
    (incoming / "ifrane-weather.txt").write_text(TXT, encoding="utf-8")
    (incoming / "al-wahda-dam.md").write_text(MD, encoding="utf-8")
    (incoming / "manuscripts.html").write_text(HTML, encoding="utf-8")
    docx_file(incoming / "saffron.docx", DOCX, title="زعفران تالوين", heading="زعفران تالوين", table=DOCX_TABLE)
    arabic_pdf(incoming / "bridge.pdf", PDF, title="الجسر المعلق", heading="الجسر المعلق محمد السادس")
    presentation_forms_pdf(incoming / "tiznit.pdf", PRESENTATION)
    shutil.copy(LIBREOFFICE_PDF, incoming / "roses.pdf")
    # encrypted with an empty user password: only permissions are restricted, every reader opens it
    encrypted_pdf(arabic_pdf(home / "plain.pdf", PERMS_PDF), incoming / "horse-fair.pdf", user_password="")
    settings = make_settings(home)
    report = add_files(settings, [incoming])
    return settings, report, Assistant(settings)


def test_every_format_is_added_in_one_batch(library):
    settings, report, assistant = library
    assert report.failed == {}
    assert sorted(report.added) == ["al-wahda-dam", "bridge", "horse-fair", "ifrane-weather", "manuscripts", "roses",
                                    "saffron", "tiznit"]
    assert {s.source_id for s in assistant.sources()} == set(report.added)
    assert all(s.chunks > 0 and s.content_hash and s.added for s in assistant.sources())


@pytest.mark.parametrize("question, source_id, fact", [
    ("كم بلغت أدنى درجة حرارة سجلتها محطة الرصد الجوي في إفران؟", "ifrane-weather", "ناقص 14 درجة"),
    ("كم تبلغ السعة التخزينية لسد الوحدة؟", "al-wahda-dam", "3.7 مليار متر مكعب"),
    ("كم مخطوطة تضم قاعة المخطوطات النادرة في مكتبة الإسكندرية؟", "manuscripts", "2500 مخطوطة"),
    ("كم بلغ إنتاج الزعفران في تالوين خلال موسم 2023؟", "saffron", "6.8 أطنان"),
    ("كم يبلغ طول الجسر المعلق فوق وادي أبي رقراق؟", "bridge", "950 مترا"),
    ("بماذا يشتهر سوق الخميس في مدينة تزنيت؟", "tiznit", "الحلي الفضية التقليدية"),
    ("كم تعاونية نسائية شاركت في مهرجان الورود بقلعة مكونة؟", "roses", "40 تعاونية نسائية"),
    ("كم بلغ عدد زوار معرض الفرس في مدينة الجديدة؟", "horse-fair", "220 ألف زائر"),
])
def test_each_format_answers_its_own_question(library, question, source_id, fact):
    assert_answered(library[2], question, source_id, fact)


def test_metadata_reaches_the_citation(library):
    a = library[2]
    md = assert_answered(a, "كم تبلغ السعة التخزينية لسد الوحدة؟", "al-wahda-dam", "3.7").citations[0]
    assert (md.title, md.origin, md.date) == ("سد الوحدة", "https://example.org/ar/dams/al-wahda", "2024-05-10")
    html = assert_answered(a, "كم مخطوطة تضم قاعة المخطوطات النادرة في مكتبة الإسكندرية؟", "manuscripts", "2500").citations[0]
    assert (html.title, html.origin, html.date) == ("قاعة جديدة للمخطوطات في مكتبة الإسكندرية",
                                                    "https://news.example.com/library/manuscripts", "2025-03-14")
    pdf = assert_answered(a, "كم يبلغ طول الجسر المعلق فوق وادي أبي رقراق؟", "bridge", "950").citations[0]
    assert (pdf.title, pdf.origin, pdf.date) == ("الجسر المعلق", "bridge.pdf", "2025-11-24")
    docx = assert_answered(a, "كم بلغ إنتاج الزعفران في تالوين خلال موسم 2023؟", "saffron", "6.8").citations[0]
    assert (docx.title, docx.origin) == ("زعفران تالوين", "saffron.docx")
    txt = a.source("ifrane-weather")
    assert txt.origin == "ifrane-weather.txt" and txt.title.startswith("سجلت محطة الرصد")


def test_html_keeps_the_article_and_drops_scripts_navigation_share_and_ads(library):
    text = library[2].source("manuscripts").text
    assert "2500 مخطوطة" in text and "حجز موعد مسبق" in text
    for junk in ("dataLayer", "adsbygoogle", "googletag", "font-family", "الرئيسية", "شارك على فيسبوك",
                 "أسعار الذهب", "جميع الحقوق", "عاجل"):
        assert junk not in text


def test_markdown_is_read_as_plain_text(library):
    assert library[2].source("al-wahda-dam").text.split("\n\n") == [
        "سد الوحدة",
        "يعد سد الوحدة أكبر سد في المغرب، وتبلغ السعة التخزينية لسد الوحدة نحو 3.7 مليار متر مكعب.",
        "السنة | نسبة الملء\n2024 | 41%",  # a table row a line, cells joined as in DOCX tables
    ]


MARKDOWN_CASES = [
    ("# عنوان #\n\nنص", "عنوان\n\nنص"),
    ("عنوان\n=====\n\nنص\n\n---\n\n***", "عنوان\n\nنص"),
    ("يعد **سد _الوحدة_** أكبر `سد`", "يعد سد الوحدة أكبر سد"),
    ("في [المغرب](https://x.org/a_(b)) و[الرباط][r]\n\n[r]: https://y.org", "في المغرب والرباط"),
    ("![صورة السد](dam.png)", "صورة السد"),
    ("> اقتباس أول\n> وثان", "اقتباس أول\nوثان"),
    ("<!-- ملاحظة -->\n\nنص", "نص"),
    ("<div class=\"box\">نص <b>عريض</b></div>", "نص عريض"),
    ("```python\nx = 1\n```", "x = 1"),
    ("مقدمة\n\n- أول\n- ثان\n  - فرعي\n\n1. واحد\n2. اثنان", "مقدمة\n\nأول\nثان\nفرعي\n\n1. واحد\n2. اثنان"),
    ("| أ | ب |\n|:---|---:|\n| 1 | **2** |", "أ | ب\n1 | 2"),
    ("a*b*c 2*3*4 snake_case_name", "abc 234 snake_case_name"),
    ("سطر أول\nسطر ثان", "سطر أول\nسطر ثان"),
]


@pytest.mark.parametrize(("markdown", "text"), MARKDOWN_CASES)
def test_markdown_markup_becomes_the_words_a_person_reads(markdown: str, text: str) -> None:
    from assistant.formats.markdown import to_text

    assert to_text(markdown) == text


def test_the_article_reads_the_same_through_the_markdown_parser() -> None:
    """The seed article's text (and so every eval figure) is what it was under the old pattern rules."""
    from assistant.sources import read_source

    src = read_source(ARTICLE)
    assert src.content_hash == "c0dbc8e9dd2aca4a699d19ae3f56b5e38bb61903e138f82260225cb43b7c743e"


def test_docx_keeps_headings_paragraphs_and_table_rows(library):
    text = library[2].source("saffron").text
    assert text.split("\n\n") == ["زعفران تالوين", *DOCX, "المنتج | سعر الكيلوغرام", "زعفران تالوين الحر | 35 ألف درهم"]


def test_pdf_arabic_comes_back_in_logical_order(library):
    """Shaped PDF: numbers, ranges, percentages, brackets and joined letters all as they were typed."""
    assert library[2].source("bridge").text.split("\n\n") == ["الجسر المعلق محمد السادس", *PDF]


def test_libreoffice_pdf_comes_back_in_logical_order(library):
    """A PDF exported by LibreOffice: a paragraph over three lines, Latin words, «» and harakat."""
    assert library[2].source("roses").text.split("\n\n") == [nfc(p) for p in LIBREOFFICE]


def test_presentation_form_pdf_is_mapped_back_to_letters(library):
    """Old-style PDFs hold presentation forms (U+FB50-U+FEFF) in visual order: plain letters, logical order."""
    text = library[2].source("tiznit").text
    assert text.split("\n\n") == PRESENTATION
    assert not any("\ufb50" <= c <= "\ufeff" for c in text)


def test_citation_context_survives_the_original_file_changing(library, tmp_path):
    """The index keeps each source's text: the file in sources/ may change or go, citations still resolve."""
    settings, _, _ = library
    moved = settings.sources / "ifrane-weather.txt"
    original = moved.read_bytes()
    try:
        moved.write_text("نص آخر لا علاقة له بالطقس.", encoding="utf-8")
        assert_answered(Assistant(settings), "كم بلغت أدنى درجة حرارة سجلتها محطة الرصد الجوي في إفران؟",
                        "ifrane-weather", "ناقص 14 درجة")
        moved.rename(tmp_path / "elsewhere.txt")
        assert_answered(Assistant(settings), "كم بلغت أدنى درجة حرارة سجلتها محطة الرصد الجوي في إفران؟",
                        "ifrane-weather", "ناقص 14 درجة")
    finally:
        moved.write_bytes(original)


def test_cli_add_sources_remove(tmp_path, monkeypatch, capsys):
    """``assistant add`` a folder, ``assistant sources`` lists id/title/origin/chunks/date/hash, ``remove`` drops one."""
    from assistant import cli

    from conftest import ROOT

    home = tmp_path / "home"
    (home / "sources").mkdir(parents=True)
    for k, v in {"HOME": home, "EMBED_MODEL": "hash", "PROMPTS_DIR": ROOT / "prompts"}.items():
        monkeypatch.setenv(f"ASSISTANT_{k}", str(v))
    incoming = tmp_path / "in"
    incoming.mkdir()
    (incoming / "ifrane-weather.txt").write_text(TXT, encoding="utf-8")
    (incoming / "al-wahda-dam.md").write_text(MD, encoding="utf-8")
    assert cli.main(["add", str(incoming)]) == 0
    capsys.readouterr()
    assert cli.main(["sources", "--json"]) == 0
    listed = {s["source_id"]: s for s in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"ifrane-weather", "al-wahda-dam"}
    dam = listed["al-wahda-dam"]
    assert dam["title"] == "سد الوحدة" and dam["origin"].startswith("https://") and dam["chunks"] >= 1
    assert dam["added"] and len(dam["content_hash"]) == 64 and dam["date"] == "2024-05-10"
    assert cli.main(["remove", "al-wahda-dam"]) == 0
    assert [s.source_id for s in Assistant(make_settings(home)).sources()] == ["ifrane-weather"]
    assert not (home / "sources" / "al-wahda-dam.md").exists()


# ------------------------------------------------------------------ visual to logical order, glyph by glyph


def glyphs(visual: str) -> list[Glyph]:
    """One glyph per character of ``visual`` (left to right), 5 points wide, font size 10."""
    return [Glyph(5.0 * i, 5.0 * i + 5, 0, 10, 10, ch, order=i) for i, ch in enumerate(visual)]


@pytest.mark.parametrize("visual, logical", [
    ("ربنون 27-24 يف", "في 24-27 نونبر"),                  # Arabic numbers: "-" does not join them
    ("ابيرقت %12.5 ةبسنب", "بنسبة 12.5% تقريبا"),          # the percent sign stays after the number
    ("24/11/2025 خيراتب عامتجا", "اجتماع بتاريخ 24/11/2025"),  # separators between digits join
    ("ديدجلا Rosa damascena 2 عورشم", "مشروع Rosa damascena 2 الجديد"),  # a Latin run reads left to right
    ("(رشع عساتلا نرقلا نم)", "(من القرن التاسع عشر)"),       # brackets typed are brackets read
    (")رشع عساتلا نرقلا نم(", "(من القرن التاسع عشر)"),       # brackets mapped to their mirrored shape
])
def test_visual_to_logical_rtl_line(visual, logical):
    assert visual_to_logical(glyphs(visual), rtl=True) == logical


def test_visual_to_logical_keeps_ligatures_and_ltr_lines():
    # a lam-alef ligature is one glyph whose text is already in logical order
    lam_alef = [Glyph(0, 5, 0, 10, 10, "لا"), Glyph(5, 8, 0, 10, 10, "إ")]
    assert visual_to_logical(lam_alef, rtl=True) == "إلا"
    assert visual_to_logical(glyphs("The word مالس means peace"), rtl=False) == "The word سلام means peace"


def test_presentation_forms_become_plain_letters():
    assert normalize_glyph_text("\ufefb") == "لا"  # lam-alef isolated
    assert normalize_glyph_text("\ufe8e\ufedf") == "ال"  # alef final, lam initial
    assert normalize_glyph_text("\ufe77") == "\u064e"  # fatha medial: the mark alone, no space
    assert normalize_glyph_text("abc ١٢٣") == "abc ١٢٣"


def test_docx_text_boxes_are_read_once(tmp_path):
    """A text box is stored twice in a .docx (drawing and legacy fallback): its text must come once."""
    import zipfile

    path = docx_file(tmp_path / "box.docx", ["فقرة عادية قبل مربع النص."])
    box = ('<w:p><w:r><mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">'
           '<mc:Choice Requires="wps"><w:drawing><w:txbxContent><w:p><w:r><w:t>نص داخل المربع.</w:t></w:r></w:p>'
           '</w:txbxContent></w:drawing></mc:Choice><mc:Fallback><w:pict><w:txbxContent><w:p><w:r>'
           '<w:t>نص داخل المربع.</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent>'
           '<w:t>نص المربع الخارجي</w:t></w:r></w:p>')
    with zipfile.ZipFile(path) as zin:
        parts = {n: zin.read(n) for n in zin.namelist()}
    xml = parts["word/document.xml"].decode("utf-8")
    parts["word/document.xml"] = xml.replace("<w:sectPr", box + "<w:sectPr", 1).encode("utf-8")
    with zipfile.ZipFile(path, "w") as zout:
        for n, data in parts.items():
            zout.writestr(n, data)
    _, text = read_docx(path, path.read_bytes())
    assert text.split("\n\n") == ["فقرة عادية قبل مربع النص.", "نص المربع الخارجي", "نص داخل المربع."]


def test_pdf_and_docx_of_the_same_text_are_duplicates(tmp_path):
    """The PDF reader gives back exactly the typed text: the same content as a .docx is a duplicate."""
    pdf = read_source(arabic_pdf(tmp_path / "a.pdf", PDF))
    docx = read_source(docx_file(tmp_path / "b.docx", PDF))
    assert pdf.text == docx.text and pdf.content_hash == docx.content_hash
    meta, _ = read_pdf(LIBREOFFICE_PDF, LIBREOFFICE_PDF.read_bytes())
    assert meta["title"] == LIBREOFFICE[0]


def test_pdf_pages_running_heads_and_page_numbers_are_dropped(tmp_path):
    """A long PDF: every paragraph comes back once, in order; the head and page number of each page do not."""
    paragraphs = [f"الفقرة رقم {i}: {PDF[1]}" for i in range(1, 40)]
    path = arabic_pdf(tmp_path / "long.pdf", paragraphs, running_head="مجلة الأشغال العمومية")
    import pypdf

    assert len(pypdf.PdfReader(str(path)).pages) >= 3
    _, text = read_pdf(path, path.read_bytes())
    text, pages = split_pages(text)  # the reader marks where each page starts
    assert text.split("\n\n") == paragraphs and len(pages) >= 3


def test_a_citation_into_a_pdf_names_its_page(tmp_path: Path) -> None:
    """Each page's text keeps where it starts: a quote on the third page is cited «ص 3», in the CLI too."""
    from assistant import cli
    from assistant.ingest import add_files
    from assistant.service import Assistant
    from makedocs import _pdf

    pdf = _pdf("تقرير من ثلاث صفحات")
    pdf.set_text_shaping(use_shaping_engine=True)
    for para in ("افتتحت مدينة فاس معرضا للكتاب شارك فيه ناشرون من عشرين بلدا.",
                 "وعرضت دور النشر المغربية أكثر من ثلاثة آلاف عنوان جديد في المعرض.",
                 "وبلغ عدد زوار المعرض في أيامه الخمسة نحو 85 ألف زائر حسب المنظمين."):
        pdf.add_page()
        pdf.multi_cell(0, 10, para, align="R")
    pdf.output(str(tmp_path / "report.pdf"))
    settings = make_settings(tmp_path / "home")
    assert add_files(settings, [tmp_path / "report.pdf"]).added == ["report"]
    src = Assistant(settings).source("report")
    assert src is not None and len(src.pages) == 3 and src.pages[0] == 0 and "\ue000" not in src.text
    ans = Assistant(settings).ask("كم بلغ عدد زوار معرض الكتاب في فاس؟", mode="keyword")
    assert "85" in ans.text and ans.citations[0].page == 3
    assert ans.to_dict()["citations"][0]["page"] == 3
    assert "ص 3" in cli.render_answer(ans)


def test_a_two_column_page_is_read_right_column_first(tmp_path: Path) -> None:
    """A newspaper layout: the heading over both columns, then the right column, then the left, never
    a line of one joined to a line of the other."""
    from assistant.formats.pdf import read_pdf
    from makedocs import _pdf

    right = ("افتتحت مدينة فاس معرضا دوليا للكتاب شارك فيه ناشرون من عشرين بلدا عربيا وأجنبيا، وعرضت فيه دور"
             " النشر المغربية أكثر من ثلاثة آلاف عنوان جديد في الأدب والتاريخ والعلوم.")
    left = ("وبلغ عدد زوار المعرض في أيامه الخمسة نحو خمسة وثمانين ألف زائر حسب المنظمين، وأقيمت على هامشه ندوات"
            " عن الترجمة والنشر الرقمي وحقوق المؤلفين في العالم العربي.")
    pdf = _pdf("عمودان")
    pdf.set_text_shaping(use_shaping_engine=True)
    pdf.add_page()
    pdf.set_font_size(16)
    pdf.multi_cell(0, 10, "معرض الكتاب في فاس", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(12)
    y = pdf.get_y()
    pdf.set_xy(110, y)
    pdf.multi_cell(90, 8, right, align="R")
    pdf.set_xy(10, y)
    pdf.multi_cell(90, 8, left, align="R")
    pdf.output(str(tmp_path / "columns.pdf"))
    text, _ = split_pages(read_pdf(tmp_path / "columns.pdf", (tmp_path / "columns.pdf").read_bytes())[1])
    assert text.split("\n\n") == ["معرض الكتاب في فاس", right, left]

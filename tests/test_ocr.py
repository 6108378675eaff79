"""Arabic OCR, offline: scans and photographed pages are read, measured against the text they were made from."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from assistant.errors import SourceError
from assistant.formats import ocr
from assistant.formats.image import read_image
from assistant.ingest import add_files, sync
from assistant.service import Assistant
from conftest import make_settings
from makedocs import BOLD_FONT, FONT, _pdf, arabic_pdf

PARAGRAPHS = [
    "وشهدت هذه الدورة مشاركة غير مسبوقة لوزراء ورؤساء أجهزة إنفاذ القانون من 181 دولة عضوًا في منظمة الإنتربول،"
    " اجتمعوا على مدى أربعة أيام بفضاء حدائق المنارة بمراكش.",
    "وتوجت هذه الدينامية بتوقيع مذكرتي تفاهم مع كل من الشرطة الوطنية النرويجية والشرطة الفيدرالية الإثيوبية.",
]


def cer(got: str, want: str) -> float:
    """Character error rate: edit distance over the reference length (spaces squeezed on both sides)."""
    a, b = " ".join(got.split()), " ".join(want.split())
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1] / max(len(b), 1)


def scan(tmp_path: Path, dpi: int = 200, skew: float = 1.5, noise: float = 0.02, font: Path = FONT) -> bytes:
    """A 'photographed page': the paragraphs typeset (HarfBuzz-shaped), rasterised, skewed and speckled."""
    import pypdfium2
    from PIL import Image

    pdf = arabic_pdf(tmp_path / "page.pdf", PARAGRAPHS, font=font)
    page = pypdfium2.PdfDocument(str(pdf))[0].render(scale=dpi / 72).to_pil().convert("L")
    page = page.rotate(skew, expand=True, fillcolor=255)
    rng = random.Random(7)
    px = page.load()
    for _ in range(int(page.width * page.height * noise)):
        px[rng.randrange(page.width), rng.randrange(page.height)] = rng.choice((0, 255))
    buf = io.BytesIO()
    Image.Image.save(page, buf, format="PNG")
    return buf.getvalue()


# never skipped: scripts/setup.sh installs Tesseract and its Arabic model (a missing engine fails with how to install it)


@pytest.mark.parametrize("font", [FONT, BOLD_FONT], ids=["regular", "bold"])
@pytest.mark.parametrize("dpi", [150, 300])
def test_a_skewed_noisy_scan_is_read_closely(tmp_path: Path, dpi: int, font: Path) -> None:
    meta, text = read_image(tmp_path / "page.png", scan(tmp_path, dpi=dpi, font=font))
    text = text.replace("\ue000", "")  # the page mark
    error = cer(text, "\n".join(PARAGRAPHS))
    print(f"OCR of DejaVu Sans {'Bold' if font == BOLD_FONT else 'Book'} at {dpi} dpi, 1.5° skew, 2% speckle: CER {error:.3f}, "
          f"mean line confidence {meta['ocr_confidence']}")
    words = set("\n".join(PARAGRAPHS).split())
    found = len(words & set(text.split())) / len(words)
    assert error < 0.05 and found > 0.85  # (numbers are OCR's weak spot: 181 is read right on 23 of 24 pages)
    assert 0 < meta["ocr_confidence"] <= 100


@pytest.mark.parametrize("skew", [4.0, -3.0])
def test_a_page_photographed_at_an_angle_is_straightened_before_it_is_read(tmp_path: Path, skew: float) -> None:
    """Without the deskew these pages lost whole lines (CER 0.43 at 4°, 150 dpi): Tesseract split each tilted line."""
    from PIL import Image

    data = scan(tmp_path, dpi=150, skew=skew)
    assert abs(ocr.skew_angle(Image.open(io.BytesIO(data)).convert("L")) + skew) <= 0.3
    _, text = read_image(tmp_path / "page.png", data)
    assert cer(text.replace("\ue000", ""), "\n".join(PARAGRAPHS)) < 0.05


def test_a_line_the_layout_analysis_drops_is_read_on_its_own(tmp_path: Path) -> None:
    """Tesseract's layout analysis dropped the first line of this bold 300 dpi page (CER 0.12 to 0.28)."""
    from PIL import Image

    pages: list = []
    lines = ocr.read_lines(Image.open(io.BytesIO(scan(tmp_path, dpi=300, font=BOLD_FONT))), pages)
    page, text = pages[0], ocr.page_text(lines)
    assert cer(text, "\n".join(PARAGRAPHS)) < 0.05
    assert [ln.box[1] for ln in lines] == sorted(ln.box[1] for ln in lines)  # in reading order, top to bottom
    assert not ocr.missed_bands(page, lines)


def test_a_number_misread_inside_arabic_is_read_again_and_one_joined_to_letters_is_left() -> None:
    """Tesseract's Arabic model read 181 as 151 on the 200 dpi test page; the number is re-read on its own."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (420, 90), 255)
    ImageDraw.Draw(img).text((40, 20), "181", font=ImageFont.truetype(str(FONT), 40), fill=0)
    box = (30, 15, 130, 75)
    assert ocr.reread_number(img, "151", box) == "181"
    assert ocr.reread_number(img, "151،", box) == "181،"  # its punctuation kept
    assert ocr.reread_number(img, "و151", box) == "و151"  # letters in the word would be read as digits
    assert ocr.reread_number(img, "مراكش", box) == "مراكش"


def test_a_scanned_pdf_and_a_photo_are_answered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.ingest import sync

    img = scan(tmp_path)
    (tmp_path / "photo.png").write_bytes(img)
    pdf = _pdf()
    for _ in range(2):
        pdf.add_page()
        pdf.image(io.BytesIO(img), x=5, y=5, w=200)
    pdf.output(str(tmp_path / "scan.pdf"))
    read = []
    real_read_lines = ocr.read_lines
    monkeypatch.setattr(ocr, "read_lines", lambda page, *rest: read.append(1) or real_read_lines(page, *rest))
    settings = make_settings(tmp_path / "home")
    said: list[str] = []
    report = add_files(settings, [tmp_path / "scan.pdf"], progress=said.append)
    assert report.added == ["scan"] and not report.failed
    assert [m for m in said if "الصفحة" in m] == [f"قراءة ضوئية للحروف: الصفحة {n} من 2 في «scan.pdf»" for n in (1, 2)]
    assert len(read) == 2  # checked on the way in, then indexed: each page OCR'd once
    sync(settings)
    assert len(read) == 2  # a later sync does not read an unchanged file again
    ans = Assistant(settings).ask("كم عدد الدول التي شاركت في الدورة؟", mode="keyword")
    assert "181" in ans.text and ans.citations[0].source_id == "scan" and ans.citations[0].page in (1, 2)
    ans = Assistant(settings).ask("في أي فضاء اجتمع ممثلو الدول؟", mode="keyword")
    assert "حدائق المنارة" in ans.text and ans.citations[0].source_id == "scan" and ans.citations[0].page in (1, 2)
    report = add_files(settings, [tmp_path / "photo.png"])
    assert report.added == ["photo"] and not report.failed


def test_a_decompression_bomb_and_a_fake_image_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buf, format="PNG")  # 100 Mpx in a few kB
    monkeypatch.setattr("assistant.formats.image.require_engine", lambda: None)  # the bound holds without an engine
    with pytest.raises(SourceError) as err:
        read_image(tmp_path / "bomb.png", buf.getvalue())
    assert err.value.key == "image_too_large"
    with pytest.raises(SourceError) as err:
        read_image(tmp_path / "fake.png", b"\x89PNG\r\n\x1a\nnot really")
    assert err.value.key == "corrupt"


def test_without_the_engine_the_message_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr, "available", lambda: False)
    with pytest.raises(SourceError) as err:
        read_image(tmp_path / "page.png", b"irrelevant")
    assert err.value.key == "ocr_missing" and "tesseract-ocr-ara" in SourceError("ocr_missing", name="page.png").text()


def test_a_scan_over_the_page_limit_is_refused_and_the_index_kept(tmp_path: Path) -> None:
    img = scan(tmp_path)
    pdf = _pdf()
    for _ in range(3):
        pdf.add_page()
        pdf.image(io.BytesIO(img), x=5, y=5, w=200)
    pdf.output(str(tmp_path / "long-scan.pdf"))
    settings = make_settings(tmp_path / "home", max_pages=2)
    (settings.sources / "note.txt").write_text("مذكرة قصيرة عن مهرجان الزيتون في مدينة وزان.", encoding="utf-8")
    before = sync(settings)
    report = add_files(settings, [tmp_path / "long-scan.pdf"])
    assert not report.added and "3 صفحة" in report.failed["long-scan.pdf"] and "2 صفحة" in report.failed["long-scan.pdf"]
    assert [s.source_id for s in Assistant(settings).sources()] == ["note"] and before.added == ["note"]
    assert not (settings.sources / "long-scan.pdf").exists()


def test_a_citation_into_a_scan_shows_the_page_with_the_cited_lines_boxed(tmp_path: Path) -> None:
    from assistant import scans
    from assistant.web import Texts, WebApp, render_citation

    (tmp_path / "photo.png").write_bytes(scan(tmp_path))
    settings = make_settings(tmp_path / "home")
    assert add_files(settings, [tmp_path / "photo.png"]).added == ["photo"]
    a = Assistant(settings)
    ans = a.ask("كم عدد الدول التي شاركت في الدورة؟", mode="keyword")
    c = ans.citations[0]
    src = a.source(c.source_id)
    assert c.page == 1 and src.file_hash
    page = scans.load_page(settings.index / scans.SCANS_DIRNAME, src.file_hash, 1)
    assert page is not None and page.jpeg[:2] == b"\xff\xd8" and len(page.lines) >= 2
    boxes = scans.cited_boxes(page, c.quote)
    assert boxes and all(0 <= x < 100 and 0 <= y < 100 and 0 < w <= 100 and 0 < h <= 100 for x, y, w, h in boxes)
    assert len(boxes) < len(page.lines)  # the cited lines, not the whole page
    html = render_citation(0, c.__dict__ | {"page": c.page}, src, Texts(settings.prompts), scan=page)
    assert 'src="data:image/jpeg;base64,' in html and html.count('class="ocr-box"') == len(boxes)
    # the web app finds the page itself from the answer kept in the conversation
    app = WebApp(a)
    turns = [{"question": ans.question, "answer": app_answer(ans)}]
    viewer = app._open_citation("cite", 0, c.n, turns, None)
    assert "ocr-box" in viewer and "الصفحة 1 من المسح الضوئي" in viewer
    from assistant.ingest import remove_source

    remove_source(settings, "photo")  # its page images go with it
    assert not (settings.index / scans.SCANS_DIRNAME / src.file_hash).exists()


def app_answer(answer):  # type: ignore[no-untyped-def]
    """An answer as the web chat keeps it in a conversation."""
    return answer.to_dict()


def test_a_scan_inside_a_pdf_is_read_from_its_own_pixels(tmp_path: Path) -> None:
    """A scanned page placed in a PDF is OCR'd as it was taken: rendered at 300 dpi it was drawn larger and its
    specks grew into marks read as letters (character error 0.26 on this page, 0.004 from the image itself)."""
    from assistant.sources import read_source

    pdf = _pdf()
    pdf.add_page()
    pdf.image(io.BytesIO(scan(tmp_path)), x=5, y=5, w=200)
    pdf.output(str(tmp_path / "scan.pdf"))
    text = read_source(tmp_path / "scan.pdf").text
    error = cer(text, "\n".join(PARAGRAPHS))
    print(f"scanned PDF: CER {error:.3f}")
    assert error < 0.03 and "181 دولة عضوًا في منظمة الإنتربول" in text


def test_a_photo_of_the_articles_second_paragraph_alone_answers_181_with_its_page(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """The issue's check, through the CLI as a person would: `assistant add page.png`, then the 181 question."""
    import json

    import pypdfium2
    from PIL import Image

    from assistant import arabic, cli
    from assistant.sources import read_source
    from conftest import ARTICLE, ROOT, model_cache

    article = read_source(ARTICLE).text
    second = [article[a:b] for a, b in arabic.paragraph_spans(article)][1]
    pdf = arabic_pdf(tmp_path / "para.pdf", [second])
    page = pypdfium2.PdfDocument(str(pdf))[0].render(scale=200 / 72).to_pil().convert("L").rotate(1.5, expand=True, fillcolor=255)
    rng = random.Random(3)
    px = page.load()
    for _ in range(int(page.width * page.height * 0.02)):
        px[rng.randrange(page.width), rng.randrange(page.height)] = rng.choice((0, 255))
    Image.Image.save(page, tmp_path / "page.png")
    for k, v in {"HOME": tmp_path / "home", "EMBED_MODEL": "e5-small", "PROMPTS_DIR": ROOT / "prompts",
                 "CACHE_DIR": model_cache()}.items():
        monkeypatch.setenv(f"ASSISTANT_{k}", str(v))
    (tmp_path / "home" / "sources").mkdir(parents=True)
    assert cli.main(["add", str(tmp_path / "page.png")]) == 0
    capsys.readouterr()
    assert cli.main(["ask", "--json", "كم عدد الدول التي شاركت في الجمعية العامة؟"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert not data["refused"] and "181" in data["answer"]
    cited = data["citations"][0]
    assert cited["source_id"] == "page" and cited["page"] == 1

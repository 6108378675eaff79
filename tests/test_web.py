"""The web chat: rendering is escaped, the structured API returns the answer object, and an end-to-end
browser run (Debian's chromium driven by playwright) asks, opens a citation, follows up, adds sources
and checks that markup in a source is shown as text.

The app runs in-process on a free port with the hash embedding (fast, deterministic). The hash embedding
gives low dense scores, so these tests lower ``min_score``: they test the interface, not answer quality.
Screenshots go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from pathlib import Path

import pytest

from conftest import ARTICLE, ARTICLE_ID, ROOT, make_settings

ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("ASSISTANT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-quic", "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]
MIN_SCORE = 0.25

Q_COUNTRIES = "كم عدد الدول المشاركة في الدورة؟"
Q_FOLLOW = "وأين اجتمعوا؟"
OLIVE_TEXT = ("مهرجان الزيتون في تاونات\n\n"
              "انطلقت الدورة العشرون من مهرجان الزيتون في مدينة تاونات يوم 12 مارس 2026، "
              "بمشاركة 350 عارضًا من مختلف جهات المملكة، وسط إقبال كبير من الزوار.\n")
Q_OLIVE = "كم عارضًا شارك في مهرجان الزيتون بتاونات؟"
MARKUP_TITLE = "وثيقة <b>تجريبية</b> فيها وسوم"
MARKUP_TEXT = ("تنص هذه الوثيقة التجريبية على أن مختبر السلامة الرقمية في فاس يختبر عرض الوسوم "
               "<script>window.__pwned = 1</script> و<img src=x onerror=\"window.__pwned=2\"> و<b>نص غامق</b> "
               "كما هي دون تنفيذ، وأن عدد المختبرين فيه 27 مختبرًا.")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def web_app(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The app served in-process on a free port over a hash-embedding index of the article."""
    from assistant import web
    from assistant.service import Assistant

    home = tmp_path_factory.mktemp("web")
    settings = make_settings(home, min_score=MIN_SCORE)
    shutil.copy(ARTICLE, settings.sources / ARTICLE.name)
    assistant = Assistant(settings)
    assistant.sync()
    demo = web.build_app(assistant)
    port = free_port()
    web.launch(demo, "127.0.0.1", port, block=False)
    try:
        yield {"url": f"http://127.0.0.1:{port}/", "assistant": assistant, "settings": settings}
    finally:
        demo.close()


# ------------------------------------------------------------------------------------------------
# Rendering, without a server


@pytest.fixture
def texts():  # type: ignore[no-untyped-def]
    from assistant.web import Texts

    return Texts(ROOT / "prompts")


def test_interface_text_is_arabic_and_complete(texts) -> None:  # type: ignore[no-untyped-def]
    import re

    import yaml

    ui = yaml.safe_load((ROOT / "prompts" / "ui.yaml").read_text(encoding="utf-8"))
    assert ui and all(k.startswith("ui_") for k in ui)
    used = set(re.findall(r'"(ui_[a-z_]+)"', (ROOT / "assistant" / "web.py").read_text(encoding="utf-8")))
    assert used <= set(ui), f"missing in prompts/ui.yaml: {sorted(used - set(ui))}"
    arabic_letter = re.compile("[\u0600-\u06ff]")
    assert all(arabic_letter.search(str(v)) for v in ui.values())
    assert len(texts.examples()) >= 3


def test_answer_rendering_escapes_and_links_only_real_markers(texts) -> None:  # type: ignore[no-untyped-def]
    from assistant.web import render_answer

    answer = {"question": "<i>q</i>", "resolved_question": "<i>q</i> مراكش", "refused": False,
              "answer": "نص <script>alert(1)</script> [1] وذكر [7] وعلامة [١]",
              "citations": [{"n": 1, "source_id": "s", "title": "<b>عنوان</b>", "paragraph": 2, "start": 0, "end": 3, "quote": "نص"}]}
    out = render_answer(3, answer, texts)
    assert "<script>" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "<b>" not in out and "&lt;b&gt;عنوان&lt;/b&gt;" in out
    assert out.count('href="#cite-3-1"') == 3  # marker [1], Arabic-Indic marker [١], and the sources list
    assert "#cite-3-7" not in out and "[7]" in out  # not a citation of this answer: left as text
    assert "&lt;i&gt;q&lt;/i&gt; مراكش" in out  # the resolved question, escaped, shown discreetly
    assert 'class="copy-answer"' in out


def test_citation_viewer_marks_the_quote_inside_its_paragraph(texts) -> None:  # type: ignore[no-untyped-def]
    from assistant.models import Source
    from assistant.web import render_citation

    text = "فقرة أولى.\n\nقبل <b>المقتبس</b> بعده.\n\nفقرة ثالثة."
    start = text.index("<b>")
    end = start + len("<b>المقتبس</b>")
    src = Source(source_id="s", title="عنوان <i>x</i>", text=text, content_hash="h", date="2025-11-24")
    c = {"n": 1, "source_id": "s", "title": src.title, "paragraph": 2, "start": start, "end": end, "quote": text[start:end]}
    out = render_citation(0, c, src, texts)
    assert "<mark>&lt;b&gt;المقتبس&lt;/b&gt;</mark>" in out
    assert 'class="para cited"' in out and out.count('class="para context"') == 2
    assert "<i>" not in out and "<b>" not in out
    assert '<bdi dir="ltr">2025-11-24</bdi>' in out  # a date keeps its order in right-to-left text
    # the source changed since: the quote is found elsewhere, or shown alone with a note
    moved = Source(source_id="s", title="t", text="سطر جديد.\n\n" + text, content_hash="h2")
    assert "<mark>&lt;b&gt;المقتبس&lt;/b&gt;</mark>" in render_citation(0, c, moved, texts)
    gone = render_citation(0, c, None, texts)
    assert texts("ui_viewer_missing_source") in gone and "<mark>" in gone


def test_upload_names_are_sanitised() -> None:
    from assistant.sources import SourceError
    from assistant.web import safe_name

    assert safe_name("مقال الإنتربول.md") == "مقال الإنتربول.md"
    for bad in ("..", ".hidden.md", "", "/", "../../etc/passwd.md", "a/b/../c.txt", "..\\..\\x.txt", "/etc/x.md"):
        with pytest.raises(SourceError):
            safe_name(bad)


def test_serve_reports_a_busy_port_in_arabic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.web import serve

    settings = make_settings(tmp_path)
    shutil.copy(ARTICLE, settings.sources / ARTICLE.name)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert serve(settings.replace(port=port), ingest_first=True) == 1
    out = capsys.readouterr()
    assert "يبدأ المساعد" in out.out and "الفهرس محدَّث" in out.out
    assert str(port) in out.err and "تعذّر تشغيل الخادم" in out.err


# ------------------------------------------------------------------------------------------------
# Structured API through gradio_client


def test_api_returns_the_answer_object(web_app) -> None:  # type: ignore[no-untyped-def]
    from gradio_client import Client

    client = Client(web_app["url"], verbose=False)
    assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == {"/ask", "/sources", "/source"}
    d = client.predict(question=Q_COUNTRIES, api_name="/ask")
    assert isinstance(d, dict) and d["refused"] is False and "181" in d["answer"]
    c = d["citations"][0]
    assert c["source_id"] == ARTICLE_ID and c["paragraph"] == 2 and "[1]" in d["answer"]
    src = client.predict(source_id=ARTICLE_ID, api_name="/source")
    assert src["text"][c["start"]:c["end"]] == c["quote"] and "path" not in src
    follow = client.predict(question=Q_FOLLOW, history=[Q_COUNTRIES], api_name="/ask")
    assert follow["question"] == Q_FOLLOW and "الدول" in follow["resolved_question"]
    alone = client.predict(question=Q_FOLLOW, api_name="/ask")
    assert alone["resolved_question"] == Q_FOLLOW
    listed = client.predict(api_name="/sources")
    assert [s["source_id"] for s in listed] == [ARTICLE_ID] and "text" not in listed[0] and "path" not in listed[0]
    with pytest.raises(Exception, match="السؤال فارغ"):
        client.predict(question="   ", api_name="/ask")


# ------------------------------------------------------------------------------------------------
# End to end in a browser


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (scripts/setup.sh --test installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield b
        b.close()


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def _ask(page, question: str, n_answers: int):  # type: ignore[no-untyped-def]
    """Type a question, send it, wait for answer number ``n_answers`` (1-based) and return its locator."""
    page.fill("#question textarea", question)
    page.click("#send")
    answer = page.locator("#chat .answer:not(.pending)").nth(n_answers - 1)
    answer.wait_for(timeout=30_000)
    return answer


@pytest.mark.browser
def test_browser_end_to_end(web_app, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    base = web_app["url"].rstrip("/")
    outside: list[str] = []
    ctx = browser.new_context(locale="ar", viewport={"width": 1400, "height": 1000})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)

    def guard(route) -> None:  # type: ignore[no-untyped-def]
        url = route.request.url
        if url.startswith(base) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    ctx.route("**/*", guard)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(web_app["url"])
    page.wait_for_selector("#question textarea")
    page.wait_for_selector("#sources-list a.open-source")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    # example questions are offered on the empty chat
    examples = page.locator("#chat").get_by_text("كم عدد الدول المشاركة في الدورة؟")
    assert examples.count() >= 1
    _shot(page, "web-01-empty.png")

    # 1. an article question: the answer and its citation
    a1 = _ask(page, Q_COUNTRIES, 1)
    assert "181" in a1.locator(".answer-text").inner_text()
    marker = a1.locator(".answer-text a.cite").first
    assert marker.inner_text().strip() == "[1]"
    assert "الفقرة 2" in a1.locator(".answer-sources").inner_text()
    _shot(page, "web-02-answer.png")

    # 2. open the citation: title, paragraph, and the cited sentence marked inside its paragraph
    marker.click()
    page.wait_for_selector("#source-viewer .viewer.citation mark")
    viewer = page.locator("#source-viewer")
    assert "للإنتربول بمراكش" in viewer.locator(".viewer-title").inner_text()
    assert "الفقرة 2" in viewer.locator(".viewer-meta").inner_text()
    assert "181" in viewer.locator("mark").inner_text()
    cited = viewer.locator(".para.cited").inner_text()
    assert "حدائق المنارة" in cited  # the surrounding text of the paragraph, not only the quote
    _shot(page, "web-03-citation.png")
    # ... and from there the whole document, the quote still marked
    viewer.locator("a.open-source").click()
    page.wait_for_selector("#source-viewer .viewer.source mark")
    assert viewer.locator(".para").count() >= 7 and "181" in viewer.locator("mark").inner_text()

    # copy the answer (to the clipboard, as text)
    a1.locator("button.copy-answer").click()
    page.wait_for_selector("#chat button.copy-answer.copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "181" in copied and "[1]" in copied and "<" not in copied

    # 3. a follow-up leaning on the previous turn: resolved against the history, shown under the answer
    a2 = _ask(page, Q_FOLLOW, 2)
    resolved = a2.locator(".resolved").inner_text()
    assert "الدول" in resolved and "اجتمعوا" in resolved
    _shot(page, "web-04-follow-up.png")

    # another tab has its own conversation: the same follow-up is not resolved there
    other = ctx.new_page()
    other.goto(web_app["url"])
    other.wait_for_selector("#question textarea")
    b1 = _ask(other, Q_FOLLOW, 1)
    assert b1.locator(".resolved").count() == 0
    other.close()

    # 4. add a small document by upload; a question only it answers is answered at once
    olive = tmp_path / "مهرجان الزيتون.txt"
    olive.write_text(OLIVE_TEXT, encoding="utf-8")
    page.locator("#upload input[type=file]").set_input_files(str(olive))
    page.wait_for_selector("#add-status .ok", timeout=60_000)
    assert "مهرجان الزيتون" in page.locator("#add-status").inner_text()
    page.wait_for_function("document.querySelectorAll('#sources-list a.open-source').length == 2")
    a3 = _ask(page, Q_OLIVE, 3)
    assert "350" in a3.locator(".answer-text").inner_text()
    a3.locator(".answer-text a.cite").first.click()
    page.wait_for_function("(document.querySelector('#source-viewer .viewer-title') || {}).innerText === 'مهرجان الزيتون في تاونات'")
    assert "350" in page.locator("#source-viewer mark").inner_text()
    _shot(page, "web-05-uploaded.png")

    # an unsupported file is refused with an Arabic reason in the page
    bad = tmp_path / "notes.exe"
    bad.write_bytes(b"MZ\x00\x01")
    page.locator("#upload input[type=file]").set_input_files(str(bad))
    page.wait_for_selector("#add-status li.error", timeout=30_000)
    assert "غير مدعومة" in page.locator("#add-status").inner_text()

    # 5. paste a source holding markup: it is shown as text, never run
    page.get_by_role("tab", name="لصق نص").click()
    page.fill("#paste-title textarea, #paste-title input", MARKUP_TITLE)
    page.fill("#paste-text textarea", MARKUP_TEXT)
    page.click("#paste-add")
    page.wait_for_function("document.querySelectorAll('#sources-list a.open-source').length == 3", timeout=60_000)
    link = page.locator("#sources-list a.open-source", has_text="<b>تجريبية</b>")
    assert link.count() == 1
    link.click()
    page.wait_for_function("(document.querySelector('#source-viewer .viewer-title') || {}).innerText === %r" % MARKUP_TITLE)
    body = page.locator("#source-viewer .viewer-body").inner_text()
    assert "<script>window.__pwned = 1</script>" in body and "<b>نص غامق</b>" in body and "<img src=x" in body
    assert page.locator("#source-viewer .viewer-body img, #source-viewer .viewer-body script, #source-viewer .viewer-body b").count() == 0
    a4 = _ask(page, "كم عدد المختبرين في مختبر السلامة الرقمية في فاس؟", 4)
    assert a4.locator("img, script, b").count() == 0
    assert "<" in a4.locator(".answer-sources").inner_text()  # the title's markup, as text
    _shot(page, "web-06-markup.png")
    assert page.evaluate("window.__pwned") is None

    # clear the chat: the examples come back, and clicking one asks it
    page.click("#clear")
    page.wait_for_function("document.querySelectorAll('#chat .answer').length == 0")
    page.locator("#chat").get_by_text(Q_COUNTRIES).click()
    first = page.locator("#chat .answer:not(.pending)").first
    first.wait_for(timeout=30_000)
    assert "181" in first.inner_text()

    assert not errors, errors
    assert not outside, f"the page tried to reach outside hosts: {outside}"
    ctx.close()
    assert time.perf_counter() - t0 < 90


def test_theme_uses_local_fonts_only() -> None:
    from gradio.themes.utils.fonts import GoogleFont

    from assistant.web import theme

    th = theme()
    assert not any(isinstance(f, GoogleFont) for f in [*th._font, *th._font_mono])
    assert "fonts.googleapis" not in th._get_theme_css()

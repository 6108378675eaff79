"""The web chat: rendering is escaped, the structured API returns the answer object, and an end-to-end
browser run (Debian's chromium driven by playwright) asks, opens a citation, follows up, adds sources
and checks that markup in a source is shown as text.

The app runs in-process on a free port with the hash embedding (fast, deterministic). The hash embedding
gives low dense scores, so these tests lower ``min_score``: they test the interface, not answer quality.
Screenshots go to tests/artifacts/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
import urllib.request
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
    code = [ROOT / "assistant" / "web.py", *sorted((ROOT / "assistant" / "templates").glob("*.html"))]
    used = {k for f in code for k in re.findall(r'"(ui_[a-z_]+)"', f.read_text(encoding="utf-8"))}
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


# The short answer (the answer's span): bold at the top, marked inside its quoted sentence, everything escaped.

SA_QUOTE = "شاركت في الدورة 181 دولة عضوًا ومنظمات دولية."
SA_SOURCE = "افتُتحت الدورة بمراكش.\n\nقبلها جملة. " + SA_QUOTE + " وبعدها جملة.\n\nواختُتمت يوم 27 نوفمبر."
SHORT_RE = r'<mark class="short-answer"[^>]*>(.*?)</mark>'


def _short_case(source_text: str, quote: str, span: str, **short_overrides):  # type: ignore[no-untyped-def]
    """An Answer (the extractive shape: the quote, then its marker) whose short answer is ``span`` in ``quote``."""
    from dataclasses import replace

    from assistant.models import Answer, Citation, Source, ShortAnswer

    cs = source_text.index(quote)
    ss = source_text.index(span, cs)
    src = Source(source_id="s", title="عنوان", text=source_text, content_hash="h")
    c = Citation(n=1, source_id="s", title="عنوان", paragraph=2, start=cs, end=cs + len(quote), quote=quote)
    sa = replace(ShortAnswer(text=span, source_id="s", start=ss, end=ss + len(span), citation=1), **short_overrides)
    assert short_overrides or source_text[sa.start:sa.end] == sa.text
    ans = Answer(question="كم دولة شاركت؟", text=f"{quote} [1]", refused=False, citations=(c,), short_answer=sa,
                 reader="trained")
    return ans, src


def _strip_tags(fragment: str) -> str:
    import html
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def _answer_text_html(out: str) -> str:
    import re

    return re.search(r'<div class="answer-text" dir="auto">(.*?)</div>', out).group(1)


@pytest.mark.parametrize("span", ["181 دولة", "شاركت", "دولية.", SA_QUOTE], ids=["middle", "start", "end", "whole"])
def test_short_answer_is_bold_on_top_and_marked_inside_the_quote(texts, span: str) -> None:  # type: ignore[no-untyped-def]
    import html
    import re

    from assistant.web import esc, render_answer

    ans, _ = _short_case(SA_SOURCE, SA_QUOTE, span)
    out = render_answer(0, ans.to_dict(), texts)
    top = f'<strong class="short-answer-text" dir="auto">{esc(span)}</strong>'
    assert out.index(texts("ui_short_answer")) < out.index(top) < out.index('class="answer-text"')
    body = _answer_text_html(out)
    assert [html.unescape(m) for m in re.findall(SHORT_RE, body)] == [span]  # exactly the span, once
    assert _strip_tags(body) == f"{SA_QUOTE} [1]"  # the text itself is unchanged around the mark
    i = SA_QUOTE.index(span)
    assert _strip_tags(body[:body.index('<mark class="short-answer"')]) == SA_QUOTE[:i]
    assert 'href="#cite-0-1"' in body and "answer-quote" not in out  # marker still linked; no extra quote block
    assert "reader-note" not in out


def test_short_answer_with_markup_in_the_source_is_shown_as_text(texts) -> None:  # type: ignore[no-untyped-def]
    import html
    import re

    from assistant.web import render_answer, render_citation, render_source

    quote = 'قال <script>alert(1)</script> إن 181 & "دولة" <img src=x onerror=alert(2)> شاركت.'
    source = "مقدمة.\n\n" + quote + "\n\nخاتمة."
    for span in ("<script>alert(1)</script>", '181 & "دولة"', "<img src=x onerror=alert(2)>"):
        ans, src = _short_case(source, quote, span)
        d = ans.to_dict()
        for out in (render_answer(0, d, texts), render_citation(0, d["citations"][0], src, texts, short=d["short_answer"]),
                    render_source(src, texts, mark=(source.index(quote), source.index(quote) + len(quote)),
                                  short=(ans.short_answer.start, ans.short_answer.end))):
            assert "<script" not in out and "<img" not in out and 'onerror=alert(2)>' not in out
            assert [html.unescape(m) for m in re.findall(SHORT_RE, out)] == [span]
        assert html.escape(span, quote=True) in render_answer(0, d, texts)
    # a title on the short answer's text cannot break out of its element either
    ans, _ = _short_case(source, quote, "181", text='181"><b onmouseover=x>')
    out = render_answer(0, ans.to_dict(), texts)
    assert "<b " not in out and "&lt;b onmouseover=x&gt;" in out and 'class="short-answer"' not in out


@pytest.mark.parametrize("overrides", [
    {"start": 2, "end": 10},                      # before the quote (the first paragraph)
    {"start": -5, "end": 3},                      # negative
    {"end": 10_000},                              # past the quote's end
    {"text": "181 دولت"},                         # offsets inside the quote, text not there
    {"shift": 1},                                 # both offsets one off
    {"start": 40, "end": 30},                     # reversed
    {"citation": 7},                              # no such citation
    {"source_id": "other"},                       # another source
], ids=["before", "negative", "past-end", "wrong-text", "shifted", "reversed", "no-citation", "other-source"])
def test_short_answer_with_bad_offsets_is_not_marked(texts, overrides) -> None:  # type: ignore[no-untyped-def]
    from assistant.web import render_answer, render_citation

    if "shift" in overrides:
        ss = SA_SOURCE.index("181 دولة")
        overrides = {"start": ss + 1, "end": ss + 1 + len("181 دولة")}
    ans, src = _short_case(SA_SOURCE, SA_QUOTE, "181 دولة", **overrides)
    d = ans.to_dict()
    out = render_answer(0, d, texts)
    assert 'class="short-answer"' not in out and "answer-quote" not in out
    assert _strip_tags(_answer_text_html(out)) == f"{SA_QUOTE} [1]"
    assert 'class="short-answer-text"' in out  # the short answer is still said, only not placed
    viewer = render_citation(0, d["citations"][0], src, texts, short=d["short_answer"])
    assert 'class="short-answer"' not in viewer and "<mark>" in viewer


def test_short_answer_that_is_not_a_dict_of_numbers_does_not_crash(texts) -> None:  # type: ignore[no-untyped-def]
    from assistant.web import render_answer, render_citation, short_answer_span

    ans, src = _short_case(SA_SOURCE, SA_QUOTE, "181 دولة")
    d = ans.to_dict()
    c = d["citations"][0]
    for short in ({"text": "181"}, {**d["short_answer"], "start": "x"}, {**d["short_answer"], "end": None},
                  {**d["short_answer"], "citation": "؟"}, {"text": ""}, "181", [1, 2], None):
        assert short_answer_span(short, c) is None
        out = render_answer(0, {**d, "short_answer": short}, texts)
        assert 'class="short-answer"' not in out
        assert "<mark>" in render_citation(0, c, src, texts, short=short)
    assert short_answer_span(d["short_answer"], c) == (SA_QUOTE.index("181"), SA_QUOTE.index("181") + len("181 دولة"))


def test_short_answer_outside_the_answer_wording_gets_its_quoted_sentence(texts) -> None:  # type: ignore[no-untyped-def]
    import html
    import re

    from dataclasses import replace

    from assistant.web import render_answer

    ans, _ = _short_case(SA_SOURCE, SA_QUOTE, "181 دولة")
    worded = replace(ans, text="شارك في الدورة مئة وإحدى وثمانون دولة [1].", backend="llm")
    out = render_answer(0, worded.to_dict(), texts)
    quote = re.search(r'<blockquote class="answer-quote" dir="auto">(.*?)</blockquote>', out).group(1)
    assert _strip_tags(quote) == SA_QUOTE
    assert [html.unescape(m) for m in re.findall(SHORT_RE, quote)] == ["181 دولة"]
    assert 'class="short-answer"' not in _answer_text_html(out)


def test_refused_answer_and_reader_note(texts) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from assistant.web import render_answer

    ans, _ = _short_case(SA_SOURCE, SA_QUOTE, "181 دولة")
    note = "ملف القارئ المدرَّب <مفقود>، فأجاب القارئ بالقواعد."
    out = render_answer(0, replace(ans, reader="rules", reader_note=note).to_dict(), texts)
    assert '<div class="reader-note" dir="auto">ملف القارئ المدرَّب &lt;مفقود&gt;، فأجاب القارئ بالقواعد.</div>' in out
    assert out.index('class="answer-text"') < out.index('class="reader-note"')
    refused = replace(ans, refused=True, text=texts("refusal"), citations=(), reader="rules", reader_note=note)
    out = render_answer(0, refused.to_dict(), texts)
    assert "short-answer" not in out and 'class="reader-note"' in out
    assert "short-answer" not in render_answer(0, replace(ans, short_answer=None).to_dict(), texts)


def test_citation_viewer_marks_the_short_answer_inside_the_quote(texts) -> None:  # type: ignore[no-untyped-def]
    import html
    import re

    from assistant.models import Source
    from assistant.web import render_citation, render_source, short_answer_in_source

    for span in ("181 دولة", "شاركت", "دولية."):
        ans, src = _short_case(SA_SOURCE, SA_QUOTE, span)
        d = ans.to_dict()
        c, short = d["citations"][0], d["short_answer"]
        out = render_citation(0, c, src, texts, short=short)
        cited = re.search(r'<p class="para cited" dir="auto">(.*?)</p>', out).group(1)
        outer = re.search(r"<mark>(.*)</mark>", cited).group(1)  # the quote's mark holds the span's mark
        assert _strip_tags(outer) == SA_QUOTE
        assert [html.unescape(m) for m in re.findall(SHORT_RE, outer)] == [span]
        assert out.count('class="short-answer"') == 1 and "short-answer" not in "".join(re.findall(r'para context.*?</p>', out))
        # the source changed since: the quote is found where it is now, and the span inside it
        moved = Source(source_id="s", title="t", text="سطر جديد.\n\n" + SA_SOURCE, content_hash="h2")
        assert [html.unescape(m) for m in re.findall(SHORT_RE, render_citation(0, c, moved, texts, short=short))] == [span]
        # the source is gone: the quote alone, the span still marked inside it
        gone = render_citation(0, c, None, texts, short=short)
        assert [html.unescape(m) for m in re.findall(SHORT_RE, gone)] == [span]
        # the whole document, the quote marked and the span inside it
        where = (c["start"], c["end"])
        full = render_source(src, texts, mark=where, short=short_answer_in_source(short, c, where))
        assert [html.unescape(m) for m in re.findall(SHORT_RE, full)] == [span]
    # a short answer of another citation is not marked in this one
    other = {**short, "citation": 2}
    assert 'class="short-answer"' not in render_citation(0, c, src, texts, short=other)


def test_upload_names_are_sanitised() -> None:
    from assistant.sources import SourceError, safe_upload_name

    assert safe_upload_name("مقال الإنتربول.md") == "مقال الإنتربول.md"
    for bad in ("..", ".hidden.md", "", "/", "../../etc/passwd.md", "a/b/../c.txt", "..\\..\\x.txt", "/etc/x.md"):
        with pytest.raises(SourceError):
            safe_upload_name(bad)


def _template_cases(t):  # type: ignore[no-untyped-def]
    """Each template of assistant/templates/ with values to render it and a piece its output must hold."""
    from assistant.models import Source
    from assistant.web import Meta, Para, Seg

    src = Source(source_id="s-1", title="عنوان <i>", text="نص", content_hash="h", date="2025-11-24", chunks=3)
    quote = Seg("mark", ["قبل ", Seg("short", ["181"], title="t"), " بعد"])
    return {
        "inline.html": ({}, ""),  # macros only: rendered through the others
        "user.html": ({"question": "<q>"}, '<div class="user-text" dir="auto">&lt;q&gt;</div>'),
        "pending.html": ({"t": t}, f'<span class="thinking">{t("ui_thinking")}</span>'),
        "error.html": ({"t": t, "text": "a & b"}, f'<strong>{t("ui_error_prefix")}</strong> a &amp; b</div>'),
        "answer.html": ({"t": t, "turn": 2, "refused": False, "short_text": "181", "note": "", "resolved": "",
                         "text_parts": ["نص ", Seg("cite", ["[1]"], title='"t"', href="#cite-2-1")], "quote_parts": None,
                         "cites": [(1, {"title": "<b>", "paragraph": 2})]},
                        '<a class="cite" href="#cite-2-1" title="&quot;t&quot;" role="button">[1]</a></div>'),
        "viewer_notice.html": ({"kind": "empty", "text": "'x'"},
                               '<div class="viewer empty" dir="rtl"><p class="viewer-hint">&#x27;x&#x27;</p></div>'),
        "citation.html": ({"t": t, "turn": 0, "c": {"n": 1, "title": "ع"}, "note": "", "read_all": True, "scan": None,
                           "meta_items": [Meta("labelled", "2025-11-24", "التاريخ: ", "")],
                           "paras": [Para("para cited", 2, [quote])]},
                          '<p class="para cited" dir="auto"><span class="para-no">2</span>'
                          '<mark>قبل <mark class="short-answer" title="t">181</mark> بعد</mark></p>'),
        "source.html": ({"t": t, "title": "<t>", "meta_items": [Meta("bdi", "2025")], "paras": [Para("para", 1, ["نص"])]},
                        '<h3 class="viewer-title" dir="auto">&lt;t&gt;</h3><div class="viewer-meta"><bdi dir="ltr">2025</bdi></div>'),
        "sources_list.html": ({"t": t, "items": [(src, [Meta("bdi", src.date), Meta("span", "3")])]},
                              '<a class="open-source" href="#source-s-1" role="button" dir="auto">عنوان &lt;i&gt;</a>'
                              '<div class="src-meta"><bdi dir="ltr">2025-11-24</bdi> · <span>3</span></div>'),
        "status.html": ({"t": t, "ok": ["<ok>"], "errors": []}, '<p class="ok" dir="auto">✓ &lt;ok&gt;</p></div>'),
        "header.html": ({"t": t}, f'<h1>{t("ui_heading")}</h1>'),
        "formats.html": ({"t": t, "extensions": [".md", ".txt"]}, '<bdi dir="ltr">.md</bdi> <bdi dir="ltr">.txt</bdi></p>'),
    }


def test_each_template_renders_escaped(texts) -> None:  # type: ignore[no-untyped-def]
    from assistant.web import TEMPLATES, css, render, resource_text

    cases = _template_cases(texts)
    folder = ROOT / "assistant" / TEMPLATES
    assert set(cases) == {f.name for f in folder.glob("*.html")}, "a template without a case here"
    for name, (values, piece) in cases.items():
        assert piece in render(name, **values), name
    # the stylesheet and the viewer's script are package data beside the templates, read the same way
    assert "#assistant-root" in css() and "st.trigger('open_ref'" in resource_text("viewer.js")
    import re

    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    package_data = re.search(r"^\[tool\.setuptools\.package-data\]$(.*?)(?=^\[|\Z)", pyproject, re.S | re.M)
    assert package_data and f'"{TEMPLATES}/*"' in package_data.group(1)  # so an installed wheel has them


def test_serve_reports_a_busy_port_in_arabic(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.server import serve

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
    assert set(client.view_api(print_info=False, return_format="dict")["named_endpoints"]) == {"/ask", "/ask_within", "/sources", "/source"}
    d = client.predict(question=Q_COUNTRIES, api_name="/ask")
    assert isinstance(d, dict) and d["refused"] is False and "181" in d["answer"]
    c = d["citations"][0]
    assert c["source_id"] == ARTICLE_ID and c["paragraph"] == 2 and "[1]" in d["answer"]
    assert {"short_answer", "reader", "reader_note"} <= set(d)  # the short answer travels with the answer object
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


def _call_ask(url: str, data: list, endpoint: str = "ask") -> dict:  # type: ignore[type-arg]
    """One answer through Gradio's plain HTTP call API, as the load benchmark asks: POST, then read the events."""
    body = json.dumps({"data": data}).encode("utf-8")
    req = urllib.request.Request(f"{url}gradio_api/call/{endpoint}", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        event_id = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/{endpoint}/{event_id}", timeout=60) as r:
        lines = [raw.decode("utf-8").strip() for raw in r]
    done = [ln for ln, prev in zip(lines[1:], lines) if prev == "event: complete"]
    assert done, lines
    return json.loads(done[0].removeprefix("data:").strip())[0]


def test_plain_http_callers_keep_working_and_may_limit_the_sources(web_app) -> None:  # type: ignore[no-untyped-def]
    assert "181" in _call_ask(web_app["url"], [Q_COUNTRIES, []])["answer"]  # two values, as before the scope existed
    scoped = _call_ask(web_app["url"], [Q_COUNTRIES, [], [ARTICLE_ID]], "ask_within")
    assert {c["source_id"] for c in scoped["citations"]} == {ARTICLE_ID}


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


def _open(browser, url: str, width: int = 1400, height: int = 900, **options):  # type: ignore[no-untyped-def]
    """(context, page) of a new Arabic-locale browser context on the chat, its sources listed."""
    ctx = browser.new_context(locale=options.pop("locale", "ar"), viewport={"width": width, "height": height}, **options)
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_selector("#question textarea:not([disabled])")  # the page's conversation is back
    page.wait_for_selector("#sources-list a.open-source", state="attached")
    return ctx, page


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
    page.wait_for_selector("#question textarea:not([disabled])")
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
    assert "181" in viewer.locator("mark:not(.short-answer)").inner_text()
    cited = viewer.locator(".para.cited").inner_text()
    assert "حدائق المنارة" in cited  # the surrounding text of the paragraph, not only the quote
    _shot(page, "web-03-citation.png")
    # ... and from there the whole document, the quote still marked
    viewer.locator("a.open-source").click()
    page.wait_for_selector("#source-viewer .viewer.source mark")
    assert viewer.locator(".para").count() >= 7 and "181" in viewer.locator("mark:not(.short-answer)").inner_text()

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
    other.wait_for_selector("#question textarea:not([disabled])")
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
    assert "350" in page.locator("#source-viewer mark:not(.short-answer)").inner_text()
    _shot(page, "web-05-uploaded.png")

    # limit the search to the uploaded document: the article's question is no longer answered from the article
    page.click("#scope input")
    page.locator("#scope li[role=option]", has_text="مهرجان الزيتون في تاونات").first.click()
    page.wait_for_selector("#scope .token")
    page.keyboard.press("Escape")
    a_scoped = _ask(page, Q_COUNTRIES, 4)
    said = a_scoped.inner_text()
    assert "181" not in said and "الإنتربول" not in said, said
    _shot(page, "web-05b-scoped.png")
    page.locator("#scope .token-remove").first.click()  # every source again
    page.wait_for_function("document.querySelectorAll('#scope .token').length == 0")

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
    a4 = _ask(page, "كم عدد المختبرين في مختبر السلامة الرقمية في فاس؟", 5)
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


# the words a page may show in Latin letters: product names, the formats' extensions
LATIN_ALLOWED = {"API", "MCP", "Gradio", "assistant"}


def _extensions() -> set[str]:
    from assistant.sources import supported_extensions

    return {e.lstrip(".") for e in supported_extensions()}


@pytest.mark.browser
def test_the_page_is_arabic_under_an_english_browser(web_app, browser) -> None:  # type: ignore[no-untyped-def]
    import re
    import urllib.request

    served = urllib.request.urlopen(web_app["url"], timeout=30).read().decode("utf-8")
    assert '<html\n\tlang="ar" dir="rtl"' in served or 'lang="ar" dir="rtl"' in served
    ctx = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.goto(web_app["url"])
    page.wait_for_selector("#sources-list a.open-source")
    page.wait_for_selector("#upload")
    assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["ar", "rtl"]
    visible = ""
    for _ in range(20):  # while the page is still loading (progress, timers) as well as at rest
        visible += "\n" + page.evaluate("document.body.innerText")
        page.wait_for_timeout(50)
    article_titles = {s.title for s in web_app["assistant"].sources()}
    for title in article_titles:
        visible = visible.replace(title, "")
    latin = set(re.findall(r"[A-Za-z][A-Za-z'’-]*", visible)) - LATIN_ALLOWED - _extensions()
    _shot(page, "web-en-US-locale.png")
    ctx.close()
    assert not latin, f"English words on the page under an en-US browser: {sorted(latin)}"
    from assistant.messages import message

    count = message("ui_sources_count", ROOT / "prompts", count=len(article_titles))
    assert count.split(".")[0] in visible  # the noun agrees with its number (CLDR plural rules)


@pytest.mark.browser
def test_a_reload_keeps_the_conversation(web_app, browser) -> None:  # type: ignore[no-untyped-def]
    ctx, page = _open(browser, web_app["url"])
    answer = _ask(page, Q_COUNTRIES, 1)
    said = answer.inner_text()
    page.reload()
    page.wait_for_selector("#sources-list a.open-source")
    kept = page.locator("#chat .answer:not(.pending)").first
    kept.wait_for(timeout=30_000)
    assert said and kept.inner_text() == said
    assert page.locator("#chat").get_by_text(Q_COUNTRIES).count() >= 1  # the question too
    ctx.close()


@pytest.mark.browser
def test_on_a_phone_the_chat_fills_the_screen_and_a_citation_opens_in_place(web_app, browser) -> None:  # type: ignore[no-untyped-def]
    ctx, page = _open(browser, web_app["url"], 390, 844, is_mobile=True, has_touch=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), "horizontal scroll"
    assert page.locator("#chat").bounding_box()["height"] >= 0.7 * 844
    answer = _ask(page, Q_COUNTRIES, 1)
    cite = answer.locator("a.cite").first
    cite.scroll_into_view_if_needed()
    before = page.evaluate("window.scrollY")
    cite.click()
    drawer = page.locator("#source-viewer.drawer-open")
    drawer.wait_for(timeout=15_000)
    page.locator("#source-viewer mark").first.wait_for(timeout=15_000)
    box = drawer.bounding_box()
    assert box["y"] < 844 and box["y"] + box["height"] <= 844 + 1  # over the chat, inside the screen
    assert page.evaluate("window.scrollY") == before  # no jump down the page
    _shot(page, "web-phone-citation.png")
    page.click("#drawer-close")
    assert page.locator("#source-viewer.drawer-open").count() == 0
    assert page.evaluate("window.scrollY") == before
    ctx.close()


@pytest.mark.browser
def test_regenerate_export_and_past_conversations(web_app, browser) -> None:  # type: ignore[no-untyped-def]
    ctx, page = _open(browser, web_app["url"], height=1000)  # a new context: an empty conversation
    _ask(page, Q_COUNTRIES, 1)
    page.click("#regenerate")  # the last answer asked again, in its place: still one answer
    page.wait_for_timeout(1500)
    page.locator("#chat .answer:not(.pending)").first.wait_for(timeout=30_000)
    assert page.locator("#chat .answer:not(.pending)").count() == 1
    page.click("#export")
    page.locator("#exported a").first.wait_for(timeout=15_000)
    page.click("#clear")  # a new conversation: the old one goes to the past ones
    page.wait_for_function("document.querySelectorAll('#chat .answer').length === 0")
    page.click("#past-chats button, #past-chats .label-wrap")
    page.click("#past input")
    page.get_by_role("option", name=Q_COUNTRIES).click()
    page.click("#past-open")
    page.locator("#chat").get_by_text(Q_COUNTRIES).first.wait_for(timeout=15_000)
    _shot(page, "web-past-conversations.png")
    ctx.close()


def test_arabic_digits_in_markers_counts_and_pages(texts) -> None:  # type: ignore[no-untyped-def]
    from assistant.messages import use_digits
    from assistant.web import render_answer

    answer = {"answer": "من 181 دولة [1]", "refused": False, "citations": [
        {"n": 1, "source_id": "s", "title": "المقال", "paragraph": 2, "start": 0, "end": 9, "quote": "من 181 دولة",
         "page": 3}]}
    try:
        use_digits("arabic")
        html = render_answer(0, answer, texts)
    finally:
        use_digits("latin")
    assert "[١]" in html and "181" in html and "ص ٣" in html and "[1]" not in html


def _log_in(browser, url: str, name: str, password: str, **options):  # type: ignore[no-untyped-def]
    """(context, page) of a new browser context signed in through the login page."""
    ctx = browser.new_context(locale="ar", viewport={"width": options.pop("width", 1400), "height": options.pop("height", 900)},
                              **options)
    page = ctx.new_page()
    page.goto(url)
    page.locator("input[type=password]").wait_for(timeout=30_000)
    page.locator("input:not([type=password])").first.fill(name)
    page.locator("input[type=password]").fill(password)
    page.locator("input[type=password]").press("Enter")
    page.wait_for_selector("#question textarea:not([disabled])", timeout=60_000)
    return ctx, page


@pytest.mark.browser
def test_two_signed_in_users_in_browsers_keep_their_uploads_and_chats_apart(browser, article_home, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Alice uploads a file saying 999 and reloads: her chat is back. Bob, on a phone, asks the same
    question and gets the article's 181, with no citation of her file."""
    from assistant.accounts import Accounts
    from assistant.service import Assistant
    from assistant.web import WebApp, launch

    settings = make_settings(article_home, min_score=MIN_SCORE)
    assistant = Assistant(settings)
    assistant.sync()
    accounts = Accounts(settings.home)
    accounts.add("alice", "alice-password", "reader")
    accounts.add("bob", "bob-password", "reader")
    app = WebApp(assistant, accounts)
    demo = app.build()
    port = free_port()
    launch(demo, "127.0.0.1", port, block=False, auth=app.login)
    url = f"http://127.0.0.1:{port}/"
    question = Q_COUNTRIES
    try:
        a_ctx, alice = _log_in(browser, url, "alice", "alice-password")
        doc = tmp_path / "تقرير أليس.txt"
        doc.write_text("شاركت 999 دولة في الدورة حسب تقرير أليس الخاص عن الجمعية العامة للمنظمة الدولية للشرطة الجنائية. "
                       "وانعقدت الدورة في مدينة الرباط.", encoding="utf-8")
        alice.locator("#upload input[type=file]").set_input_files(str(doc))
        alice.wait_for_selector("#add-status .ok", timeout=60_000)
        assert "999 دولة" in alice.locator("#sources-list").inner_text()  # her file, titled by its first line
        _ask(alice, question, 1)
        alice.reload()  # a signed-in user's conversation is kept on the server
        alice.wait_for_selector("#question textarea:not([disabled])", timeout=60_000)
        alice.locator("#chat").get_by_text(question).first.wait_for(timeout=15_000)
        _shot(alice, "web-login-alice.png")

        b_ctx, bob = _log_in(browser, url, "bob", "bob-password", width=390, height=844, is_mobile=True, has_touch=True)
        assert "999" not in bob.locator("#sources-list").inner_text()
        assert bob.locator("#chat .answer").count() == 0  # alice's conversation is not bob's
        answer = _ask(bob, question, 1)
        assert "181" in answer.locator(".answer-text").inner_text() and "999" not in answer.inner_text()
        assert "999" not in answer.locator(".answer-sources").inner_text()
        _shot(bob, "web-login-bob-phone.png")
        a_ctx.close()
        b_ctx.close()
    finally:
        demo.close()


def _luminance(css_rgb: str) -> float:
    """Relative luminance (0 black .. 1 white) of a CSS ``rgb(...)``/``rgba(...)`` colour."""
    r, g, b = (int(float(v)) / 255 for v in css_rgb[css_rgb.index("(") + 1:css_rgb.index(")")].split(",")[:3])
    lin = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


@pytest.mark.browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_light_and_dark_themes_follow_the_system_and_stay_readable(web_app, browser, scheme: str) -> None:  # type: ignore[no-untyped-def]
    ctx, page = _open(browser, web_app["url"], color_scheme=scheme)
    answer = _ask(page, Q_COUNTRIES, 1)
    answer.locator("a.cite").first.click()
    page.wait_for_selector("#source-viewer mark")
    style = "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
    body_fg, body_bg = page.locator("body").evaluate(style)
    text_fg = answer.locator(".answer-text").evaluate("e => getComputedStyle(e).color")
    mark_fg, mark_bg = page.locator("#source-viewer mark").first.evaluate(style)
    assert ("dark" in page.evaluate("document.body.className")) == (scheme == "dark")
    assert (_luminance(body_bg) < 0.1) == (scheme == "dark")

    def contrast(a: str, b: str) -> float:
        hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
        return (hi + 0.05) / (lo + 0.05)

    assert contrast(text_fg, body_bg) >= 4.5 and contrast(mark_fg, mark_bg) >= 4.5  # WCAG AA for body text
    _shot(page, f"web-theme-{scheme}.png")
    ctx.close()

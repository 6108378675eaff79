"""The opt-in LLM answerer over a real HTTP endpoint on loopback: code assigns and checks citations."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from assistant.ingest import sync
from assistant.service import Assistant

from conftest import make_settings


def _endpoint(reply: str):  # type: ignore[no-untyped-def]
    """An OpenAI-compatible /chat/completions server that always writes ``reply``."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(body)
            out = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args) -> None:  # quiet
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


@pytest.fixture
def llm_assistant(article_home):  # type: ignore[no-untyped-def]
    def make(reply: str):  # type: ignore[no-untyped-def]
        server, seen = _endpoint(reply)
        s = make_settings(article_home, answerer="llm", llm_base_url=f"http://127.0.0.1:{server.server_port}/v1")
        sync(s)
        return Assistant(s), seen, server
    return make


def _ask(llm_assistant, reply: str, question: str):  # type: ignore[no-untyped-def]
    """(the answer, the requests the endpoint saw, the assistant) for ``question`` with the model writing ``reply``."""
    a, seen, server = llm_assistant(reply)
    try:
        return a.ask(question), seen, a
    finally:
        server.shutdown()


def test_supported_sentence_is_cited_and_invented_one_dropped(llm_assistant):
    reply = ("شاركت في الدورة وفود من 181 دولة عضوًا في منظمة الإنتربول. "
             "وقد ترأس الجلسات السيد يوهان شميت بصفته رئيسا جديدا للمنظمة العالمية للطيران.")
    ans, seen, a = _ask(llm_assistant, reply, "كم عدد الدول التي شاركت في الجمعية العامة؟")
    assert seen and seen[0]["messages"][0]["role"] == "system"
    assert ans.backend == "llm" and not ans.refused
    assert "181" in ans.text and "شميت" not in ans.text  # the unsupported sentence never reaches the user
    c = ans.citations[0]
    assert c.paragraph == 2 and a.source(c.source_id).text[c.start:c.end] == c.quote


def test_unreachable_endpoint_falls_back_to_extractive_with_a_note(article_home):
    s = make_settings(article_home, answerer="llm", llm_base_url="http://127.0.0.1:9/v1", llm_timeout=2)
    sync(s)
    ans = Assistant(s).ask("كم عدد الدول التي شاركت في الجمعية العامة؟")
    assert ans.backend == "extractive" and "تعذّر الاتصال" in ans.text


def test_refusal_stays_with_code(llm_assistant):
    ans, seen, _ = _ask(llm_assistant, "الرئيس الجديد هو السيد فلان الفلاني.", "من هو الرئيس الجديد للإنتربول؟")
    assert ans.refused and not seen  # the model is not even asked when the sources cannot answer


def test_the_rule_reader_also_drops_a_sourced_sentence_that_does_not_answer(llm_assistant):
    """The rules gate the model too: a generated sentence stands only on a passage their own answer quotes."""
    reply = ("جهاز الشرطة التابع للأمم المتحدة من بين المؤسسات الدولية الفاعلة التي التقى بها المدير العام. "
             "شاركت في الدورة وفود من 181 دولة عضوًا في منظمة الإنتربول.")
    ans, _, _ = _ask(llm_assistant, reply, "كم عدد الدول التي شاركت في الجمعية العامة؟")
    assert ans.reader == "rules" and ans.backend == "llm"
    assert "181" in ans.text and "للأمم المتحدة" not in ans.text
    assert {c.paragraph for c in ans.citations} == {2}


@pytest.mark.slow
def test_sourced_sentence_that_does_not_answer_is_dropped(article_home):  # type: ignore[no-untyped-def]
    """The failure seen with a real 1.5B model: asked which African police force signed a memorandum, it
    answered with the UN police, a sentence that is in the source but does not answer. The reader drops it."""
    reply = "جهاز الشرطة التابع للأمم المتحدة من بين المؤسسات الدولية الفاعلة التي التقى بها المدير العام."
    server, seen = _endpoint(reply)
    s = make_settings(article_home, embed_model="e5-small", reader="trained", answerer="llm",
                      llm_base_url=f"http://127.0.0.1:{server.server_port}/v1")
    sync(s)
    try:
        ans = Assistant(s).ask("أي جهاز شرطة إفريقي وقّع مذكرة تفاهم مع المغرب؟")
    finally:
        server.shutdown()
    assert ans.reader == "trained"
    assert "للأمم المتحدة" not in ans.text or ans.backend != "llm"
    if not ans.refused:
        assert "الإثيوبية" in " ".join(c.quote for c in ans.citations)

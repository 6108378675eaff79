"""Answering with the real default embedding model: facts, citations, refusals, the CLI contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from assistant import arabic
from assistant.errors import QuestionError

from conftest import ARTICLE_ID, ROOT, make_settings, plugin_env

pytestmark = pytest.mark.slow


def test_number_question_answers_181_citing_paragraph_two(real_assistant):
    ans = real_assistant.ask("كم عدد الدول التي شاركت في الجمعية العامة؟")
    assert not ans.refused
    assert arabic.contains_fact(ans.text, "181")
    c = ans.citations[0]
    assert (c.source_id, c.paragraph) == (ARTICLE_ID, 2)
    assert arabic.contains_fact(c.quote, "181")
    assert len(arabic.words(ans.text)) < 40  # a clause or sentence, not the whole paragraph


@pytest.mark.parametrize("question", [
    "من هو الرئيس الجديد للإنتربول؟",
    "ما اسم المدير العام للأمن الوطني؟",
    "ما هي عاصمة اليابان؟",
])
def test_unanswerable_questions_are_refused_in_arabic(real_assistant, question):
    ans = real_assistant.ask(question)
    assert ans.refused and not ans.citations
    assert "المصادر" in ans.text


def test_marked_and_arabic_indic_question_is_understood(real_assistant):
    ans = real_assistant.ask("كَمْ دَوْلَةً شَارَكَتْ فِي دَوْرَةِ مُرَّاكُش؟")
    assert not ans.refused and arabic.contains_fact(ans.text, "١٨١")


def test_empty_and_huge_questions_are_user_errors(real_assistant):
    with pytest.raises(QuestionError) as err:
        real_assistant.ask("   ؟ ")
    assert "فارغ" in err.value.text()
    with pytest.raises(QuestionError) as err:
        real_assistant.ask("سؤال " * 2000)
    assert "طويل" in err.value.text()


def _cli(home, *args):
    env = plugin_env(dict(os.environ, ASSISTANT_HOME=str(home), ASSISTANT_EMBED_MODEL="hash",
                          ASSISTANT_PROMPTS_DIR=str(ROOT / "prompts"), PYTHONPATH=str(ROOT)))
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_cli_json_contract_and_user_errors(article_home):
    no_index = _cli(article_home, "ask", "--json", "كم عدد الدول؟")
    assert no_index.returncode == 2 and "ingest" in no_index.stderr and "Traceback" not in no_index.stderr
    assert _cli(article_home, "ingest").returncode == 0
    empty = _cli(article_home, "ask", "--json", "")
    assert empty.returncode == 2 and "فارغ" in empty.stderr and "Traceback" not in empty.stderr
    out = _cli(article_home, "ask", "--json", "كم عدد الدول التي شاركت في الجمعية العامة؟")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)  # exactly one JSON object on stdout
    assert isinstance(data["answer"], str) and isinstance(data["refused"], bool)
    text = make_settings(article_home).sources / "interpol-marrakech-2025.md"
    assert text.exists()
    for c in data["citations"]:
        assert set(c) >= {"source_id", "title", "paragraph", "start", "end", "quote"}
    listing = _cli(article_home, "sources")
    assert listing.returncode == 0 and ARTICLE_ID in listing.stdout

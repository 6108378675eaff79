"""The short answer (the answer's span) in the terminal face: its own first line, the reader's note last, and
exact offsets through ``ask --json`` over a real small index (hash embedding, fast, offline).

Until the trained reader fills ``short_answer``, the JSON test gives the rule answerer's real answer a short
answer taken from its first citation's quote; once the reader fills it, its own span is checked instead.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from assistant.messages import message
from assistant.models import Answer, Citation, ShortAnswer

from conftest import ARTICLE, ROOT, model_cache

QUOTE = "شاركت في الدورة 181 دولة عضوًا ومنظمات دولية."
SOURCE_TEXT = "افتُتحت الدورة بمراكش.\n\n" + QUOTE + "\n\nواختُتمت يوم 27 نوفمبر."
Q_COUNTRIES = "كم عدد الدول المشاركة في الدورة؟"


def _answer(span: str = "181 دولة", **fields) -> Answer:  # type: ignore[no-untyped-def]
    cs = SOURCE_TEXT.index(QUOTE)
    ss = SOURCE_TEXT.index(span, cs)
    c = Citation(n=1, source_id="s", title="عنوان", paragraph=2, start=cs, end=cs + len(QUOTE), quote=QUOTE)
    sa = ShortAnswer(text=span, source_id="s", start=ss, end=ss + len(span), citation=1)
    return replace(Answer(question="كم دولة شاركت؟", text=f"{QUOTE} [1]", refused=False, citations=(c,),
                          short_answer=sa, reader="trained"), **fields)


@pytest.mark.parametrize("span", ["181 دولة", "شاركت", "دولية."])
def test_cli_prints_the_short_answer_first(span: str) -> None:
    from assistant.cli import render_answer

    lines = render_answer(_answer(span)).split("\n")
    assert lines[0] == message("short_answer_line", text=span) == f"الإجابة المختصرة: {span}"
    assert lines[1] == f"{QUOTE} [1]"  # then the full answer and its citations, as before
    assert message("citations_header") in lines and f"    «{QUOTE}»" in lines
    assert not any(line.startswith(message("reader_note_line", note="")) for line in lines)


def test_cli_without_short_answer_and_with_reader_note() -> None:
    from assistant.cli import render_answer

    plain = render_answer(_answer(short_answer=None)).split("\n")
    assert plain[0] == f"{QUOTE} [1]" and "الإجابة المختصرة" not in "\n".join(plain)
    note = "ملف القارئ المدرَّب مفقود، فأجاب القارئ بالقواعد."
    lines = render_answer(_answer(reader="rules", reader_note=note)).split("\n")
    assert lines[0].startswith("الإجابة المختصرة: ") and lines[-1] == message("reader_note_line", note=note)
    assert lines[-2] == "" and note in lines[-1]
    refused = render_answer(_answer(refused=True, text=message("refusal"), citations=(), reader_note=note))
    assert "الإجابة المختصرة" not in refused and refused.split("\n")[-1].endswith(note)
    resolved = render_answer(_answer(resolved_question="كم دولة شاركت في الدورة؟")).split("\n")
    assert resolved[0].startswith("الإجابة المختصرة: ") and resolved[1] == "(كم دولة شاركت في الدورة؟)"


@pytest.mark.slow
def test_ask_json_short_answer_offsets_round_trip(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """The real path: e5-small and the shipped trained reader fill the short answer."""
    from assistant import cli, store
    from assistant.config import load_settings
    from assistant.service import Assistant

    home = tmp_path / "home"
    (home / "sources").mkdir(parents=True)
    shutil.copy(ARTICLE, home / "sources" / ARTICLE.name)
    for k, v in {"HOME": home, "EMBED_MODEL": "e5-small", "PROMPTS_DIR": ROOT / "prompts",
                 "CACHE_DIR": model_cache(), "READER": "trained"}.items():
        monkeypatch.setenv(f"ASSISTANT_{k}", str(v))
    assert cli.main(["ingest"]) == 0
    capsys.readouterr()

    assert cli.main(["ask", "--json", Q_COUNTRIES]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)  # still exactly one JSON object
    assert data["refused"] is False and "181" in data["answer"]
    sa = data["short_answer"]
    assert set(sa) == {"text", "source_id", "start", "end", "citation"}
    src = store.read_manifest(store.current_generation(load_settings().index))[sa["source_id"]]
    assert src.text[sa["start"]:sa["end"]] == sa["text"]  # exact offsets into the indexed text
    c = next(c for c in data["citations"] if c["n"] == sa["citation"])
    assert c["source_id"] == sa["source_id"] and c["start"] <= sa["start"] < sa["end"] <= c["end"]
    assert c["quote"][sa["start"] - c["start"]:sa["end"] - c["start"]] == sa["text"]
    assert data["reader"] in ("trained", "rules") and isinstance(data["reader_note"], str)

    assert cli.main(["ask", Q_COUNTRIES]) == 0
    first = capsys.readouterr().out.split("\n")[0]
    assert first == message("short_answer_line", text=sa["text"])

    # --source limits the search; a source that is not indexed is said plainly, in Arabic, with exit 1
    assert cli.main(["ask", "--json", "--source", ARTICLE.stem, Q_COUNTRIES]) == 0
    scoped = json.loads(capsys.readouterr().out)
    assert {c["source_id"] for c in scoped["citations"]} == {ARTICLE.stem}
    assert cli.main(["ask", "--source", "no-such-source", Q_COUNTRIES]) != 0
    said = capsys.readouterr()
    assert "no-such-source" in said.err and "لا يوجد" in said.err and "Traceback" not in said.err

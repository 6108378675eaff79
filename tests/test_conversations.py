"""Past conversations: archived on a new one, opened, renamed, deleted; a conversation exported as Markdown."""

from __future__ import annotations

from assistant import conversations as cv

ONE = [{"question": "كم عدد الدول المشاركة؟", "answer": {"answer": "181 دولة [1]", "citations": [
    {"n": 1, "title": "الإنتربول بمراكش", "paragraph": 2, "quote": "من 181 دولة عضوًا"}]}}]
TWO = [{"question": "أين انعقدت الدورة؟", "answer": {"answer": "مراكش [1]", "citations": []}}]


def test_archive_open_rename_delete() -> None:
    chats = cv.archive(ONE, [])
    assert [c["title"] for c in chats] == ["كم عدد الدول المشاركة؟"] and cv.archive([], chats) == chats
    current, chats = cv.open_chat(chats[0]["id"], TWO, chats)  # the current one is kept, the chosen one opened
    assert current == ONE and [c["turns"] for c in chats] == [TWO]
    chats = cv.rename(chats[0]["id"], "  الدورة   ومكانها ", chats)
    assert chats[0]["title"] == "الدورة ومكانها" and cv.choices(chats) == [("الدورة ومكانها", chats[0]["id"])]
    assert cv.rename(chats[0]["id"], "", chats)[0]["title"] == "الدورة ومكانها"
    assert cv.delete(chats[0]["id"], chats) == [] and cv.open_chat("nope", ONE, chats)[0] == ONE


def test_malformed_archives_from_a_browser_are_dropped() -> None:
    assert cv.clean([{"id": "a"}, "x", {"turns": []}, None]) == [] and cv.clean("oops") == []
    assert len(cv.archive(ONE, [{"id": str(i), "title": "t", "turns": TWO} for i in range(80)])) == cv.MAX_CHATS


def test_markdown_export_keeps_questions_answers_and_quotes() -> None:
    md = cv.to_markdown(ONE + TWO, "محادثة", {"question": "السؤال", "paragraph": "الفقرة"})
    assert md.startswith("# محادثة\n") and "## السؤال: كم عدد الدول المشاركة؟" in md
    assert "181 دولة [1]" in md and "- [1] الإنتربول بمراكش — الفقرة 2" in md and "  > من 181 دولة عضوًا" in md

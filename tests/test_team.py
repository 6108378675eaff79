"""A team library on a real Chroma server: two homes naming one ``team_collection`` answer alike and see each
other's additions and removals; homes that name none never see each other's sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import store, team
from assistant.ingest import add_files, remove_source, sync
from assistant.service import Assistant

from conftest import make_settings

FORUM = "---\ntitle: منتدى المياه\n---\nشاركت 45 دولة في المنتدى الإقليمي للمياه الذي احتضنته مدينة إفران.\n"
FAIR = "---\ntitle: معرض الكتاب\n---\nاستقبل معرض الكتاب في مدينة طنجة 320 ناشرًا من عشرين بلدًا.\n"
Q_FORUM = "كم دولة شاركت في المنتدى الإقليمي للمياه؟"
Q_FAIR = "كم ناشرًا استقبل معرض الكتاب في طنجة؟"


def _homes(tmp_path: Path, port: int, team_name: str) -> tuple:  # type: ignore[type-arg]
    return tuple(make_settings(tmp_path / name, chroma_host="127.0.0.1", chroma_port=port, team_collection=team_name)
                 for name in ("a", "b"))


def _cited(answer) -> set[str]:  # type: ignore[no-untyped-def]
    return {c.source_id for c in answer.citations}


def test_two_homes_on_one_team_library_answer_alike_and_see_each_others_writes(tmp_path: Path, chroma_server: int,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant import retrieve

    monkeypatch.setattr(retrieve, "TEAM_CHECK_S", 0.0)
    a, b = _homes(tmp_path, chroma_server, "water")
    (a.sources / "forum.md").write_text(FORUM, encoding="utf-8")
    sync(a)
    sync(b)  # b's own folder is empty: it indexes nothing and removes nothing of a's
    ask_a, ask_b = Assistant(a), Assistant(b)
    here, there = ask_a.ask(Q_FORUM), ask_b.ask(Q_FORUM)
    assert "45" in there.text and _cited(there) == {"forum"}
    assert there.to_dict() == here.to_dict()
    assert [s.source_id for s in ask_b.sources()] == ["forum"] and "إفران" in ask_b.source("forum").text

    fair = tmp_path / "fair.md"
    fair.write_text(FAIR, encoding="utf-8")
    add_files(b, [fair])
    assert "320" in ask_a.ask(Q_FAIR).text  # a's loaded index sees b's addition on its next question
    sync(a)  # a's sync leaves b's source alone
    assert {s.source_id for s in ask_a.sources()} == {"forum", "fair"}

    remove_source(a, "forum")
    gone = ask_b.ask(Q_FORUM)
    assert "forum" not in _cited(gone) and "forum" not in {p.source_id for p in gone.passages}
    assert [s.source_id for s in ask_b.sources()] == ["fair"]


def test_a_source_id_another_home_holds_is_refused_with_a_message(tmp_path: Path, chroma_server: int) -> None:
    a, b = _homes(tmp_path, chroma_server, "books")
    (a.sources / "fair.md").write_text(FAIR, encoding="utf-8")
    sync(a)
    (b.sources / "fair.md").write_text(FORUM, encoding="utf-8")  # the same name, another text
    report = sync(b)
    assert "fair.md" in report.failed and "خادم Chroma المشترك" in report.failed["fair.md"]
    assert team.sources(a)["fair"].content_hash == team.sources(b)["fair"].content_hash  # a's text kept
    assert "320" in Assistant(b).ask(Q_FAIR).text


def test_homes_without_a_team_collection_never_see_each_other(tmp_path: Path, chroma_server: int) -> None:
    a, b = _homes(tmp_path, chroma_server, "")
    assert store.collection_name(a) != store.collection_name(b)
    (a.sources / "forum.md").write_text(FORUM, encoding="utf-8")
    sync(a)
    sync(b)
    assert Assistant(b).ask(Q_FORUM).refused and Assistant(b).sources() == []


def test_after_another_homes_write_a_reader_reads_only_what_changed(tmp_path: Path, chroma_server: int,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A team library reloads after every home's write; it reads again only the sources whose record changed
    (their texts and chunks), keeping the rest and its keyword state, and answers as a fresh load would."""
    from assistant import retrieve

    monkeypatch.setattr(retrieve, "TEAM_CHECK_S", 0.0)
    a, b = _homes(tmp_path, chroma_server, "reread")
    (a.sources / "forum.md").write_text(FORUM, encoding="utf-8")
    sync(a)
    ask_a = Assistant(a)
    assert "45" in ask_a.ask(Q_FORUM).text
    full_builds: list[int] = []
    real = retrieve.keyword_index
    monkeypatch.setattr(retrieve, "keyword_index", lambda *x: (full_builds.append(len(x[0])), real(*x))[1])
    fair = tmp_path / "fair.md"
    fair.write_text(FAIR, encoding="utf-8")
    add_files(b, [fair])
    got = ask_a.ask(Q_FAIR)
    assert "320" in got.text and _cited(got) == {"fair"} and full_builds == []
    fresh = Assistant(a).ask(Q_FAIR)  # a new process's full load answers alike
    assert fresh.to_dict() == got.to_dict() and full_builds
    full_builds.clear()
    remove_source(a, "forum")
    gone = ask_a.ask(Q_FORUM)
    assert "forum" not in {p.source_id for p in gone.passages} and full_builds == []
    assert [s.source_id for s in ask_a.sources()] == ["fair"]

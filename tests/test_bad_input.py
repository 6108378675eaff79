"""Bad input gets a clear Arabic reason and loses nothing: in a batch the good files go in, the bad ones are
listed with their reasons, and the index is unchanged for them."""

from __future__ import annotations

import io
import zipfile

import pytest

from assistant import store
from assistant.ingest import add_files, sync
from assistant.service import Assistant
from assistant.sources import SourceError, safe_upload_name

from conftest import make_settings
from makedocs import arabic_pdf, assert_answered, docx_file, encrypted_pdf, image_pdf

GOOD_TXT = "افتتحت مدينة أكادير ميناء جديدا للصيد البحري بطاقة استيعابية تبلغ 400 قارب."
GOOD_PDF = ["حضر 700 فنان الذكرى المئوية للمسرح البلدي في مدينة وجدة."]
GOOD_DOCX = ["شاركت 85 مدرسة في مسابقة القراءة الوطنية التي نظمتها مديرية التعليم في مدينة تطوان."]


def reason(key: str, **values) -> str:  # type: ignore[no-untyped-def]
    return SourceError(key, **values).text()


def make_batch(folder):  # type: ignore[no-untyped-def]
    """Three good files and one of every kind of bad one; returns {bad file name: expected reason}."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "agadir-port.txt").write_text(GOOD_TXT, encoding="utf-8")
    arabic_pdf(folder / "oujda-theatre.pdf", GOOD_PDF)
    docx_file(folder / "reading-contest.docx", GOOD_DOCX)

    (folder / "empty.txt").write_bytes(b"")
    (folder / "blank.md").write_text("  \n\n\t\n", encoding="utf-8")
    (folder / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    (folder / "slides.pptx").write_bytes(b"PK\x03\x04 not really")
    (folder / "numbers.txt").write_text("12345 — 678 / 90 …", encoding="utf-8")
    (folder / "copy-of-agadir.txt").write_text(GOOD_TXT, encoding="utf-8")
    (folder / "huge.txt").write_text("كلمة " * 30_000, encoding="utf-8")  # about 300 KB, over the 0.2 MB limit below
    good_pdf = (folder / "oujda-theatre.pdf").read_bytes()
    (folder / "truncated.pdf").write_bytes(good_pdf[: len(good_pdf) // 2])
    (folder / "not-a-pdf.pdf").write_text("هذا ليس ملف PDF", encoding="utf-8")
    encrypted_pdf(folder / "oujda-theatre.pdf", folder / "locked.pdf", user_password="secret")
    image_pdf(folder / "scanned.pdf")
    good_docx = (folder / "reading-contest.docx").read_bytes()
    (folder / "truncated.docx").write_bytes(good_docx[: len(good_docx) // 2])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "a zip, not a Word document")
    (folder / "zip-not-word.docx").write_bytes(buf.getvalue())
    # a password-protected Word file is an OLE container holding an "EncryptedPackage" stream
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "EncryptedPackage".encode("utf-16-le") + bytes(2000)
    (folder / "locked.docx").write_bytes(ole)
    size_mb = round((folder / "huge.txt").stat().st_size / 1e6, 1)
    return {
        "empty.txt": reason("empty", name="empty.txt"),
        "blank.md": reason("empty", name="blank.md"),
        "photo.txt": reason("binary", name="photo.txt"),
        "slides.pptx": None,  # unsupported: the message lists the supported formats
        "numbers.txt": reason("no_text", name="numbers.txt"),
        "copy-of-agadir.txt": reason("duplicate", name="copy-of-agadir.txt", existing="agadir-port"),
        "huge.txt": reason("too_large", name="huge.txt", size_mb=size_mb, limit_mb=0.2),
        "truncated.pdf": reason("corrupt", name="truncated.pdf"),
        "not-a-pdf.pdf": reason("corrupt", name="not-a-pdf.pdf"),
        "locked.pdf": reason("encrypted", name="locked.pdf"),
        "scanned.pdf": reason("scanned", name="scanned.pdf"),
        "truncated.docx": reason("corrupt", name="truncated.docx"),
        "zip-not-word.docx": reason("corrupt", name="zip-not-word.docx"),
        "locked.docx": reason("encrypted", name="locked.docx"),
    }


def test_batch_adds_the_good_and_lists_the_bad_with_reasons(home):
    settings = make_settings(home, max_file_mb=0.2)
    incoming = home / "incoming"
    expected = make_batch(incoming)
    files = sorted(incoming.iterdir())  # every file named on the command line, as `assistant add *` does
    report = add_files(settings, files)

    assert sorted(report.added) == ["agadir-port", "oujda-theatre", "reading-contest"]
    assert set(report.failed) == set(expected)
    for name, text in expected.items():
        if text is not None:
            assert report.failed[name] == text, name
    assert "غير مدعومة" in report.failed["slides.pptx"] and ".pdf" in report.failed["slides.pptx"]
    assert all(name in text for name, text in report.failed.items())  # each reason names its file

    # nothing of the bad files reached the sources folder or the index
    assert sorted(p.name for p in settings.sources.iterdir()) == ["agadir-port.txt", "oujda-theatre.pdf",
                                                                  "reading-contest.docx"]
    a = Assistant(settings)
    assert [s.source_id for s in a.sources()] == ["agadir-port", "oujda-theatre", "reading-contest"]
    assert_answered(a, "كم تبلغ طاقة ميناء الصيد البحري الجديد في مدينة أكادير؟", "agadir-port", "400 قارب")
    assert_answered(a, "كم فنانا حضر الذكرى المئوية للمسرح البلدي في مدينة وجدة؟", "oujda-theatre", "700 فنان")
    assert_answered(a, "كم مدرسة شاركت في مسابقة القراءة الوطنية في تطوان؟", "reading-contest", "85 مدرسة")


def test_a_batch_of_only_bad_files_leaves_the_index_as_it_was(home):
    settings = make_settings(home, max_file_mb=0.2)
    good = home / "good"
    good.mkdir()
    (good / "agadir-port.txt").write_text(GOOD_TXT, encoding="utf-8")
    add_files(settings, [good / "agadir-port.txt"])
    live = store.current_generation(settings.index)
    before = Assistant(settings).ask("كم تبلغ طاقة ميناء الصيد البحري الجديد في مدينة أكادير؟")

    incoming = home / "incoming"
    expected = make_batch(incoming)
    bad = [incoming / name for name in expected]
    report = add_files(settings, bad)
    assert not report.touched and set(report.failed) == set(expected)
    assert store.current_generation(settings.index) == live  # not even a new generation
    after = Assistant(settings).ask("كم تبلغ طاقة ميناء الصيد البحري الجديد في مدينة أكادير؟")
    assert after.text == before.text and after.citations == before.citations


def test_bad_files_dropped_into_sources_are_reported_by_sync(home):
    settings = make_settings(home, max_file_mb=0.2)
    expected = make_batch(home / "sources")
    report = sync(settings)
    assert sorted(report.added) == ["agadir-port", "oujda-theatre", "reading-contest"]
    # the folder is scanned for supported formats only; the unsupported .pptx is not a candidate
    assert set(report.failed) == set(expected) - {"slides.pptx"}
    for name in ("locked.pdf", "scanned.pdf", "truncated.docx", "huge.txt", "copy-of-agadir.txt"):
        assert report.failed[name] == expected[name]
    assert_answered(Assistant(settings), "كم مدرسة شاركت في مسابقة القراءة الوطنية في تطوان؟", "reading-contest",
                    "85 مدرسة")


def test_a_broken_edit_keeps_the_indexed_version(home):
    """A source that was fine and is then overwritten by a damaged file keeps answering from the kept text."""
    settings = make_settings(home)
    path = docx_file(home / "sources" / "reading-contest.docx", GOOD_DOCX)
    sync(settings)
    path.write_bytes(path.read_bytes()[:300])
    report = sync(settings)
    assert report.failed == {"reading-contest.docx": reason("corrupt", name="reading-contest.docx")}
    assert not report.touched
    assert_answered(Assistant(settings), "كم مدرسة شاركت في مسابقة القراءة الوطنية في تطوان؟", "reading-contest",
                    "85 مدرسة")


def test_cli_add_lists_each_failure_and_exits_nonzero(tmp_path, monkeypatch, capsys):
    from assistant import cli

    from conftest import ROOT

    home = tmp_path / "home"
    (home / "sources").mkdir(parents=True)
    for k, v in {"HOME": home, "EMBED_MODEL": "hash", "PROMPTS_DIR": ROOT / "prompts"}.items():
        monkeypatch.setenv(f"ASSISTANT_{k}", str(v))
    (tmp_path / "agadir-port.txt").write_text(GOOD_TXT, encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    image_pdf(tmp_path / "scanned.pdf")
    assert cli.main(["add", str(tmp_path / "agadir-port.txt"), str(tmp_path / "empty.txt"),
                     str(tmp_path / "scanned.pdf"), str(tmp_path / "missing.txt")]) == 1
    out, err = capsys.readouterr()
    assert "أُضيف 1" in out
    for text in (reason("empty", name="empty.txt"), reason("scanned", name="scanned.pdf"), "missing.txt"):
        assert text in err


@pytest.mark.parametrize("name", [
    "../../etc/passwd", "../sources/evil.txt", "/etc/passwd", "..\\..\\windows\\win.ini", "C:\\temp\\x.txt",
    "C:x.txt", "..", ".", "", "   ", ".hidden.md", "a/b.txt", "evil\x00.txt", "line\nbreak.txt", "x" * 300 + ".txt",
])
def test_path_traversal_and_other_unsafe_upload_names_are_refused(name):
    with pytest.raises(SourceError) as err:
        safe_upload_name(name)
    assert err.value.key == "bad_name"
    assert "غير صالح" in err.value.text()


@pytest.mark.parametrize("name, safe", [
    ("تقرير المؤتمر 2025.pdf", "تقرير المؤتمر 2025.pdf"),
    ("report (final).docx", "report (final).docx"),
    ("  notes.md ", "notes.md"),
    ("a..b.txt", "a..b.txt"),  # dots inside a name are not traversal
])
def test_ordinary_upload_names_are_kept(name, safe):
    assert safe_upload_name(name) == safe


def test_a_missing_or_dangling_file_is_reported_not_raised(home):
    settings = make_settings(home)
    (home / "dangling.txt").symlink_to(home / "gone.txt")
    (home / "agadir-port.txt").write_text(GOOD_TXT, encoding="utf-8")
    report = add_files(settings, [home / "dangling.txt", home / "nowhere.md", home / "agadir-port.txt"])
    assert report.added == ["agadir-port"]
    assert report.failed == {"dangling.txt": reason("unreadable", name="dangling.txt"),
                             "nowhere.md": reason("unreadable", name="nowhere.md")}


def test_same_name_with_other_content_is_refused_not_overwritten(home):
    """A second report.txt from another folder must not replace the first: it is refused with a clear reason."""
    settings = make_settings(home)
    (home / "a").mkdir()
    (home / "b").mkdir()
    (home / "a" / "report.txt").write_text(GOOD_TXT, encoding="utf-8")
    (home / "b" / "report.txt").write_text(GOOD_DOCX[0], encoding="utf-8")
    (home / "b" / "report.md").write_text(GOOD_PDF[0], encoding="utf-8")
    first = add_files(settings, [home / "a" / "report.txt"])
    assert first.added == ["report"]
    second = add_files(settings, [home / "b" / "report.txt", home / "b" / "report.md"])
    assert not second.touched
    assert second.failed == {n: reason("name_taken", name=n, existing="report") for n in ("report.txt", "report.md")}
    assert (settings.sources / "report.txt").read_text(encoding="utf-8") == GOOD_TXT
    assert sorted(p.name for p in settings.sources.iterdir()) == ["report.txt"]


def test_a_folder_with_unsupported_files_lists_them(home):
    settings = make_settings(home)
    folder = home / "incoming"
    (folder / "sub").mkdir(parents=True)
    (folder / "agadir-port.txt").write_text(GOOD_TXT, encoding="utf-8")
    (folder / "sub" / "budget.xlsx").write_bytes(b"PK\x03\x04")
    (folder / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")  # hidden: never a source, never mentioned
    (folder / "desktop.ini").write_text("[.ShellClassInfo]", encoding="utf-8")
    report = add_files(settings, [folder])
    assert report.added == ["agadir-port"]
    assert set(report.failed) == {"budget.xlsx", "old.doc"}
    assert all("غير مدعومة" in text for text in report.failed.values())


# ------------------------------------------------------------------------------------------ faults and odd input


def _cli(home, *args: str, stdout=None):  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    from conftest import ROOT, plugin_env

    env = plugin_env({**os.environ, "ASSISTANT_HOME": str(home), "ASSISTANT_EMBED_MODEL": "hash",
                      "ASSISTANT_PROMPTS_DIR": str(ROOT / "prompts"), "PYTHONPATH": str(ROOT)})
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], env=env, text=True, timeout=300,
                          stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_link_out_of_the_sources_folder_is_refused(home, tmp_path_factory):  # type: ignore[no-untyped-def]
    secret = tmp_path_factory.mktemp("outside") / "secret.txt"
    secret.write_text("كلمة السر الخاصة بالخادم هي زعفران تالوين الأحمر اللامع.", encoding="utf-8")
    (home / "sources" / "secret.txt").symlink_to(secret)
    (home / "sources" / "agadir-port.txt").write_text(GOOD_TXT, encoding="utf-8")
    settings = make_settings(home)
    report = sync(settings)
    assert report.added == ["agadir-port"] and report.failed == {"secret.txt": reason("outside", name="secret.txt")}
    assert all(s.source_id != "secret" for s in Assistant(settings).sources())


def test_empty_sources_folder_and_json_errors_say_so(home):  # type: ignore[no-untyped-def]
    import json

    out = _cli(home, "ingest")
    assert out.returncode == 2 and "sources" in out.stderr and "Traceback" not in out.stderr
    out = _cli(home, "ask", "--json", "؟؟ !!")  # punctuation only: one JSON object all the same
    assert out.returncode == 2 and json.loads(out.stdout)["error"]["key"] == "empty_question"
    out = _cli(home, "ask", "--json", "كم عدد الدول؟")  # no index yet
    assert json.loads(out.stdout)["error"]["key"] == "no_index" and "Traceback" not in out.stderr


def test_a_closed_pipe_and_a_newline_in_a_file_name_are_not_tracebacks(home):  # type: ignore[no-untyped-def]
    import os

    (home / "sources" / "line\nbreak.txt").write_text(GOOD_TXT, encoding="utf-8")
    assert _cli(home, "ingest").returncode == 0
    listing = _cli(home, "sources").stdout.splitlines()
    assert len(listing) == 2 and "line\\nbreak.txt" in listing[1]
    r, w = os.pipe()
    os.close(r)  # the reader is gone before anything is written (like `| head -c 0`)
    with os.fdopen(w, "w") as closed:
        out = _cli(home, "sources", stdout=closed)
    assert out.returncode == 1 and "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr


def test_remove_puts_the_file_back_when_the_index_cannot_follow(home, monkeypatch):  # type: ignore[no-untyped-def]
    from assistant import ingest

    (home / "sources" / "agadir-port.txt").write_text(GOOD_TXT, encoding="utf-8")
    settings = make_settings(home)
    sync(settings)

    def broken(*_a, **_k):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ingest, "sync", broken)
    with pytest.raises(OSError):
        ingest.remove_source(settings, "agadir-port")
    assert (home / "sources" / "agadir-port.txt").read_text(encoding="utf-8") == GOOD_TXT


def test_a_stopped_chroma_server_gets_a_clear_message_after_retries(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Asked with a Chroma server that does not answer: tried again a few times, then one Arabic message."""
    import socket

    from assistant import store
    from assistant.errors import StoreUnreachable
    from assistant.service import Assistant

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    waits: list[float] = []
    monkeypatch.setattr(store.time, "sleep", waits.append)
    settings = make_settings(tmp_path)
    (settings.sources / "a.txt").write_text("نص قصير عن مهرجان الزيتون في مدينة وزان.", encoding="utf-8")
    Assistant(settings).sync()
    remote = settings.replace(chroma_host="127.0.0.1", chroma_port=port)
    with pytest.raises(StoreUnreachable) as err:
        Assistant(remote).ask("أين أقيم مهرجان الزيتون؟")
    assert waits == [0.5, 1.0, 2.0]
    assert f"127.0.0.1:{port}" in err.value.text() and "Chroma" in err.value.text()

"""Crash safety: a real ``kill -9`` of ``assistant ingest`` midway leaves the index answering as before,
and the next run completes the work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from assistant import store
from assistant.ingest import sync
from assistant.service import Assistant

from conftest import ROOT, make_settings, plugin_env
from makedocs import assert_answered

NEW_DOCS = 120
BASE = "water-forum"
BASE_TEXT = "---\ntitle: منتدى المياه\n---\nشاركت 45 دولة في المنتدى الإقليمي للمياه الذي احتضنته مدينة إفران.\n"
QUESTION = "كم دولة شاركت في المنتدى الإقليمي للمياه في مدينة إفران؟"
PLACES = ["الرباط", "فاس", "طنجة", "مكناس", "وجدة", "العيون", "الداخلة", "آسفي", "القنيطرة", "تارودانت"]


def write_new_documents(folder) -> None:  # type: ignore[no-untyped-def]
    """Enough new sources that indexing them takes seconds: time to kill the writer midway."""
    for i in range(NEW_DOCS):
        place = PLACES[i % len(PLACES)]
        lines = [f"سجل التقرير البلدي رقم {i} في مدينة {place} افتتاح {j + 3} مرافق عمومية جديدة خلال الشهر {j + 1}."
                 for j in range(10)]
        (folder / f"report-{i:03d}.md").write_text("\n\n".join(lines), encoding="utf-8")
    (folder / "lighthouse.md").write_text(
        "---\ntitle: منارة الكاب سبارطيل\n---\nيبلغ ارتفاع منارة الكاب سبارطيل قرب طنجة 24 مترا فوق سطح البحر.\n",
        encoding="utf-8")


def test_kill_9_midway_leaves_the_index_answering_and_the_next_run_completes(home):
    settings = make_settings(home)
    (settings.sources / f"{BASE}.md").write_text(BASE_TEXT, encoding="utf-8")
    sync(settings)
    live = store.current_generation(settings.index)
    before = assert_answered(Assistant(settings), QUESTION, BASE, "45 دولة")
    write_new_documents(settings.sources)

    env = plugin_env({**os.environ, "ASSISTANT_HOME": str(home), "ASSISTANT_EMBED_MODEL": "hash",
                      "ASSISTANT_PROMPTS_DIR": str(ROOT / "prompts"), "TQDM_DISABLE": "1", "PYTHONPATH": str(ROOT)})
    proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", "ingest"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # midway: the writer has made its working copy of the index and is filling it
        deadline = time.monotonic() + 120
        work = []
        while not work:
            assert proc.poll() is None, f"ingest ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "ingest never started writing"
            work = list(settings.index.glob(".work-gen-*"))
            time.sleep(0.02)
        time.sleep(0.8)
        assert proc.poll() is None, "ingest finished before the kill: make NEW_DOCS larger"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    # the index answers exactly as before; the half-written copy is there but not live
    assert store.current_generation(settings.index) == live
    assert list(settings.index.glob(".work-gen-*"))
    after = Assistant(settings).ask(QUESTION)
    assert after.text == before.text and after.citations == before.citations
    assert [s.source_id for s in Assistant(settings).sources()] == [BASE]
    assert Assistant(settings).ask("كم يبلغ ارتفاع منارة الكاب سبارطيل قرب طنجة؟").refused

    # the next run cleans up and completes the work (the lock died with the killed process)
    report = sync(settings)
    assert len(report.added) == NEW_DOCS + 1 and report.unchanged == [BASE] and not report.failed
    assert not list(settings.index.glob(".work-gen-*"))
    assert store.current_generation(settings.index) != live
    a = Assistant(settings)
    assert len(a.sources()) == NEW_DOCS + 2
    assert_answered(a, "كم يبلغ ارتفاع منارة الكاب سبارطيل قرب طنجة؟", "lighthouse", "24 مترا")
    again = a.ask(QUESTION)
    assert not again.refused and again.citations[0].source_id == BASE

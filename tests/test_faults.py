"""The fault suite: kill -9 at random points of every write, two writers at once, a full disk and a read-only
index midway, and fuzzed questions and files. Every run is seeded; nothing may end in a traceback or a broken
index. For a longer run, ``ASSISTANT_FAULT_KILLS`` raises the number of kills (20 in CI) and
``ASSISTANT_FAULT_EMBED=e5-small`` makes the killed writers embed with the real model (the hash one in CI)."""

from __future__ import annotations

import errno
import io
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from assistant import cli, layers, recovery, store
from assistant.errors import QuestionError, SourceError
from assistant.ingest import sync
from assistant.service import Assistant
from assistant.sources import discover, read_source, source_id_for
from conftest import ARTICLE, ROOT, make_settings, plugin_env
from makedocs import arabic_pdf, docx_file

KILLS = int(os.environ.get("ASSISTANT_FAULT_KILLS", "20"))
EMBED = os.environ.get("ASSISTANT_FAULT_EMBED", "hash")
BASE = "water-forum"
BASE_TEXT = "---\ntitle: منتدى المياه\n---\nشاركت 45 دولة في المنتدى الإقليمي للمياه الذي احتضنته مدينة إفران.\n"
QUESTION = "كم دولة شاركت في المنتدى الإقليمي للمياه في مدينة إفران؟"
PLACES = ["الرباط", "فاس", "طنجة", "مكناس", "وجدة", "العيون", "الداخلة", "آسفي", "القنيطرة", "تارودانت"]


def _doc(i: int, lines: int = 12) -> str:
    place = PLACES[i % len(PLACES)]
    body = "\n\n".join(f"سجل التقرير البلدي رقم {i} في مدينة {place} افتتاح {j + 3} مرافق عمومية جديدة خلال الشهر {j + 1}."
                       for j in range(lines))
    return f"---\ntitle: تقرير {i}\n---\n{body}\n"


def _env(home: Path) -> dict[str, str]:
    return plugin_env({**os.environ, "ASSISTANT_HOME": str(home), "ASSISTANT_EMBED_MODEL": EMBED,
                       "ASSISTANT_PROMPTS_DIR": str(ROOT / "prompts"), "TQDM_DISABLE": "1"})


def check_index(settings) -> None:  # type: ignore[no-untyped-def]
    """The live index is whole: complete generation, Chroma holding exactly the manifest's chunks, BM25
    loading, the base question answered from the base document."""
    gen = store.current_generation(settings.index)
    assert gen is not None, "no complete generation"
    manifest = store.read_manifest(gen)
    count = layers.chunk_count(gen, settings)  # a small write's generation is a layer over a full one
    assert count == sum(s.chunks for s in manifest.values()), "Chroma and the manifest disagree"
    answer = Assistant(settings).ask(QUESTION)
    assert "45" in answer.text and answer.citations and answer.citations[0].source_id == BASE


def _kill_during(proc: subprocess.Popen, settings, rng: random.Random) -> str:  # type: ignore[no-untyped-def]
    """Kill -9 ``proc`` at a random point: half the time at a random moment, half the time while it writes."""
    if rng.random() < 0.5:
        time.sleep(rng.uniform(0.1, 2.5))
    else:
        deadline = time.monotonic() + 60
        while proc.poll() is None and not list(settings.index.glob(".work-gen-*")) and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.2))
    writing = bool(list(settings.index.glob(".work-gen-*")))
    if proc.poll() is not None:
        return "finished"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return "while writing" if writing else "before or after writing"


def test_kill_9_at_random_points_of_add_remove_and_ingest(home: Path, tmp_path: Path) -> None:
    # small layers: the kills fall into writes of layers and into writes that fold them into a full index
    moments = _kill_loop(make_settings(home, embed_model=EMBED, layer_chunks=30), home, tmp_path, KILLS,
                         {"ASSISTANT_LAYER_CHUNKS": "30"},
                         seed=2026)
    print(f"{KILLS} kills: {moments}")
    assert moments.get("while writing", 0) >= KILLS // 5  # the kills did land inside writes
    assert moments.get("live: layer", 0) >= 2 and moments.get("live: full", 0) >= 2  # small writes and folds both ran


def test_kill_9_while_writing_into_a_chroma_server(home: Path, tmp_path: Path, chroma_server: int) -> None:
    """The server is written in place: a writer killed mid-write left chunks no manifest knew (41 sources on the
    server, 21 in the manifest). Its write-ahead record is rolled back by the next writer, and the sync after
    that indexes those sources again."""
    env = {"ASSISTANT_CHROMA_HOST": "127.0.0.1", "ASSISTANT_CHROMA_PORT": str(chroma_server)}
    settings = make_settings(home, embed_model=EMBED, chroma_host="127.0.0.1", chroma_port=chroma_server)
    kills = max(6, KILLS // 3)
    moments = _kill_loop(settings, home, tmp_path, kills, env, seed=2027)
    print(f"{kills} kills on a Chroma server: {moments}")
    assert moments.get("while writing", 0) >= 2


KILLED_AFTER_THE_SERVER_WRITE = """
import os, signal, sys
from assistant import backends, keyword
from assistant.config import load_settings
from assistant.ingest import sync
keyword.update_keyword_state = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)  # chunks stored, not yet live
settings = load_settings()
backends.load_plugins(settings.plugins)
sync(settings)
"""


def test_a_writer_killed_after_its_chunks_reached_the_server_is_rolled_back(home: Path, chroma_server: int) -> None:
    settings = make_settings(home, embed_model=EMBED, chroma_host="127.0.0.1", chroma_port=chroma_server)
    (settings.sources / f"{BASE}.md").write_text(BASE_TEXT, encoding="utf-8")
    sync(settings)
    for k in range(3):
        (settings.sources / f"late-{k}.md").write_text(_doc(k), encoding="utf-8")
    env = {**_env(home), "ASSISTANT_CHROMA_HOST": "127.0.0.1", "ASSISTANT_CHROMA_PORT": str(chroma_server)}
    done = subprocess.run([sys.executable, "-c", KILLED_AFTER_THE_SERVER_WRITE], cwd=ROOT, env=env, capture_output=True)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    assert sorted(recovery.pending(settings)) == ["late-0", "late-1", "late-2"]
    listed = subprocess.run([sys.executable, "-m", "assistant.cli", "sources"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert listed.returncode == 0 and "لم تكتمل (3)" in listed.stdout and "- late-2" in listed.stdout, listed.stderr[-2000:]
    gen = store.current_generation(settings.index)
    coll = store.chroma_client(gen, settings).get_collection(store.collection_name(settings))
    assert coll.count() > sum(s.chunks for s in store.read_manifest(gen).values())  # the server ran ahead
    report = sync(settings)  # the next writer rolls back, then indexes the three again
    assert sorted(report.added) == ["late-0", "late-1", "late-2"] and not recovery.pending(settings)
    check_index(settings)


def _kill_loop(settings, home: Path, tmp_path: Path, kills: int, extra_env: dict[str, str], seed: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Kill -9 ``kills`` writers (add, remove, replace, ingest) at random points; after each the index is whole,
    and the next sync completes the work. Returns how many kills fell at each moment."""
    rng = random.Random(seed)
    (settings.sources / f"{BASE}.md").write_text(BASE_TEXT, encoding="utf-8")
    sync(settings)
    outside = tmp_path / "incoming"
    outside.mkdir()
    moments: dict[str, int] = {}
    for k in range(kills):
        op = rng.choice(["add", "remove", "ingest", "replace"])
        manifest = store.read_manifest(store.current_generation(settings.index))
        ids = sorted(set(manifest) - {BASE})
        replaceable = sorted(sid for sid in ids if (outside / f"{sid}.md").exists())
        if (op == "remove" and not ids) or (op == "replace" and not replaceable):
            op = "add"
        versions: tuple[str, str] | None = None
        if op == "add":
            batch = []
            for j in range(rng.randint(3, 12)):
                f = outside / f"report-{k:02d}-{j:02d}.md"
                f.write_text(_doc(100 * k + j), encoding="utf-8")
                batch.append(str(f))
            args = ["add", *batch]
        elif op == "remove":
            args = ["remove", rng.choice(ids)]
        elif op == "replace":  # an edited version of a document added earlier, swapped in with add --replace
            sid = rng.choice(replaceable)
            edited = outside / f"{sid}.md"
            edited.write_text(_doc(50_000 + k, lines=14), encoding="utf-8")
            versions = (manifest[sid].text, sid)
            args = ["add", "--replace", str(edited)]
        else:
            for j in range(rng.randint(5, 30)):
                (settings.sources / f"direct-{k:02d}-{j:02d}.md").write_text(_doc(10_000 + 100 * k + j), encoding="utf-8")
            args = ["ingest"]
        proc = subprocess.Popen([sys.executable, "-m", "assistant.cli", *args], cwd=ROOT, env={**_env(home), **extra_env},
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        moment = _kill_during(proc, settings, rng)
        moments[moment] = moments.get(moment, 0) + 1
        if moment == "finished":
            assert proc.returncode == 0, proc.stderr.read().decode()[-2000:] if proc.stderr else ""
        if settings.chroma_host:  # a server is written in place: what a killed writer left is rolled back on start
            with store.writer_lock(settings.index):
                recovery.recover(settings, lambda _m: None)
        check_index(settings)  # whatever the moment: the old state or the new, whole
        kind = "live: layer" if layers.read(store.current_generation(settings.index)) else "live: full"
        moments[kind] = moments.get(kind, 0) + 1
        if versions is not None:  # the replaced document answers from its old text or its new one, never neither
            old_text, sid = versions
            now = store.read_manifest(store.current_generation(settings.index)).get(sid)
            if now is None:  # rolled back off a server: the next sync indexes the folder's version
                assert settings.chroma_host
            else:
                assert now.text == old_text or f"رقم {50_000 + k} " in now.text
        report = sync(settings)  # and the next run completes the work
        assert not report.failed, report.failed
        folder = {source_id_for(p, settings.sources) for p in discover(settings.sources)}
        assert set(store.read_manifest(store.current_generation(settings.index))) == folder
        check_index(settings)
    return moments


def test_two_writers_at_once_both_land(home: Path, tmp_path: Path) -> None:
    settings = make_settings(home)
    (settings.sources / f"{BASE}.md").write_text(BASE_TEXT, encoding="utf-8")
    sync(settings)
    batches = []
    for w in range(2):
        files = []
        for j in range(15):
            f = tmp_path / f"writer{w}-{j:02d}.md"
            f.write_text(_doc(1000 * (w + 1) + j), encoding="utf-8")
            files.append(str(f))
        batches.append(files)
    procs = [subprocess.Popen([sys.executable, "-m", "assistant.cli", "add", *b], cwd=ROOT, env=_env(home),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for b in batches]
    for p in procs:
        p.wait(timeout=300)
        assert p.returncode == 0, p.stderr.read().decode()[-2000:] if p.stderr else ""
    manifest = store.read_manifest(store.current_generation(settings.index))
    assert len(manifest) == 1 + 30
    check_index(settings)


@pytest.mark.parametrize("fault", [errno.ENOSPC, errno.EROFS, errno.EACCES])
def test_a_full_disk_or_read_only_index_midway_loses_nothing(home: Path, tmp_path: Path, fault: int,
                                                             monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """The write fails as the new manifest is written (a full disk, a read-only or forbidden folder): the
    command says so in Arabic, the file is not left half-added, and the index answers as before."""
    settings = make_settings(home)
    (settings.sources / f"{BASE}.md").write_text(BASE_TEXT, encoding="utf-8")
    sync(settings)
    monkeypatch.setenv("ASSISTANT_HOME", str(home))
    monkeypatch.setenv("ASSISTANT_EMBED_MODEL", "hash")
    monkeypatch.setenv("ASSISTANT_PROMPTS_DIR", str(ROOT / "prompts"))
    new = tmp_path / "new-report.md"
    new.write_text(_doc(7), encoding="utf-8")
    error = PermissionError if fault == errno.EACCES else OSError

    def failing(*_a, **_k):  # type: ignore[no-untyped-def]
        raise error(fault, os.strerror(fault))

    monkeypatch.setattr(store, "write_manifest", failing)
    code = cli.main(["add", str(new)])
    out = capsys.readouterr()
    assert code != 0 and "Traceback" not in out.err + out.out
    assert any("\u0600" <= c <= "\u06ff" for c in out.err), out.err
    assert not (settings.sources / "new-report.md").exists()  # not half-added
    assert not list(settings.index.glob(".work-gen-*"))
    monkeypatch.undo()
    check_index(settings)
    assert set(store.read_manifest(store.current_generation(settings.index))) == {BASE}


# ---- fuzzed questions

_QUESTION_CHARS = st.one_of(
    st.characters(min_codepoint=0x0600, max_codepoint=0x06FF),  # Arabic, marks and Arabic-Indic digits
    st.sampled_from(list(" ؟?!.،,:؛\n\t\u200f\u200e\u200c\u200d\u0640\ufeff«»\"'()[]{}<>*_#`~\\/%$@&|^=+-")),
    st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF),  # emoji
    st.characters(),  # anything else, surrogates excluded by hypothesis
)


@pytest.fixture(scope="module")
def fuzz_assistant(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("fuzz")
    s = make_settings(home)
    (s.sources / ARTICLE.name).write_bytes(ARTICLE.read_bytes())
    a = Assistant(s)
    a.sync()
    return a


@hsettings(max_examples=1000, deadline=None, derandomize=True, database=None,
           suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(question=st.text(_QUESTION_CHARS, max_size=300), history=st.lists(st.text(_QUESTION_CHARS, max_size=60), max_size=2))
def test_a_thousand_fuzzed_questions_get_an_answer_or_a_message(fuzz_assistant, question: str, history: list[str]) -> None:  # type: ignore[no-untyped-def]
    try:
        answer = fuzz_assistant.ask(question, history=history)
    except QuestionError as exc:
        assert exc.text()  # an Arabic message, never a crash
        return
    assert answer.refused or all(answer.text.count(f"[{c.n}]") for c in answer.citations)
    for c in answer.citations:
        assert fuzz_assistant.source(c.source_id).text[c.start:c.end] == c.quote


# ---- fuzzed files


def _seeds(folder: Path) -> dict[str, bytes]:
    """One small valid file of every supported format."""
    from PIL import Image, ImageDraw

    paras = ["شاركت 45 دولة في المنتدى الإقليمي للمياه.", "وانعقد المنتدى في مدينة إفران."]
    out = {
        ".txt": "\n\n".join(paras).encode("utf-8"),
        ".md": ("---\ntitle: منتدى\n---\n# منتدى\n\n" + "\n\n".join(paras)).encode("utf-8"),
        ".markdown": ("* " + paras[0]).encode("cp1256"),
        ".html": f"<html><body><h1>منتدى</h1><p>{paras[0]}</p><p>{paras[1]}</p></body></html>".encode("utf-8"),
        ".htm": f"<p>{paras[1]}</p>".encode("utf-16"),
        ".docx": docx_file(folder / "seed.docx", paras).read_bytes(),
        ".pdf": arabic_pdf(folder / "seed.pdf", paras).read_bytes(),
    }
    img = Image.new("L", (160, 40), 255)
    ImageDraw.Draw(img).rectangle((10, 10, 150, 30), outline=0)
    for ext, fmt in ((".png", "PNG"), (".jpg", "JPEG"), (".jpeg", "JPEG"), (".tif", "TIFF"), (".tiff", "TIFF"),
                     (".webp", "WEBP")):
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        out[ext] = buf.getvalue()
    return out


def _mutate(data: bytes, rng: random.Random) -> bytes:
    """A damaged copy: truncated, bytes flipped, a span zeroed or random bytes inserted (one or two of them)."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 2)):
        kind = rng.randrange(4)
        if kind == 0 and len(b) > 2:
            del b[rng.randrange(1, len(b)):]
        elif kind == 1:
            for _ in range(rng.randint(1, 16)):
                if b:
                    b[rng.randrange(len(b))] = rng.randrange(256)
        elif kind == 2 and b:
            i = rng.randrange(len(b))
            b[i:i + rng.randint(1, 64)] = bytes(min(64, len(b) - i))
        else:
            i = rng.randrange(len(b) + 1)
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    return bytes(b)


def test_two_hundred_fuzzed_files_of_every_format_read_or_refused(tmp_path: Path) -> None:
    from assistant.formats import ocr

    rng = random.Random(7)
    seeds = _seeds(tmp_path)
    outcomes = {"read": 0, "refused": 0}
    with ocr.bounds(max_pages=3, page_seconds=10):
        for ext, data in sorted(seeds.items()):
            for k in range(16):
                path = tmp_path / f"fuzz-{k:02d}{ext}"
                path.write_bytes(_mutate(data, rng))
                try:
                    read_source(path, max_bytes=20_000_000)
                    outcomes["read"] += 1
                except SourceError as exc:
                    assert exc.text(), exc.key
                    outcomes["refused"] += 1
    print(f"{sum(outcomes.values())} fuzzed files: {outcomes}")
    assert sum(outcomes.values()) >= 200 and outcomes["refused"] > 0

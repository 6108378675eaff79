"""Ingestion: idempotent sync, changed and removed documents, exact citations, atomic generations."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from assistant import store
from fakes import HashEmbedding
from assistant.ingest import sync
from assistant.service import Assistant

from conftest import ARTICLE, ARTICLE_ID, make_settings


@pytest.fixture
def counted(monkeypatch):
    """Count every text embedded through the hash model."""
    calls = {"texts": 0}
    original = HashEmbedding._get_text_embeddings

    def counting(self, texts):
        calls["texts"] += len(texts)
        return original(self, texts)

    monkeypatch.setattr(HashEmbedding, "_get_text_embeddings", counting)
    return calls


def test_second_sync_embeds_nothing(article_home, counted):
    s = make_settings(article_home)
    first = sync(s)
    assert first.added == [ARTICLE_ID] and first.embedded >= 7
    assert counted["texts"] == first.embedded
    gen = store.current_generation(s.index)
    second = sync(s)
    assert second.unchanged == [ARTICLE_ID] and not second.touched
    assert second.embedded == 0 and counted["texts"] == first.embedded
    assert store.current_generation(s.index) == gen


def test_a_large_batch_is_indexed_a_step_at_a_time(article_home, counted, monkeypatch):  # type: ignore[no-untyped-def]
    """Sources are split, embedded and stored a bounded step at a time (memory stays flat on a 100,000-chunk
    ingest); the index holds every chunk once and answers from every source, as with one step."""
    from assistant import ingest

    steps: list[int] = []
    real = ingest._documents

    def spy(sources):  # type: ignore[no-untyped-def]
        steps.append(len(sources))
        return real(sources)

    monkeypatch.setattr(ingest, "_documents", spy)
    monkeypatch.setattr(ingest, "BATCH_CHARS", 20)
    for k, (what, n) in enumerate([("المتطوعين", "350 متطوعا"), ("الحافلات", "40 حافلة"), ("الفنادق", "15 فندقا")]):
        (article_home / "sources" / f"note{k}.md").write_text(
            f"---\ntitle: ملاحظة {k}\n---\nبلغ عدد {what} في التنظيم {n}.\n", encoding="utf-8")
    s = make_settings(article_home)
    report = sync(s)
    assert len(report.added) == 4 and steps == [1, 1, 1, 1]
    assert counted["texts"] == report.embedded
    gen = store.current_generation(s.index)
    coll = store.chroma_client(gen, s).get_collection(store.collection_name(s))
    assert coll.count() == report.embedded == sum(src.chunks for src in store.read_manifest(gen).values())
    ans = Assistant(s).ask("كم بلغ عدد الحافلات في التنظيم؟")
    assert not ans.refused and ans.citations[0].source_id == "note1" and "40" in ans.text


def test_changed_document_is_replaced_and_removed_one_deleted(article_home, counted):
    s = make_settings(article_home)
    sync(s)
    extra = article_home / "sources" / "note.md"
    extra.write_text("---\ntitle: ملاحظة\n---\nبلغ عدد المتطوعين في التنظيم ثلاثمئة وخمسين متطوعًا.\n", encoding="utf-8")
    report = sync(s)
    assert report.added == ["note"] and report.unchanged == [ARTICLE_ID]
    a = Assistant(s)
    assert not a.ask("كم بلغ عدد المتطوعين في التنظيم؟").refused

    extra.write_text("---\ntitle: ملاحظة\n---\nافتتح المعرض الدولي للكتاب أبوابه في الرباط يوم الخميس.\n", encoding="utf-8")
    report = sync(s)
    assert report.changed == ["note"]
    a = Assistant(s)
    assert a.ask("كم بلغ عدد المتطوعين في التنظيم؟").refused
    ans = a.ask("أين افتتح المعرض الدولي للكتاب؟")
    assert not ans.refused and ans.citations[0].source_id == "note"

    extra.unlink()
    report = sync(s)
    assert report.removed == ["note"]
    a = Assistant(s)
    assert [src.source_id for src in a.sources()] == [ARTICLE_ID]
    assert a.ask("أين افتتح المعرض الدولي للكتاب؟").refused


def test_citations_are_exact_slices_of_the_kept_text(article_home):
    s = make_settings(article_home)
    sync(s)
    a = Assistant(s)
    questions = ["كم عدد الدول التي شاركت في الجمعية العامة؟", "مع من وقّع المغرب مذكرتي تفاهم؟",
                 "كم اجتماعا ثنائيا أجرى المدير العام؟", "ما الوسام الذي منحته الشرطة الإسبانية؟"]
    seen = 0
    for q in questions:
        ans = a.ask(q)
        for c in ans.citations:
            src = a.source(c.source_id)
            assert src is not None and src.text[c.start:c.end] == c.quote and c.quote
            assert c.quote in ans.text and f"[{c.n}]" in ans.text
            seen += 1
    assert seen >= 3
    # the index keeps the text: the original file may go away and citations still resolve
    (article_home / "sources" / ARTICLE.name).rename(article_home / "moved.md")
    assert a.source(ARTICLE_ID) is not None


def test_interrupted_writer_leaves_previous_generation_live(article_home):
    s = make_settings(article_home)
    sync(s)
    live = store.current_generation(s.index)
    work = store.new_generation(s.index)  # a writer that died before publishing
    assert work.exists() and store.current_generation(s.index) == live
    assert not Assistant(s).ask("كم عدد الدول التي شاركت في الجمعية العامة؟").refused
    (article_home / "sources" / "late.md").write_text("انطلقت قافلة طبية نحو القرى الجبلية في إقليم أزيلال.", encoding="utf-8")
    sync(s)  # the next run cleans the leftover copy and completes
    assert not work.exists()
    assert not Assistant(s).ask("إلى أين انطلقت القافلة الطبية؟").refused


def test_duplicate_content_under_another_name_is_reported(article_home):
    s = make_settings(article_home)
    shutil.copy(ARTICLE, article_home / "sources" / "copy-of-article.md")
    report = sync(s)
    assert len(report.added) == 1 and "copy-of-article.md" in report.failed
    assert "مطابق" in report.failed["copy-of-article.md"]


def test_add_replace_swaps_in_a_new_version_and_the_old_comes_back_on_failure(home, monkeypatch):  # type: ignore[no-untyped-def]
    from assistant import ingest
    from assistant.ingest import add_files
    from assistant.service import Assistant

    settings = make_settings(home)
    old, new = home / "in" / "v1" / "port.txt", home / "in" / "v2" / "port.txt"
    old.parent.mkdir(parents=True)
    new.parent.mkdir(parents=True)
    old.write_text("افتتحت مدينة أكادير ميناء جديدا للصيد البحري بطاقة تبلغ 400 قارب.", encoding="utf-8")
    new.write_text("افتتحت مدينة أكادير ميناء جديدا للصيد البحري بطاقة تبلغ 650 قاربا.", encoding="utf-8")
    assert add_files(settings, [old]).added == ["port"]
    refused = add_files(settings, [new])  # without --replace an edited file is refused, not overwritten
    assert "port" in refused.failed["port.txt"] and not refused.changed
    q = "كم تبلغ طاقة ميناء الصيد البحري في أكادير؟"
    assert "400" in Assistant(settings).ask(q, mode="keyword").text
    assert add_files(settings, [new], replace_existing=True).changed == ["port"]
    src = Assistant(settings).source("port")
    assert src is not None and src.version == 2 and src.updated and "650" in Assistant(settings).ask(q, mode="keyword").text
    assert not add_files(settings, [new], replace_existing=True).failed  # the same version again: nothing to do

    def broken(*_a, **_k):  # type: ignore[no-untyped-def]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ingest, "sync", broken)
    with pytest.raises(OSError):
        add_files(settings, [old], replace_existing=True)
    assert "650" in (home / "sources" / "port.txt").read_text(encoding="utf-8")  # the live version's file is back


def test_a_shared_chroma_server_gets_one_collection_per_project(tmp_path):  # type: ignore[no-untyped-def]
    from assistant import store

    a, b = make_settings(tmp_path / "a"), make_settings(tmp_path / "b")
    assert store.collection_name(a) == store.collection_name(b)  # embedded: each index folder has its own store
    sa, sb = a.replace(chroma_host="127.0.0.1"), b.replace(chroma_host="127.0.0.1")
    assert store.collection_name(sa) != store.collection_name(sb)
    assert store.collection_name(sa) == store.collection_name(a.replace(chroma_host="chroma.local"))


def test_chunks_go_into_chroma_in_batches_it_accepts(article_home, monkeypatch):  # type: ignore[no-untyped-def]
    """Chroma refuses an add over its max batch size (5461 here): a 10,000-chunk sync failed before."""
    from assistant import ingest, store
    from assistant.service import Assistant

    from chromadb.api.models.Collection import Collection

    sizes: list[int] = []
    real_add = Collection.add

    def spy(self, ids, **kwargs):  # type: ignore[no-untyped-def]
        sizes.append(len(ids))
        return real_add(self, ids, **kwargs)

    monkeypatch.setattr(Collection, "add", spy)
    monkeypatch.setattr(ingest, "MAX_ADD", 3)
    settings = make_settings(article_home)
    report = ingest.sync(settings)
    assert report.added == [ARTICLE_ID] and report.embedded > 3
    assert max(sizes) <= 3 and sum(sizes) == report.embedded
    assert Assistant(settings).source(ARTICLE_ID).chunks == report.embedded
    client = store.chroma_client(store.current_generation(settings.index), settings)
    assert client.get_collection(store.collection_name(settings)).count() == report.embedded


def test_the_index_keeps_only_what_answers_read(article_home):  # type: ignore[no-untyped-def]
    """No serialised llama-index node per chunk (it made Chroma's SQLite 14 KB a chunk), no docstore; and
    removing the source still empties the collection."""
    from assistant import ingest, store

    settings = make_settings(article_home)
    ingest.sync(settings)
    gen = store.current_generation(settings.index)
    coll = store.chroma_client(gen, settings).get_collection(store.collection_name(settings))
    metas = coll.get(include=["metadatas"])["metadatas"]
    assert metas and all(set(m) <= set(ingest.STORED) for m in metas)
    assert all(m["document_id"] == m["source_id"] == ARTICLE_ID for m in metas)
    assert not (gen / "docstore.json").exists()
    (article_home / "sources" / next(p.name for p in (article_home / "sources").iterdir())).unlink()
    ingest._release_chroma(gen)
    report = ingest.sync(settings)
    assert report.removed == [ARTICLE_ID]
    gen = store.current_generation(settings.index)
    assert store.chroma_client(gen, settings).get_collection(store.collection_name(settings)).count() == 0


def test_a_generation_left_half_empty_is_compacted(tmp_path):  # type: ignore[no-untyped-def]
    """Chroma frees its write-ahead queue once the vectors are indexed (about half the file after a large
    ingest): the SQLite file is vacuumed before the generation goes live, and left alone when nearly full."""
    import sqlite3

    from assistant import store

    db = tmp_path / "chroma" / "chroma.sqlite3"
    db.parent.mkdir()
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE q (v BLOB)")
    con.executemany("INSERT INTO q VALUES (?)", [(b"x" * 1536,)] * 2000)
    con.commit()
    full = db.stat().st_size
    store.compact(tmp_path)
    assert db.stat().st_size == full
    con.execute("DELETE FROM q WHERE rowid > 200")
    con.commit()
    con.close()
    assert db.stat().st_size == full
    store.compact(tmp_path)
    assert db.stat().st_size < full / 4
    store.compact(tmp_path / "no-such-generation")


def test_replacing_a_source_with_its_own_edited_file_keeps_the_file(home):  # type: ignore[no-untyped-def]
    """`add --replace sources/port.txt` after editing it in place: the file is indexed, never set aside and lost."""
    from assistant.ingest import add_files

    settings = make_settings(home)
    live = home / "sources" / "port.txt"
    live.write_text("افتتحت مدينة أكادير ميناء جديدا للصيد البحري بطاقة تبلغ 400 قارب.", encoding="utf-8")
    assert add_files(settings, [live]).added == ["port"]
    live.write_text("افتتحت مدينة أكادير ميناء جديدا للصيد البحري بطاقة تبلغ 650 قاربا.", encoding="utf-8")
    report = add_files(settings, [live], replace_existing=True)
    assert report.changed == ["port"] and not report.failed
    assert "650" in live.read_text(encoding="utf-8")


def test_a_sync_reads_only_files_whose_bytes_changed(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from assistant import sources

    settings = make_settings(tmp_path)
    (settings.sources / "a.txt").write_text("نص أول عن مهرجان الزيتون في مدينة وزان.", encoding="utf-8")
    (settings.sources / "b.txt").write_text("نص ثان عن معرض الكتاب في مدينة الرباط.", encoding="utf-8")
    sync(settings)
    read: list[str] = []
    real = sources.READERS[".txt"]
    monkeypatch.setitem(sources.READERS, ".txt", lambda path, data: read.append(path.name) or real(path, data))
    assert sync(settings).unchanged == ["a", "b"] and read == []  # nothing parsed again
    (settings.sources / "b.txt").write_text("نص ثان معدّل عن معرض الكتاب في مدينة طنجة.", encoding="utf-8")
    report = sync(settings)
    assert read == ["b.txt"] and report.changed == ["b"]
    assert "طنجة" in Assistant(settings).source("b").text


def test_sources_lists_files_pending_and_failed(tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from assistant import cli

    settings = make_settings(tmp_path)
    (settings.sources / "a.txt").write_text("نص أول عن مهرجان الزيتون في مدينة وزان.", encoding="utf-8")
    (settings.sources / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    sync(settings)
    (settings.sources / "later.txt").write_text("نص أضيف إلى المجلد ولم يفهرس بعد عن معرض الكتاب.", encoding="utf-8")
    for k, v in {"HOME": tmp_path, "EMBED_MODEL": "hash", "PROMPTS_DIR": settings.prompts}.items():
        monkeypatch.setenv(f"ASSISTANT_{k}", str(v))
    assert cli.main(["sources"]) == 0
    out = capsys.readouterr().out
    listed, rest = out.split("لم تُفهرس بعد", 1)
    assert "- a " in listed and "later.txt" in rest.split("آخر مزامنة")[0]
    assert "broken.pdf" in rest.split("آخر مزامنة")[1] and "later.txt" not in rest.split("آخر مزامنة")[1]
    sync(settings)
    assert cli.main(["sources"]) == 0
    assert "لم تُفهرس بعد" not in capsys.readouterr().out  # indexed now


def test_keyword_state_from_an_older_analyser_is_read_anew_then_rebuilt(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A state written by an older stemmer is re-analysed when loaded (the index may be read-only) and rewritten by
    the next write, so questions and chunks are always stemmed alike."""
    import numpy as np

    from assistant import arabic, keyword
    from assistant.retrieve import Index

    s = make_settings(tmp_path)
    (s.sources / "a.txt").write_text("ناقشت الورشات سبل تفكيك الشبكات الإجرامية في المدينة.", encoding="utf-8")
    monkeypatch.setattr(arabic, "ANALYZER_VERSION", 1)  # as if an older release wrote it
    sync(s)
    monkeypatch.setattr(arabic, "ANALYZER_VERSION", 2)
    bm = store.current_generation(s.index) / "bm25"
    with np.load(bm / keyword.TOKENS) as z:
        assert int(z["analyzer"][0]) == 1
    assert Index(s).keyword("ما الشبكات التي ناقشتها الورشات؟", 3)  # answered from the re-analysed chunks
    (s.sources / "b.txt").write_text("نص آخر عن معرض الكتاب في مدينة طنجة.", encoding="utf-8")
    sync(s)
    with np.load(store.current_generation(s.index) / "bm25" / keyword.TOKENS) as z:
        assert int(z["analyzer"][0]) == 2


KEYWORD_QUESTIONS = ("كم عدد الدول التي شاركت؟", "أين انعقد المؤتمر؟", "المعرض الدولي للكتاب في الرباط", "المتطوعين")


def _notes_written_then_changed(home, s) -> None:  # type: ignore[no-untyped-def]
    """Two notes added one write at a time, then one changed and the other removed in one more write."""
    notes = {"note1": "بلغ عدد المتطوعين في التنظيم ثلاثمئة وخمسين متطوعًا من مراكش.",
             "note2": "افتتح المعرض الدولي للكتاب أبوابه في الرباط يوم الخميس بحضور 181 ناشرا."}
    for name, text in notes.items():
        (home / "sources" / f"{name}.md").write_text(f"---\ntitle: {name}\n---\n{text}\n", encoding="utf-8")
        sync(s)
    (home / "sources" / "note1.md").write_text("---\ntitle: note1\n---\nانعقد المؤتمر في أكادير.\n", encoding="utf-8")
    (home / "sources" / "note2.md").unlink()


def test_keyword_state_follows_each_write_as_a_full_rebuild_would(article_home, counted):  # type: ignore[no-untyped-def]
    """A write analyses only the chunks it adds, yet keyword search answers exactly as over a fresh index: here the
    notes go in as layers, and the last write folds them into a full generation."""
    from assistant import layers
    from assistant.keyword import KeywordIndex, build_keyword_state
    from assistant.retrieve import Index

    s = make_settings(article_home)
    sync(s)
    _notes_written_then_changed(article_home, s)
    assert layers.read(store.current_generation(s.index)) is not None  # the two notes were written as a layer
    report = sync(make_settings(article_home, layer_chunks=0))  # every write full: this one folds the layer in
    assert report.changed == ["note1"] and report.removed == ["note2"]
    live = store.current_generation(s.index)
    assert layers.read(live) is None and store.base_of(live) == live
    fresh = article_home / "fresh-bm25"
    index = Index(s)
    build_keyword_state(index._collection, fresh)
    kept, rebuilt = KeywordIndex.load(live / "bm25"), KeywordIndex.load(fresh)
    hits = 0
    for q in KEYWORD_QUESTIONS:
        got = [(d["node_id"], round(sc, 6)) for d, sc in kept.search(q, 20)]
        assert got == [(d["node_id"], round(sc, 6)) for d, sc in rebuilt.search(q, 20)]
        hits += len(got)
    assert hits >= 3
    assert not any(d["source_id"] == "note2" for d, _ in kept.search("المعرض الدولي للكتاب", 20))
    assert index.keyword("أكادير", 3)[0].meta["source_id"] == "note1"


def test_a_small_write_is_a_layer_that_answers_as_a_full_index_would(article_home, counted):  # type: ignore[no-untyped-def]
    """Small writes copy nothing of the base: they go into a layer over it (layers.py), whose search finds what a
    full index of the same sources finds, and never a removed or replaced version."""
    from assistant import layers
    from assistant.retrieve import Index

    s = make_settings(article_home)
    sync(s)
    base = store.current_generation(s.index)
    _notes_written_then_changed(article_home, s)
    report = sync(s)
    assert report.changed == ["note1"] and report.removed == ["note2"]
    live = store.current_generation(s.index)
    layer = layers.read(live)
    assert layer is not None and store.base_of(live) == base and layer.own == {"note1"} and not layer.dead
    assert base.is_dir()  # kept while a layer needs it
    own = store.chroma_client(live, s).get_collection(store.collection_name(s)).count()
    assert own == store.read_manifest(live)["note1"].chunks  # the layer holds the new chunks, nothing of the base
    layered = Index(s)
    assert layered.size == layers.chunk_count(live, s) == sum(x.chunks for x in store.read_manifest(live).values())
    full_home = article_home.parent / "full"
    shutil.copytree(article_home / "sources", full_home / "sources")
    full = Index(_full(make_settings(full_home)))
    for q in KEYWORD_QUESTIONS:
        assert [h.node_id for h in layered.search(q, 5)] == [h.node_id for h in full.search(q, 5)], q
    assert layered.search("أين انعقد المؤتمر؟", 1)[0].source_id == "note1"
    assert not any(h.meta["source_id"] == "note2" for h in layered.keyword("المعرض الدولي للكتاب", 20))
    assert not any(h.meta["source_id"] == "note2" for h in layered.dense("المعرض الدولي للكتاب", 20))


def _full(s):  # type: ignore[no-untyped-def]
    sync(s)
    assert layers_of(s) is None
    return s


def layers_of(s):  # type: ignore[no-untyped-def]
    from assistant import layers

    return layers.read(store.current_generation(s.index))


def test_the_keyword_state_is_rebuilt_from_a_large_collection_a_page_at_a_time(article_home, monkeypatch):  # type: ignore[no-untyped-def]
    """One read of a whole 100,000-chunk collection fails in Chroma ("too many SQL variables", after 98 minutes of
    ingest): the state is rebuilt page by page, and a new index never reads its chunks back at all."""
    from chromadb.api.models.Collection import Collection

    from assistant import keyword

    settings = make_settings(article_home)
    reads: list[int | None] = []
    real_get = Collection.get

    def spy(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(kwargs.get("limit"))
        return real_get(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "get", spy)
    report = sync(settings)
    assert reads == []  # a new index: the chunks just stored are all there is
    gen = store.current_generation(settings.index)
    coll = store.chroma_client(gen, settings).get_collection(store.collection_name(settings))
    monkeypatch.setattr(keyword, "PAGE", 4)
    keyword.build_keyword_state(coll, gen / "rebuilt")
    assert reads and set(reads) == {4} and len(reads) == -(-report.embedded // 4) + 1  # full pages, then an empty one
    rebuilt = keyword._Rows.read(gen / "rebuilt")
    kept = keyword._Rows.read(gen / "bm25")
    assert rebuilt is not None and kept is not None
    assert sorted(rebuilt.ids.tolist()) == sorted(kept.ids.tolist()) and len(kept.ids) == report.embedded


def test_add_and_remove_read_only_what_they_name(article_home, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """``add`` reads the files it is given and ``remove`` reads none: the rest of the folder is not opened again
    (at 10,000 sources, hashing every file made each write 3-4 s slower), and the base index is not copied."""
    from assistant import ingest, layers

    s = make_settings(article_home)
    for i in range(4):
        (article_home / "sources" / f"note{i}.md").write_text(f"---\ntitle: note{i}\n---\nمذكرة رقم {i} عن مهرجان وزان.\n",
                                                              encoding="utf-8")
    sync(s)
    base = store.current_generation(s.index)
    (article_home / "sources" / "dropped-in.pdf").write_bytes(b"not a pdf")  # in the folder, named by no one
    reads: list[str] = []
    real = ingest.read_source
    monkeypatch.setattr(ingest, "read_source", lambda path, **kw: (reads.append(Path(path).name), real(path, **kw))[1])
    new = tmp_path / "fresh.md"
    new.write_text("---\ntitle: fresh\n---\nافتتح متحف الفنون الجديد في مدينة وزان يوم السبت.\n", encoding="utf-8")
    report = ingest.add_files(s, [new])
    assert report.added == ["fresh"] and not report.failed and set(reads) == {"fresh.md"}
    live = store.current_generation(s.index)
    assert store.base_of(live) == base and layers.read(live).own == {"fresh"}  # type: ignore[union-attr]
    reads.clear()
    ingest.remove_source(s, "note2")
    assert reads == [] and "note2" not in store.read_manifest(store.current_generation(s.index))
    assert not (article_home / "sources" / "note2.md").exists()
    full = sync(s)  # a whole-folder sync still reads the file nobody named, and says why it cannot be indexed
    assert "dropped-in.pdf" in full.failed


def test_after_a_small_write_a_running_assistant_reads_only_the_layer(article_home, monkeypatch):  # type: ignore[no-untyped-def]
    """The answering process reloads after every write; after a layer it keeps the base it has open (at 100,000
    chunks, loading the base again kept every question waiting for seconds) and reads only the layer."""
    from assistant import keyword

    s = make_settings(article_home)
    sync(s)
    a = Assistant(s)
    assert a.ask("كم عدد الدول التي شاركت في الجمعية العامة؟").citations
    base = store.current_generation(s.index)
    (article_home / "sources" / "museum.md").write_text(
        "---\ntitle: museum\n---\nافتتح متحف الفنون الجديد في مدينة وزان يوم السبت بحضور 73 فنانا.\n", encoding="utf-8")
    sync(s)
    opened: list[Path] = []
    real_client, real_load = store.chroma_client, keyword.KeywordIndex.load
    monkeypatch.setattr(store, "chroma_client", lambda gen, settings: (opened.append(gen), real_client(gen, settings))[1])
    monkeypatch.setattr(keyword.KeywordIndex, "load", classmethod(lambda cls, *a, **k: (opened.append(a[0]), real_load(*a, **k))[1]))
    answer = a.ask("كم فنانا حضر افتتاح متحف الفنون في وزان؟")
    assert answer.citations and answer.citations[0].source_id == "museum" and "73" in answer.text
    assert opened == [store.current_generation(s.index)] and base not in opened  # the layer's Chroma, nothing else
    assert a.ask("كم عدد الدول التي شاركت في الجمعية العامة؟").citations[0].source_id != "museum"


def test_a_layer_whose_base_was_deleted_is_rebuilt_not_answered_from_half(article_home):  # type: ignore[no-untyped-def]
    s = make_settings(article_home)
    sync(s)
    base = store.current_generation(s.index)
    (article_home / "sources" / "note.md").write_text("---\ntitle: note\n---\nانعقد المؤتمر في أكادير.\n", encoding="utf-8")
    sync(s)
    shutil.rmtree(base)  # by hand, say
    assert store.current_generation(s.index) is None
    report = sync(s)
    assert sorted(report.added) == sorted([ARTICLE_ID, "note"])
    assert not Assistant(s).ask("كم عدد الدول التي شاركت في الجمعية العامة؟").refused


def test_a_layers_keyword_scores_are_bm25s_own() -> None:
    """A layer's chunks are scored by hand with bm25s's formula (bm25s cannot score outside documents): over no
    base, the scores must be the ones bm25s gives the same chunks."""
    from assistant import arabic
    from assistant.keyword import _bm25, _LayerScorer, _Rows

    texts = ["انعقدت الجمعية العامة للإنتربول في مراكش بمشاركة 181 دولة.", "افتتح المعرض الدولي للكتاب في الرباط.",
             "شارك وفد من الإنتربول في معرض الرباط للكتاب.", "انعقد المؤتمر في أكادير."]
    metas = [{"source_id": f"s{i}"} for i in range(len(texts))]
    rows = _Rows.empty().append([f"c{i}" for i in range(len(texts))], texts, metas)
    layer = _LayerScorer(rows, None, 0.0)
    bm = _bm25([arabic.analyze(t) or [""] for t in texts])
    for q in ("الإنتربول في مراكش", "معرض الكتاب في الرباط", "أكادير"):
        tokens = arabic.analyze(q)
        ours = {c["node_id"]: round(sc, 5) for c, sc in layer.search(tokens, 4)}
        docs, scores = bm.retrieve([tokens], k=4, show_progress=False)
        theirs = {f"c{int(d)}": round(float(sc), 5) for d, sc in zip(docs[0], scores[0]) if sc > 0}
        assert ours == theirs and ours, q


def test_a_damaged_layer_record_is_rebuilt_not_a_traceback(article_home):  # type: ignore[no-untyped-def]
    s = make_settings(article_home)
    sync(s)
    (article_home / "sources" / "note.md").write_text("---\ntitle: note\n---\nانعقد المؤتمر في أكادير.\n", encoding="utf-8")
    sync(s)
    live = store.current_generation(s.index)
    (live / "LAYER.json").write_text("{not json", encoding="utf-8")
    assert store.current_generation(s.index) is None
    assert sorted(sync(s).added) == sorted([ARTICLE_ID, "note"])
    assert not Assistant(s).ask("كم عدد الدول التي شاركت في الجمعية العامة؟").refused

"""Uploads indexed apart: a child process does the work, the serving process gets the result or the error."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from assistant.errors import IndexBusy, SourceError, StoreUnreachable
from assistant.service import Assistant
from conftest import make_settings
from fakes import HashEmbedding


def test_errors_travel_between_processes_whole() -> None:
    for err in (IndexBusy(), SourceError("empty", name="a.txt"), StoreUnreachable("h", 1)):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and back.key == err.key and back.values == err.values
        assert back.text() == err.text()


def test_an_upload_is_indexed_in_a_child_process_and_answered_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    embedded_here: list[int] = []
    original = HashEmbedding._get_text_embeddings
    monkeypatch.setattr(HashEmbedding, "_get_text_embeddings",
                        lambda self, texts: embedded_here.append(os.getpid()) or original(self, texts))
    s = make_settings(tmp_path)
    a = Assistant(s)
    doc = tmp_path / "port.txt"
    doc.write_text("افتتحت مدينة أكادير ميناء جديدا للصيد البحري بطاقة تبلغ 400 قارب.", encoding="utf-8")
    said: list[str] = []
    report = a.add_files([doc], progress=said.append, apart=True)
    assert report.added == ["port"] and said  # progress came back from the child
    assert not embedded_here  # the chunks were embedded in the child, not in this process
    ans = a.ask("كم تبلغ طاقة ميناء أكادير؟")
    assert not ans.refused and "400" in ans.text and ans.citations[0].source_id == "port"
    report = a.add_text("ملاحظة", "بلغ عدد المتطوعين ثلاثمئة وخمسين متطوعا.", apart=True)
    assert report.added and not a.ask("كم بلغ عدد المتطوعين؟").refused
    import socket

    with socket.socket() as sock:  # a port nobody listens on: a Chroma server that is down
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = Assistant(make_settings(tmp_path / "team", chroma_host="127.0.0.1", chroma_port=port))
    with pytest.raises(StoreUnreachable) as got:  # the child's error is raised here, whole, with its message
        down.add_text("ملاحظة ثانية", "بلغ عدد المتطوعين ثلاثمئة وخمسين متطوعا.", apart=True)
    assert str(port) in got.value.text()

"""A chat a team can share: accounts with hashed passwords, private uploads, rights on every path, safe exposure."""

from __future__ import annotations

import io
import shutil
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from assistant import cli
from assistant.accounts import AccountError, Accounts
from assistant.service import Assistant
from conftest import ARTICLE, ARTICLE_ID, ROOT, make_settings

QUESTION = "كم عدد الدول التي شاركت في الجمعية العامة؟"
ALICE_DOC = ("شاركت 999 دولة في الجمعية العامة للمنظمة الدولية للشرطة الجنائية حسب هذا التقرير الخاص. "
             "وانعقدت الدورة في مدينة الرباط.")


@pytest.fixture
def team(article_home: Path):  # type: ignore[no-untyped-def]
    """The article (shared), alice a reader with a private upload saying 999, bob another reader."""
    settings = make_settings(article_home)
    a = Assistant(settings)
    a.sync()
    accounts = Accounts(settings.home)
    accounts.add("alice", "alice-password", "reader")
    accounts.add("bob", "bob-password", "reader")
    accounts.add("root", "root-password", "admin")
    report = a.add_text("تقرير أليس", ALICE_DOC, owner="alice")
    assert len(report.added) == 1 and not report.failed
    return SimpleNamespace(settings=settings, assistant=a, accounts=accounts, alice_id=report.added[0])


def test_passwords_are_hashed_and_checked(tmp_path: Path) -> None:
    accounts = Accounts(tmp_path)
    assert not accounts.exist()
    accounts.add("amina", "correct horse", "admin")
    assert accounts.exist() and b"correct horse" not in accounts.path.read_bytes()
    assert accounts.verify("amina", "correct horse").is_admin  # type: ignore[union-attr]
    assert accounts.verify("amina", "wrong horse") is None and accounts.verify("nobody", "correct horse") is None
    for args, key in ((("amina", "another pw"), "exists"), (("a b", "long enough"), "bad_name"),
                      (("omar", "short"), "short_password"), (("omar", "long enough", "owner"), "bad_role")):
        with pytest.raises(AccountError) as err:
            accounts.add(*args)
        assert err.value.key == key and err.value.text()
    token = accounts.new_token("amina")
    assert accounts.by_token(token).name == "amina" and token.encode() not in accounts.path.read_bytes()  # type: ignore[union-attr]
    assert accounts.by_token(accounts.new_token("amina")) is not None and accounts.by_token(token) is None  # old one revoked
    accounts.remove("amina")
    assert accounts.list() == [] and accounts.verify("amina", "correct horse") is None


def test_a_readers_upload_never_reaches_another_user(team) -> None:  # type: ignore[no-untyped-def]
    a, alice = team.assistant, team.alice_id
    assert alice.startswith("alice~") and (team.settings.sources / "private" / "alice").is_dir()
    for mode in ("hybrid", "keyword", "dense"):  # every retrieval path: BM25 alone, embeddings alone, fused
        for user in ("bob", "root", ""):
            ans = a.ask(QUESTION, mode=mode, user=user)
            assert all(c.source_id != alice for c in ans.citations) and "999" not in ans.text, (mode, user)
            assert all(p.source_id != alice for p in ans.passages)
    assert "999" in a.ask(QUESTION, mode="keyword", user="alice").text
    assert [s.source_id for s in a.sources("bob")] == [ARTICLE_ID]
    assert {s.source_id for s in a.sources("alice")} == {ARTICLE_ID, alice}
    assert a.source(alice, "bob") is None and a.source(alice, "alice") is not None


def test_a_private_duplicate_reveals_nothing_about_other_users(team) -> None:  # type: ignore[no-untyped-def]
    report = team.assistant.add_text("نسخة بوب", ALICE_DOC, owner="bob")  # the same text alice uploaded
    assert len(report.added) == 1 and not report.failed
    assert "999" not in team.assistant.ask(QUESTION, mode="keyword", user="root").text


def test_the_web_handlers_and_api_obey_the_same_rights(team) -> None:  # type: ignore[no-untyped-def]
    import gradio as gr

    from assistant.web import WebApp

    app = WebApp(team.assistant, team.accounts)
    bob, alice = SimpleNamespace(username="bob"), SimpleNamespace(username="alice")
    assert all(s["source_id"] != team.alice_id for s in app.api_sources(request=bob))
    with pytest.raises(gr.Error):
        app.api_source(team.alice_id, request=bob)
    assert "999" in app.api_source(team.alice_id, request=alice)["text"]
    assert "999" not in app.api_ask(QUESTION, request=bob)["answer"]
    with pytest.raises(gr.Error):
        app.api_ask(QUESTION, request=SimpleNamespace(username=""))  # no login, no answer
    assert app.login("bob", "bob-password") and not app.login("bob", "alice-password")
    assert app.login("alice", team.accounts.new_token("alice")) and not app.login("bob", team.accounts.new_token("alice"))
    read_only = WebApp(team.assistant, team.accounts, read_only=True)
    with pytest.raises(gr.Error):
        read_only.on_paste("عنوان", "نص جديد طويل بما يكفي للفهرسة.", request=alice)


def test_exposure_needs_accounts_or_a_plain_choice(tmp_path: Path) -> None:
    from assistant.server import exposure, is_loopback, public_urls
    from assistant.web import Texts

    t = Texts(ROOT / "prompts")
    s = make_settings(tmp_path)
    assert exposure(s, None, False, t) == (True, "")  # 127.0.0.1 without accounts: the laptop, as always
    ok, say = exposure(s.replace(host="0.0.0.0"), None, False, t)
    assert not ok and "--allow-anonymous" in say and "Refusing" in say and "حسابات" in say
    ok, say = exposure(s.replace(host="0.0.0.0"), None, True, t)
    assert ok and "Warning" in say and "تحذير" in say
    assert exposure(s.replace(host="0.0.0.0"), Accounts(tmp_path), False, t) == (True, "")
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and not is_loopback("0.0.0.0")
    assert public_urls("0.0.0.0", 7860)[0] == "http://127.0.0.1:7860"
    assert all("0.0.0.0" not in u for u in public_urls("0.0.0.0", 7860))


def test_chat_on_all_addresses_without_accounts_refuses_to_start(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path))
    monkeypatch.setenv("ASSISTANT_EMBED_MODEL", "hash")
    assert cli.main(["chat", "--host", "0.0.0.0", "--port", "1", "--no-ingest"]) == 2
    assert "--allow-anonymous" in capsys.readouterr().err


def test_user_commands(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert cli.main(["user", "add", "sara", "--role", "admin", "--password-stdin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(["user", "add", "omar", "--password-stdin"]) == 2
    assert "8" in capsys.readouterr().err
    assert cli.main(["user", "list"]) == 0 and "sara\tadmin" in capsys.readouterr().out
    assert cli.main(["user", "token", "sara"]) == 0
    token = capsys.readouterr().out.strip()
    assert Accounts(tmp_path).by_token(token).name == "sara"  # type: ignore[union-attr]
    assert cli.main(["user", "remove", "nobody"]) == 2 and "nobody" in capsys.readouterr().err
    assert cli.main(["user", "remove", "sara"]) == 0 and Accounts(tmp_path).list() == []


def test_a_served_chat_with_accounts_needs_a_login(team) -> None:  # type: ignore[no-untyped-def]
    import urllib.error
    import urllib.request

    from gradio_client import Client

    from assistant.web import WebApp, launch

    app = WebApp(team.assistant, team.accounts)
    demo = app.build()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    launch(demo, "127.0.0.1", port, block=False, auth=app.login)
    try:
        url = f"http://127.0.0.1:{port}/"
        with pytest.raises(urllib.error.HTTPError) as err:  # the API without a login
            urllib.request.urlopen(urllib.request.Request(url + "gradio_api/info"), timeout=30)
        assert err.value.code in (401, 403)
        bob = Client(url, auth=("bob", team.accounts.new_token("bob")), verbose=False)
        out = bob.predict(QUESTION, [], api_name="/ask")
        assert "181" in out["answer"] and "999" not in out["answer"]
        scoped = bob.predict(QUESTION, [], [ARTICLE_ID], api_name="/ask_within")  # search only the chosen sources
        assert {c["source_id"] for c in scoped["citations"]} == {ARTICLE_ID}
        with pytest.raises(Exception, match="لا يوجد"):  # alice's file, named by bob, is as unknown as none
            bob.predict(QUESTION, [], [team.alice_id], api_name="/ask_within")
        assert all(s["source_id"] != team.alice_id for s in bob.predict(api_name="/sources"))
    finally:
        demo.close()


def test_a_question_limited_to_chosen_sources_searches_only_them(team) -> None:  # type: ignore[no-untyped-def]
    from assistant.errors import QuestionError
    from assistant.web import WebApp

    a, alice = team.assistant, team.alice_id
    mine = a.ask(QUESTION, user="alice", sources=[alice])
    assert {p.source_id for p in mine.passages} == {alice} and "999" in mine.text
    shared = a.ask(QUESTION, user="alice", sources=[ARTICLE_ID])
    assert {p.source_id for p in shared.passages} == {ARTICLE_ID} and "181" in shared.text
    for user, scope in (("bob", [alice]), ("alice", ["no-such-source"])):  # another's file is as unknown as none
        with pytest.raises(QuestionError) as err:
            a.ask(QUESTION, user=user, sources=scope)
        assert err.value.key == "unknown_scope" and scope[0] in err.value.text() and "لا يوجد" in err.value.text()
    app = WebApp(a, team.accounts)
    bob, alice_req = SimpleNamespace(username="bob"), SimpleNamespace(username="alice")
    offered = app.on_scope_choices([alice], request=bob)
    assert [v for _, v in offered["choices"]] == [ARTICLE_ID] and offered["value"] == []  # alice's file not offered
    assert {v for _, v in app.on_scope_choices([], request=alice_req)["choices"]} == {ARTICLE_ID, alice}
    *_, (_, _, turns) = app.on_ask(QUESTION, [], [alice], request=alice_req)
    assert "999" in turns[-1]["answer"]["answer"]
    *_, (_, _, turns) = app.on_ask(QUESTION, [], [alice], request=bob)  # said in Arabic, nothing of alice's shown
    assert turns[-1]["answer"] is None and "لا يوجد" in turns[-1]["error"] and "999" not in str(turns)


def test_a_signed_in_users_conversation_comes_back_and_stays_theirs(team) -> None:  # type: ignore[no-untyped-def]
    from assistant.web import WebApp

    app = WebApp(team.assistant, team.accounts)
    alice, bob = SimpleNamespace(username="alice"), SimpleNamespace(username="bob")
    *_, (_, _, turns) = app.on_ask(QUESTION, [], request=alice)
    assert turns[-1]["answer"] is not None
    fresh = WebApp(team.assistant, team.accounts)  # a restarted server
    _, chat, back, chats, *_ = fresh.on_load([], [], request=alice)
    assert back == turns and len(chat) == 2 and chats == []
    _, chat, other, *_ = fresh.on_load(turns, [], request=bob)  # bob in the same browser does not get alice's chat
    assert other == [] and chat == []
    *_, chats, _ = fresh.on_clear(turns, [], request=alice)  # a new conversation: the old one is kept among the past
    assert fresh.on_load([], [], request=alice)[2] == [] and fresh.on_load([], [], request=alice)[3] == chats
    assert chats[0]["title"] == QUESTION and fresh.on_load([], [], request=bob)[3] == []

"""``assistant chat``: serve the web chat safely: accounts when there are any, never open to a network by accident."""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any

from . import store
from .accounts import Accounts
from .answering import AnswerProcess
from .config import Settings
from .service import Assistant
from .web import Texts, WebApp, launch


def _say(text: str) -> None:
    print(f"… {text}", file=sys.stderr, flush=True)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def public_urls(host: str, port: int) -> list[str]:
    """The addresses a person can open: the host itself, or for 0.0.0.0 / :: this machine's own addresses."""
    if host not in ("0.0.0.0", "::", ""):
        return [f"http://{'[' + host + ']' if ':' in host else host}:{port}"]
    urls = [f"http://127.0.0.1:{port}"]
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only asks which local address would be used
            lan = s.getsockname()[0]
        if lan and not lan.startswith("127."):
            urls.append(f"http://{lan}:{port}")
    except OSError:
        pass
    return urls


def exposure(settings: Settings, accounts: Accounts | None, allow_anonymous: bool, t: Texts) -> tuple[bool, str]:
    """(may start, what to print first): off loopback without accounts, only with ``--allow-anonymous`` and a warning."""
    if accounts is not None or is_loopback(settings.host):
        return True, ""
    if not allow_anonymous:
        return False, t("ui_serve_exposed_refused", host=settings.host)
    return True, t("ui_serve_exposed_warning", host=settings.host)


def _index_first(assistant: Assistant, answers: Any, settings: Settings, t: Texts, ingest_first: bool) -> None:
    """Sync the sources folder (when asked) and warm the model up, printing what happened. With an answering
    child, the sync runs in a child too, so that the serving process never loads the model."""
    if ingest_first:
        if answers is not None:
            from . import apart

            report = apart.run("sync", _say, settings=settings)
        else:
            report = assistant.sync(progress=_say)
        if report.touched:
            print(t("index_summary", added=len(report.added), changed=len(report.changed),
                    removed=len(report.removed), unchanged=len(report.unchanged)), flush=True)
        else:
            print(t("index_unchanged"), flush=True)
        for reason in report.failed.values():
            print(f"✗ {reason}", file=sys.stderr, flush=True)
    if store.current_generation(settings.index) is None:
        print(t("ui_serve_no_index", folder=settings.sources), file=sys.stderr, flush=True)
    else:
        (answers or assistant).warm_up()


def serve(settings: Settings, ingest_first: bool = True, allow_anonymous: bool = False, read_only: bool = False) -> int:
    """``assistant chat``: index sources/ if needed, load the model once, then serve the chat (blocks).

    With accounts (``assistant user add``) every visitor logs in; without them the chat opens as it always did
    on 127.0.0.1, and refuses any other address unless ``allow_anonymous`` (then it warns).
    """
    t = Texts(settings.prompts)
    accounts = Accounts(settings.home)
    accounts = accounts if accounts.exist() else None
    ok, notice = exposure(settings, accounts, allow_anonymous, t)
    if notice:
        print(notice, file=sys.stderr, flush=True)
    if not ok:
        return 2
    print(t("ui_serve_starting"), flush=True)
    assistant = Assistant(settings, progress=_say)
    answers = AnswerProcess(settings) if settings.answer_process else None
    try:
        _index_first(assistant, answers, settings, t, ingest_first)
    except store.IndexBusy:
        print(t("index_busy"), file=sys.stderr, flush=True)
        if answers is not None:
            answers.close()
        return 2
    app = WebApp(assistant, accounts, read_only, answers=answers)
    demo = app.build()
    try:
        launch(demo, settings.host, settings.port, block=False, max_file_mb=settings.max_file_mb,
               auth=app.login if accounts else None, auth_message=t("ui_login_message") if accounts else None)
    except OSError as exc:
        print(t("ui_serve_port_busy", host=settings.host, port=settings.port, error=exc), file=sys.stderr, flush=True)
        if answers is not None:  # the answering child, already warm, goes too
            answers.close()
        return 1
    for url in public_urls(settings.host, settings.port):
        print(t("ui_serve_ready", url=url), flush=True)
    print(t("ui_serve_stop"), flush=True)
    try:
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        demo.close()
        if answers is not None:
            answers.close()
    return 0

"""The web face: a Gradio chat in Arabic, right to left, whose citations open the passage they came from.

One ``Assistant`` (one loaded model, one index) serves every browser tab; each tab keeps its own
conversation in a ``gr.State``. The HTML is built by the Jinja2 templates in ``assistant/templates/``
(package data, read with ``importlib.resources``, as are ``web.css`` and the viewer's ``viewer.js``): Python
works out what to show and where the marks go, the templates say how it looks. Every value a template prints
is escaped with ``html.escape`` unless it is markup a template made; Gradio's own sanitiser is a second
fence, never the only one. Interface text lives in ``prompts/ui.yaml``.

Citations: an answer's markers ``[n]`` are links ``#cite-<turn>-<n>``. One document-level click
listener (installed by the source viewer's ``js_on_load``) turns a click on such a link into the viewer's
custom ``open_ref`` event; the server looks the citation up in the tab's state and renders the cited
paragraph with the quote in ``<mark>``. Links ``#source-<id>`` open a whole document the same way.

Short answer: when the answer carries one (``short_answer``: a span of the source inside the quote of
citation ``citation``), it is shown bold at the top of the bubble and wrapped in ``<mark class="short-answer">``
inside the quoted sentence, in the bubble and in the viewer. The highlight is placed from the offsets
(relative to the citation's start) only when they fall inside the quote and hold the span's text; otherwise
there is no highlight. A ``reader_note`` is shown as a small muted line under the answer.

Structured API (for ``gradio_client``): ``/ask`` returns ``Answer.to_dict()``; ``/sources`` lists the
indexed documents; ``/source`` returns one with its text.
"""

from __future__ import annotations

import base64
import html
import logging
import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# Gradio's monitoring table, rebuilt after every event, and a page's whole configuration rendered for every API
# call: half of the serving process's CPU under load, for nothing this app uses (see gradio_costs.py)
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")

import gradio as gr  # noqa: E402  (after the environment above)
import jinja2  # noqa: E402
from starlette.middleware import Middleware  # noqa: E402
from markupsafe import Markup  # noqa: E402

from . import arabic, rights, scans, store  # noqa: E402
from . import conversations, gradio_costs  # noqa: E402
from .accounts import Accounts  # noqa: E402
from .history import History  # noqa: E402
from .webpage import ArabicPage  # noqa: E402
from .errors import QuestionError, UserError  # noqa: E402
from .messages import message, number  # noqa: E402
from .models import Answer, Source  # noqa: E402
from .service import Assistant  # noqa: E402
from .sources import SourceError, safe_upload_name, supported_extensions  # noqa: E402

gradio_costs.install()

log = logging.getLogger(__name__)

TEMPLATES = "templates"
# System fonts only: a font given by name is never fetched (Gradio's GoogleFont would be).
FONTS = ("Noto Sans Arabic", "Noto Naskh Arabic", "Segoe UI", "Tahoma", "Geeza Pro", "DejaVu Sans", "Arial", "system-ui", "sans-serif")
MONO_FONTS = ("DejaVu Sans Mono", "Consolas", "monospace")
_MARKER = re.compile(r"\[([0-9\u0660-\u0669]{1,3})\]")
_REF = re.compile(r"^(cite|full)-(\d{1,5})-(\d{1,3})$")
Turns = list[dict[str, Any]]  # a tab's conversation: one dict a question (question, answer or error, resolved)

# Runs once on page load: the document is Arabic and right to left.
PAGE_JS = "() => { document.documentElement.setAttribute('lang', 'ar'); document.documentElement.setAttribute('dir', 'rtl'); }"


def esc(text: Any) -> str:
    """Text made safe to place inside HTML (element content or a quoted attribute)."""
    return html.escape("" if text is None else str(text), quote=True)


class Texts:
    """Interface messages from a prompts folder (``ui.yaml`` and ``messages.yaml``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, key: str, **values: Any) -> str:
        return message(key, self.folder, **values)

    def examples(self) -> list[str]:
        """The example questions, one a line in ``ui_examples``."""
        return [q.strip() for q in self("ui_examples").splitlines() if q.strip()]


# --------------------------------------------------------------------------------------------------
# Templates (package data) and the pieces Python hands them


def resource_text(name: str) -> str:
    """A file of ``assistant/templates/`` (package data, so it is found in an installed wheel too)."""
    return resources.files(__package__).joinpath(TEMPLATES).joinpath(name).read_text(encoding="utf-8")


def bidi_dir(value: str) -> str:
    """``auto`` for a value holding a right-to-left letter, else ``ltr`` (so 2025-11-24 keeps its order)."""
    return "auto" if any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in value) else "ltr"


def _escaped(value: Any) -> Any:
    """Jinja's ``finalize``: a printed value is escaped by ``esc`` (as it always was), unless it is markup already."""
    return value if hasattr(value, "__html__") else Markup(esc(value))


_ENV = jinja2.Environment(loader=jinja2.FunctionLoader(resource_text), autoescape=True, finalize=_escaped,
                          undefined=jinja2.StrictUndefined)
_ENV.filters["bidi_dir"] = bidi_dir
_ENV.globals["num"] = number  # numbers the interface shows, in the digits the chat is set to use


def render(name: str, **values: Any) -> str:
    """The template ``name`` rendered with ``values``: HTML with every value escaped."""
    return _ENV.get_template(name).render(**values)


@dataclass(frozen=True)
class Seg:
    """A marked part of a text for the ``rich`` macro: a citation link (``cite``), the cited quote (``mark``) or
    the short answer (``short``); ``parts`` are its plain strings and nested ``Seg``s."""

    kind: str
    parts: list[str | Seg]
    title: str = ""
    href: str = ""


@dataclass(frozen=True)
class Meta:
    """One item of a meta line for the ``meta`` macro: ``text``, ``span``, ``bdi`` or ``labelled`` (a label around
    a value, ``before`` and ``after`` it)."""

    kind: str
    value: Any
    before: str = ""
    after: str = ""


@dataclass(frozen=True)
class Para:
    """A paragraph in the viewer: its class, its number (or None) and its text with the marks."""

    cls: str
    number: int | None
    parts: list[str | Seg]


# --------------------------------------------------------------------------------------------------
# Rendering (pure functions: data in, escaped HTML out)


def render_user(question: str) -> str:
    """A user's question as a chat bubble body."""
    return render("user.html", question=question)


def render_pending(t: Texts) -> str:
    """The assistant's bubble while the answer is being found."""
    return render("pending.html", t=t)


def render_error(text: str, t: Texts) -> str:
    """An Arabic error in place of an answer."""
    return render("error.html", t=t, text=text)


def _link_markers(text: str, turn: int, cites: dict[int, dict[str, Any]], t: Texts,
                  short: tuple[int, int] | None = None, short_title: str = "") -> list[str | Seg]:
    """An answer's text with each marker [n] of a real citation a link to it; the part of the text inside
    ``short`` (offsets into ``text``) is the short answer."""
    out: list[str | Seg] = []
    pos = 0
    for m in _MARKER.finditer(text):
        n = int(arabic.fold_digits(m.group(1)))
        if n not in cites:
            continue
        c = cites[n]
        title = t("ui_cite_title", title=c.get("title", ""), n=c.get("paragraph", ""))
        if c.get("page"):
            title += "، " + t("ui_page", page=c["page"])
        out.extend(_short_marked(text, pos, m.start(), short, short_title))
        out.append(Seg("cite", [f"[{number(n)}]"], title=title, href=f"#cite-{turn}-{n}"))
        pos = m.end()
    out.extend(_short_marked(text, pos, len(text), short, short_title))
    return out


def _short_marked(text: str, lo: int, hi: int, span: tuple[int, int] | None, title: str = "") -> list[str | Seg]:
    """``text[lo:hi]``, with the part inside ``span`` (if any) the short answer."""
    if span is None:
        return [text[lo:hi]]
    s, e = max(span[0], lo), min(span[1], hi)
    if s >= e:
        return [text[lo:hi]]
    return [text[lo:s], Seg("short", [text[s:e]], title=title), text[e:hi]]


def short_answer_span(short: dict[str, Any] | None, c: dict[str, Any] | None) -> tuple[int, int] | None:
    """Where a short answer lies inside its citation's quote, as offsets into the quote, or None.

    None unless the short answer names this citation and source, and its source offsets, taken relative to the
    citation's start, fall inside the quote and hold exactly the short answer's text.
    """
    if not isinstance(short, dict) or not isinstance(c, dict):
        return None
    try:
        if int(short.get("citation", 1)) != int(c.get("n", -1)):
            return None
        s = int(short["start"]) - int(c["start"])
        e = int(short["end"]) - int(c["start"])
    except (KeyError, TypeError, ValueError):
        return None
    if short.get("source_id") != c.get("source_id"):
        return None
    quote, text = str(c.get("quote", "")), str(short.get("text", ""))
    if not text or not 0 <= s < e <= len(quote) or quote[s:e] != text:
        return None
    return s, e


def _short_in_text(text: str, c: dict[str, Any], span: tuple[int, int] | None) -> tuple[int, int] | None:
    """The short answer's place in an answer's text: inside the citation's quote where the text holds it
    (the extractive answer is its quotes, each followed by its marker), or None."""
    quote = str(c.get("quote", ""))
    if span is None or not quote:
        return None
    i = text.find(f"{quote} [{c.get('n')}]")
    if i < 0:
        i = text.find(quote)
    if i < 0:
        return None
    return i + span[0], i + span[1]


def _short_placement(text: str, short: dict[str, Any], cites: dict[int, dict[str, Any]],
                     tip: str) -> tuple[tuple[int, int] | None, list[str | Seg] | None]:
    """Where the short answer goes: its span in the answer's text, or else its quoted sentence with it marked."""
    try:
        c = cites.get(int(short.get("citation", 1)))
    except (TypeError, ValueError):
        c = None
    span = short_answer_span(short, c)
    if c is None or span is None:
        return None, None
    in_text = _short_in_text(text, c, span)
    if in_text is not None:
        return in_text, None
    quote = str(c.get("quote", ""))  # the text does not quote the sentence (an LLM's wording): show the sentence
    return None, _short_marked(quote, 0, len(quote), span, tip)


def render_answer(turn: int, answer: dict[str, Any], t: Texts) -> str:
    """An answer (``Answer.to_dict()``) as a chat bubble body: linked markers, sources, resolved question, copy."""
    cites = {int(c["n"]): c for c in answer.get("citations", [])}
    refused = bool(answer.get("refused"))
    text = str(answer.get("answer", "") or "")
    short = answer.get("short_answer") if not refused else None
    short = short if isinstance(short, dict) and str(short.get("text", "") or "").strip() else None
    tip = t("ui_short_answer_title")
    in_text, quote_parts = _short_placement(text, short, cites, tip) if short is not None else (None, None)
    question = (answer.get("question") or "").strip()
    resolved = (answer.get("resolved_question") or "").strip()
    return render("answer.html", t=t, turn=turn, refused=refused,
                  short_text=str(short["text"]).strip() if short is not None else None,
                  text_parts=_link_markers(text, turn, cites, t, in_text, tip), quote_parts=quote_parts,
                  note=str(answer.get("reader_note", "") or "").strip(), cites=sorted(cites.items()),
                  resolved=resolved if resolved != question else "")


def render_chat(turns: Turns, t: Texts) -> list[dict[str, str]]:
    """The Chatbot's messages for a tab's turns."""
    msgs: list[dict[str, str]] = []
    for i, turn in enumerate(turns):
        msgs.append({"role": "user", "content": render_user(turn["question"])})
        if turn.get("answer") is not None:
            msgs.append({"role": "assistant", "content": render_answer(i, turn["answer"], t)})
        elif turn.get("error"):
            msgs.append({"role": "assistant", "content": render_error(turn["error"], t)})
        else:
            msgs.append({"role": "assistant", "content": render_pending(t)})
    return msgs


def _labelled(t: Texts, key: str, name: str, value: str) -> Meta:
    """The message ``key`` around ``value`` (its placeholder ``name``), the value to be isolated in the line."""
    before, _, after = t(key, **{name: "\0"}).partition("\0")
    return Meta("labelled", value, before, after)


def _meta_line(src: Source | None, c: dict[str, Any] | None, t: Texts, paragraph: int | None = None) -> list[Meta]:
    """A citation's meta line: its paragraph, and the date and origin of its source."""
    items = [Meta("text", t("ui_paragraph", n=paragraph))] if paragraph else []
    if (c or {}).get("page"):
        items.append(Meta("text", t("ui_page", page=c["page"])))  # type: ignore[index]
    date = (src.date if src else "") or (c or {}).get("date", "")
    origin = (src.origin if src else "") or (c or {}).get("origin", "")
    if date:
        items.append(_labelled(t, "ui_meta_date", "date", date))
    if origin:
        items.append(_labelled(t, "ui_meta_origin", "origin", origin))
    return items


def _marked(text: str, start: int, end: int, lo: int, hi: int, inner: tuple[int, int] | None = None,
            inner_title: str = "") -> list[str | Seg]:
    """``text[lo:hi]``, with the part inside ``[start, end)`` marked, and the part of that inside ``inner``
    (the short answer) marked within it."""
    s, e = max(start, lo), min(end, hi)
    if s >= e:
        return [text[lo:hi]]
    return [text[lo:s], Seg("mark", _short_marked(text, s, e, inner, inner_title)), text[e:hi]]


def short_answer_in_source(short: dict[str, Any] | None, c: dict[str, Any],
                           quote_at: tuple[int, int] | None) -> tuple[int, int] | None:
    """The short answer's span in the source's text, given where its citation's quote is now, or None."""
    span = short_answer_span(short, c)
    if span is None or quote_at is None:
        return None
    return quote_at[0] + span[0], quote_at[0] + span[1]


def locate(src: Source, c: dict[str, Any]) -> tuple[int, int] | None:
    """Where a citation's quote is in the source's current text (its offsets, or a search), or None."""
    quote = c.get("quote", "")
    start, end = int(c.get("start", -1)), int(c.get("end", -1))
    if 0 <= start < end <= len(src.text) and src.text[start:end] == quote:
        return start, end
    if quote:
        i = src.text.find(quote)
        if i >= 0:
            return i, i + len(quote)
    return None


def render_viewer_empty(t: Texts) -> str:
    """The viewer before anything is opened."""
    return render("viewer_notice.html", kind="empty", text=t("ui_viewer_empty"))


def render_viewer_message(text: str, t: Texts) -> str:
    """The viewer showing a short notice."""
    return render("viewer_notice.html", kind="notice", text=text)


def _cited_paras(src: Source, c: dict[str, Any], span: tuple[int, int], inner: tuple[int, int] | None,
                 tip: str) -> tuple[list[Para], Any]:
    """The cited paragraph with its neighbours, and its number (the citation's own when the quote sits outside
    every paragraph span: then it is shown with a little context)."""
    start, end = span
    paras = arabic.paragraph_spans(src.text)
    idx = next((i for i, (ps, pe) in enumerate(paras) if ps <= start < pe), None)
    if idx is None:
        lo, hi = max(0, start - 300), min(len(src.text), end + 300)
        return [Para("para cited", None, _marked(src.text, start, end, lo, hi, inner, tip))], c.get("paragraph")
    return [Para("para cited" if j == idx else "para context", j + 1,
                 _marked(src.text, start, end, paras[j][0], paras[j][1], inner, tip))
            for j in range(max(0, idx - 1), min(len(paras), idx + 2))], idx + 1


def render_scan(scan: "scans.ScanPage", quote: str, page: int, t: Texts) -> dict[str, Any]:
    """The page image of an OCR'd source for the viewer, with the lines of ``quote`` boxed."""
    return {"src": "data:image/jpeg;base64," + base64.b64encode(scan.jpeg).decode("ascii"),
            "boxes": scans.cited_boxes(scan, quote), "alt": t("ui_scan_alt", page=number(page)),
            "caption": t("ui_scan_caption", page=number(page))}


def render_citation(turn: int, c: dict[str, Any], src: Source | None, t: Texts,
                    short: dict[str, Any] | None = None, scan: "scans.ScanPage | None" = None) -> str:
    """A citation opened: title, paragraph, and the paragraph text with the quote marked (neighbours faded);
    the answer's ``short`` answer, when it lies in this quote, is marked inside it; for an OCR'd page, the
    page image with the cited lines boxed (``scan``)."""
    tip = t("ui_short_answer_title")
    span = locate(src, c) if src is not None else None
    if src is None or span is None:
        quote = str(c.get("quote", ""))
        marked = Seg("mark", _short_marked(quote, 0, len(quote), short_answer_span(short, c), tip))
        return render("citation.html", t=t, turn=turn, c=c, meta_items=_meta_line(src, c, t, c.get("paragraph")),
                      note=t("ui_viewer_missing_source") if src is None else t("ui_viewer_quote_moved"),
                      paras=[Para("para cited", None, [marked])], read_all=False, scan=None)
    paras, para_no = _cited_paras(src, c, span, short_answer_in_source(short, c, span), tip)
    figure = render_scan(scan, str(c.get("quote", "")), int(c.get("page") or 0), t) if scan is not None else None
    return render("citation.html", t=t, turn=turn, c=c, meta_items=_meta_line(src, c, t, para_no), note="",
                  paras=paras, read_all=True, scan=figure)


def render_source(src: Source, t: Texts, mark: tuple[int, int] | None = None,
                  short: tuple[int, int] | None = None) -> str:
    """A whole document, paragraph by paragraph (numbered), optionally with one span marked (and the short
    answer's span, ``short``, marked inside it)."""
    tip = t("ui_short_answer_title")
    paras = []
    for j, (ps, pe) in enumerate(arabic.paragraph_spans(src.text) or [(0, len(src.text))], start=1):
        parts = _marked(src.text, mark[0], mark[1], ps, pe, short, tip) if mark else [src.text[ps:pe]]
        paras.append(Para("para cited" if mark and ps < mark[1] and mark[0] < pe else "para", j, parts))
    meta = [_labelled(t, "ui_meta_id", "source_id", src.source_id)]
    if src.date:
        meta.append(_labelled(t, "ui_meta_date", "date", src.date))
    if src.origin:
        meta.append(_labelled(t, "ui_meta_origin", "origin", src.origin))
    return render("source.html", t=t, title=src.title, meta_items=meta, paras=paras)


def render_sources_list(sources: list[Source], t: Texts) -> str:
    """The panel listing indexed documents; each title opens the document in the viewer."""
    items = []
    for s in sources:
        meta = [Meta("bdi", s.date)] if s.date else []
        if s.chunks:
            meta.append(Meta("span", t("ui_meta_chunks", count=s.chunks)))
        if s.version > 1:
            meta.append(Meta("span", t("ui_meta_version", version=s.version, updated=s.updated[:10])))
        items.append((s, meta))
    return render("sources_list.html", t=t, items=items)


def render_status(ok: list[str], errors: list[str], t: Texts) -> str:
    """Result of adding sources: what was added, and every failure in Arabic."""
    return render("status.html", t=t, ok=ok, errors=errors)


# --------------------------------------------------------------------------------------------------
# Uploads


def _public(summary: dict[str, Any]) -> dict[str, Any]:
    """A source's metadata for API clients: the server-side file path is not theirs to see."""
    return {k: v for k, v in summary.items() if k != "path"}


def _progress_text(raw: str, t: Texts) -> str:
    m = re.match(r"indexing (\d+) source", raw)
    if m:
        return t("ui_indexing_n", count=m.group(1))
    return raw


def _stage_uploads(paths: list[str], tmp: Path) -> tuple[list[Path], dict[str, str]]:
    """Uploaded files copied under ``tmp`` by their bare names (one folder each), and the refused names' reasons."""
    staged: list[Path] = []
    failed: dict[str, str] = {}
    for i, p in enumerate(paths):
        raw = Path(str(p)).name
        try:
            name = safe_upload_name(raw)
        except SourceError as err:
            failed[raw] = err.text()
            continue
        folder = tmp / str(i)
        folder.mkdir()
        dest = folder / name
        shutil.copyfile(p, dest)
        staged.append(dest)
    return staged, failed


# --------------------------------------------------------------------------------------------------
# The app


def theme() -> gr.themes.Base:
    """Gradio's default theme with local system fonts only (nothing fetched)."""
    return gr.themes.Default(primary_hue="teal", secondary_hue="amber", neutral_hue="slate",
                             font=list(FONTS), font_mono=list(MONO_FONTS), text_size=gr.themes.sizes.text_lg)


def css() -> str:
    """The app's stylesheet (``assistant/templates/web.css``, package data)."""
    return resource_text("web.css")


# The errors of asking that the person can act on, said in Arabic by ``exc.text(folder)`` in the chat and through
# the API alike; anything else is logged, and the chat says it is an internal error.
_ASK_ERRORS = (QuestionError, store.NoIndex, store.IndexBusy)


class WebApp:
    """The chat over one shared Assistant: the event handlers, the API and the layout that wires them."""

    def __init__(self, assistant: Assistant, accounts: Accounts | None = None, read_only: bool = False,
                 answers: Any = None) -> None:
        self.assistant = assistant
        self.answers = answers or assistant  # who answers: the assistant itself, or an AnswerProcess over it
        self.t = Texts(assistant.settings.prompts)
        self.accounts = accounts  # None: no login, every visitor is anonymous (the single-user laptop)
        self.read_only = read_only
        self.history = History(assistant.settings.home)

    def who(self, request: gr.Request | None) -> tuple[str, bool]:
        """(user name, may change the shared sources) of a request: anonymous and able without accounts."""
        if self.accounts is None:
            return rights.ANONYMOUS, True
        name = str(getattr(request, "username", "") or "")
        user = self.accounts.get(name) if name else None
        if user is None:
            raise gr.Error(self.t("ui_login_required"))
        return user.name, user.is_admin

    def login(self, name: str, password: str) -> bool:
        """Gradio's login check: a user's password, or the user's API token (``assistant user token``)."""
        if self.accounts is None:
            return True
        by_token = self.accounts.by_token(password)
        return (by_token is not None and by_token.name == name) or self.accounts.verify(name, password) is not None

    def readable(self, user: str | None) -> list[Source]:
        """The sources ``user`` may read; a failure to list them gives none (and is logged): it must never break
        the page."""
        try:
            return self.assistant.sources(user)
        except Exception:
            log.exception("listing sources failed")
            return []

    def sources_html(self, user: str | None = rights.ANONYMOUS) -> str:
        """The sources panel (empty when they cannot be listed)."""
        return render_sources_list(self.readable(user), self.t)

    # ---- chat
    def on_ask(self, question: str, turns: Turns | None, scope: list[str] | None = None,
               request: gr.Request = None) -> Iterator[tuple[Any, list[dict[str, str]], Turns]]:  # type: ignore[assignment]
        """Show the question at once with a pending answer, then the answer (or the error) in its place
        (``scope``: the sources chosen to search, all of them when empty)."""
        t, turns = self.t, list(turns or [])
        user, _ = self.who(request)
        q = (question or "").strip()
        if not q:
            yield gr.update(), render_chat(turns, t), turns
            return
        # the questions as the person typed them: a rewritten question fed back would pile words up
        history = [tn["question"] for tn in turns if tn.get("answer") is not None]
        yield "", render_chat(turns + [{"question": q, "answer": None}], t), turns
        entry: dict[str, Any] = {"question": q, "answer": None}
        try:
            ans: Answer = self.answers.ask(q, history=history, user=user, sources=list(scope or []))
            entry["answer"] = ans.to_dict()
            entry["resolved"] = ans.resolved_question or q
        except _ASK_ERRORS as exc:
            entry["error"] = exc.text(t.folder)
        except Exception:  # the page shows a message; the details go to the server log
            log.exception("answering failed")
            entry["error"] = t("ui_internal_error")
        turns = turns + [entry]
        self._keep(user, turns)
        yield ("" if entry["answer"] is not None else q), render_chat(turns, t), turns

    @staticmethod
    def on_example(evt: gr.SelectData) -> str:
        """The clicked example question, into the question box."""
        v = evt.value
        return str(v.get("text", "")) if isinstance(v, dict) else str(v or "")

    def on_clear(self, turns: Turns | None, chats: Any,
                 request: gr.Request = None) -> tuple[Any, ...]:  # type: ignore[assignment]
        """A new conversation: the current one goes to the past conversations; chat, viewer and box emptied."""
        user = self.who(request)[0]
        chats = conversations.archive(list(turns or []), chats)
        self._keep(user, [], chats)
        return [], [], render_viewer_empty(self.t), "", chats, gr.update(choices=conversations.choices(chats), value=None)

    def on_regenerate(self, turns: Turns | None, scope: list[str] | None = None,
                      request: gr.Request = None) -> Iterator[tuple[Any, list[dict[str, str]], Turns]]:  # type: ignore[assignment]
        """Ask the last question again, in the same context, and put the new answer in the old one's place."""
        turns = list(turns or [])
        if not turns:
            yield gr.update(), render_chat(turns, self.t), turns
            return
        yield from self.on_ask(str(turns[-1].get("question", "")), turns[:-1], scope, request=request)

    def on_open_chat(self, chat_id: str | None, turns: Turns | None, chats: Any,
                     request: gr.Request = None) -> tuple[Any, ...]:  # type: ignore[assignment]
        """Open a past conversation; the current one is kept among the past ones."""
        user = self.who(request)[0]
        turns, chats = conversations.open_chat(str(chat_id or ""), list(turns or []), chats)
        self._keep(user, turns, chats)
        return (render_chat(turns, self.t), turns, chats, gr.update(choices=conversations.choices(chats), value=None),
                render_viewer_empty(self.t))

    def on_rename_chat(self, chat_id: str | None, title: str, chats: Any,
                       request: gr.Request = None) -> tuple[Any, ...]:  # type: ignore[assignment]
        """Rename a past conversation."""
        chats = conversations.rename(str(chat_id or ""), title, chats)
        self._keep(self.who(request)[0], None, chats)
        return chats, gr.update(choices=conversations.choices(chats), value=chat_id), ""

    def on_delete_chat(self, chat_id: str | None, chats: Any, request: gr.Request = None) -> tuple[Any, ...]:  # type: ignore[assignment]
        """Delete a past conversation."""
        chats = conversations.delete(str(chat_id or ""), chats)
        self._keep(self.who(request)[0], None, chats)
        return chats, gr.update(choices=conversations.choices(chats), value=None)

    def on_export(self, turns: Turns | None) -> Any:
        """The conversation as a Markdown file with its citations, offered for download."""
        t = self.t
        text = conversations.to_markdown(list(turns or []), t("ui_export_heading"),
                                         {"question": t("ui_export_question"), "paragraph": t("ui_export_paragraph")})
        folder = Path(tempfile.mkdtemp(prefix="chat-export-"))
        path = folder / "conversation.md"
        path.write_text(text, encoding="utf-8")
        return gr.update(value=str(path), visible=True)

    def _keep(self, user: str | None, turns: Turns | None, chats: Any = None) -> None:
        """Keep a signed-in user's conversations on the server (the browser keeps an anonymous visitor's)."""
        if self.accounts is not None and user:
            try:
                self.history.save(user, None if turns is None else list(turns),
                                  None if chats is None else conversations.clean(chats))
            except OSError:  # the conversation still shows; only its copy on the server is missing
                log.exception("saving the conversation failed")

    # ---- viewer
    def on_open_ref(self, turns: Turns | None, evt: gr.EventData, request: gr.Request = None) -> str:  # type: ignore[assignment]
        """The viewer for a clicked link: ``cite-<turn>-<n>``, ``full-<turn>-<n>`` or ``source-<id>``."""
        user, _ = self.who(request)
        data = evt._data if isinstance(evt._data, dict) else {}
        ref = str(data.get("ref", ""))[:300]
        m = _REF.match(ref)
        if m:
            return self._open_citation(m.group(1), int(m.group(2)), int(m.group(3)), turns or [], user)
        if ref.startswith("source-"):
            sid = ref[len("source-"):]
            src = self.assistant.source(sid, user)
            if src is None:
                return render_viewer_message(self.t("ui_viewer_no_source", source_id=sid), self.t)
            return render_source(src, self.t)
        return render_viewer_message(self.t("ui_viewer_unknown"), self.t)

    def _open_citation(self, kind: str, ti: int, n: int, turns: Turns, user: str | None) -> str:
        """Citation ``n`` of turn ``ti``: its paragraph (``cite``) or its whole document (``full``)."""
        t = self.t
        answer = turns[ti].get("answer") if ti < len(turns) else None
        c = next((c for c in (answer or {}).get("citations", []) if int(c.get("n", 0)) == n), None)
        if c is None:
            return render_viewer_message(t("ui_viewer_unknown"), t)
        src = self.assistant.source(c["source_id"], user)
        short = (answer or {}).get("short_answer")
        if kind == "cite" or src is None:
            scan = None
            if src is not None and src.file_hash and int(c.get("page") or 0) > 0:
                scan = scans.load_page(self.assistant.settings.index / scans.SCANS_DIRNAME, src.file_hash, int(c["page"]))
            return render_citation(ti, c, src, t, short=short, scan=scan)
        where = locate(src, c)
        return render_source(src, t, mark=where, short=short_answer_in_source(short, c, where))

    # ---- adding sources
    def _report(self, report: Any, extra_errors: dict[str, str], user: str | None) -> str:
        """The status after adding: each source added or changed, then every failure."""
        ok: list[str] = []
        errors: list[str] = []
        if report is not None:
            for key, ids in (("ui_added", report.added), ("ui_changed", report.changed)):
                for sid in ids:
                    src = self.assistant.source(sid, user)
                    ok.append(self.t(key, title=src.title if src else sid))
            errors.extend(report.failed.values())
        errors.extend(extra_errors.values())
        return render_status(ok, errors, self.t)

    def _progress_cb(self, progress: gr.Progress) -> Callable[[str], None]:
        """Indexing progress shown in the page, in Arabic."""
        def say(raw: str) -> None:
            try:
                progress(None, desc=_progress_text(str(raw), self.t))
            except Exception:  # progress is a nicety; never fail the work for it
                pass
        return say

    def _owner(self, request: gr.Request | None) -> tuple[str | None, str]:
        """(the user, whose uploads these are: "" shared, else private to the user), or the refusal."""
        user, admin = self.who(request)
        if self.read_only:
            raise gr.Error(self.t("ui_read_only"))
        return user, "" if admin else str(user)

    def on_upload(self, files: list[str] | str | None, replace_existing: bool = False, progress: gr.Progress = gr.Progress(),
                  request: gr.Request = None) -> tuple[str, str, None]:  # type: ignore[assignment]
        """Index the uploaded files (private to a reader, shared from an admin); status, list, upload box emptied."""
        t = self.t
        user, owner = self._owner(request)
        paths = [files] if isinstance(files, str) else list(files or [])
        if not paths:
            return render_status([], [t("ui_upload_none")], t), self.sources_html(user), None
        progress(None, desc=t("ui_adding"))
        report = None
        with tempfile.TemporaryDirectory(prefix="upload-") as tmp:
            staged, failed = _stage_uploads(paths, Path(tmp))
            if staged:
                try:
                    report = self.assistant.add_files(staged, progress=self._progress_cb(progress), owner=owner,
                                                      replace_existing=bool(replace_existing), apart=True)
                except store.IndexBusy:
                    failed["_busy"] = t("ui_index_busy")
                except Exception:  # the page shows a message; the details go to the server log
                    log.exception("adding uploaded files failed")
                    failed["_error"] = t("ui_add_error")
        return self._report(report, failed, user), self.sources_html(user), None

    def on_paste(self, title: str, text: str, progress: gr.Progress = gr.Progress(),
                 request: gr.Request = None) -> tuple[Any, ...]:  # type: ignore[assignment]
        """Index a pasted text; the status, the refreshed list, and the boxes emptied once it is in."""
        t, keep = self.t, (gr.update(), gr.update())
        user, owner = self._owner(request)
        title, text = (title or "").strip(), (text or "").strip()
        missing = [t("ui_paste_missing_title")] if not title else []
        if not text:
            missing.append(t("ui_paste_missing_text"))
        if missing:
            return render_status([], missing, t), self.sources_html(user), *keep
        progress(None, desc=t("ui_adding"))
        try:
            report = self.assistant.add_text(title, text, progress=self._progress_cb(progress), owner=owner, apart=True)
        except store.IndexBusy:
            return render_status([], [t("ui_index_busy")], t), self.sources_html(user), *keep
        except SourceError as err:
            return render_status([], [err.text()], t), self.sources_html(user), *keep
        except Exception:  # the page shows a message; the details go to the server log
            log.exception("adding pasted text failed")
            return render_status([], [t("ui_add_error")], t), self.sources_html(user), *keep
        status = self._report(report, {}, user)
        if report.added or report.changed:
            return status, self.sources_html(user), "", ""
        return status, self.sources_html(user), *keep

    def on_load(self, turns: Turns | None, chats: Any,
                request: gr.Request = None) -> tuple[Any, ...]:  # type: ignore[assignment]
        """On page load: the sources this visitor may read and the conversations back (a signed-in user's from
        the server, an anonymous visitor's from the browser); only then may a question be sent, so that a
        restored conversation never replaces an answer already asked for."""
        user, _ = self.who(request)
        if self.accounts is not None:
            turns, chats = self.history.load(str(user)), self.history.load_chats(str(user))
        chats = conversations.clean(chats)
        turns = [tn for tn in (turns or []) if isinstance(tn, dict) and "question" in tn]
        return (self.sources_html(user), render_chat(turns, self.t), turns, chats,
                gr.update(choices=conversations.choices(chats), value=None),
                gr.update(interactive=True), gr.update(interactive=True))

    def on_scope_choices(self, scope: list[str] | None, request: gr.Request = None) -> Any:  # type: ignore[assignment]
        """The sources this visitor may limit a question to (titles shown, ids kept); a chosen one that is gone
        (removed, or another user's) leaves the choice."""
        readable = self.readable(self.who(request)[0])
        ids = {s.source_id for s in readable}
        return gr.update(choices=[(s.title or s.source_id, s.source_id) for s in readable],
                         value=[v for v in (scope or []) if v in ids])

    def on_warm_up(self, progress: gr.Progress = gr.Progress()) -> Any:
        """After the page is back: the model and the index loaded, with a progress note while it takes."""
        progress(None, desc=self.t("ui_preparing"))
        try:
            self.answers.warm_up()
        except UserError as exc:  # no index yet, busy, a stopped Chroma server: each question will say so
            log.warning("warm-up: %s", exc)
        return gr.update()

    # ---- structured API (gradio_client, or plain HTTP on Gradio's call API); the same rights as the page
    def api_ask(self, question: str, history: list[str] | None = None, request: gr.Request = None) -> dict:  # type: ignore[assignment]
        """Answer a question in Arabic; returns the answer object: answer, refused, citations, resolved_question…"""
        return self._api_answer(question, history, [], request)

    def api_ask_within(self, question: str, history: list[str] | None = None, sources: list[str] | None = None,
                       request: gr.Request = None) -> dict:  # type: ignore[assignment]
        """As ``/ask``, searching only the sources named by id (``/sources`` lists them); a separate endpoint, so
        that callers of ``/ask`` (which Gradio's call API holds to its exact number of values) keep working."""
        return self._api_answer(question, history, sources, request)

    def _api_answer(self, question: str, history: list[str] | None, sources: list[str] | None,
                    request: gr.Request | None) -> dict:
        user, _ = self.who(request)
        try:
            return self.answers.ask(question, history=[str(h) for h in (history or [])], user=user,
                                    sources=[str(s) for s in (sources or [])]).to_dict()
        except _ASK_ERRORS as exc:
            raise gr.Error(exc.text(self.t.folder)) from None

    def api_sources(self, request: gr.Request = None) -> list[dict]:  # type: ignore[assignment]
        """The indexed sources this user may read (metadata, without text)."""
        user, _ = self.who(request)
        return [_public(s.summary()) for s in self.assistant.sources(user)]

    def api_source(self, source_id: str, request: gr.Request = None) -> dict:  # type: ignore[assignment]
        """One indexed source with its text (a source this user may not read is reported as not found)."""
        user, _ = self.who(request)
        src = self.assistant.source(source_id, user)
        if src is None:
            raise gr.Error(self.t("ui_api_no_source", source_id=source_id))
        return {**_public(src.summary()), "text": src.text}

    # ---- layout
    def build(self) -> gr.Blocks:
        """The Gradio Blocks: header, chat column, side column (viewer, sources, adding), events and API."""
        with gr.Blocks(title=self.t("ui_page_title"), analytics_enabled=False) as demo:
            # the conversation survives a reload and a restart: kept in the browser (and, signed in, on the server)
            turns = gr.BrowserState([], storage_key="arabic-assistant-conversation")
            chats = gr.BrowserState([], storage_key="arabic-assistant-past-conversations")
            with gr.Column(elem_id="assistant-root"):
                gr.HTML(render("header.html", t=self.t), elem_id="app-header", js_on_load=None)
                with gr.Row(equal_height=False):
                    ui = self._chat_column()
                    ui.update(self._side_column())
            ui["chats"] = chats
            self._wire(demo, turns, ui)
            self._wire_history(turns, ui)
            answering = dict(concurrency_id="answering", concurrency_limit=self.assistant.settings.web_concurrency)
            gr.api(self.api_ask, api_name="ask", **answering)
            gr.api(self.api_ask_within, api_name="ask_within", **answering)
            gr.api(self.api_sources, api_name="sources", **answering)
            gr.api(self.api_source, api_name="source", **answering)
        return demo

    def _chat_column(self) -> dict[str, Any]:
        """The chat, the question box with its button, and the new-conversation button."""
        t = self.t
        with gr.Column(scale=3, min_width=360, elem_id="chat-column"):
            chatbot = gr.Chatbot(
                label=t("ui_chat_label"), elem_id="chat", rtl=True, height=560, buttons=[],
                render_markdown=False, sanitize_html=True, feedback_options=None, layout="bubble",
                group_consecutive_messages=False, placeholder=esc(t("ui_chat_placeholder")),
                examples=[{"text": q} for q in t.examples()],
            )
            with gr.Row(elem_id="ask-row"):
                question = gr.Textbox(label=t("ui_input_label"), placeholder=t("ui_input_placeholder"), rtl=True,
                                      lines=1, max_lines=4, scale=5, elem_id="question", show_label=False,
                                      autofocus=True, interactive=False)  # until the page's conversation is back
                send = gr.Button(t("ui_send"), variant="primary", scale=1, min_width=90, elem_id="send", interactive=False)
            scope = gr.Dropdown(choices=[], value=[], multiselect=True, label=t("ui_scope_label"),
                                info=t("ui_scope_info"), elem_id="scope", interactive=True)
            clear = gr.Button(t("ui_clear"), variant="secondary", size="sm", elem_id="clear")
            history = self._history_panel()
        return {"chatbot": chatbot, "question": question, "send": send, "clear": clear, "scope": scope, **history}

    def _history_panel(self) -> dict[str, Any]:
        """Regenerate and export the conversation; open, rename and delete past ones."""
        t = self.t
        with gr.Row(elem_id="chat-tools"):
            regenerate = gr.Button(t("ui_regenerate"), size="sm", elem_id="regenerate")
            export = gr.Button(t("ui_export"), size="sm", elem_id="export")
        exported = gr.File(label=t("ui_export_file"), visible=False, interactive=False, elem_id="exported")
        with gr.Accordion(t("ui_past_chats"), open=False, elem_id="past-chats"):
            past = gr.Dropdown(choices=[], value=None, label=t("ui_past_label"), elem_id="past", interactive=True)
            with gr.Row():
                open_chat = gr.Button(t("ui_past_open"), size="sm", elem_id="past-open")
                delete_chat = gr.Button(t("ui_past_delete"), size="sm", variant="stop", elem_id="past-delete")
            new_title = gr.Textbox(label=t("ui_past_rename_label"), rtl=True, lines=1, elem_id="past-title")
            rename_chat = gr.Button(t("ui_past_rename"), size="sm", elem_id="past-rename")
        return {"regenerate": regenerate, "export": export, "exported": exported, "past": past, "open_chat": open_chat,
                "delete_chat": delete_chat, "new_title": new_title, "rename_chat": rename_chat}

    def _side_column(self) -> dict[str, Any]:
        """The source viewer, the sources panel and the panel for adding sources."""
        t = self.t
        with gr.Column(scale=2, min_width=320, elem_id="side-column"):
            viewer = gr.HTML(render_viewer_empty(t), elem_id="source-viewer", js_on_load=resource_text("viewer.js"),
                             label=t("ui_viewer_label"))
            with gr.Accordion(t("ui_sources_panel"), open=True, elem_id="sources-panel"):
                sources_list = gr.HTML(self.sources_html(), elem_id="sources-list", js_on_load=None)
            with gr.Accordion(t("ui_add_panel"), open=True, elem_id="add-panel", visible=not self.read_only):
                with gr.Tabs():
                    with gr.Tab(t("ui_add_upload_tab"), elem_id="upload-tab"):
                        # no file_types: Gradio would refuse other files with an English message;
                        # the assistant refuses them itself, in Arabic, naming the supported formats
                        upload = gr.File(label=t("ui_upload_label"), file_count="multiple",
                                         type="filepath", elem_id="upload")
                        replace_box = gr.Checkbox(label=t("ui_upload_replace"), value=False, elem_id="upload-replace")
                        gr.HTML(render("formats.html", t=t, extensions=supported_extensions()), js_on_load=None)
                    with gr.Tab(t("ui_add_paste_tab"), elem_id="paste-tab"):
                        paste_title = gr.Textbox(label=t("ui_paste_title_label"), placeholder=t("ui_paste_title_placeholder"),
                                                 rtl=True, lines=1, elem_id="paste-title")
                        paste_text = gr.Textbox(label=t("ui_paste_text_label"), placeholder=t("ui_paste_text_placeholder"),
                                                rtl=True, lines=6, max_lines=16, elem_id="paste-text")
                        paste_add = gr.Button(t("ui_paste_add"), variant="primary", elem_id="paste-add")
                add_status = gr.HTML("", elem_id="add-status", js_on_load=None)
        return {"viewer": viewer, "sources_list": sources_list, "upload": upload, "replace": replace_box,
                "paste_title": paste_title,
                "paste_text": paste_text, "paste_add": paste_add, "add_status": add_status}

    def _wire(self, demo: gr.Blocks, turns: gr.State, ui: dict[str, Any]) -> None:
        """The events: asking (box, button, example), clearing, opening a reference, adding, loading."""
        question, chatbot, viewer, upload = ui["question"], ui["chatbot"], ui["viewer"], ui["upload"]
        adding = dict(api_visibility="private", concurrency_id="index-writer", concurrency_limit=1)
        scope = ui["scope"]
        choices = dict(fn=self.on_scope_choices, inputs=[scope], outputs=[scope], api_visibility="private", queue=False,
                       show_progress="hidden")
        ask_event = dict(fn=self.on_ask, inputs=[question, turns, scope], outputs=[question, chatbot, turns],
                         api_visibility="private", concurrency_id="answering",
                         concurrency_limit=self.assistant.settings.web_concurrency, show_progress="hidden")
        question.submit(**ask_event)
        ui["send"].click(**ask_event)
        chatbot.example_select(self.on_example, outputs=[question], api_visibility="private", queue=False).then(**ask_event)
        cleared = [chatbot, turns, viewer, question, ui["chats"], ui["past"]]
        ui["clear"].click(self.on_clear, inputs=[turns, ui["chats"]], outputs=cleared, api_visibility="private", queue=False)
        chatbot.clear(self.on_clear, inputs=[turns, ui["chats"]], outputs=cleared, api_visibility="private", queue=False)
        viewer.open_ref(self.on_open_ref, inputs=[turns], outputs=[viewer], api_visibility="private", show_progress="hidden")
        upload.upload(self.on_upload, inputs=[upload, ui["replace"]], outputs=[ui["add_status"], ui["sources_list"], upload],
                      **adding).then(**choices)
        ui["paste_add"].click(self.on_paste, inputs=[ui["paste_title"], ui["paste_text"]],
                              outputs=[ui["add_status"], ui["sources_list"], ui["paste_title"], ui["paste_text"]],
                              **adding).then(**choices)
        restored = [ui["sources_list"], chatbot, turns, ui["chats"], ui["past"], question, ui["send"]]
        demo.load(self.on_load, inputs=[turns, ui["chats"]], outputs=restored, api_visibility="private", queue=False,
                  show_progress="hidden").then(**choices).then(
            self.on_warm_up, outputs=[ui["sources_list"]], api_visibility="private")

    def _wire_history(self, turns: gr.State, ui: dict[str, Any]) -> None:
        """The events of the conversation tools: regenerate, export, and the past conversations."""
        private = dict(api_visibility="private")
        chats, past = ui["chats"], ui["past"]
        ui["regenerate"].click(self.on_regenerate, inputs=[turns, ui["scope"]], outputs=[ui["question"], ui["chatbot"], turns],
                               concurrency_id="answering", concurrency_limit=self.assistant.settings.web_concurrency,
                               show_progress="hidden", **private)
        ui["export"].click(self.on_export, inputs=[turns], outputs=[ui["exported"]], **private)
        ui["open_chat"].click(self.on_open_chat, inputs=[past, turns, chats],
                              outputs=[ui["chatbot"], turns, chats, past, ui["viewer"]], **private)
        ui["rename_chat"].click(self.on_rename_chat, inputs=[past, ui["new_title"], chats],
                                outputs=[chats, past, ui["new_title"]], **private)
        ui["delete_chat"].click(self.on_delete_chat, inputs=[past, chats], outputs=[chats, past], **private)


def build_app(assistant: Assistant, accounts: Accounts | None = None, read_only: bool = False) -> gr.Blocks:
    """The Gradio app over one shared Assistant; launch it with ``launch()`` (theme and CSS go there)."""
    return WebApp(assistant, accounts, read_only).build()


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = 7860, *, block: bool = True,
           quiet: bool = True, max_file_mb: float = 20.0, auth: Callable[[str, str], bool] | None = None,
           auth_message: str | None = None):  # type: ignore[no-untyped-def]
    """Serve the app on host:port: no share link, no analytics, no outside fonts, theme and CSS applied;
    with ``auth``, every page and API call needs a login first."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    result = demo.launch(
        server_name=host, server_port=port, share=False, inbrowser=False, prevent_thread_lock=True, quiet=quiet,
        show_error=False, ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False, footer_links=["api"],
        max_file_size=f"{max(1, int(max_file_mb))}mb", theme=theme(), css=css(), js=PAGE_JS,
        auth=auth, auth_message=auth_message, app_kwargs={"middleware": [Middleware(ArabicPage)]},
    )
    if block:
        demo.block_thread()
    return result

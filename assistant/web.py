"""The web face: a Gradio chat in Arabic, right to left, whose citations open the passage they came from.

One ``Assistant`` (one loaded model, one index) serves every browser tab; each tab keeps its own
conversation in a ``gr.State``. Everything shown that comes from a document, a title or a question is
escaped here with ``html.escape`` before any HTML is built; Gradio's own sanitiser is a second fence,
never the only one. Interface text lives in ``prompts/ui.yaml``.

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

import html
import logging
import os
import re
import shutil
import sys
import tempfile
import unicodedata
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import gradio as gr  # noqa: E402  (after the environment above)

from . import arabic, store  # noqa: E402
from .answer import QuestionError  # noqa: E402
from .config import Settings  # noqa: E402
from .messages import message  # noqa: E402
from .models import Answer, Source  # noqa: E402
from .service import Assistant  # noqa: E402
from .sources import SourceError  # noqa: E402

log = logging.getLogger(__name__)

CSS_PATH = Path(__file__).with_name("web.css")
# System fonts only: a font given by name is never fetched (Gradio's GoogleFont would be).
FONTS = ("Noto Sans Arabic", "Noto Naskh Arabic", "Segoe UI", "Tahoma", "Geeza Pro", "DejaVu Sans", "Arial", "system-ui", "sans-serif")
MONO_FONTS = ("DejaVu Sans Mono", "Consolas", "monospace")
_MARKER = re.compile(r"\[([0-9\u0660-\u0669]{1,3})\]")
_REF = re.compile(r"^(cite|full)-(\d{1,5})-(\d{1,3})$")
_ARABIC_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")

# Runs in the browser once the source viewer is mounted: one capture-phase click listener for the
# whole page (citation links in chat bubbles, source links in the panel, copy buttons).
VIEWER_JS = r"""
const st = window.__sourceAssistant || (window.__sourceAssistant = {});
st.trigger = trigger;
if (!st.installed) {
  st.installed = true;
  const copyText = async (text) => {
    try { await navigator.clipboard.writeText(text); return true; } catch (err) {
      const ta = document.createElement('textarea');
      ta.value = text; ta.setAttribute('readonly', ''); ta.style.position = 'fixed'; ta.style.opacity = '0';
      document.body.appendChild(ta); ta.select();
      let ok = false; try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      ta.remove(); return ok;
    }
  };
  document.addEventListener('click', (ev) => {
    const t = ev.target instanceof Element ? ev.target : null;
    if (!t) return;
    const btn = t.closest('button.copy-answer');
    if (btn) {
      ev.preventDefault(); ev.stopPropagation();
      const box = btn.closest('.answer');
      if (!box) return;
      const parts = Array.from(box.querySelectorAll('.short-answer-line, .answer-text, .answer-sources'))
        .map((n) => n.innerText.trim()).filter(Boolean);
      copyText(parts.join('\n\n')).then((ok) => {
        if (!ok) return;
        const old = btn.textContent;
        btn.textContent = btn.value; btn.classList.add('copied');
        setTimeout(() => { btn.textContent = old; btn.classList.remove('copied'); }, 1600);
      });
      return;
    }
    const a = t.closest('a[href^="#cite-"], a[href^="#full-"], a[href^="#source-"]');
    if (!a) return;
    ev.preventDefault(); ev.stopPropagation();
    let ref = a.getAttribute('href').slice(1);
    try { ref = decodeURIComponent(ref); } catch (e) { /* keep it raw */ }
    st.trigger('open_ref', { ref: ref });
    const v = document.getElementById('source-viewer');
    if (v && window.innerWidth < 900) v.scrollIntoView({ behavior: 'smooth', block: 'start' });
  }, true);
}
const scrollToMark = () => {
  const m = element.querySelector('mark');
  const box = element.querySelector('.viewer-body');
  if (m && box) box.scrollTop = Math.max(0, m.offsetTop - box.offsetTop - 48);
};
if (typeof watch === 'function') watch('value', scrollToMark);
"""

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
        return message(key, folder=self.folder, **values)

    def examples(self) -> list[str]:
        """The example questions, one a line in ``ui_examples``."""
        return [q.strip() for q in self("ui_examples").splitlines() if q.strip()]


# --------------------------------------------------------------------------------------------------
# Rendering (pure functions: data in, escaped HTML out)


def render_user(question: str) -> str:
    """A user's question as a chat bubble body."""
    return f'<div class="user-text" dir="auto">{esc(question)}</div>'


def render_pending(t: Texts) -> str:
    """The assistant's bubble while the answer is being found."""
    return f'<div class="answer pending" dir="rtl"><span class="thinking">{esc(t("ui_thinking"))}</span></div>'


def render_error(text: str, t: Texts) -> str:
    """An Arabic error in place of an answer."""
    return (f'<div class="answer error" dir="rtl"><div class="answer-text" dir="auto">'
            f'<strong>{esc(t("ui_error_prefix"))}</strong> {esc(text)}</div></div>')


def _link_markers(text: str, turn: int, cites: dict[int, dict[str, Any]], t: Texts,
                  short: tuple[int, int] | None = None, short_title: str = "") -> str:
    """Escape an answer's text, turning each marker [n] of a real citation into a link to it; the part of the
    text inside ``short`` (offsets into ``text``) is wrapped in ``<mark class="short-answer">``."""
    out, pos = [], 0
    for m in _MARKER.finditer(text):
        n = int(m.group(1).translate(_ARABIC_DIGITS))
        if n not in cites:
            continue
        c = cites[n]
        title = t("ui_cite_title", title=c.get("title", ""), n=c.get("paragraph", ""))
        out.append(_short_marked(text, pos, m.start(), short, short_title))
        out.append(f'<a class="cite" href="#cite-{turn}-{n}" title="{esc(title)}" role="button">{esc(m.group(0))}</a>')
        pos = m.end()
    out.append(_short_marked(text, pos, len(text), short, short_title))
    return "".join(out)


def _short_marked(text: str, lo: int, hi: int, span: tuple[int, int] | None, title: str = "") -> str:
    """``text[lo:hi]`` escaped, with the part inside ``span`` (if any) wrapped in ``<mark class="short-answer">``."""
    if span is None:
        return esc(text[lo:hi])
    s, e = max(span[0], lo), min(span[1], hi)
    if s >= e:
        return esc(text[lo:hi])
    tip = f' title="{esc(title)}"' if title else ""
    return f'{esc(text[lo:s])}<mark class="short-answer"{tip}>{esc(text[s:e])}</mark>{esc(text[e:hi])}'


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


def render_answer(turn: int, answer: dict[str, Any], t: Texts) -> str:
    """An answer (``Answer.to_dict()``) as a chat bubble body: linked markers, sources, resolved question, copy."""
    cites = {int(c["n"]): c for c in answer.get("citations", [])}
    refused = bool(answer.get("refused"))
    cls = "answer refused" if refused else "answer"
    text = str(answer.get("answer", "") or "")
    short = answer.get("short_answer") if not refused else None
    short = short if isinstance(short, dict) and str(short.get("text", "") or "").strip() else None
    parts = [f'<div class="{cls}" dir="rtl">']
    in_text, quote_block = None, ""
    if short is not None:
        parts.append(f'<div class="short-answer-line"><span class="short-answer-label">{esc(t("ui_short_answer"))}</span> '
                     f'<strong class="short-answer-text" dir="auto">{esc(str(short["text"]).strip())}</strong></div>')
        try:
            c = cites.get(int(short.get("citation", 1)))
        except (TypeError, ValueError):
            c = None
        span = short_answer_span(short, c)
        if c is not None and span is not None:
            in_text = _short_in_text(text, c, span)
            if in_text is None:  # the text does not quote the sentence (an LLM's wording): show the sentence
                quote = str(c.get("quote", ""))
                quote_block = (f'<blockquote class="answer-quote" dir="auto">'
                               f'{_short_marked(quote, 0, len(quote), span, t("ui_short_answer_title"))}</blockquote>')
    parts.append(f'<div class="answer-text" dir="auto">'
                 f'{_link_markers(text, turn, cites, t, in_text, t("ui_short_answer_title"))}</div>')
    parts.append(quote_block)
    if refused:
        parts.append(f'<div class="refused-hint">{esc(t("ui_refused_hint"))}</div>')
    note = str(answer.get("reader_note", "") or "").strip()
    if note:
        parts.append(f'<div class="reader-note" dir="auto">{esc(note)}</div>')
    if cites:
        parts.append(f'<div class="answer-sources-label">{esc(t("ui_sources_of_answer"))}</div><ol class="answer-sources">')
        for n, c in sorted(cites.items()):
            parts.append(f'<li><a class="cite" href="#cite-{turn}-{n}" role="button">[{n}]</a> '
                         f'<bdi class="src-title">{esc(c.get("title", ""))}</bdi> — '
                         f'<span class="src-para">{esc(t("ui_paragraph", n=c.get("paragraph", "")))}</span></li>')
        parts.append("</ol>")
    question = (answer.get("question") or "").strip()
    resolved = (answer.get("resolved_question") or "").strip()
    if resolved and resolved != question:
        parts.append(f'<div class="resolved">{esc(t("ui_resolved"))} <bdi class="resolved-q">{esc(resolved)}</bdi></div>')
    if not answer.get("refused"):
        parts.append(f'<div class="answer-tools"><button class="copy-answer" type="button" value="{esc(t("ui_copied"))}">'
                     f'{esc(t("ui_copy"))}</button></div>')
    parts.append("</div>")
    return "".join(parts)


def render_chat(turns: list[dict[str, Any]], t: Texts) -> list[dict[str, str]]:
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


def _meta_line(src: Source | None, c: dict[str, Any] | None, t: Texts, paragraph: int | None = None) -> str:
    bits = []
    if paragraph:
        bits.append(t("ui_paragraph", n=paragraph))
    date = (src.date if src else "") or (c or {}).get("date", "")
    origin = (src.origin if src else "") or (c or {}).get("origin", "")
    out = [f'<span dir="auto">{esc(b)}</span>' for b in bits]
    if date:
        out.append(_labelled(t("ui_meta_date", date="\0"), date))
    if origin:
        out.append(_labelled(t("ui_meta_origin", origin="\0"), origin))
    return " · ".join(out)


def _labelled(template: str, value: str) -> str:
    """A label with its value isolated (``dir=auto``), so a date like 2025-11-24 keeps its order in RTL."""
    before, _, after = template.partition("\0")
    return f'<span>{esc(before)}{_bdi(value)}{esc(after)}</span>'


def _bdi(value: str) -> str:
    """A value isolated from the text around it: left to right unless it holds a right-to-left letter."""
    rtl = any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in value)
    return f'<bdi dir="{"auto" if rtl else "ltr"}">{esc(value)}</bdi>'


def _marked(text: str, start: int, end: int, lo: int, hi: int, inner: tuple[int, int] | None = None,
            inner_title: str = "") -> str:
    """``text[lo:hi]`` escaped, with the part inside ``[start, end)`` wrapped in <mark>, and the part of that
    inside ``inner`` (the short answer) in a nested ``<mark class="short-answer">``."""
    s, e = max(start, lo), min(end, hi)
    if s >= e:
        return esc(text[lo:hi])
    return f"{esc(text[lo:s])}<mark>{_short_marked(text, s, e, inner, inner_title)}</mark>{esc(text[e:hi])}"


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
    return f'<div class="viewer empty" dir="rtl"><p class="viewer-hint">{esc(t("ui_viewer_empty"))}</p></div>'


def render_viewer_message(text: str, t: Texts) -> str:
    """The viewer showing a short notice."""
    return f'<div class="viewer notice" dir="rtl"><p class="viewer-hint">{esc(text)}</p></div>'


def render_citation(turn: int, c: dict[str, Any], src: Source | None, t: Texts,
                    short: dict[str, Any] | None = None) -> str:
    """A citation opened: title, paragraph, and the paragraph text with the quote marked (neighbours faded);
    the answer's ``short`` answer, when it lies in this quote, is marked inside it."""
    tip = t("ui_short_answer_title")
    head = (f'<div class="viewer-kicker">{esc(t("ui_viewer_citation", n=c.get("n", "")))}</div>'
            f'<h3 class="viewer-title" dir="auto">{esc(c.get("title", ""))}</h3>')
    span = locate(src, c) if src is not None else None
    if src is None or span is None:
        note = t("ui_viewer_missing_source") if src is None else t("ui_viewer_quote_moved")
        quote = str(c.get("quote", ""))
        return (f'<div class="viewer citation" dir="rtl">{head}<div class="viewer-meta">{_meta_line(src, c, t, c.get("paragraph"))}</div>'
                f'<p class="viewer-note">{esc(note)}</p><div class="viewer-body"><p class="para cited" dir="auto">'
                f'<mark>{_short_marked(quote, 0, len(quote), short_answer_span(short, c), tip)}</mark></p></div></div>')
    start, end = span
    inner = short_answer_in_source(short, c, span)
    paras = arabic.paragraph_spans(src.text)
    idx = next((i for i, (ps, pe) in enumerate(paras) if ps <= start < pe), None)
    body = []
    if idx is None:  # the quote sits outside every paragraph span: show it with a little context
        lo, hi = max(0, start - 300), min(len(src.text), end + 300)
        body.append(f'<p class="para cited" dir="auto">{_marked(src.text, start, end, lo, hi, inner, tip)}</p>')
        number = c.get("paragraph")
    else:
        number = idx + 1
        for j in range(max(0, idx - 1), min(len(paras), idx + 2)):
            ps, pe = paras[j]
            cls = "para cited" if j == idx else "para context"
            body.append(f'<p class="{cls}" dir="auto"><span class="para-no">{j + 1}</span>'
                        f'{_marked(src.text, start, end, ps, pe, inner, tip)}</p>')
    return (f'<div class="viewer citation" dir="rtl">{head}<div class="viewer-meta">{_meta_line(src, c, t, number)}</div>'
            f'<div class="viewer-body">{"".join(body)}</div>'
            f'<a class="open-source" href="#full-{turn}-{esc(c.get("n", ""))}" role="button">{esc(t("ui_viewer_read_all"))}</a></div>')


def render_source(src: Source, t: Texts, mark: tuple[int, int] | None = None,
                  short: tuple[int, int] | None = None) -> str:
    """A whole document, paragraph by paragraph (numbered), optionally with one span marked (and the short
    answer's span, ``short``, marked inside it)."""
    paras = arabic.paragraph_spans(src.text) or [(0, len(src.text))]
    tip = t("ui_short_answer_title")
    body = []
    for j, (ps, pe) in enumerate(paras, start=1):
        inner = _marked(src.text, mark[0], mark[1], ps, pe, short, tip) if mark else esc(src.text[ps:pe])
        cls = "para cited" if mark and ps < mark[1] and mark[0] < pe else "para"
        body.append(f'<p class="{cls}" dir="auto"><span class="para-no">{j}</span>{inner}</p>')
    meta = [_labelled(t("ui_meta_id", source_id="\0"), src.source_id)]
    if src.date:
        meta.append(_labelled(t("ui_meta_date", date="\0"), src.date))
    if src.origin:
        meta.append(_labelled(t("ui_meta_origin", origin="\0"), src.origin))
    return (f'<div class="viewer source" dir="rtl"><div class="viewer-kicker">{esc(t("ui_viewer_source"))}</div>'
            f'<h3 class="viewer-title" dir="auto">{esc(src.title)}</h3>'
            f'<div class="viewer-meta">{" · ".join(meta)}</div>'
            f'<div class="viewer-body">{"".join(body)}</div></div>')


def render_sources_list(sources: list[Source], t: Texts) -> str:
    """The panel listing indexed documents; each title opens the document in the viewer."""
    if not sources:
        return f'<div class="sources-list empty" dir="rtl"><p>{esc(t("ui_sources_none"))}</p></div>'
    items = []
    for s in sources:
        meta = [_bdi(s.date)] if s.date else []
        if s.chunks:
            meta.append(f'<span>{esc(t("ui_meta_chunks", chunks=s.chunks))}</span>')
        items.append(f'<li><a class="open-source" href="#source-{esc(s.source_id)}" role="button" dir="auto">{esc(s.title)}</a>'
                     f'<div class="src-meta">{" · ".join(meta)}</div></li>')
    return (f'<div class="sources-list" dir="rtl"><p class="sources-count">{esc(t("ui_sources_count", count=len(sources)))}</p>'
            f'<ul>{"".join(items)}</ul></div>')


def render_status(ok: list[str], errors: list[str], t: Texts) -> str:
    """Result of adding sources: what was added, and every failure in Arabic."""
    parts = ['<div class="add-status" dir="rtl">']
    for line in ok:
        parts.append(f'<p class="ok" dir="auto">✓ {esc(line)}</p>')
    if errors:
        parts.append(f'<p class="error-head">{esc(t("ui_add_failed"))}</p><ul class="errors">')
        parts.extend(f'<li class="error" dir="auto">{esc(e)}</li>' for e in errors)
        parts.append("</ul>")
    if not ok and not errors:
        parts.append(f'<p class="neutral">{esc(t("ui_nothing_added"))}</p>')
    parts.append("</div>")
    return "".join(parts)


# --------------------------------------------------------------------------------------------------
# Uploads


def safe_name(name: str) -> str:
    """The bare file name of an upload, or SourceError("bad_name") for one that reaches outside a folder."""
    from .sources import safe_upload_name

    return safe_upload_name(name)


def _public(summary: dict[str, Any]) -> dict[str, Any]:
    """A source's metadata for API clients: the server-side file path is not theirs to see."""
    return {k: v for k, v in summary.items() if k != "path"}


def _progress_text(raw: str, t: Texts) -> str:
    m = re.match(r"indexing (\d+) source", raw)
    if m:
        return t("ui_indexing_n", count=m.group(1))
    return raw


# --------------------------------------------------------------------------------------------------
# The app


def theme() -> gr.themes.Base:
    """Gradio's default theme with local system fonts only (nothing fetched)."""
    return gr.themes.Default(primary_hue="teal", secondary_hue="amber", neutral_hue="slate",
                             font=list(FONTS), font_mono=list(MONO_FONTS), text_size=gr.themes.sizes.text_lg)


def css() -> str:
    """The app's stylesheet (``assistant/web.css``, package data)."""
    try:
        return CSS_PATH.read_text(encoding="utf-8")
    except OSError:  # an install without the package data: the page still works, plainer
        log.warning("stylesheet %s not found; serving without it", CSS_PATH)
        return "#assistant-root { direction: rtl; } .answer-text, .para { unicode-bidi: plaintext; }"


def build_app(assistant: Assistant) -> gr.Blocks:
    """The Gradio app over one shared Assistant; launch it with ``launch()`` (theme and CSS go there)."""
    t = Texts(assistant.settings.prompts)

    def sources_html() -> str:
        try:
            return render_sources_list(assistant.sources(), t)
        except Exception:  # a listing must never break the page
            log.exception("listing sources failed")
            return render_sources_list([], t)

    # ---- chat
    def on_ask(question: str, turns: list[dict[str, Any]] | None):
        turns = list(turns or [])
        q = (question or "").strip()
        if not q:
            yield gr.update(), render_chat(turns, t), turns
            return
        history = [tn.get("resolved") or tn["question"] for tn in turns if tn.get("answer") is not None]
        pending = turns + [{"question": q, "answer": None}]
        yield "", render_chat(pending, t), turns
        entry: dict[str, Any] = {"question": q, "answer": None}
        try:
            ans: Answer = assistant.ask(q, history=history)
            entry["answer"] = ans.to_dict()
            entry["resolved"] = ans.resolved_question or q
        except QuestionError as exc:
            entry["error"] = exc.text
        except store.NoIndex:
            entry["error"] = t("no_index")
        except store.IndexBusy:
            entry["error"] = t("index_busy")
        except Exception:  # the page shows a message; the details go to the server log
            log.exception("answering failed")
            entry["error"] = t("ui_internal_error")
        turns = turns + [entry]
        yield ("" if entry["answer"] is not None else q), render_chat(turns, t), turns

    def on_example(evt: gr.SelectData) -> str:
        v = evt.value
        return str(v.get("text", "")) if isinstance(v, dict) else str(v or "")

    def on_clear():
        return [], [], render_viewer_empty(t), ""

    # ---- viewer
    def on_open_ref(turns: list[dict[str, Any]] | None, evt: gr.EventData) -> str:
        data = evt._data if isinstance(evt._data, dict) else {}
        ref = str(data.get("ref", ""))[:300]
        turns = turns or []
        m = _REF.match(ref)
        if m:
            kind, ti, n = m.group(1), int(m.group(2)), int(m.group(3))
            answer = turns[ti].get("answer") if ti < len(turns) else None
            c = next((c for c in (answer or {}).get("citations", []) if int(c.get("n", 0)) == n), None)
            if c is None:
                return render_viewer_message(t("ui_viewer_unknown"), t)
            src = assistant.source(c["source_id"])
            short = (answer or {}).get("short_answer")
            if kind == "cite":
                return render_citation(ti, c, src, t, short=short)
            if src is None:
                return render_citation(ti, c, None, t, short=short)
            where = locate(src, c)
            return render_source(src, t, mark=where, short=short_answer_in_source(short, c, where))
        if ref.startswith("source-"):
            sid = ref[len("source-"):]
            src = assistant.source(sid)
            if src is None:
                return render_viewer_message(t("ui_viewer_no_source", source_id=sid), t)
            return render_source(src, t)
        return render_viewer_message(t("ui_viewer_unknown"), t)

    # ---- adding sources
    def _report(report, extra_errors: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
        ok, errors = [], []
        if report is not None:
            for sid in report.added:
                src = assistant.source(sid)
                ok.append(t("ui_added", title=src.title if src else sid))
            for sid in report.changed:
                src = assistant.source(sid)
                ok.append(t("ui_changed", title=src.title if src else sid))
            errors.extend(report.failed.values())
        errors.extend(extra_errors.values())
        return render_status(ok, errors, t)

    def _progress_cb(progress: gr.Progress) -> Callable[[str], None]:
        def say(raw: str) -> None:
            try:
                progress(None, desc=_progress_text(str(raw), t))
            except Exception:  # progress is a nicety; never fail the work for it
                pass
        return say

    def on_upload(files: list[str] | str | None, progress: gr.Progress = gr.Progress()):
        paths = [files] if isinstance(files, str) else list(files or [])
        if not paths:
            return render_status([], [t("ui_upload_none")], t), sources_html(), None
        progress(None, desc=t("ui_adding"))
        failed: dict[str, str] = {}
        report = None
        with tempfile.TemporaryDirectory(prefix="upload-") as tmp:
            staged = []
            for i, p in enumerate(paths):
                raw = Path(str(p)).name
                try:
                    name = safe_name(raw)
                except SourceError as err:
                    failed[raw] = err.text()
                    continue
                folder = Path(tmp) / str(i)
                folder.mkdir()
                dest = folder / name
                shutil.copyfile(p, dest)
                staged.append(dest)
            if staged:
                try:
                    report = assistant.add_files(staged, progress=_progress_cb(progress))
                except store.IndexBusy:
                    failed["_busy"] = t("ui_index_busy")
                except Exception:  # the page shows a message; the details go to the server log
                    log.exception("adding uploaded files failed")
                    failed["_error"] = t("ui_add_error")
        return _report(report, failed), sources_html(), None

    def on_paste(title: str, text: str, progress: gr.Progress = gr.Progress()):
        title, text = (title or "").strip(), (text or "").strip()
        missing = [t("ui_paste_missing_title")] if not title else []
        if not text:
            missing.append(t("ui_paste_missing_text"))
        if missing:
            return render_status([], missing, t), sources_html(), gr.update(), gr.update()
        progress(None, desc=t("ui_adding"))
        try:
            report = assistant.add_text(title, text, progress=_progress_cb(progress))
        except store.IndexBusy:
            return render_status([], [t("ui_index_busy")], t), sources_html(), gr.update(), gr.update()
        except SourceError as err:
            return render_status([], [err.text()], t), sources_html(), gr.update(), gr.update()
        except Exception:  # the page shows a message; the details go to the server log
            log.exception("adding pasted text failed")
            return render_status([], [t("ui_add_error")], t), sources_html(), gr.update(), gr.update()
        status = _report(report, {})
        if report.added or report.changed:
            return status, sources_html(), "", ""
        return status, sources_html(), gr.update(), gr.update()

    def on_load(progress: gr.Progress = gr.Progress()) -> str:
        progress(None, desc=t("ui_preparing"))
        try:
            assistant.warm_up()
        except (store.NoIndex, store.IndexBusy):
            pass
        return sources_html()

    # ---- structured API (gradio_client)
    def api_ask(question: str, history: list[str] | None = None) -> dict:
        """Answer a question in Arabic; returns the answer object: answer, refused, citations, resolved_question…"""
        try:
            return assistant.ask(question, history=[str(h) for h in (history or [])]).to_dict()
        except QuestionError as exc:
            raise gr.Error(exc.text) from None
        except store.NoIndex:
            raise gr.Error(t("no_index")) from None
        except store.IndexBusy:
            raise gr.Error(t("index_busy")) from None

    def api_sources() -> list[dict]:
        """The indexed sources (metadata, without text)."""
        return [_public(s.summary()) for s in assistant.sources()]

    def api_source(source_id: str) -> dict:
        """One indexed source with its text."""
        src = assistant.source(source_id)
        if src is None:
            raise gr.Error(t("ui_api_no_source", source_id=source_id))
        return {**_public(src.summary()), "text": src.text}

    from .sources import supported_extensions

    exts = supported_extensions()
    with gr.Blocks(title=t("ui_page_title"), analytics_enabled=False) as demo:
        turns = gr.State([])
        with gr.Column(elem_id="assistant-root"):
            gr.HTML(f'<header class="app-header" dir="rtl"><h1>{esc(t("ui_heading"))}</h1>'
                    f'<p>{esc(t("ui_subheading"))}</p></header>', elem_id="app-header", js_on_load=None)
            with gr.Row(equal_height=False):
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
                                              autofocus=True)
                        send = gr.Button(t("ui_send"), variant="primary", scale=1, min_width=90, elem_id="send")
                    clear = gr.Button(t("ui_clear"), variant="secondary", size="sm", elem_id="clear")
                with gr.Column(scale=2, min_width=320, elem_id="side-column"):
                    viewer = gr.HTML(render_viewer_empty(t), elem_id="source-viewer", js_on_load=VIEWER_JS,
                                     label=t("ui_viewer_label"))
                    with gr.Accordion(t("ui_sources_panel"), open=True, elem_id="sources-panel"):
                        sources_list = gr.HTML(sources_html(), elem_id="sources-list", js_on_load=None)
                    with gr.Accordion(t("ui_add_panel"), open=True, elem_id="add-panel"):
                        with gr.Tabs():
                            with gr.Tab(t("ui_add_upload_tab"), elem_id="upload-tab"):
                                # no file_types: Gradio would refuse other files with an English message;
                                # the assistant refuses them itself, in Arabic, naming the supported formats
                                upload = gr.File(label=t("ui_upload_label"), file_count="multiple",
                                                 type="filepath", elem_id="upload")
                                gr.HTML(f'<p class="formats" dir="rtl">{esc(t("ui_upload_formats"))} '
                                        f'{" ".join(_bdi(e) for e in exts)}</p>', js_on_load=None)
                            with gr.Tab(t("ui_add_paste_tab"), elem_id="paste-tab"):
                                paste_title = gr.Textbox(label=t("ui_paste_title_label"), placeholder=t("ui_paste_title_placeholder"),
                                                         rtl=True, lines=1, elem_id="paste-title")
                                paste_text = gr.Textbox(label=t("ui_paste_text_label"), placeholder=t("ui_paste_text_placeholder"),
                                                        rtl=True, lines=6, max_lines=16, elem_id="paste-text")
                                paste_add = gr.Button(t("ui_paste_add"), variant="primary", elem_id="paste-add")
                        add_status = gr.HTML("", elem_id="add-status", js_on_load=None)

        ask_event = dict(fn=on_ask, inputs=[question, turns], outputs=[question, chatbot, turns],
                         api_visibility="private", concurrency_limit=4, show_progress="hidden")
        question.submit(**ask_event)
        send.click(**ask_event)
        chatbot.example_select(on_example, outputs=[question], api_visibility="private", queue=False).then(**ask_event)
        clear.click(on_clear, outputs=[chatbot, turns, viewer, question], api_visibility="private", queue=False)
        chatbot.clear(on_clear, outputs=[chatbot, turns, viewer, question], api_visibility="private", queue=False)
        viewer.open_ref(on_open_ref, inputs=[turns], outputs=[viewer], api_visibility="private", show_progress="hidden")
        upload.upload(on_upload, inputs=[upload], outputs=[add_status, sources_list, upload], api_visibility="private",
                      concurrency_id="index-writer", concurrency_limit=1)
        paste_add.click(on_paste, inputs=[paste_title, paste_text], outputs=[add_status, sources_list, paste_title, paste_text],
                        api_visibility="private", concurrency_id="index-writer", concurrency_limit=1)
        demo.load(on_load, outputs=[sources_list], api_visibility="private")

        gr.api(api_ask, api_name="ask")
        gr.api(api_sources, api_name="sources")
        gr.api(api_source, api_name="source")
    return demo


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = 7860, *, block: bool = True,
           quiet: bool = True, max_file_mb: float = 20.0):  # type: ignore[no-untyped-def]
    """Serve the app on host:port: no share link, no analytics, no outside fonts, theme and CSS applied."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    result = demo.launch(
        server_name=host, server_port=port, share=False, inbrowser=False, prevent_thread_lock=True, quiet=quiet,
        show_error=False, ssr_mode=False, pwa=False, mcp_server=False, enable_monitoring=False, footer_links=["api"],
        max_file_size=f"{max(1, int(max_file_mb))}mb", theme=theme(), css=css(), js=PAGE_JS,
    )
    if block:
        demo.block_thread()
    return result


def _say(text: str) -> None:
    print(f"… {text}", file=sys.stderr, flush=True)


def serve(settings: Settings, ingest_first: bool = True) -> int:
    """``assistant chat``: index sources/ if needed, load the model once, then serve the chat (blocks)."""
    t = Texts(settings.prompts)
    print(t("ui_serve_starting"), flush=True)
    assistant = Assistant(settings, progress=_say)
    try:
        if ingest_first:
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
            assistant.warm_up()
    except store.IndexBusy:
        print(t("index_busy"), file=sys.stderr, flush=True)
        return 2
    demo = build_app(assistant)
    host = settings.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    try:
        launch(demo, host, settings.port, block=False, max_file_mb=settings.max_file_mb)
    except OSError as exc:
        print(t("ui_serve_port_busy", host=host, port=settings.port, error=exc), file=sys.stderr, flush=True)
        return 1
    print(t("ui_serve_ready", url=f"http://{shown}:{settings.port}"), flush=True)
    print(t("ui_serve_stop"), flush=True)
    try:
        demo.block_thread()
    except KeyboardInterrupt:
        pass
    finally:
        demo.close()
    return 0

"""The page Gradio serves, made Arabic before any of Gradio's scripts run.

Gradio picks the language of its own strings (the upload box, buttons, the footer) from the browser, and
injects a ``head`` given to ``launch`` only after it has started, too late to matter. This ASGI middleware
puts a small script at the top of the served HTML instead: the browser language reads as Arabic, so Gradio
loads its Arabic strings whatever the visitor's browser is set to, and the page is ``lang="ar" dir="rtl"``
from the first paint.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]], Awaitable[None]]

ARABIC_SCRIPT = b"""<script>(function () {
  try {
    Object.defineProperty(Navigator.prototype, "language", {get: function () { return "ar"; }, configurable: true});
    Object.defineProperty(Navigator.prototype, "languages", {get: function () { return ["ar"]; }, configurable: true});
  } catch (e) {}
  document.documentElement.setAttribute("lang", "ar");
  document.documentElement.setAttribute("dir", "rtl");
})();</script>"""


def arabic_html(body: bytes) -> bytes:
    """The page with ``lang="ar" dir="rtl"`` on ``<html>`` and the script first in ``<head>``."""
    body = body.replace(b'lang="en"', b'lang="ar" dir="rtl"', 1)
    i = body.find(b"<head>")
    return body if i < 0 else body[: i + 6] + ARABIC_SCRIPT + body[i + 6:]


def _is_page(path: str) -> bool:
    """Whether a path can serve the app's page: not the API, not a file (an asset has an extension)."""
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return not path.startswith(("/gradio_api", "/assets", "/static", "/file")) and "." not in last


class ArabicPage:
    """ASGI middleware: every HTML page goes out through :func:`arabic_html` (uncompressed, length fixed)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or not _is_page(str(scope.get("path", ""))):
            await self.app(scope, receive, send)
            return
        # ask for an uncompressed page, so that it can be edited (scripts, styles, files and the API keep theirs)
        scope = {**scope, "headers": [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"accept-encoding"]}
        start: Message | None = None
        chunks: list[bytes] = []
        passthrough = False

        async def edit(message: Message) -> None:
            nonlocal start, passthrough
            if message["type"] == "http.response.start":
                headers = {k.lower(): v for k, v in message.get("headers", [])}
                passthrough = not headers.get(b"content-type", b"").startswith(b"text/html")
                if passthrough:
                    await send(message)
                else:
                    start = message
                return
            if passthrough or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = arabic_html(b"".join(chunks))
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, edit)

"""Retake the README's screenshot (docs/screenshot.png) from the real chat: default reader, the article indexed.

Run after `./test.sh` has installed the browser tools: `.venv/bin/python scripts/screenshot.py`. It starts
`assistant chat` on a free port of 127.0.0.1 in this project folder, asks the article's 181 question in a
1400 px wide Arabic-locale chromium, opens the answer's citation and saves the page.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshot.png"
QUESTION = "كم عدد الدول المشاركة في الدورة؟"
CHROMIUM = os.environ.get("ASSISTANT_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--no-first-run", "--disable-sync", "--disable-dev-shm-usage"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(url: str, seconds: float = 180) -> None:
    """Wait until the chat answers its page."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(1)
    raise SystemExit(f"the chat did not start at {url}")


def shoot(url: str, out: Path) -> None:
    """Ask, open the citation, save the full page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_context(locale="ar", viewport={"width": 1400, "height": 900}).new_page()
        page.goto(url)
        page.wait_for_selector("#question textarea:not([disabled])")
        page.fill("#question textarea", QUESTION)
        page.click("#send")
        answer = page.locator("#chat .answer:not(.pending)").first
        answer.wait_for(timeout=60_000)
        answer.locator(".answer-text a.cite").first.click()
        page.locator("#source-viewer .para.cited").wait_for()
        page.wait_for_timeout(500)
        page.screenshot(path=str(out), full_page=True)
        browser.close()


def main() -> None:
    """Start the chat, take the screenshot, stop the chat."""
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    chat = subprocess.Popen([str(ROOT / ".venv" / "bin" / "assistant"), "chat", "--port", str(port)], cwd=ROOT,
                            env=env)
    try:
        _wait(f"http://127.0.0.1:{port}/")
        shoot(f"http://127.0.0.1:{port}/", OUT)
    finally:
        chat.terminate()
        chat.wait(timeout=30)
    print(f"saved {OUT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""Shared fixtures: real Chroma stores in tmp_path, the hash embedding by default, the real model on demand."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TQDM_DISABLE", "1")

import fakes  # noqa: E402,F401  (registers the test backends: the "hash" embedder)

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


def plugin_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` for a subprocess that must know the test backends (``tests/`` on the path, ``fakes`` loaded)."""
    path = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH", "")]))
    return {**env, "PYTHONPATH": path, "ASSISTANT_PLUGINS": "fakes"}
ARTICLE = ROOT / "sources" / "interpol-marrakech-2025.md"
ARTICLE_ID = "interpol-marrakech-2025"


def make_settings(home: Path, embed_model: str = "hash", **overrides):  # type: ignore[no-untyped-def]
    """Settings rooted in ``home`` (its own sources/ and index/), prompts from the repository."""
    from assistant.config import load_settings

    (home / "sources").mkdir(parents=True, exist_ok=True)
    # the trained reader reads e5 vectors: with the hash embedding only the rule answerer makes sense
    if embed_model != "e5-small":
        overrides.setdefault("reader", "rules")
    return load_settings(home=home, prompts_dir=ROOT / "prompts", embed_model=embed_model,
                         cache_dir=model_cache(), **overrides)


_CACHE_DIR = os.environ.get("ASSISTANT_CACHE_DIR")  # read once: the autouse fixture below clears ASSISTANT_*


def model_cache() -> Path:
    """Where prepared models are cached across test runs (ASSISTANT_CACHE_DIR or the user cache)."""
    if _CACHE_DIR:
        return Path(_CACHE_DIR)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "arabic-assistant"


@pytest.fixture(autouse=True)
def _no_assistant_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts from the defaults: an ASSISTANT_* variable of the shell running pytest changes nothing."""
    for name in [k for k in os.environ if k.startswith("ASSISTANT_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty project home with a sources/ folder."""
    (tmp_path / "sources").mkdir()
    return tmp_path


@pytest.fixture
def settings(home: Path):  # type: ignore[no-untyped-def]
    """Settings on an empty home, hash embedding (fast, deterministic)."""
    return make_settings(home)


@pytest.fixture
def article_home(home: Path) -> Path:
    """A home whose sources/ holds the article."""
    shutil.copy(ARTICLE, home / "sources" / ARTICLE.name)
    return home


@pytest.fixture(scope="session")
def real_assistant(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The article indexed with the real default embedding model (built once per test session)."""
    from assistant.ingest import sync
    from assistant.service import Assistant

    home = tmp_path_factory.mktemp("real")
    (home / "sources").mkdir()
    shutil.copy(ARTICLE, home / "sources" / ARTICLE.name)
    s = make_settings(home, embed_model="e5-small")
    sync(s)
    return Assistant(s)


@pytest.fixture(scope="session")
def trained_assistant(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The article indexed with e5-small, answered by the shipped trained reader."""
    from assistant.ingest import sync
    from assistant.service import Assistant

    home = tmp_path_factory.mktemp("trained")
    (home / "sources").mkdir()
    shutil.copy(ARTICLE, home / "sources" / ARTICLE.name)
    s = make_settings(home, embed_model="e5-small", reader="trained")
    sync(s)
    return Assistant(s)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A real Chroma server (`chroma run`, installed with chromadb) on a free local port."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = Path(sys.executable).with_name("chroma")
    proc = subprocess.Popen([str(exe), "run", "--path", str(tmp_path_factory.mktemp("chroma-server")), "--host",
                             "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).read()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "the Chroma server did not start"
            time.sleep(0.2)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)

"""Settings: typed, layered (defaults < YAML < .env < environment < given), documented in the README."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.config import Settings, load_settings, settings_table
from conftest import ROOT


def test_the_readme_table_is_generated_from_the_settings() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert settings_table() in readme, "README settings table is stale: regenerate it from assistant.config.settings_table()"
    assert all(f.description for f in Settings.model_fields.values())


def test_layers_override_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "assistant.yaml").write_text("top_k: 3\nport: 7000\nreader: trained\n", encoding="utf-8")
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path))
    assert (load_settings().top_k, load_settings().port) == (3, 7000)
    monkeypatch.setenv("ASSISTANT_TOP_K", "4")
    s = load_settings(port=7001)
    assert (s.top_k, s.port, s.reader) == (4, 7001, "trained")
    assert s.home == tmp_path.resolve() and s.sources == tmp_path.resolve() / "sources"


def test_an_empty_variable_counts_as_unset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ASSISTANT_READER_PATH=` must not become Path("") (the current folder, where no reader is: the rules would
    answer, saying the reader is missing); the layers below decide."""
    (tmp_path / "assistant.yaml").write_text("top_k: 3\n", encoding="utf-8")
    monkeypatch.setenv("ASSISTANT_HOME", str(tmp_path))
    monkeypatch.setenv("ASSISTANT_READER_PATH", "")
    monkeypatch.setenv("ASSISTANT_TOP_K", "")
    s = load_settings()
    assert s.reader_path is None and s.top_k == 3


def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_TOP_K", "many")
    with pytest.raises(ValueError, match="top_k"):
        load_settings()
    monkeypatch.delenv("ASSISTANT_TOP_K")
    with pytest.raises(ValueError, match="answerer"):
        load_settings(answerer="oracle")
    with pytest.raises(ValueError, match="no_such_setting"):
        load_settings(no_such_setting=1)


def test_replace_validates_and_keeps_the_rest() -> None:
    s = load_settings(top_k=2)
    t = s.replace(port="8123", index_dir="/tmp/x")
    assert (t.port, t.top_k, t.index) == (8123, 2, Path("/tmp/x"))
    with pytest.raises(Exception):
        s.replace(port="not a port")

"""Gradio's per-call session state, built lazily: the same configuration as Gradio's own, computed only when read."""

from __future__ import annotations

import gradio as gr
import pytest

import assistant.web  # noqa: F401  (installs the change, as the chat does)
from assistant import gradio_costs


def _blocks() -> gr.Blocks:
    with gr.Blocks() as demo:
        box = gr.Textbox(value="سؤال", label="السؤال")
        gr.Chatbot(value=[{"role": "user", "content": "مرحبا"}])
        gr.HTML("<p>نص</p>")
        gr.State({"a": 1})
        box.submit(lambda q: q, box, box)
    return demo


def _gradio_own(blocks: gr.Blocks):  # type: ignore[no-untyped-def]
    from gradio.state_holder import SessionState

    state = object.__new__(SessionState)
    gradio_costs.ORIGINAL[0](state, blocks)
    return state


def test_the_session_configuration_is_gradios_own_when_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from gradio.blocks import BlocksConfig
    from gradio.state_holder import SessionState

    assert gradio_costs.install() and gradio_costs.ORIGINAL
    demo = _blocks()
    calls: list[int] = []
    real = BlocksConfig.config_for_block
    monkeypatch.setattr(BlocksConfig, "config_for_block", staticmethod(lambda *a, **k: calls.append(1) or real(*a, **k)))
    lazy = SessionState(demo)
    assert calls == []  # nothing rendered for a call that never reads it
    own = _gradio_own(demo)
    assert dict(lazy.config_values.items()) == own.config_values and calls
    assert [c for c in lazy.components] == [c for c in own.components]


def test_a_value_written_before_the_first_read_wins_as_in_gradio() -> None:
    from gradio.state_holder import SessionState

    demo = _blocks()
    box_id = next(k for k, b in demo.blocks.items() if isinstance(b, gr.Textbox))
    lazy, own = SessionState(demo), _gradio_own(demo)
    for state in (lazy, own):
        state[box_id] = gr.Textbox(value="جواب", label="السؤال")
        state._update_value_in_config(box_id, "جواب آخر")
    assert dict(lazy.config_values.items()) == own.config_values
    assert lazy.config_values[box_id]["props"]["value"] == "جواب آخر"

"""Arabic messages: nouns agree with their numbers through CLDR plural rules (Babel), prompts ship as data."""

from __future__ import annotations

import pytest

from assistant.messages import message, packaged_folder, plural_category


@pytest.mark.parametrize(("n", "category"), [(0, "zero"), (1, "one"), (2, "two"), (3, "few"), (10, "few"),
                                             (11, "many"), (99, "many"), (100, "other"), (102, "other"), (103, "few")])
def test_arabic_plural_categories(n: int, category: str) -> None:
    assert plural_category(n) == category


@pytest.mark.parametrize(("n", "text"), [(1, "مصدر واحد"), (2, "مصدران"), (5, "5 مصادر"), (14, "14 مصدرًا"), (100, "100 مصدر")])
def test_counts_agree_with_their_nouns(n: int, text: str) -> None:
    assert message("ui_sources_count", packaged_folder(), count=n).startswith(text)


def test_a_value_named_folder_is_a_value_not_the_prompts_folder() -> None:
    assert "/some/where" in message("no_sources", folder="/some/where")


def test_the_digits_setting_writes_interface_numbers_not_source_text() -> None:
    from assistant import cli
    from assistant.messages import use_digits
    from assistant.models import Answer, Citation

    ans = Answer(question="كم؟", text="من 181 دولة [1]", refused=False, citations=(
        Citation(n=1, source_id="s", title="المقال", paragraph=2, start=0, end=9, quote="من 181 دولة", page=12),))
    try:
        use_digits("arabic")
        assert message("ui_sources_count", packaged_folder(), count=14).startswith("١٤ مصدرًا")
        shown = cli.render_answer(ans)
        assert "من 181 دولة [١]" in shown and "الفقرة ٢" in shown and "ص ١٢" in shown and "«من 181 دولة»" in shown
    finally:
        use_digits("latin")
    assert "من 181 دولة [1]" in cli.render_answer(ans) and "ص 12" in cli.render_answer(ans)

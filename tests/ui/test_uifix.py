"""Leftovers of issue 12 on the real app: nothing cut at 80×24, the rule form reachable by Tab."""

from __future__ import annotations

import pytest
from rich.text import Text

from workbench.tui.app import make_app
from workbench.tui.screens.rule_form import RuleFormScreen
from workbench.tui.screens.save import SaveScreen


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_save_dialog_text_is_shown_whole(live, size, tmp_path, monkeypatch):
    config, engine = live
    monkeypatch.chdir(tmp_path)
    app = make_app(config, engine=engine)
    async with app.run_test(size=size) as pilot:
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SaveScreen)
        text = app.screen.query_one("#save-text")
        box = app.screen.query_one("#save-box")
        sentence = str(text.render())
        assert sentence.endswith("so it is never overwritten).")
        # The widget is as tall as the sentence wrapped to its width, and inside the box.
        lines = Text(sentence).wrap(app.console, text.size.width)
        assert text.size.height == len(lines) >= 1
        assert box.content_region.contains_region(text.region)


async def test_tab_from_the_first_field_reaches_save(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, RuleFormScreen)
        assert app.focused is form.query_one("#name")
        seen = []
        for _ in range(10):
            await pilot.press("tab")
            await pilot.pause()
            seen.append(app.focused.id if app.focused else None)
            if seen[-1] == "save":
                break
        assert seen[-1] == "save", f"tab order: {seen}"
        # No select was opened on the way (a compact Select's overlay would hold focus).
        assert app.screen is form
        await pilot.press("escape")
        await pilot.pause()

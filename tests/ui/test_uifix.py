"""Leftovers of issue 12 on the real app: nothing cut at 80×24, the rule form reachable by Tab."""

from __future__ import annotations

import pytest
from conftest import text_of
from origin import wait_for
from rich.text import Text
from textual.widgets import DataTable

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
        assert "enter: save · escape: cancel" in str(box.border_subtitle)


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


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_backend_state_is_never_cut(live, size):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=size) as pilot:
        await pilot.press("2")
        table = app.query_one("#pool-web", DataTable)
        await wait_for(lambda: table.row_count == 2)
        assert engine.control.set_enabled("web", "web-1", False).ok
        await wait_for(lambda: str(table.get_cell("web-1", "state")) == "disabled")
        await pilot.pause()
        keys = [c.key.value for c in table.ordered_columns]
        widths = {c.key.value: c.get_render_width(table) for c in table.ordered_columns}
        assert widths["state"] - 2 * table.cell_padding >= len("disabled")
        # The health check is the last column, so a long failure reason hides nothing.
        assert keys[-1] == "health"
        assert str(table.get_cell("web-2", "state")) == "up"
        assert str(table.get_cell("web-2", "weight")) == "2"


def test_failed_check_reason_drops_the_backend_address():
    from rich.style import Style

    from workbench.engine.snapshot import BackendView, HealthCheckView
    from workbench.tui.views.backends import health_text

    check = HealthCheckView(
        time=100.0, ok=False, detail="cannot connect to 127.0.0.1:9001: Connection refused"
    )
    b = BackendView("web", "web-1", "http://127.0.0.1:9001", 1, "down", last_check=check)
    styles = {"ok": Style(), "bad": Style(), "muted": Style()}
    assert str(health_text(b, 101.0, True, styles)) == (
        "fail 1.0s ago · cannot connect: Connection refused"
    )


INTERNAL_HINTS = (".py", "workbench.", "Traceback", " object at 0x")


async def test_rule_form_errors_name_fields_not_internals(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, RuleFormScreen)
        error = form.query_one("#error")
        form.query_one("#name").value = "bad name!"
        form.query_one("#when").value = "~u ("
        shown = []
        for action in ("block", "redirect", "set_header", "delay", "tag"):
            form.query_one("#action").value = action
            await pilot.pause()
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert app.screen is form, "a refused rule keeps the form open"
            shown.append(text_of(error))
        assert all(shown), shown
        # The form shows one rule: fields are named as the form names them, not rules[N].name.
        assert shown[0].startswith("name: ") and "rules[" not in shown[0], shown[0]
        for text in shown:
            assert not any(h in text for h in INTERNAL_HINTS), text


async def test_rule_form_hides_internal_paths_in_any_error(live):
    from workbench.engine.control import Result

    config, engine = live
    app = make_app(config, engine=engine)
    leak = (
        "rules[2].when: failed in /work/x/workbench/engine/rules/ruleset.py:88 "
        "(workbench.engine.rules.ruleset.RuleError)"
    )
    async with app.run_test(size=(80, 24)) as pilot:
        form = RuleFormScreen(lambda data: Result(False, leak, "when"))
        app.push_screen(form)
        await pilot.pause()
        form.query_one("#name").value = "ok-name"
        form.query_one("#when").value = "~all"
        await pilot.press("ctrl+s")
        await pilot.pause()
        text = text_of(form.query_one("#error"))
        assert text.startswith("when: failed in")
        assert not any(h in text for h in INTERNAL_HINTS), text


@pytest.mark.parametrize("theme_key", [(), ("ctrl+t",)])
async def test_header_title_and_current_tab_readable_in_every_theme(live, theme_key):
    from textual.color import Color

    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*theme_key)
        await pilot.pause()
        await pilot.pause()
        for widget_id, word in (("#header-status", "Proxy"), ("#header-tabs", "Traffic")):
            strip = app.query_one(widget_id).render_line(0)
            seg = next(s for s in strip if word in s.text)
            fg = Color.from_rich_color(seg.style.color)
            bg = Color.from_rich_color(seg.style.bgcolor)
            assert abs(fg.brightness - bg.brightness) > 0.5, (word, fg.hex, bg.hex)


async def test_rules_keep_their_hit_counter_on_screen_at_80x24(live):
    """A long action and expression are cut (e shows them whole); hits never leave the screen."""
    from workbench.config.model import RuleConfig

    config, engine = live
    long_rule = RuleConfig(
        name="tag-every-json-answer",
        when="~t application/json & ~u ^/api/v1/catalogue/items & ~m GET",
        phase="response",
        action="set_header",
        header="X-Workbench-Explanation",
        value="this answer was tagged by the workbench",
    )
    assert engine.control.add_rule(long_rule).ok
    app = make_app(config, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        table = app.view("rules").table

        def row_text() -> str:
            try:
                cells = table.get_row("tag-every-json-answer")
            except Exception:  # not drawn yet
                return ""
            return " ".join(str(c) for c in cells)

        await wait_for(lambda: "tag-every-json-answer" in row_text())
        shot = app.export_screenshot().replace("&#160;", " ")
        assert "hits" in shot, "the hits column is on screen"
        assert table.virtual_size.width <= table.size.width, "no column off to the right"
        assert "set_header" in row_text(), "the action is cut, not dropped"

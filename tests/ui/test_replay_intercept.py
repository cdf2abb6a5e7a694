"""Replay, edit-and-replay and intercept from the TUI, against a real engine and real origins."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from conftest import text_of
from origin import wait_for

from workbench.tui.actions import ACTIONS, action
from workbench.tui.app import make_app
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.detail import DetailScreen
from workbench.tui.screens.edit_request import EditRequestScreen, parse_header_lines
from workbench.tui.screens.intercept import InterceptScreen
from workbench.tui.views.traffic import cell_texts


async def _get(engine, path: str, **kw) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s:
        async with s.get(engine.listeners["reverse"] + path, **kw) as r:
            return r.status, await r.text()


async def _post(engine, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s:
        async with s.post(engine.listeners["reverse"] + path, data=b"x") as r:
            return r.status, await r.text()


async def test_r_replays_the_selected_row_and_links_it(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        assert (await _get(engine, "/echo?x=1"))[0] == 200
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.pause()
        orig = view.selected_record()
        await pilot.press("r")
        await wait_for(lambda: view.table.row_count == 2)
        await pilot.pause()
        new = view.table.rows[-1]
        assert new.replay_of == orig.id and new.status == 200 and new.path == "/echo?x=1"
        assert any(f"↻{orig.id}" in t for t in cell_texts(new, view._columns))
        notes = [n.message for n in app._notifications]
        assert f"replayed #{orig.id} as #{new.id}" in notes
        # And from the detail view.
        view.table.move_cursor(0)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("r")
        await wait_for(lambda: view.table.row_count == 3)
        assert view.table.rows[-1].replay_of == orig.id


async def test_the_origin_sees_the_replay(origins, engine_factory):
    from conftest import live_config

    web = await origins("web-1")
    config = live_config(web)
    engine = await engine_factory(config)
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        assert (await _get(engine, "/echo"))[0] == 200
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.pause()
        assert web[0].hits == 1
        await pilot.press("r")
        await wait_for(lambda: web[0].hits == 2)


async def test_e_edits_and_replays_errors_stay_in_the_form(origins, engine_factory):
    from conftest import live_config

    web = await origins("web-1")
    config = live_config(web)
    engine = await engine_factory(config)
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        assert (await _get(engine, "/echo"))[0] == 200
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, EditRequestScreen)
        # A bad header line and then a bad method: each an error in the form, no traceback.
        from textual.widgets import Input, TextArea

        headers = screen.query_one("#edit-headers", TextArea)
        headers.load_text(headers.text + "\nnot a header line")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen and "headers line" in screen.error
        headers.load_text(headers.text.replace("\nnot a header line", "\nX-Edited: yes"))
        screen.query_one("#edit-method", Input).value = "G T"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen and "method" in screen.error.lower()
        screen.query_one("#edit-method", Input).value = "POST"
        screen.query_one("#edit-body", TextArea).load_text("hello")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, EditRequestScreen)
        await wait_for(lambda: view.table.row_count == 2)
        new = view.table.rows[-1]
        assert new.method == "POST" and new.replay_of == view.table.rows[0].id
        assert ("X-Edited", "yes") in [tuple(h) for h in new.request_headers]
        assert web[0].hits == 2


async def test_i_holds_requests_e_edits_a_resumes_x_kills(origins, engine_factory):
    from conftest import live_config

    web = await origins("web-1")
    config = live_config(web)
    engine = await engine_factory(config)
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        await pilot.press("i")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, InterceptScreen)
        from textual.widgets import Input

        screen.query_one("#intercept-expr", Input).value = "~nosuch x"  # invalid: error in the form
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is screen and screen.error
        screen.query_one("#intercept-expr", Input).value = "~u /echo"
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, InterceptScreen)
        assert engine.hold.expression == "~u /echo"
        view._render_status()
        assert "intercept: ~u /echo" in text_of(view.query_one("#traffic-status"))

        # Edit a held request's headers, then it goes on: the origin sees the edit.
        first = asyncio.ensure_future(_get(engine, "/echo"))
        await wait_for(lambda: len(engine.control.held()) == 1)
        assert web[0].hits == 0
        view._render_status()
        assert "held 1" in text_of(view.query_one("#traffic-status"))
        await pilot.press("E")
        await pilot.pause()
        edit = app.screen
        assert isinstance(edit, EditRequestScreen)
        from textual.widgets import TextArea

        headers = edit.query_one("#edit-headers", TextArea)
        headers.load_text(headers.text + "\nX-Intercepted: edited")
        await pilot.press("ctrl+s")
        status, body = await asyncio.wait_for(first, 5)
        assert status == 200
        assert ["X-Intercepted", "edited"] in json.loads(body)["headers"]
        await wait_for(lambda: view.table.row_count >= 1)
        held_row = view.table.rows[-1]
        assert any("⏸" in t for t in cell_texts(held_row, view._columns)), "held marker"

        # Resume as it is.
        second = asyncio.ensure_future(_get(engine, "/echo?two"))
        await wait_for(lambda: len(engine.control.held()) == 1)
        await pilot.press("a")
        assert (await asyncio.wait_for(second, 5))[0] == 200
        assert web[0].hits == 2

        # Kill asks first; the client gets no answer and the origin nothing.
        # POST: aiohttp would silently retry a GET whose connection closed (and be held again).
        third = asyncio.ensure_future(_post(engine, "/echo?three"))
        await wait_for(lambda: len(engine.control.held()) == 1)
        await pilot.press("X")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        try:
            await asyncio.wait_for(third, 5)
            raise AssertionError("a killed request got an answer")
        except aiohttp.ClientError:
            pass
        assert web[0].hits == 2 and not engine.control.held()

        # Empty clears the filter.
        await pilot.press("i")
        await pilot.pause()
        app.screen.query_one("#intercept-expr", Input).value = ""
        await pilot.press("enter")
        await pilot.pause()
        assert not engine.hold.expression
        assert (await _get(engine, "/echo?four"))[0] == 200


def test_the_new_keys_are_in_the_table_and_do_not_collide():
    for aid, key in (
        ("traffic_replay", "r"),
        ("traffic_edit_replay", "e"),
        ("traffic_intercept", "i"),
        ("traffic_resume_held", "a"),
        ("traffic_kill_held", "X"),
        ("traffic_edit_held", "E"),
        ("detail_replay", "r"),
        ("detail_edit_replay", "e"),
    ):
        assert action(aid).keys == key
    assert action("traffic_kill_held").confirm
    # Traffic: no key of the view, the lists or the app twice (the detail screen's own q
    # deliberately shadows the app's quit; its keys are checked against its bindings below).
    for scopes in (("traffic", "list", "app"), ("detail",)):
        keys = [k for a in ACTIONS if a.scope in scopes for k in a.keys.split(",") if k]
        assert len(keys) == len(set(keys)), scopes
    detail_keys = [k for b in DetailScreen.BINDINGS for k in b.key.split(",")]
    assert len(detail_keys) == len(set(detail_keys))


def test_header_lines_parse_or_name_the_bad_line():
    assert parse_header_lines("A: 1\n\nB:two") == ([["A", "1"], ["B", "two"]], None)
    headers, error = parse_header_lines("A: 1\nnope")
    assert headers is None and "line 2" in error

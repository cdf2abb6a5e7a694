"""Replay, edit-and-replay and intercept from the TUI, against a real engine and real origins."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from conftest import live_config, text_of
from origin import wait_for

from workbench.tui.actions import ACTIONS, action
from workbench.tui.app import make_app
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.detail import DetailScreen
from workbench.tui.screens.edit_request import EditRequestScreen, parse_header_lines
from workbench.tui.screens.intercept import InterceptScreen
from workbench.tui.widgets.request_columns import cell_texts


@pytest.fixture
async def one_web(origins, engine_factory):
    """A real engine in front of one real origin, web-1: (its origins, the config, the engine)."""
    web = await origins("web-1")
    config = live_config(web)
    return web, config, await engine_factory(config)


async def _get(engine, path: str, **kw) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s:
        async with s.get(engine.listeners["reverse"] + path, **kw) as r:
            return r.status, await r.text()


async def _post(engine, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s:
        async with s.post(engine.listeners["reverse"] + path, data=b"x") as r:
            return r.status, await r.text()


async def _replay_one(app, pilot, engine, path: str):
    """Send one request, press ``r`` on its row and wait for the replay's row: (view, original)."""
    assert (await _get(engine, path))[0] == 200
    view = app.view("traffic")
    await wait_for(lambda: view.table.row_count == 1)
    await pilot.pause()
    orig = view.selected_record()
    await pilot.press("r")
    await wait_for(lambda: view.table.row_count == 2)
    await pilot.pause()
    return view, orig


async def test_r_replays_the_selected_row_and_links_it(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view, orig = await _replay_one(app, pilot, engine, "/echo?x=1")
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


async def test_the_origin_sees_the_replay(one_web):
    web, config, engine = one_web
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        assert (await _get(engine, "/echo"))[0] == 200
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.pause()
        assert web[0].hits == 1
        await pilot.press("r")
        await wait_for(lambda: web[0].hits == 2)


async def test_e_edits_and_replays_errors_stay_in_the_form(one_web):
    web, config, engine = one_web
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


async def test_i_holds_requests_e_edits_a_resumes_x_kills(one_web):
    web, config, engine = one_web
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
        # mitmproxy's console: a resumes the focused flow, A every flow, X kills, e edits.
        ("traffic_held_list", "H"),
        ("traffic_resume_all_held", "A"),
        ("held_list_resume", "a"),
        ("held_list_resume_all", "A"),
        ("held_list_kill", "X"),
        ("held_list_edit", "e"),
        ("held_resume", "a"),
        ("held_resume_all", "A"),
        ("held_kill", "X"),
        ("held_edit", "e"),
    ):
        assert action(aid).keys == key
    assert action("traffic_kill_held").confirm
    assert action("held_kill").confirm and action("held_list_kill").confirm
    # The classroom rule: navigation keys never do anything else, least of all destroy.
    from workbench.tui.actions import NAVIGATION_KEYS

    for a in ACTIONS:
        if a.scope != "list":
            assert not set(a.keys.split(",")) & NAVIGATION_KEYS, a.id
    # The held list and the held detail: no key twice (the held detail's own keys win over
    # the request detail's: e edits the held exchange instead of edit+replay).
    from workbench.tui.screens.held import HeldDetailScreen

    for scopes in (("held_list", "list"), ("held",)):
        keys = [k for a in ACTIONS if a.scope in scopes for k in a.keys.split(",") if k]
        assert len(keys) == len(set(keys)), scopes
    merged = HeldDetailScreen._merge_bindings().key_to_bindings
    assert [b.action for b in merged["e"]] == ["edit"]
    assert [b.action for b in merged["a"]] == ["resume"]
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


async def test_held_list_opens_one_edits_its_request_line_and_resumes_that_one(one_web):
    from textual.widgets import Input, TextArea

    from workbench.tui.screens.held import HeldDetailScreen, HeldListScreen

    web, config, engine = one_web
    assert engine.control.set_hold("~u /echo", "request", 30, "fail").ok
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        first = asyncio.ensure_future(_get(engine, "/echo?one"))
        await wait_for(lambda: len(engine.control.held()) == 1)
        second = asyncio.ensure_future(_post(engine, "/echo?two"))
        await wait_for(lambda: len(engine.control.held()) == 2)
        view._render_status()
        assert "H list" in text_of(view.query_one("#traffic-status"))
        # Help lists the held keys (from the one action table); the palette offers the list.
        sections = dict(app.help_sections())
        assert ("a", "Resume this held exchange (with its edits)") in sections[
            "Held exchange (detail)"
        ]
        assert any(k == "H" for k, _d in sections["Traffic view"])
        assert any(c.title == "Traffic: Held" for c in app.get_system_commands(app.screen))

        await pilot.press("H")
        await pilot.pause()
        listing = app.screen
        assert isinstance(listing, HeldListScreen) and len(listing.ids) == 2
        # j moves (navigation, as in every list); enter opens the second one, not the oldest.
        await pilot.press("j", "enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, HeldDetailScreen) and detail.section == "held"
        held_id = detail.held_id
        assert held_id == listing.ids[1]
        shown = text_of(detail.query_one("#detail-held"))
        assert "POST http://" in shown and "/echo?two" in shown and "then fail" in shown

        # r (replay) does nothing while held; e edits the request line and the headers.
        await pilot.press("r")
        await pilot.press("e")
        await pilot.pause()
        edit = app.screen
        assert isinstance(edit, EditRequestScreen)
        edit.query_one("#edit-url", Input).value = "http://elsewhere.test/echo"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is edit and "still goes to" in edit.error
        edit.query_one("#edit-url", Input).value = "/echo?edited"
        edit.query_one("#edit-method", Input).value = "PUT"
        headers = edit.query_one("#edit-headers", TextArea)
        headers.load_text(headers.text + "\nX-Held-Edit: yes")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is detail, "saving an edit does not resume"
        assert web[0].hits == 0
        shown = text_of(detail.query_one("#detail-held"))
        assert "PUT http://" in shown and "/echo?edited" in shown and "X-Held-Edit: yes" in shown
        assert "method POST → PUT" in shown

        # a resumes this one (the second); the oldest stays held.
        await pilot.press("a")
        status, body = await asyncio.wait_for(second, 5)
        echoed = json.loads(body)
        assert status == 200 and echoed["method"] == "PUT" and echoed["path"] == "/echo?edited"
        assert ["X-Held-Edit", "yes"] in echoed["headers"]
        assert [h["id"] for h in engine.control.held()] == [listing.ids[0]]
        await pilot.pause()
        assert app.screen is listing
        await wait_for(lambda: len(listing.ids) == 1)

        # A resumes every held exchange.
        await pilot.press("A")
        assert (await asyncio.wait_for(first, 5))[0] == 200
        assert not engine.control.held()
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is not listing


async def test_a_held_response_is_edited_in_its_detail_and_killed(one_web):
    from textual.widgets import Input

    from workbench.tui.screens.held import HeldDetailScreen, HeldListScreen

    web, config, engine = one_web
    assert engine.control.set_hold("~u /echo", "response").ok
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        pending = asyncio.ensure_future(_post(engine, "/echo?r"))
        await wait_for(lambda: len(engine.control.held()) == 1)
        await pilot.press("H")
        await pilot.pause()
        assert isinstance(app.screen, HeldListScreen)
        await pilot.press("enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, HeldDetailScreen)
        assert "status 200" in text_of(detail.query_one("#detail-held"))
        await pilot.press("e")
        await pilot.pause()
        edit = app.screen
        assert isinstance(edit, EditRequestScreen) and not edit.query("#edit-method")
        edit.query_one("#edit-status", Input).value = "99"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is edit and "200 to 599" in edit.error
        edit.query_one("#edit-status", Input).value = "418"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "status 418" in text_of(detail.query_one("#detail-held"))
        await pilot.press("X")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        try:
            await asyncio.wait_for(pending, 5)
            raise AssertionError("a killed exchange got an answer")
        except aiohttp.ClientError:
            pass
        assert not engine.control.held()


async def test_intercept_form_sets_timeout_and_on_timeout_with_messages(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        from textual.widgets import Input, Select

        await pilot.press("i")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, InterceptScreen)
        assert screen.query_one("#intercept-timeout", Input).value == "1m"
        assert screen.query_one("#intercept-on-timeout", Select).value == "resume"
        screen.query_one("#intercept-expr", Input).value = "~u /echo"
        for bad, words in (("soon", "not a duration"), ("0s", "more than 0s"), ("", "give")):
            screen.query_one("#intercept-timeout", Input).value = bad
            screen.action_apply()
            await pilot.pause()
            assert app.screen is screen and words in screen.error
            assert engine.hold.expression is None, "nothing changes on an error"
        screen.query_one("#intercept-timeout", Input).value = "1.5s"
        screen.query_one("#intercept-on-timeout", Select).value = "fail"
        screen.action_apply()
        await pilot.pause()
        assert not isinstance(app.screen, InterceptScreen)
        hold = engine.hold
        assert (hold.expression, hold.timeout, hold.on_timeout) == ("~u /echo", 1.5, "fail")
        # Unattended, it fails after 1.5 s: the client gets 504 with the reason.
        status, body = await _get(engine, "/echo")
        assert status == 504 and "hold.on_timeout: fail" in body
        # The form opens with the live values.
        await pilot.press("i")
        await pilot.pause()
        assert app.screen.query_one("#intercept-timeout", Input).value == "1.5s"
        assert app.screen.query_one("#intercept-on-timeout", Select).value == "fail"


async def test_at_80x24_held_exchanges_lead_the_status_and_the_editor_fits(one_web):
    web, config, engine = one_web
    assert engine.control.set_hold("~u /echo", "request").ok
    app = make_app(config, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.view("traffic")
        pending = asyncio.ensure_future(_post(engine, "/echo?small"))
        await wait_for(lambda: len(engine.control.held()) == 1)
        view._render_status()
        status = view.query_one("#traffic-status")
        assert text_of(status).startswith(" ⏸ held 1  H list"), "first, before it is cut"
        await pilot.press("E")
        await pilot.pause()
        edit = app.screen
        assert isinstance(edit, EditRequestScreen)
        for button in ("#save", "#cancel"):
            region = edit.query_one(button).region
            assert region.height and region.bottom <= 24, (button, region)
        await pilot.press("ctrl+s")
        assert (await asyncio.wait_for(pending, 5))[0] == 200


async def test_a_replays_detail_names_the_original(one_web):
    web, config, engine = one_web
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view, orig = await _replay_one(app, pilot, engine, "/echo?r=1")
        view.table.move_cursor(1)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        summary = text_of(app.screen.query_one("#detail-summary"))
        assert f"replay of #{orig.id}" in summary.split("\n")[1]

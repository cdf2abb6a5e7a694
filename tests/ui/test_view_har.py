"""``workbench view FILE.har``: the same Traffic list, filters and detail on a saved capture."""

from __future__ import annotations

import json

import aiohttp
from conftest import text_of
from harcheck import check_har
from origin import wait_for

from workbench.cli import view_app
from workbench.engine.observe.har import write_har
from workbench.tui.screens.detail import DetailScreen


async def test_a_capture_exported_from_a_live_engine_opens_read_only(live, tmp_path):
    config, engine = live
    url = engine.listeners["reverse"]
    async with aiohttp.ClientSession() as s:
        async with s.post(url + "/echo", json={"lamp": 1}) as r:
            await r.read()
        async with s.get(url + "/pixel.gif", headers={"Host": "tracker.test"}) as r:
            assert r.status == 403
        async with s.get(url + "/hello") as r:
            await r.read()
    await wait_for(lambda: engine.records.total == 3)
    first = engine.records.all_records()[0]
    assert engine.control.mark(first.id).ok
    path = write_har(engine.records.all_records(), tmp_path / "class.har")
    check_har(json.loads(path.read_text()))
    assert path.stat().st_mode & 0o777 == 0o600

    app = view_app(str(path))
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 3)
        assert [r.path for r in view.table.rows] == ["/echo", "/pixel.gif", "/hello"]
        assert "viewing" in text_of(app.query_one("#header-status"))
        assert "1 marked" in text_of(view.query_one("#traffic-status"))
        assert view.table.rows[0].marked
        # The display filter works on the capture as on live traffic.
        await pilot.press("slash", *"~c 403", "enter")
        await pilot.pause()
        assert [r.path for r in view.table.rows] == ["/pixel.gif"]
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "blocked" in text_of(app.screen.query_one("#detail-body")).lower()
        assert "block-tracker" in text_of(app.screen.query_one("#detail-trace"))
        await pilot.press("escape", "slash", "ctrl+u", "enter")
        await pilot.pause()
        await pilot.press("up", "up", "enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert json.loads(text_of(app.screen.query_one("#detail-request-body"))) == {"lamp": 1}
        await pilot.press("escape")
        # Every view opens on a capture (no proxies behind it) without an error.
        for key in "23456":
            await pilot.press(key)
            await pilot.pause()
        assert app._last_error is None
        # Changes are refused: there is nothing to change.
        assert not app.engine.control.set_weight("web", "web-1", 3).ok


async def test_a_capture_offers_no_replay_intercept_or_save(live, tmp_path):
    from workbench.tui.widgets.keybar import KeyBar

    config, engine = live
    async with aiohttp.ClientSession() as s:
        async with s.get(engine.listeners["reverse"] + "/hello") as r:
            await r.read()
    await wait_for(lambda: engine.records.total == 1)
    path = write_har(engine.records.all_records(), tmp_path / "one.har")
    app = view_app(str(path))
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.pause()
        bar = app.screen.query_one(KeyBar).render().plain
        assert "Filter" in bar
        for word in ("Replay", "Edit+replay", "Intercept", "Save"):
            assert word not in bar, f"{word} offered on a read-only capture: {bar!r}"
        await pilot.press("r", "i", "s", "H")
        await pilot.pause()
        assert app.screen is app.screen_stack[0] and not app._notifications
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        bar = app.screen.query_one(KeyBar).render().plain
        assert "Copy" in bar and "Replay" not in bar

"""The Traffic view's keys keep working while its list is empty: after a filter that matches
nothing, after clearing the list, and when rows come back (real engine, real origins)."""

from __future__ import annotations

import aiohttp
from origin import wait_for

from workbench.tui.app import make_app
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.widgets.filter_bar import FilterBar


async def _get(url: str) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(url) as r:
            assert r.status == 200
            await r.read()


async def test_f_changes_a_filter_that_matches_nothing(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        await _get(engine.listeners["reverse"] + "/echo")
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.press("f", *"~u nothing-here", "enter")
        await pilot.pause()
        assert view.filter_text == "~u nothing-here" and view.table.row_count == 0
        # The hint says "f to change it": f must open the filter again.
        await pilot.press("f")
        await pilot.pause()
        bar = view.query_one(FilterBar)
        assert bar.display, "f did nothing: the empty list left the view without focus"
        await pilot.press("ctrl+u", *"~u echo", "enter")
        await pilot.pause()
        assert view.table.row_count == 1 and view.table.has_focus


async def test_keys_work_when_rows_come_back_into_an_empty_filtered_list(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        await pilot.press("f", *"~u later", "enter")
        await pilot.pause()
        await _get(engine.listeners["reverse"] + "/later")
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.pause()
        await pilot.press("m")  # mark the row that arrived: the list has the keys again
        await pilot.pause()
        assert view.table.rows[0].marked


async def test_keys_work_after_clearing_the_list(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        await _get(engine.listeners["reverse"] + "/echo")
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.pause()
        await pilot.press("z")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert view.table.row_count == 0
        await pilot.press("slash")
        await pilot.pause()
        assert view.query_one(FilterBar).display, "/ did nothing after the list was cleared"

"""Traffic list: marks that outlive the list, ~marked, clearing, sorting, HAR export."""

from __future__ import annotations

import json

import aiohttp
from conftest import text_of
from harcheck import check_har
from origin import wait_for

from workbench.engine.observe.records import RecordLog, RequestRecord
from workbench.tui.app import make_app
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.views.traffic import TrafficView


async def send(url: str, paths: list[str]) -> None:
    async with aiohttp.ClientSession() as s:
        for path in paths:
            async with s.get(url + path) as r:
                await r.read()


async def test_a_marked_request_outlives_the_list_and_survives_a_clear(live, monkeypatch):
    monkeypatch.setattr(TrafficView, "MAX_ROWS", 5)
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        url = engine.listeners["reverse"]
        await send(url, ["/keep-me"])
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.press("m")
        rec = view.selected_record()
        assert rec.marked and engine.records.find(rec.id) is rec
        assert "1 marked" in text_of(view.query_one("#traffic-status"))
        await send(url, [f"/n{i}" for i in range(8)])
        await wait_for(lambda: view.cursor >= engine.records.total)
        await pilot.pause()
        assert "/keep-me" not in [r.path for r in view.table.rows]  # aged out of the list...
        await pilot.press("M")  # ...but the marked-only view still has it
        await pilot.pause()
        assert [r.path for r in view.table.rows] == ["/keep-me"]
        await pilot.press("M", "z")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        assert [r.path for r in view.table.rows] == ["/keep-me"]
        await send(url, ["/after"])
        await wait_for(lambda: view.table.row_count == 2)
        assert [r.path for r in view.table.rows] == ["/keep-me", "/after"]
        # Unmarking lets it go like any other request.
        view.table.move_cursor(0)
        await pilot.press("m")
        assert not rec.marked and not engine.records.marked


async def test_sort_by_a_column_and_reverse(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        await send(engine.listeners["reverse"], ["/b", "/c", "/a"])
        await wait_for(lambda: view.table.row_count == 3)
        view.set_sort("path")
        await pilot.pause()
        assert [r.path for r in view.table.rows] == ["/a", "/b", "/c"]
        await pilot.press("v")
        await pilot.pause()
        assert [r.path for r in view.table.rows] == ["/c", "/b", "/a"]
        assert "sorted by path ↑" in text_of(view.query_one("#traffic-status"))
        # New requests land in their sorted place.
        await send(engine.listeners["reverse"], ["/bb"])
        await wait_for(lambda: view.table.row_count == 4)
        assert [r.path for r in view.table.rows] == ["/c", "/bb", "/b", "/a"]
        # o offers every column; the first choice is arrival order again.
        await pilot.press("o")
        await pilot.pause()
        await pilot.press("home", "enter")
        await pilot.pause()
        assert view.sort_key is None


async def test_w_saves_the_requests_shown_as_har(live, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        await send(engine.listeners["reverse"], ["/x1", "/y", "/x2"])
        await wait_for(lambda: view.table.row_count == 3)
        await pilot.press("slash", *"~u /x", "enter", "w")
        await pilot.pause()
        assert view.last_export and view.last_export.startswith(str(tmp_path))
        doc = json.loads(open(view.last_export).read())
    entries = check_har(doc)
    assert [e["request"]["url"].rsplit("/", 1)[-1] for e in entries] == ["x1", "x2"]
    assert doc["log"]["comment"] == "filter: ~u /x"


def _rec(i: int) -> RequestRecord:
    return RequestRecord(i, 0.0, "127.0.0.1", "reverse", "GET", "http://h/", "h", f"/{i}")


def test_marked_records_survive_the_ring_and_are_bounded(monkeypatch):
    log = RecordLog(capacity=3, detail_capacity=2)
    first = _rec(1)
    log.append(first)
    assert log.set_marked(first, True) is None
    for i in range(2, 8):
        log.append(_rec(i))
    assert log.find(1) is first
    assert [r.id for r in log.all_records()] == [1, 5, 6, 7]
    monkeypatch.setattr("workbench.engine.observe.records.MAX_MARKS", 1)
    assert "at most 1 records can be marked" in (log.set_marked(log.find(7), True) or "")

"""The Traffic view against a real engine: rows, display filter, pause, follow, detail."""

from __future__ import annotations

import aiohttp
from conftest import FakeEngine, _rec, text_of
from origin import wait_for

from workbench.tui.app import make_app
from workbench.tui.screens.detail import DetailScreen
from workbench.tui.views.traffic import TrafficView
from workbench.tui.widgets.filter_bar import FilterBar
from workbench.tui.widgets.request_columns import cell_texts


async def get(url: str, n: int = 1) -> list[int]:
    statuses = []
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            async with session.get(url) as resp:
                await resp.read()
                statuses.append(resp.status)
    return statuses


def paths(view: TrafficView) -> list[str]:
    return [rec.path for rec in view.table.rows]


async def test_requests_sent_through_the_proxy_appear_as_rows(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        assert await get(engine.listeners["reverse"] + "/echo?n=1", 3) == [200] * 3
        await wait_for(lambda: view.table.row_count == 3)
        await pilot.pause()
        assert paths(view) == ["/echo?n=1"] * 3
        # Following: the cursor sits on the newest row.
        assert view.table.cursor_row == 2


async def test_display_filter_hides_rows_but_never_touches_traffic(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        await pilot.press("f")
        await pilot.press(*"~u keep")
        await pilot.press("enter")
        assert view.filter_text == "~u keep"
        base = engine.records.total
        url = engine.listeners["reverse"]
        assert await get(url + "/echo?hidden", 4) == [200] * 4
        assert await get(url + "/keep-me", 2) == [200] * 2
        # The engine recorded (and served) everything; the view shows only what matches.
        assert engine.records.total == base + 6
        await wait_for(lambda: view.table.row_count == 2 and view.cursor >= base + 6)
        assert paths(view) == ["/keep-me", "/keep-me"]
        # Clearing the filter brings the hidden rows back: they were hidden, not dropped.
        await pilot.press("slash", "ctrl+u", "enter")
        await pilot.pause()
        assert view.display_filter is None
        assert view.table.row_count == 6


async def test_a_bad_filter_shows_its_column_and_changes_nothing(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.view("traffic")
        await get(engine.listeners["reverse"] + "/x", 2)
        await wait_for(lambda: view.table.row_count == 2)
        await pilot.press("slash", *"~c 20(")
        bar = view.query_one(FilterBar)
        error = text_of(bar.query_one("#filter-error"))
        assert "col 4" in error
        assert bar.has_class("-invalid")
        await pilot.press("enter")
        await pilot.pause()
        assert bar.display, "a broken expression keeps the bar open"
        assert view.display_filter is None
        assert view.table.row_count == 2
        await pilot.press("escape")
        await pilot.pause()
        assert not bar.display
        assert view.table.has_focus


async def test_pause_stops_new_rows_until_resumed(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        url = engine.listeners["reverse"]
        await get(url + "/before")
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.press("space")
        assert view.paused
        await get(url + "/during", 3)
        # Wait until a tick has seen the new records in the snapshot while paused.
        await wait_for(lambda: view._pending_total >= engine.records.total)
        await pilot.pause()
        assert view.table.row_count == 1
        assert "3 new waiting" in text_of(view.query_one("#traffic-status"))
        await pilot.press("space")
        await pilot.pause()
        assert paths(view) == ["/before", "/during", "/during", "/during"]


async def test_enter_opens_the_detail_with_trace_and_escape_closes(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        await get(engine.listeners["reverse"] + "/echo?detail=1")
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        trace = text_of(app.screen.query_one("#detail-trace"))
        assert "balancer" in trace and "upstream" in trace
        await app.workers.wait_for_complete()
        await pilot.pause()
        # The echo origin's JSON body, pretty-printed by the worker.
        assert '"path": "/echo?detail=1"' in text_of(app.screen.query_one("#detail-body"))
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, DetailScreen)


async def test_follow_off_keeps_the_cursor_where_the_user_left_it(fake_engine):
    app = make_app(fake_engine.config, engine=fake_engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 8)
        await pilot.press("F")
        assert not view.follow
        await pilot.press("up", "up")
        await pilot.pause()
        assert view.table.cursor_row == 5
        fake_engine.records.append(_rec(100, path="/new"))
        await wait_for(lambda: view.table.row_count == 9)
        assert view.table.cursor_row == 5
        await pilot.press("F")
        assert view.follow
        assert view.table.cursor_row == 8


async def test_moving_up_stops_following_and_end_resumes(fake_engine):
    app = make_app(fake_engine.config, engine=fake_engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 8)
        await pilot.press("home")
        await pilot.pause()
        assert not view.follow and view.table.cursor_row == 0
        fake_engine.records.append(_rec(100, path="/new"))
        await wait_for(lambda: view.table.row_count == 9)
        assert view.table.cursor_row == 0
        await pilot.press("end")
        await pilot.pause()
        assert view.follow and view.table.cursor_row == 8


async def test_records_that_aged_out_of_the_history_are_explained_in_plain_words():
    engine = FakeEngine([_rec(i, path=f"/{i}") for i in range(1, 151)])  # ring keeps 100
    app = make_app(engine.config, engine=engine)
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 100)
        await pilot.pause()
        assert view.dropped == 50
        status = text_of(view.query_one("#traffic-status"))
        assert "50 older records are no longer in the history" in status
        assert "(the newest 100 are kept)" in status
        assert "dropped" not in status, "students read 'dropped' as 'the proxy dropped requests'"


async def test_at_80_columns_the_aged_out_note_is_not_cut():
    """Minutes into a class the history is full; at 80 columns the status line is cut on the
    right, so the plain-words note must come before the rest."""
    engine = FakeEngine([_rec(i, path=f"/{i}") for i in range(1, 151)])  # ring keeps 100
    app = make_app(engine.config, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 100)
        await pilot.pause()
        status = view.query_one("#traffic-status")
        text = text_of(status)
        note = "50 older records are no longer in the history"
        assert text.index(note) + len(note) <= status.size.width, text
        assert "in the order they finished" in text


async def test_the_table_stays_bounded_and_keeps_the_newest(monkeypatch):
    monkeypatch.setattr(TrafficView, "MAX_ROWS", 20)
    monkeypatch.setattr(TrafficView, "DRAIN_LIMIT", 10)
    engine = FakeEngine([])
    app = make_app(engine.config, engine=engine)
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.view("traffic")
        for i in range(1, 61):
            engine.records.append(_rec(i, path=f"/{i}"))
            if i % 10 == 0:
                await wait_for(lambda i=i: view.cursor == i)
                assert view.table.row_count <= 20
        await pilot.pause()
        assert paths(view)[-1] == "/60"
        assert view.dropped == 0


async def test_j_k_and_page_keys_move_the_selection_and_enter_opens_it(fake_engine):
    app = make_app(fake_engine.config, engine=fake_engine)
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 8)
        await pilot.press("k", "k")
        assert not view.follow, "moving up leaves the newest row"
        assert view.table.cursor_row == 5
        await pilot.press("j")
        assert view.table.cursor_row == 6
        await pilot.press("pageup")
        assert view.table.cursor_row == 0
        await pilot.press("pagedown")
        assert view.table.cursor_row == 7
        await pilot.press("k", "enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.record is view.table.rows[6]


async def test_rows_falling_off_the_top_keep_the_same_request_selected(monkeypatch, fake_engine):
    monkeypatch.setattr(TrafficView, "MAX_ROWS", 10)
    app = make_app(fake_engine.config, engine=fake_engine)
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 8)
        await pilot.press("k", "k")
        chosen = view.selected_record()
        for i in range(5):
            fake_engine.records.append(_rec(100 + i, path=f"/new/{i}"))
        await wait_for(lambda: view.cursor == fake_engine.records.total)
        await pilot.pause()
        assert view.table.row_count == 10
        assert paths(view)[-1] == "/new/4"
        assert view.selected_record() is chosen
        assert view.table.cursor_row == 2


async def test_new_rows_are_rendered_once_and_old_rows_come_from_the_cache(
    monkeypatch, fake_engine
):
    """The frame after a batch renders the new rows (and the row the cursor left), nothing else."""
    import workbench.tui.widgets.request_table as request_table

    app = make_app(fake_engine.config, engine=fake_engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 8)
        await pilot.pause()
        left = view.selected_record().path  # the cursor moves off it: drawn again, unselected
        rendered: list[str] = []
        original = request_table.render_row

        def counting(rec, *args):
            rendered.append(rec.path)
            return original(rec, *args)

        monkeypatch.setattr(request_table, "render_row", counting)
        for i in range(3):
            fake_engine.records.append(_rec(200 + i, path=f"/batch/{i}"))
        await wait_for(lambda: view.table.row_count == 11)
        await pilot.pause()
        assert sorted(rendered) == sorted([left, "/batch/0", "/batch/1", "/batch/2"])


async def test_coming_back_from_another_view_leaves_no_gap(live):
    """Requests made while another view is shown all appear when the user comes back."""
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.view("traffic")
        await get(engine.listeners["reverse"] + "/before")
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.press("2")
        await pilot.pause()
        await get(engine.listeners["reverse"] + "/away", n=30)
        await pilot.press("1")
        await wait_for(lambda: view.table.row_count == 31)
        assert paths(view) == ["/before"] + ["/away"] * 30
        assert view.aged_out == 0


async def test_a_selected_request_that_leaves_the_history_is_announced(monkeypatch, fake_engine):
    monkeypatch.setattr(TrafficView, "MAX_ROWS", 10)
    app = make_app(fake_engine.config, engine=fake_engine)
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 8)
        await pilot.press("g")  # the oldest request, follow off
        chosen = view.selected_record()
        assert chosen.id == 1 and not view.follow
        for i in range(5):
            fake_engine.records.append(_rec(100 + i, path=f"/new/{i}"))
        await wait_for(lambda: view.cursor == fake_engine.records.total)
        await pilot.pause()
        assert view.selection_gone == 1
        assert "request #1 left the history" in text_of(view.query_one("#traffic-status"))
        await pilot.press("j")
        await pilot.pause()
        assert view.selection_gone is None, "moving the cursor acknowledges it"


async def test_keys_typed_in_a_burst_after_slash_go_into_the_filter(fake_engine):
    from textual import events

    app = make_app(fake_engine.config, engine=fake_engine)
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 8)
        # Posted together, as a fast typist's keys arrive: nothing runs in between.
        for key, char in [("slash", "/"), ("tilde", "~"), ("c", "c"), ("space", " ")] + [
            ("4", "4"),
            ("x", "x"),
            ("x", "x"),
        ]:
            app.post_message(events.Key(key, char))
        await pilot.pause()
        await pilot.pause()
        bar = view.query_one(FilterBar)
        assert bar.input.value == "~c 4xx"
        assert not view.paused, "the space went into the filter, not to the list"


async def test_an_empty_list_shows_the_curl_commands_for_the_running_listeners():
    engine = FakeEngine([])
    app = make_app(engine.config, engine=engine)
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        view = app.view("traffic")
        hint = view.query_one("#traffic-empty")
        await wait_for(lambda: hint.display and "curl" in text_of(hint))
        text = text_of(hint)
        assert "curl http://127.0.0.1:8080/" in text
        assert "curl -x http://127.0.0.1:8888 http://127.0.0.1:8080/" in text


async def test_rows_are_in_completion_order_and_the_column_says_finished(fake_engine):
    app = make_app(fake_engine.config, engine=fake_engine)
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 8)
        await pilot.pause()
        assert text_of(view.query_one("#traffic-header")).split()[0] == "finished"
        assert "in the order they finished" in text_of(view.query_one("#traffic-status"))


async def test_at_80x24_proxy_status_backend_and_cache_are_whole():
    """The columns a student reads stay whole; the host column (the proxy's own address in a
    classroom) gives way first; a forward origin keeps host and port; a block names its rule."""
    from conftest import fixed_records

    extra = [
        _rec(
            9,
            proxy="forward",
            host="127.0.0.1",
            url="http://127.0.0.1:39641/echo",
            path="/echo",
            status=200,
            backend="127.0.0.1:39641",
            cache="uncacheable",
        ),
        _rec(10, path="/etag", status=200, backend="web-2", cache="revalidated"),
    ]
    records = fixed_records() + extra
    engine = FakeEngine(records)
    app = make_app(engine.config, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == len(records))
        await pilot.pause()
        keys = [key for key, _w in view._columns]
        assert {"proxy", "method", "path", "status", "ms", "backend", "cache"} <= set(keys)
        assert "host" not in keys and "client" not in keys
        header = view.query_one("#traffic-header")
        assert len(text_of(header).rstrip()) <= 80
        for rec in records:
            texts = (c.strip() for c in cell_texts(rec, view._columns))
            cells = dict(zip(keys, texts, strict=True))
            assert "…" not in cells["backend"] + cells["cache"] + cells["status"] + cells["proxy"]
            assert cells["cache"] == (rec.cache or "")
            if rec.backend:
                assert cells["backend"] == rec.backend
            elif rec.rule:
                assert cells["backend"] == f"⊘ {rec.rule}"
        by_id = {rec.id: rec for rec in records}
        tunnel = dict(zip(keys, cell_texts(by_id[6], view._columns), strict=True))
        assert tunnel["path"].strip() == "secure.test:443", "a tunnel shows what it asked for"

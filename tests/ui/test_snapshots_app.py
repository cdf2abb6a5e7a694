"""SVG snapshots of the Traffic view, the request detail and help, from fixed records.

Deterministic: a fake engine with fixed records and a fixed snapshot, times rendered in UTC, fixed
terminal sizes, no live ports. Regenerate with ``pytest tests/ui/test_snapshots_app.py
--snapshot-update`` and look at the SVGs before committing them.
"""

from __future__ import annotations

from conftest import FakeEngine
from origin import wait_for

from workbench.tui.app import VIEW_SPECS, load_view_class, make_app
from workbench.tui.views.traffic import TrafficView


def fake_app():
    engine = FakeEngine()
    return make_app(engine.config, engine=engine)


async def _loaded(pilot) -> None:
    view = pilot.app.view("traffic")
    await wait_for(lambda: view.table.row_count == 8)
    await pilot.pause()


async def _open_detail(pilot, row: int) -> None:
    await _loaded(pilot)
    await pilot.press("F")  # follow off so the next tick leaves the cursor where we put it
    pilot.app.view("traffic").table.move_cursor(row)
    await pilot.press("enter")
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_traffic_view_wide(snap_compare):
    assert snap_compare(fake_app(), terminal_size=(160, 45), run_before=_loaded)


def test_traffic_view_small(snap_compare):
    assert snap_compare(fake_app(), terminal_size=(80, 24), run_before=_loaded)


def test_traffic_view_with_display_filter(snap_compare):
    async def run_before(pilot) -> None:
        await _loaded(pilot)
        await pilot.press("slash", *"~c 4xx | ~e", "enter")
        await pilot.pause()

    assert snap_compare(fake_app(), terminal_size=(120, 30), run_before=run_before)


def test_detail_shows_header_changes_timing_trace_and_body(snap_compare):
    async def run_before(pilot) -> None:
        await _open_detail(pilot, 0)

    assert snap_compare(fake_app(), terminal_size=(160, 45), run_before=run_before)


def test_detail_response_section_with_a_search(snap_compare):
    async def run_before(pilot) -> None:
        await _open_detail(pilot, 0)
        await pilot.press("3", "slash", *"name", "enter", "n")
        await pilot.pause()

    assert snap_compare(fake_app(), terminal_size=(120, 30), run_before=run_before)


def test_detail_binary_image_body_cut_at_the_cap(snap_compare):
    async def run_before(pilot) -> None:
        await _open_detail(pilot, 6)
        await pilot.press("3")
        await pilot.pause()

    assert snap_compare(fake_app(), terminal_size=(100, 30), run_before=run_before)


def test_detail_of_a_tunnel_explains_what_the_proxy_cannot_see(snap_compare):
    async def run_before(pilot) -> None:
        await _open_detail(pilot, 5)

    assert snap_compare(fake_app(), terminal_size=(100, 30), run_before=run_before)


def _help_app():
    """The fixed app for the help screen's pictures. The other views' keys belong to their own
    tests; here they are placeholders, so these pictures change only when the help screen or the
    global/Traffic keys change."""
    app = fake_app()
    app.view_classes = [
        (key, TrafficView if view_id == "traffic" else load_view_class(view_id, title, "", ""))
        for key, view_id, title, _m, _c in VIEW_SPECS
    ]
    return app


async def _open_help(pilot) -> None:
    await _loaded(pilot)
    await pilot.press("question_mark")
    await pilot.pause()


def test_help_screen_small(snap_compare):
    assert snap_compare(_help_app(), terminal_size=(80, 24), run_before=_open_help)


def test_detail_small(snap_compare):
    async def run_before(pilot) -> None:
        await _open_detail(pilot, 0)

    assert snap_compare(fake_app(), terminal_size=(80, 24), run_before=run_before)


def test_help_screen_large(snap_compare):
    assert snap_compare(_help_app(), terminal_size=(160, 45), run_before=_open_help)

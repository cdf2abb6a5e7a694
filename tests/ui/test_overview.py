"""The Overview diagram in the real app against the real classroom, at 80×24 and 160×45."""

from __future__ import annotations

import pytest
from origin import wait_for

from workbench.demo.classroom import classroom_config
from workbench.tui.app import make_app
from workbench.tui.views.overview import OverviewView
from workbench.tui.widgets.diagram import LIT, SystemDiagram


def screen_text(app) -> str:
    return app.export_screenshot().replace("&#160;", " ")


def diagram(app):
    return app.query_one("#views > #overview", OverviewView).query_one(SystemDiagram)


def lit_text(app) -> str:
    content = diagram(app).content
    return " ".join(
        content.plain[s.start : s.end].strip() for s in content.spans if str(s.style) == LIT
    )


@pytest.mark.parametrize(("size", "compact"), [((80, 24), True), ((160, 45), False)])
async def test_the_diagram_shows_the_whole_system_and_follows_a_request(
    busy_classroom, size, compact
):
    engine = busy_classroom
    app = make_app(classroom_config(), engine=engine)
    async with app.run_test(size=size) as pilot:
        await pilot.press("5")
        view = app.query_one("#views > #overview", OverviewView)
        await wait_for(lambda: engine.records.total >= 30, timeout=15)
        words = ("FORWARD :", "REVERSE :", "CACHE", "api-1", "api-2", "web-1", "web-3", "% hits")
        # Drawn from a snapshot taken after those requests: every node is there.
        await wait_for(
            lambda: view._cursor >= 30 and all(w in diagram(app).content.plain for w in words),
            timeout=10,
        )
        assert view.compact is compact
        assert "/s" in diagram(app).content.plain
        # Everything of the diagram is on screen, not cut off (once the screen shows the update).
        await wait_for(
            lambda: all(w in screen_text(app) for w in ("web-3", "api-1", "FORWARD")),
            timeout=10,
            interval=0.05,
        )

        # Follow the newest request: its path lights up and the list holds still.
        await pilot.press("j")
        await pilot.pause()
        followed = view.followed
        assert followed is not None
        lit = lit_text(app)
        assert f"{followed.proxy.upper()} :" in lit
        if followed.proxy == "reverse" and followed.backend and followed.cache != "hit":
            assert followed.backend in lit
        ids = list(view._shown_ids)
        # The view has taken ten newer requests (it drains while following)...
        await wait_for(lambda: view._cursor >= followed.id + 10, timeout=10)
        assert view._shown_ids == ids, "...and the list holds still"
        await pilot.press("j")
        await pilot.pause()
        assert view.followed is not None and view.followed.id == ids[1]
        await pilot.press("escape")
        await wait_for(lambda: view.followed is None and lit_text(app) == "", timeout=5)


async def test_a_blocked_request_stops_at_the_proxy(busy_classroom):
    engine = busy_classroom
    app = make_app(classroom_config(), engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        await pilot.press("5")
        view = app.query_one("#views > #overview", OverviewView)
        # The demo asks for tracker pixels through the forward proxy; block-tracker stops them.
        await wait_for(lambda: "stopped here" in diagram(app).content.plain, timeout=20)
        # Freeze the list by following, then walk down to a blocked request in it.
        blocked = None
        for _attempt in range(40):
            await pilot.press("j")
            await wait_for(lambda: view.followed is not None, timeout=5)
            # What the frozen list shows (the view keeps taking records behind it).
            shown = list(view._shown)
            blocked = next(
                (i for i, rec in enumerate(shown) if rec.rule == "block-tracker"),
                None,
            )
            if blocked is not None:
                break
            await pilot.press("escape")  # none in this batch: let the list run, try again
            newest = shown[0].id
            await wait_for(lambda n=newest: view._shown_ids[:1] != [n], timeout=10)
        assert blocked is not None, "no blocked request among the recent ones"
        for _ in range(blocked):
            await pilot.press("j")
        await wait_for(lambda: view.followed is shown[blocked], timeout=5)
        assert view.followed.rule == "block-tracker"
        lit = lit_text(app)
        assert "stopped here" in lit and "FORWARD" in lit
        assert "127.0.0.1:" not in lit  # no origin was reached

"""The Charts view in the real app against the real classroom: five minutes of per-second data."""

from __future__ import annotations

from dataclasses import replace

import pytest
from origin import wait_for

from workbench.config.model import Address
from workbench.demo.classroom import classroom_config
from workbench.runtime import Runtime
from workbench.tui.app import make_app
from workbench.tui.views.charts import CHARTS, ChartsView


@pytest.fixture
async def classroom():
    cfg = classroom_config()
    cfg = replace(
        cfg,
        admin=None,
        reverse=replace(cfg.reverse, listen=Address("127.0.0.1", 0)),
        forward=replace(cfg.forward, listen=Address("127.0.0.1", 0)),
    )
    rt = Runtime(cfg)
    await rt.start()
    try:
        yield rt.engine
    finally:
        await rt.stop(grace=1.0)


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_charts_show_the_last_minutes_with_axes(classroom, size):
    engine = classroom
    app = make_app(classroom_config(), engine=engine)
    async with app.run_test(size=size) as pilot:
        await pilot.press("7")
        await pilot.pause()
        assert app.query_one("#views").current == "charts"
        view = app.query_one("#views > #charts", ChartsView)
        # The sweeper samples once a second: wait for a few seconds of traffic.
        await wait_for(
            lambda: sum(view.history()["proxies"].get("reverse", {}).get("rate", [])) >= 10,
            timeout=15,
        )
        view.redraw()
        data = view.history()
        assert set(data["proxies"]) == {"reverse", "forward"}
        assert {"web-1", "web-2", "web-3", "api-1", "api-2"} <= set(data["backends"])

        def shot() -> str:
            return app.export_screenshot().replace("&#160;", " ")

        await wait_for(
            lambda: "Requests/s per proxy" in shot() and "seconds ago" in shot(), interval=0.05
        )
        if size == (160, 45):
            # Every chart on one screen, each with its own title.
            text = shot()
            for _key, title in CHARTS:
                assert title.split(" ")[0] in text

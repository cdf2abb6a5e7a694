"""The Charts view in the real app against the real classroom: five minutes of per-second data."""

from __future__ import annotations

import pytest
from origin import wait_for

from workbench.demo.classroom import classroom_config
from workbench.tui.app import make_app
from workbench.tui.views.charts import CHARTS, ChartsView


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_charts_show_the_last_minutes_with_axes(busy_classroom, size):
    engine = busy_classroom
    app = make_app(classroom_config(), engine=engine)
    async with app.run_test(size=size) as pilot:
        await pilot.press("7")
        await pilot.pause()
        assert app.query_one("#views").current == "charts"
        view = app.query_one("#views > #charts", ChartsView)
        # The sweeper samples once a second: wait for a few seconds of traffic.
        # Every proxy and backend has had a request (under load some take longer to).
        backends = {"web-1", "web-2", "web-3", "api-1", "api-2"}

        def enough() -> bool:
            data = view.history()
            return (
                sum(data["proxies"].get("reverse", {}).get("rate", [])) >= 10
                and set(data["proxies"]) == {"reverse", "forward"}
                and backends <= set(data["backends"])
            )

        await wait_for(enough, timeout=20)
        view.redraw()

        def shot() -> str:
            return app.export_screenshot().replace("&#160;", " ")

        await wait_for(
            lambda: "Requests/s per proxy" in shot() and "seconds ago" in shot(), interval=0.05
        )
        if size == (160, 45):
            # Every chart on one screen, each with its own title.
            words = [title.split(" ")[0] for _key, title in CHARTS]
            await wait_for(lambda: all(w in shot() for w in words), interval=0.05)

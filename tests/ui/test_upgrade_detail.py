"""An upgraded (WebSocket) record in the Traffic view's detail: protocol, counts, previews."""

from __future__ import annotations

from conftest import FakeEngine, _rec, text_of
from origin import wait_for

from workbench.tui.app import make_app
from workbench.tui.screens.detail import DetailScreen


async def test_websocket_record_shows_messages_each_way_and_previews():
    rec = _rec(
        1,
        path="/ws",
        status=101,
        upgrade="websocket",
        bytes_in=1234,
        bytes_out=5678,
        messages_in=3,
        messages_out=4,
        message_previews=[("→", "hello"), ("←", "echo: hello")],
        t_total=2.5,
        trace=[("upgrade", "→ websocket", "101 Switching Protocols: relaying both ways")],
    )
    engine = FakeEngine([rec])
    app = make_app(engine.config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        text = text_of(app.screen.query_one("#detail-upgrade"))
        assert "upgrade → websocket" in text
        assert "client → server 3   server → client 4" in text
        assert "client → server 1,234   server → client 5,678" in text
        assert "→ hello" in text and "← echo: hello" in text

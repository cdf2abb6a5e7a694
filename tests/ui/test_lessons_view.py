"""The Lessons view against the real classroom: following a lesson's steps makes its check pass.

The classroom (built-in backends, both proxies) runs on ephemeral ports through the same Runtime
``workbench`` uses. The view is mounted in a small host app that feeds it snapshots only while it
is visible, as the real app does, so a lesson done from another view must be caught by the view's
own timer.
"""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from origin import wait_for
from rich.console import Console
from textual.app import App, ComposeResult
from textual.widgets import OptionList, Static

from workbench.config.model import Address
from workbench.demo.classroom import classroom_config
from workbench.runtime import Runtime
from workbench.tui.views.lessons import LessonsView


@pytest.fixture
async def classroom():
    """The classroom runtime on free ports, with the demo traffic stopped (we send our own)."""
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
        assert rt.engine.control.set_traffic(False).ok
        traffic = rt.demo.traffic
        await wait_for(lambda: not traffic.running and traffic.in_flight == 0, timeout=5)
        yield rt.engine
    finally:
        await rt.stop(grace=1.0)


class Host(App[None]):
    """Mounts the Lessons view and refreshes it while it is displayed, like the workbench app."""

    def __init__(self, engine: Any) -> None:
        super().__init__()
        self.engine = engine
        self.view = LessonsView(engine, id="lessons")

    def compose(self) -> ComposeResult:
        yield self.view

    def on_mount(self) -> None:
        self.view.focus_default()
        self.set_interval(0.2, self.tick)

    def tick(self) -> None:
        if self.view.display:
            self.view.update_view(self.engine.snapshot())


def check_text(app: Host) -> str:
    return str(app.view.query_one("#lesson-check", Static).content)


def body_text(app: Host) -> str:
    """The lesson text as plain lines (wide enough that nothing wraps)."""
    console = Console(width=400, record=True, file=io.StringIO())
    console.print(app.view.query_one("#lesson-text", Static).content)
    return console.export_text()


def notifications(app: Host) -> list[str]:
    return [n.message for n in app._notifications]


async def get_many(url: str, n: int) -> list[tuple[int, str]]:
    out = []
    async with aiohttp.ClientSession() as s:
        for _ in range(n):
            async with s.get(url) as r:
                await r.read()
                out.append((r.status, r.headers.get("X-Backend", "")))
    return out


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_draining_web_2_completes_the_balancing_lesson(classroom, size):
    engine = classroom
    app = Host(engine)
    async with app.run_test(size=size) as pilot:
        await pilot.press("j", "j", "j")
        assert app.view.selected.id == "balancing"
        assert "Press enter to start" in check_text(app)
        await pilot.press("enter")
        assert app.view.tracker.lesson is not None
        assert app.view.tracker.lesson.id == "balancing"
        await pilot.pause()
        assert check_text(app).startswith("… waiting:")

        # The student goes to Backends to do the steps: the app stops refreshing this view.
        app.view.display = False
        assert engine.control.set_weight("web", "web-2", 0).ok
        # The check measures from the moment it sees the weight at 0 (its own timer, ~2 Hz).
        await wait_for(lambda: "out of rotation" in app.view.tracker.result.progress, timeout=5)
        answers = await get_many(engine.listeners["reverse"] + "/", 40)
        assert {status for status, _ in answers} == {200}
        assert "web-2" not in {backend for _, backend in answers}

        await wait_for(lambda: "balancing" in app.view.tracker.completed, timeout=10)
        await pilot.pause()
        assert notifications(app).count("Lesson done: Load balancing") == 1

        app.view.display = True
        await pilot.pause()
        assert check_text(app).startswith("✓ done: web-2 drained with zero 5xx")
        prompt = app.view.query_one(OptionList).get_option("balancing").prompt
        assert str(prompt).startswith("✓ 4. Load balancing")

        # More ticks do not notify again.
        await get_many(engine.listeners["reverse"] + "/", 5)
        for _ in range(5):
            await pilot.pause(0.1)
        assert notifications(app).count("Lesson done: Load balancing") == 1


async def test_putting_web_2_back_before_the_drain_shows_its_share(classroom):
    engine = classroom
    app = Host(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        app.view.start_lesson(3)
        await get_many(engine.listeners["reverse"] + "/", 25)
        await wait_for(lambda: "web-2 still gets" in check_text(app), timeout=5)
        assert "balancing" not in app.view.tracker.completed
        await pilot.pause()


async def test_steps_show_live_addresses_and_l_moves_on(classroom):
    engine = classroom
    app = Host(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("k")  # wraps to the last lesson: the comparison table
        assert app.view.selected.id == "at-a-glance"
        await pilot.press("enter")
        await pilot.pause()
        assert check_text(app).startswith("✓ done:")
        assert "Lesson done: At a glance" in notifications(app)

        await pilot.press("l")  # wraps to the first lesson and starts it
        assert app.view.selected.id == "two-proxies"
        assert app.view.tracker.lesson.id == "two-proxies"
        await pilot.pause()
        # The steps name the proxies' real (ephemeral) addresses, not the classroom defaults.
        assert engine.listeners["forward"] in body_text(app)
        assert engine.listeners["reverse"] in body_text(app)

        # Following the lesson: one request through each proxy.
        origin = engine.demo.backends["web-1"].url
        await get_many(engine.listeners["reverse"] + "/", 1)
        async with aiohttp.ClientSession() as s:
            async with s.get(origin + "/", proxy=engine.listeners["forward"]) as r:
                assert r.status == 200
        await wait_for(lambda: "two-proxies" in app.view.tracker.completed, timeout=5)
        await pilot.pause()
        assert "✓ done: reverse proxy 1, forward proxy 1 requests" in check_text(app)

        # The long text scrolls inside the right pane at 80×24.
        await pilot.press("j", "pagedown")
        await pilot.pause()
        scroll = app.view.query_one("#lesson-scroll")
        assert scroll.max_scroll_y > 0 and scroll.scroll_y > 0


async def test_connect_to_a_demo_port_completes_the_tls_lesson_with_a_403(classroom):
    engine = classroom
    app = Host(engine)
    async with app.run_test(size=(160, 45)) as pilot:
        tls = [lesson.id for lesson in app.view.lessons].index("tls")
        app.view.start_lesson(tls)
        backend = engine.demo.backends["web-1"]
        async with aiohttp.ClientSession() as s:
            # What `curl -p -x FORWARD http://127.0.0.1:PORT/` sends: a CONNECT to that port.
            with pytest.raises(aiohttp.ClientHttpProxyError) as err:
                async with s.get(
                    f"https://127.0.0.1:{backend.port}/", proxy=engine.listeners["forward"]
                ):
                    pass
        assert err.value.status == 403
        await wait_for(lambda: "tls" in app.view.tracker.completed, timeout=5)
        await pilot.pause()
        assert "refused with 403: its port is not in connect_ports" in check_text(app)

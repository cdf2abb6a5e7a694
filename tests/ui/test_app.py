"""The app shell against a real engine: views, help, palette commands, save, sizes, start/stop."""

from __future__ import annotations

import socket
from dataclasses import replace

import aiohttp
import pytest
from conftest import live_config, text_of
from origin import wait_for

from workbench.config.load import load_config
from workbench.config.model import Address
from workbench.tui.app import PROJECTOR_THEME, VIEW_SPECS, make_app
from workbench.tui.screens.confirm import ConfirmScreen
from workbench.tui.screens.detail import DetailScreen
from workbench.tui.screens.help import HelpScreen
from workbench.tui.screens.save import SaveScreen


def current(app) -> str:
    return app.query_one("#views").current


async def test_number_keys_and_tab_switch_views(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        assert current(app) == "traffic"
        for key, view_id in (
            ("2", "backends"),
            ("3", "cache"),
            ("4", "rules"),
            ("5", "overview"),
            ("1", "traffic"),
        ):
            await pilot.press(key)
            await pilot.pause()
            assert current(app) == view_id
            assert app.current_view == view_id
        await pilot.press("tab")
        assert current(app) == "backends"
        await pilot.press(*["tab"] * (len(VIEW_SPECS) - 1))
        assert current(app) == "traffic", "tab wraps around after the last view"
        await pilot.press("l")
        await pilot.pause()
        assert current(app) == "lessons", "l opens the lessons from any other view"


async def test_keymap_from_the_config_remaps_keys(live):
    config, engine = live
    config = replace(config, keymap={"view_backends": "b", "help": "h"})
    app = make_app(config, engine=engine)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("b")
        assert current(app) == "backends"
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        # Help shows the keys as remapped.
        text = "\n".join(text_of(s) for s in app.screen.query(".help-section"))
        assert "b" in text.split("Show the Backends view")[0].splitlines()[-1]


async def test_question_mark_opens_help_listing_every_view_key(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(text_of(s) for s in app.screen.query(".help-section"))
        for _key, _id, title, _m, _c in VIEW_SPECS:
            assert f"Show the {title} view" in text
        for needle in (
            "Traffic view",
            "keep the newest request in view",
            "Pause/resume the list",
            "Command palette",
            "Request detail",
            "Every list",
            "kill the backend's server (asks first)",
        ):
            assert needle in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)


async def test_palette_lists_the_workbench_actions(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(120, 30)):
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for wanted in (
            "View: Traffic",
            "View: Lessons",
            "Traffic: Filter",
            "Traffic: Errors only",
            "Traffic: Pause",
            "Backends: +weight",
            "Backends: Algorithm",
            "Backends: Disable",
            "Rules: New",
            "Rules: Delete",
            "Rules: Test",
            "Cache: Purge",
            "Save live configuration…",
            "Theme: projector on/off",
            "Screenshot",
            "Quit",
        ):
            assert wanted in titles
        assert "Demo: traffic on/off" not in titles, "demo actions only with the demo"
        assert titles.count("Quit") == 1, "Textual's own quit (which does not ask) is replaced"


async def test_projector_theme_toggles(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        before = app.theme
        await pilot.press("ctrl+t")
        assert app.theme == PROJECTOR_THEME
        await pilot.press("ctrl+t")
        assert app.theme == before


async def test_save_refuses_to_overwrite_and_writes_a_loadable_config(live, tmp_path, monkeypatch):
    config, engine = live
    monkeypatch.chdir(tmp_path)
    assert engine.control.set_weight("web", "web-2", 7).ok
    assert engine.control.set_algorithm("web", "least_connections").ok
    assert engine.control.set_rule_enabled("block-tracker", False).ok
    existing = tmp_path / "mine.yaml"
    existing.write_text("# my precious comments\n")
    app = make_app(config, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, SaveScreen)
        field = app.screen.query_one("#save-path")
        field.value = str(existing)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SaveScreen), "refused: the dialog stays open"
        assert "already exists" in text_of(app.screen.query_one("#save-error"))
        assert existing.read_text() == "# my precious comments\n"
        field.value = "live.yaml"
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, SaveScreen)
    saved = load_config(tmp_path / "live.yaml")
    pool = saved.reverse.pools["web"]
    assert pool.algorithm == "least_connections"
    assert {b.name: b.weight for b in pool.backends} == {"web-1": 2, "web-2": 7}
    assert [(r.name, r.enabled) for r in saved.rules] == [("block-tracker", False)]


@pytest.mark.parametrize("size", [(80, 24), (160, 45)])
async def test_every_view_and_screen_renders_at_both_sizes(live, size):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=size) as pilot:
        async with aiohttp.ClientSession() as s:
            for path in ("/echo", "/status/503", "/status/404"):
                async with s.get(engine.listeners["reverse"] + path) as r:
                    await r.read()
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 3)
        for key in "234561":
            await pilot.press(key)
            await pilot.pause()
            assert app.view() is not None
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("escape", "question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert app.return_code is None, "nothing crashed"


async def test_the_app_starts_its_own_runtime_and_stops_it_on_quit(origins):
    web = await origins("web-1")
    config = live_config(web)
    app = make_app(config)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(lambda: app.engine is not None and app.view("traffic") is not None, 10)
        url = app.engine.listeners["reverse"]
        async with aiohttp.ClientSession() as s, s.get(url + "/echo") as r:
            assert r.status == 200
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 1)
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen), "q asks before stopping the proxies"
        await pilot.press("y")
        await wait_for(lambda: app._exit, 10)
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=1).close()


async def test_a_busy_port_exits_with_a_clear_message(capfd):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = live_config([])
        config = replace(config, reverse=replace(config.reverse, listen=Address("127.0.0.1", port)))
        app = make_app(config)
        async with app.run_test(size=(80, 24)):
            await wait_for(lambda: app._exit, 10)
    assert app.return_code == 1
    err = capfd.readouterr().err
    assert "workbench: cannot start" in err and "address already in use" in err
    assert "Traceback" not in err


async def test_screenshot_goes_to_the_current_directory_and_says_where(live, tmp_path, monkeypatch):
    config, engine = live
    monkeypatch.chdir(tmp_path)
    app = make_app(config, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.action_screenshot()
        await pilot.pause()
        shots = list(tmp_path.glob("*.svg"))
        assert len(shots) == 1
        assert any(str(shots[0]) in str(n.message) for n in app._notifications)


async def test_q_in_a_screen_closes_only_that_screen(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, (HelpScreen, ConfirmScreen))
        assert app.return_code is None
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen) and app.return_code is None


async def test_header_shows_backends_up_on_every_view(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        status = app.query_one("#header-status")
        for key in "1234567":
            await pilot.press(key)
            await wait_for(lambda: "backends 2/2 up" in text_of(status))

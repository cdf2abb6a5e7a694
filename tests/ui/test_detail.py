"""The request detail against a real engine: bodies as received, raw heads, search, copy."""

from __future__ import annotations

import json

import aiohttp
from conftest import text_of
from origin import wait_for

from workbench.config.model import Address, Config, ForwardConfig
from workbench.tui.app import make_app
from workbench.tui.screens.detail import DetailScreen


async def open_detail(app, pilot, count: int) -> DetailScreen:
    view = app.view("traffic")
    await wait_for(lambda: view.table.row_count == count)
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, DetailScreen)
    await app.workers.wait_for_complete()
    await pilot.pause()
    return screen


async def test_a_json_post_shows_its_body_and_the_origins_answer(live):
    config, engine = live
    app = make_app(config, engine=engine)
    payload = {"item": "lamp", "qty": 2, "tags": ["desk", "led"]}
    async with app.run_test(size=(160, 45)) as pilot:
        async with aiohttp.ClientSession() as s:
            async with s.post(engine.listeners["reverse"] + "/echo", json=payload) as r:
                assert r.status == 200
        screen = await open_detail(app, pilot, 1)
        await pilot.press("2")
        await pilot.pause()
        assert screen.section == "request"
        request_body = text_of(screen.query_one("#detail-request-body"))
        assert json.loads(request_body) == payload
        assert '"item": "lamp"' in request_body, "pretty-printed"
        assert "json · application/json" in text_of(screen.query_one("#detail-request-body-notes"))
        await pilot.press("3")
        await pilot.pause()
        response_body = text_of(screen.query_one("#detail-body"))
        assert json.loads(response_body)["body_len"] == len(json.dumps(payload))
        await pilot.press("4")
        await pilot.pause()
        raw = text_of(screen.query_one("#detail-raw"))
        assert "POST /echo HTTP/1.1" in raw
        assert "Request as sent upstream" in raw and "X-Forwarded-For" in raw


async def test_a_blocked_request_shows_the_block_page_the_client_got(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        async with aiohttp.ClientSession() as s:
            url = engine.listeners["reverse"] + "/pixel.gif"
            async with s.get(url, headers={"Host": "tracker.test"}) as r:
                assert r.status == 403
                page = await r.text()
        screen = await open_detail(app, pilot, 1)
        await pilot.press("3")
        await pilot.pause()
        body = text_of(screen.query_one("#detail-body"))
        assert page.strip() and page.strip().splitlines()[0] in body
        notes = text_of(screen.query_one("#detail-body-notes"))
        assert "no longer kept" not in notes
        raw = text_of(screen.query_one("#detail-raw"))
        assert "not sent upstream: answered by rule block-tracker" in raw
        await pilot.press("1")
        await pilot.pause()
        overview = " ".join(text_of(w) for w in screen.query(".detail-side"))
        assert "no longer kept" not in overview, "a fresh record that never went upstream"
        assert "the proxy answered by itself" in overview


async def test_br_and_zstd_bodies_are_decoded_in_the_detail_view(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        async with aiohttp.ClientSession(auto_decompress=False) as s:
            for coding in ("br", "zstd"):
                async with s.get(engine.listeners["reverse"] + f"/encoded/{coding}") as r:
                    assert r.headers["Content-Encoding"] == coding
                    await r.read()
        view = app.view("traffic")
        await wait_for(lambda: view.table.row_count == 2)
        for n, coding in enumerate(("br", "zstd")):
            view.table.move_cursor(n)
            screen = await open_detail(app, pilot, 2)
            await pilot.press("3")
            await pilot.pause()
            body = text_of(screen.query_one("#detail-body"))
            assert json.loads(body)["encoded"] == coding
            notes = text_of(screen.query_one("#detail-body-notes"))
            assert f"decoded from {coding}" in notes
            await pilot.press("escape")
            await pilot.pause()


async def test_search_finds_and_steps_through_matches(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        async with aiohttp.ClientSession() as s:
            body = {"a": "needle one", "b": "hay", "c": "needle two", "d": "NEEDLE three"}
            async with s.post(engine.listeners["reverse"] + "/echo", json=body) as r:
                await r.read()
        screen = await open_detail(app, pilot, 1)
        await pilot.press("2", "slash", *"needle", "enter")
        await pilot.pause()
        assert screen.message.startswith("match 1 of 3 for 'needle'")
        await pilot.press("n", "n")
        assert screen.message.startswith("match 3 of 3")
        await pilot.press("n")
        assert screen.message.startswith("match 1 of 3")
        await pilot.press("N")
        assert screen.message.startswith("match 3 of 3")
        # Another section searches its own text.
        await pilot.press("4")
        await pilot.pause()
        assert screen.message.startswith("no match for 'needle' in raw")
        # escape closes an open search box first, then the screen.
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, DetailScreen)


async def test_copy_as_curl_goes_to_the_clipboard_and_a_file(live, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        async with aiohttp.ClientSession() as s:
            async with s.post(engine.listeners["reverse"] + "/echo", data=b"x=1&y=2") as r:
                await r.read()
        screen = await open_detail(app, pilot, 1)
        await pilot.press("C")
        await pilot.pause()
        await pilot.press("enter")  # the first choice: curl
        await pilot.pause()
        files = list((tmp_path / "workbench" / "copies").iterdir())
        assert len(files) == 1 and str(files[0]) in screen.message
        command = files[0].read_text()
        assert command.startswith("curl -X POST ") and "--data-binary 'x=1&y=2'" in command
        assert app.clipboard == command
        assert (files[0].stat().st_mode & 0o777) == 0o600


async def test_question_mark_lists_the_detail_keys(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        async with aiohttp.ClientSession() as s:
            async with s.get(engine.listeners["reverse"] + "/") as r:
                await r.read()
        await open_detail(app, pilot, 1)
        await pilot.press("question_mark")
        await pilot.pause()
        from workbench.tui.screens.help import HelpScreen

        assert isinstance(app.screen, HelpScreen)
        assert [title for title, _rows in app.screen.sections] == ["Request detail"]
        keys = {k for k, _t in app.screen.sections[0][1]}
        assert {"/", "n", "N", "C", "esc q"} <= keys


async def test_search_reaches_the_trace(live):
    config, engine = live
    app = make_app(config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        async with aiohttp.ClientSession() as s:
            async with s.get(engine.listeners["reverse"] + "/") as r:
                await r.read()
        screen = await open_detail(app, pilot, 1)
        assert screen.section == "overview"
        await pilot.press("slash", *"balancer", "enter")
        await pilot.pause()
        assert screen.message.startswith("match 1 of 1 for 'balancer'")


async def test_a_refused_connect_does_not_claim_to_relay_bytes(engine_factory):
    """A CONNECT the forward proxy refused opened no tunnel: its detail says so, instead of the
    text for a tunnel that relays encrypted bytes."""
    engine = await engine_factory(Config(forward=ForwardConfig(listen=Address("127.0.0.1", 0))))
    app = make_app(engine.config, engine=engine)
    async with app.run_test(size=(160, 45)) as pilot:
        async with aiohttp.ClientSession() as s:
            # What `curl -p -x FORWARD http://127.0.0.1:9/` sends: a CONNECT to port 9.
            try:
                async with s.get("https://127.0.0.1:9/", proxy=engine.listeners["forward"]):
                    raise AssertionError("port 9 is not in connect_ports")
            except aiohttp.ClientHttpProxyError as exc:
                assert exc.status == 403
        screen = await open_detail(app, pilot, 1)
        tunnel = text_of(screen.query_one("#detail-tunnel"))
        assert "refused" in tunnel and "403" in tunnel
        assert "relays encrypted bytes" not in tunnel

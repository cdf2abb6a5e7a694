"""``workbench serve`` as a user runs it: the page over HTTP, the TUI over its websocket, tokens."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import aiohttp
import pytest


async def start_serve(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    p = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workbench",
        "serve",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    line = (await asyncio.wait_for(p.stdout.readline(), 20)).decode()
    m = re.match(r"workbench served on (http://\S+)", line)
    assert m, line
    return p, m.group(1)


async def stop(p: asyncio.subprocess.Process) -> int:
    if p.returncode is None:
        p.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(p.wait(), 15)
        except TimeoutError:
            p.kill()
            await p.wait()
    return p.returncode


async def test_serve_on_loopback_serves_the_page_and_the_tui():
    p, url = await start_serve()
    try:
        assert url.startswith("http://127.0.0.1:") and "token" not in url
        port = url.split(":")[2].rstrip("/")
        async with aiohttp.ClientSession() as s:
            async with s.get(url) as r:
                assert r.status == 200
                page = await r.text()
            assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in page
            async with s.get(url + "static/js/textual.js") as r:
                assert r.status == 200
            # The websocket runs the real workbench: its header arrives as terminal output.
            seen = b""
            async with s.ws_connect(url + "ws?width=120&height=30") as ws:

                async def header() -> None:
                    nonlocal seen
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.BINARY:
                            seen += msg.data
                        elif msg.type == aiohttp.WSMsgType.TEXT:
                            seen += msg.data.encode()
                        if b"Proxy Workbench" in seen:
                            return

                await asyncio.wait_for(header(), 60)
        assert b"Proxy Workbench" in seen
        assert await stop(p) == 0
    finally:
        await stop(p)


async def test_a_token_guards_the_page_and_its_websocket():
    p, url = await start_serve("--token", "s3cret")
    try:
        assert url.endswith("/?token=s3cret")
        base = url.split("?")[0]
        async with aiohttp.ClientSession() as s:
            async with s.get(base) as r:
                assert r.status == 403
                assert "needs its token" in await r.text()
            async with s.get(base + "?token=wrong") as r:
                assert r.status == 403
            async with s.get(url) as r:
                assert r.status == 200
                assert "/ws/s3cret" in await r.text()
            async with s.get(base + "ws/wrong") as r:
                assert r.status == 403
            async with s.get(base + "static/js/textual.js") as r:
                assert r.status == 200  # the page's script is public; the app is not
    finally:
        await stop(p)


async def test_off_loopback_it_warns_and_makes_up_a_token():
    p, url = await start_serve("--host", "0.0.0.0")
    try:
        err = (await asyncio.wait_for(p.stderr.readline(), 10)).decode()
        assert err.startswith("warning: serving on 0.0.0.0, which other machines can reach")
        token = url.split("?token=", 1)[1]
        assert len(token) >= 16
        local = url.replace("0.0.0.0", "127.0.0.1")
        async with aiohttp.ClientSession() as s:
            async with s.get(local.split("?")[0]) as r:
                assert r.status == 403
            async with s.get(local) as r:
                assert r.status == 200
    finally:
        await stop(p)


@pytest.mark.parametrize("config", ["", "# empty\n"])
async def test_serve_checks_the_config_first(tmp_path, config):
    path = tmp_path / "c.yaml"
    path.write_text(config)
    p = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workbench",
        "serve",
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(p.communicate(), 20)
    assert p.returncode == 2
    assert "nothing to run" in err.decode() and out == b""

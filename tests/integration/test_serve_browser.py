"""``workbench serve`` in a real headless Chromium (skipped where Chromium is not installed).

Chromium is driven over the DevTools protocol on loopback: it opens the served page, the page's
terminal connects to the workbench over its websocket, and the screenshot is kept for a person to
look at (``WORKBENCH_SERVE_SCREENSHOT=FILE``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import tempfile

import aiohttp
import pytest
from test_serve import start_serve, stop

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")

CONNECTED = "document.querySelector('#terminal').classList.contains('-connected')"


class DevTools:
    """Just enough of the DevTools protocol: send a command, wait for its answer."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0

    async def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        my_id = self.next_id
        await self.ws.send_json({"id": my_id, "method": method, "params": params})
        async for msg in self.ws:
            data = json.loads(msg.data)
            if data.get("id") == my_id:
                assert "error" not in data, data
                return data.get("result", {})
        raise ConnectionError("DevTools closed")

    async def evaluate(self, expression: str) -> object:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


async def test_the_page_connects_to_the_workbench_in_chromium():
    serve, url = await start_serve("--token", "browser-test")
    profile = tempfile.mkdtemp(prefix="wb-chromium-")
    browser = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--remote-debugging-address=127.0.0.1",
        "--remote-debugging-port=0",
        "--window-size=1400,900",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        devtools_url = None
        while devtools_url is None:
            line = (await asyncio.wait_for(browser.stderr.readline(), 30)).decode()
            assert line, "Chromium exited before listening"
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            devtools_url = m.group(1) if m else None
        http = "http://" + devtools_url.split("//", 1)[1].split("/", 1)[0]
        async with aiohttp.ClientSession() as s:
            async with s.get(http + "/json/list") as r:
                page = next(t for t in await r.json() if t["type"] == "page")
            async with s.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                dt = DevTools(ws)
                await dt.call("Page.enable")
                await dt.call("Page.navigate", url=url)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 60
                while not await dt.evaluate(CONNECTED):
                    assert loop.time() < deadline, "the page never connected to the workbench"
                    await asyncio.sleep(0.2)
                assert await dt.evaluate("document.title") is not None
                # Give the app a moment to draw, then keep a picture for a person to check.
                await asyncio.sleep(3)
                shot = await dt.call("Page.captureScreenshot", format="png")
                png = base64.b64decode(shot["data"])
                assert png.startswith(b"\x89PNG")
                keep = os.environ.get("WORKBENCH_SERVE_SCREENSHOT")
                if keep:
                    with open(keep, "wb") as fh:
                        fh.write(png)
                assert await dt.evaluate(CONNECTED), "still connected after drawing"
    finally:
        if browser.returncode is None:
            browser.kill()
            await browser.wait()
        shutil.rmtree(profile, ignore_errors=True)
        await stop(serve)

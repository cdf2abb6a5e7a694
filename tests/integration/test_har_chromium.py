"""Our HAR export loads in Chromium's own DevTools HAR importer (the real one, not a copy).

A headless Chromium opens its bundled DevTools front end (``devtools://devtools/bundled/``) over
the DevTools protocol; in that page we import the front end's HAR module and hand our export to
its parser (``HARFormat.HARRoot``) and to ``Importer.requestsFromHARLog``, the code behind the
Network panel's "Import HAR file". What comes back (URL, method, status, MIME type, headers,
request body, response content) must be what we recorded. Skipped where no Chromium is installed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess

import aiohttp
import pytest
from origin import wait_for

from workbench.config.model import (
    Address,
    AdminConfig,
    BackendConfig,
    Config,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
    RuleConfig,
)

CHROMIUM = next(
    (p for p in (shutil.which("chromium"), shutil.which("chromium-browser")) if p), None
)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed")

DEVTOOLS_PAGE = "devtools://devtools/bundled/devtools_app.html"
IMPORT_HAR = """(async () => {
  const H = await import('./models/har/har.js');
  const root = new H.HARFormat.HARRoot(JSON.parse(%s));
  const out = [];
  for (const r of H.Importer.Importer.requestsFromHARLog(root.log)) {
    const content = await r.requestContentData();
    out.push({
      url: r.url(), method: r.requestMethod, status: r.statusCode, mime: r.mimeType,
      requestHeaders: r.requestHeaders().map(h => h.name.toLowerCase()),
      responseHeaders: r.responseHeaders.map(h => h.name.toLowerCase()),
      post: await r.requestFormData(),
      body: content && content.text !== undefined ? content.text : null,
    });
  }
  return JSON.stringify(out);
})()"""


class Cdp:
    """A minimal DevTools-protocol client on one browser websocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.n = 0

    async def call(self, method: str, params: dict | None = None, session: str | None = None):
        self.n += 1
        msg: dict = {"id": self.n, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        await self.ws.send_str(json.dumps(msg))
        while True:
            reply = json.loads((await self.ws.receive(timeout=30)).data)
            if reply.get("id") == self.n:
                return reply


@pytest.fixture
async def chromium(tmp_path):
    """``http://127.0.0.1:PORT`` of a headless Chromium's DevTools endpoint."""
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "DBUS_SESSION_BUS_ADDRESS": "disabled:"},
    )
    port_file = profile / "DevToolsActivePort"
    try:
        await wait_for(
            lambda: port_file.exists() and port_file.read_text().count("\n") >= 1, timeout=60
        )
        yield f"http://127.0.0.1:{port_file.read_text().split()[0]}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def import_in_devtools(endpoint: str, har_text: str) -> list[dict]:
    """The requests Chromium's DevTools HAR importer makes of ``har_text``."""
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{endpoint}/json/version") as r:
            browser = (await r.json())["webSocketDebuggerUrl"]
        async with s.ws_connect(browser, max_msg_size=0) as ws:
            cdp = Cdp(ws)
            target = await cdp.call("Target.createTarget", {"url": DEVTOOLS_PAGE})
            attached = await cdp.call(
                "Target.attachToTarget",
                {"targetId": target["result"]["targetId"], "flatten": True},
            )
            session = attached["result"]["sessionId"]
            expression = IMPORT_HAR % json.dumps(har_text)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while True:  # the page's modules load after the target exists: retry until then
                reply = await cdp.call(
                    "Runtime.evaluate",
                    {"expression": expression, "awaitPromise": True, "returnByValue": True},
                    session,
                )
                result = reply.get("result", {})
                if "exceptionDetails" not in result and "result" in result:
                    return json.loads(result["result"]["value"])
                if loop.time() > deadline:
                    raise AssertionError(f"DevTools could not import the HAR: {reply}")
                await asyncio.sleep(0.2)


async def test_our_har_loads_in_chromiums_devtools_importer(origins, engine_factory, chromium):
    (web,) = await origins("web-1")
    config = Config(
        admin=AdminConfig(listen=Address("127.0.0.1", 0)),
        reverse=ReverseConfig(
            listen=Address("127.0.0.1", 0),
            cache=False,
            routes=(RouteConfig(name="site", pool="web"),),
            pools={"web": PoolConfig(name="web", backends=(BackendConfig("web-1", web.url),))},
        ),
        rules=(RuleConfig(name="block-pixel", when="~u /pixel", action="block"),),
    )
    engine = await engine_factory(config)
    base, api = engine.listeners["reverse"], engine.listeners["admin"]
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{base}/echo?x=1", json={"item": "lamp"}) as r:
            assert r.status == 200
        async with s.get(f"{base}/pixel.gif") as r:
            assert r.status == 403
        async with s.get(f"{base}/encoded/br", headers={"Accept-Encoding": "br"}) as r:
            assert r.status == 200
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:  # records are finished just after the answers: wait for all three
            async with s.get(f"{api}/api/har") as r:
                har_text = await r.text()
            if len(json.loads(har_text)["log"]["entries"]) >= 3 or loop.time() > deadline:
                break
            await asyncio.sleep(0.02)
    assert len(json.loads(har_text)["log"]["entries"]) == 3

    imported = await import_in_devtools(chromium, har_text)

    by_path = {item["url"].split("/", 3)[3]: item for item in imported}
    assert set(by_path) == {"echo?x=1", "pixel.gif", "encoded/br"}
    post = by_path["echo?x=1"]
    assert (post["method"], post["status"]) == ("POST", 200)
    assert json.loads(post["post"]) == {"item": "lamp"}
    assert json.loads(post["body"])["method"] == "POST"
    assert "content-type" in post["requestHeaders"] and "x-backend" in post["responseHeaders"]
    blocked = by_path["pixel.gif"]
    assert blocked["status"] == 403 and "block-pixel" in blocked["body"], "the block page"
    encoded = by_path["encoded/br"]
    assert encoded["mime"] == "application/json"
    assert json.loads(encoded["body"]) == {"encoded": "br", "from": "web-1"}, "decoded br"

"""The response head "as the client received it" (detail view, HAR) includes the framing the
writer added: block pages, error pages and cache hits are recorded without Content-Length, but
the client got one. A close-delimited body stays without."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web
from configs import reverse_proxy
from origin import Origin, wait_for

from workbench.config.model import Config, RuleConfig
from workbench.engine.observe.framing import client_response_headers
from workbench.engine.observe.har import entry


def _length(headers) -> list[str]:
    return [v for n, v in headers or () if n.lower() == "content-length"]


async def test_block_page_error_page_and_cache_hit_show_the_length_the_client_got(
    engine_factory,
):
    async def cached(request: web.Request) -> web.Response:
        return web.Response(text="cacheable\n", headers={"Cache-Control": "max-age=600"})

    app = web.Application()
    app.router.add_get("/cached", cached)
    origin = await Origin("web-1", app).start()
    try:
        config = Config(
            reverse=reverse_proxy([origin.url], cache=True),
            rules=(RuleConfig(name="no-ads", when="~u /ads", action="block"),),
        )
        eng = await engine_factory(config)
        url = eng.listeners["reverse"]
        got: dict[str, str] = {}
        async with aiohttp.ClientSession() as s:
            for path in ("/ads/x", "/cached", "/cached", "/missing-route-is-404-from-origin"):
                async with s.get(url + path) as r:
                    await r.read()
                    got.setdefault(path, r.headers["Content-Length"])
        await wait_for(lambda: eng.records.total >= 4)
        block, miss, hit, _ = eng.records_since(0, 10)[0]
    finally:
        await origin.stop()
    assert block.rule == "no-ads" and hit.cache == "hit"
    assert not _length(block.response_headers) and not _length(hit.response_headers)
    assert _length(client_response_headers(block)) == [got["/ads/x"]]
    assert _length(client_response_headers(hit)) == [got["/cached"]]
    assert _length(client_response_headers(miss)) == [got["/cached"]]  # relayed: once
    har_headers = {h["name"].lower(): h["value"] for h in entry(block)["response"]["headers"]}
    assert har_headers["content-length"] == got["/ads/x"]


async def test_a_close_delimited_body_gets_no_length(engine_factory):
    async def close_delimited(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the close")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(close_delimited, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        eng = await engine_factory(Config(reverse=reverse_proxy([f"http://127.0.0.1:{port}"])))
        async with aiohttp.ClientSession() as s:
            async with s.get(eng.listeners["reverse"] + "/") as r:
                assert await r.text() == "until the close"
                assert "Content-Length" not in r.headers
        await wait_for(lambda: eng.records.total >= 1)
        (rec,) = eng.records_since(0, 10)[0]
    finally:
        server.close()
        await server.wait_closed()
    assert not _length(client_response_headers(rec))

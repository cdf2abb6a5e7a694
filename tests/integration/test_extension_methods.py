"""Methods llhttp does not know (RFC 9110 §9.1: a method is any token) are proxied, and a
successful one invalidates the cached URL like any unsafe method (RFC 9111 §4.4, issue 10)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from rawhttp import RawOrigin, raw_exchange, response

from workbench.config.model import (
    Address,
    BackendConfig,
    Config,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
)


async def _origin() -> RawOrigin:
    async def handler(req, reader, writer) -> bool:
        if req.method == "GET":
            writer.write(response(200, b"cached body", [("Cache-Control", "max-age=600")]))
        else:
            writer.write(response(200, f"did {req.method}".encode()))
        await writer.drain()
        return True

    return await RawOrigin.answering(handler).start()


def _config(url: str) -> Config:
    return Config(
        reverse=ReverseConfig(
            listen=Address("127.0.0.1", 0),
            routes=(RouteConfig(name="all", pool="o"),),
            pools={"o": PoolConfig(name="o", backends=(BackendConfig(name="o-1", url=url),))},
        )
    )


@pytest.mark.parametrize("method", ["FOO", "BREW", "X-CUSTOM_1", "QUERYX"])
async def test_an_unknown_method_reaches_the_origin_and_invalidates(engine_factory, method):
    origin = await _origin()
    eng = await engine_factory(_config(origin.url))
    url = eng.listeners["reverse"] + "/item"
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(2):
                async with s.get(url) as r:
                    assert await r.text() == "cached body"
            assert r.headers["Cache-Status"].startswith("workbench; hit")
            async with s.request(method, url, data=b"payload") as r:
                assert (r.status, await r.text()) == (200, f"did {method}")
            # The same keep-alive connection goes on with plain requests.
            async with s.get(url) as r:
                assert "fwd=uri-miss" in r.headers["Cache-Status"]
        assert [r.method for r in origin.requests] == ["GET", method, "GET"]
        foo = origin.requests[1]
        assert foo.line == f"{method} /item HTTP/1.1"
        assert foo.values("Content-Length") == ["7"]
    finally:
        await origin.stop()


async def test_not_a_method_is_still_a_400(engine_factory):
    origin = await _origin()
    eng = await engine_factory(_config(origin.url))
    host, port = eng.listeners["reverse"].removeprefix("http://").split(":")
    try:
        for line in (b"FO(O / HTTP/1.1", b"FOO\t/ HTTP/1.1", b" FOO / HTTP/1.1", b"FOO  HTTP/1.1"):
            raw = await raw_exchange(host, int(port), line + b"\r\nHost: x\r\n\r\n")
            assert raw.startswith(b"HTTP/1.1 400"), (line, raw)
        assert origin.requests == []
    finally:
        await origin.stop()


async def test_two_unknown_methods_on_one_connection(engine_factory):
    origin = await _origin()
    eng = await engine_factory(_config(origin.url))
    host, port = eng.listeners["reverse"].removeprefix("http://").split(":")
    try:
        reader, writer = await asyncio.open_connection(host, int(port))
        for method in ("FOO", "BAR"):
            writer.write(f"{method} /x HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200")
            assert await reader.readexactly(len(f"did {method}")) == f"did {method}".encode()
        writer.close()
        assert [r.method for r in origin.requests] == ["FOO", "BAR"]
    finally:
        await origin.stop()

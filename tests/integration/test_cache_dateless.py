"""An origin that sends no Date (RFC 9110 §6.6.1): the cache dates what it stores, and a 304 or
a HEAD without Date refreshes from the time it arrived, not from the stored Date."""

from __future__ import annotations

import time

import aiohttp
from origin import wait_for
from rawhttp import RawOrigin, response

from workbench.config.model import (
    Address,
    BackendConfig,
    Config,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
)

ETAG = '"d1"'


async def _origin() -> RawOrigin:
    """No Date on any answer: a GET gets max-age=1 and an ETag; a matching If-None-Match a 304
    with max-age=3, a HEAD the same fields with max-age=3."""

    async def handler(req, reader, writer) -> bool:
        if req.values("If-None-Match") == [ETAG]:
            writer.write(b"HTTP/1.1 304 Not Modified\r\nCache-Control: max-age=3\r\n\r\n")
        else:
            cc = "max-age=3" if req.method == "HEAD" else "max-age=1"
            head = response(200, b"hello", [("Cache-Control", cc), ("ETag", ETAG)])
            writer.write(head[: -len(b"hello")] if req.method == "HEAD" else head)
        await writer.drain()
        return True

    return await RawOrigin.answering(handler).start()


async def _stored_then_stale(engine_factory):
    origin = await _origin()
    cfg = Config(
        reverse=ReverseConfig(
            listen=Address("127.0.0.1", 0),
            routes=(RouteConfig(name="all", pool="o"),),
            pools={
                "o": PoolConfig(name="o", backends=(BackendConfig(name="o-1", url=origin.url),))
            },
        )
    )
    eng = await engine_factory(cfg)
    url = eng.listeners["reverse"] + "/d"
    async with aiohttp.ClientSession() as s:
        async with s.get(url) as r:
            assert await r.text() == "hello"
    entry = next(iter(eng.cache.memory))
    assert any(n == "Date" for n, _ in entry.headers)  # dated by the cache
    # Older than the 304's max-age: fresh again only if the 304 is dated when it arrives.
    await wait_for(lambda: entry.age(time.time()) > 3.05, 6)
    return origin, url


async def test_a_dateless_304_makes_the_entry_fresh_again(engine_factory):
    origin, url = await _stored_then_stale(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url) as r:
                assert await r.text() == "hello"
                assert "fwd-status=304" in r.headers["Cache-Status"]
            async with s.get(url) as r:
                assert await r.text() == "hello"
                assert r.headers["Cache-Status"].startswith("workbench; hit")
                assert "Date" in r.headers
        assert len(origin.requests) == 2
    finally:
        await origin.stop()


async def test_a_dateless_head_freshens_the_stored_get(engine_factory):
    origin, url = await _stored_then_stale(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.head(url, headers={"If-None-Match": '"other"'}) as r:
                assert r.status == 200
            async with s.get(url) as r:
                assert await r.text() == "hello"
                assert r.headers["Cache-Status"].startswith("workbench; hit")
    finally:
        await origin.stop()

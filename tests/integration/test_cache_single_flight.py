"""One fetch per URL in flight: stale revalidations and misses are collapsed (issue 10).

Real origins on 127.0.0.1 count what reaches them; many concurrent clients go through the
reverse proxy. Without stale-while-revalidate, clients of a stale entry wait for the one
revalidation and all get its result; on failure each applies its own stale-if-error rules.
"""

from __future__ import annotations

import asyncio
import collections
import time

import aiohttp
from aiohttp import web
from configs import reverse_proxy
from origin import Origin, wait_for
from rawhttp import RawOrigin, response

from workbench.config.model import (
    CacheConfig,
    Config,
    Timeouts,
)

CONDITIONAL = '"r1"'


def config(origin_url: str, *, response_timeout: float = 30.0, **cache_kw) -> Config:
    timeouts = Timeouts(response=response_timeout)
    return Config(
        reverse=reverse_proxy(
            origin_url, pool="o", route="all", cache=True, retries=0, timeouts=timeouts
        ),
        cache=CacheConfig(**cache_kw),
    )


def revalidating_origin(cc: str = "max-age=1") -> tuple[web.Application, collections.Counter]:
    """``/r``: a 200 with an ETag; a conditional request takes 0.3 s, then 304 (or
    ``hits["fail"]``: 503)."""
    hits: collections.Counter = collections.Counter()

    async def r(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == CONDITIONAL:
            hits["conditional"] += 1
            await asyncio.sleep(0.3)
            if hits["fail"]:
                return web.Response(status=503, text="down")
            return web.Response(
                status=304, headers={"ETag": CONDITIONAL, "Cache-Control": "max-age=60"}
            )
        hits["full"] += 1
        return web.Response(text="stored body", headers={"ETag": CONDITIONAL, "Cache-Control": cc})

    app = web.Application()
    app.router.add_get("/r", r)
    return app, hits


async def _stale(eng, s: aiohttp.ClientSession, url: str) -> None:
    """Fetch ``url`` once (stored), then wait until the entry is stale."""
    async with s.get(url) as r:
        assert await r.text() == "stored body"
    entry = next(iter(eng.cache.memory))
    await wait_for(lambda: entry.age(time.time()) > entry.lifetime + 0.05, 5)


async def _get(s: aiohttp.ClientSession, url: str, headers=None) -> tuple[int, str, str]:
    async with s.get(url, headers=headers or {}) as r:
        return r.status, await r.text(), r.headers.get("Cache-Status", "")


async def test_50_concurrent_stale_requests_make_one_revalidation(engine_factory):
    app, hits = revalidating_origin()
    origin = await Origin("reval", app).start()
    eng = await engine_factory(config(origin.url))
    url = eng.listeners["reverse"] + "/r"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as s:
            await _stale(eng, s, url)
            results = await asyncio.gather(*(_get(s, url) for _ in range(50)))
            assert {(st, body) for st, body, _ in results} == {(200, "stored body")}
            assert sum("fwd=stale; fwd-status=304" in cs for _, _, cs in results) == 1
            assert sum("collapsed" in cs for _, _, cs in results) == 49
            assert (await _get(s, url))[2].startswith("workbench; hit")
        assert hits == {"full": 1, "conditional": 1}
        assert eng.cache_layer.inflight == {}
    finally:
        await origin.stop()


async def test_waiters_share_a_failed_revalidation_each_with_its_own_stale_if_error(
    engine_factory,
):
    app, hits = revalidating_origin()
    origin = await Origin("reval", app).start()
    eng = await engine_factory(config(origin.url))
    url = eng.listeners["reverse"] + "/r"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as s:
            await _stale(eng, s, url)
            hits["fail"] = 1
            allow = {"Cache-Control": "stale-if-error=60"}
            results = await asyncio.gather(
                *(_get(s, url, allow if i % 2 else None) for i in range(20))
            )
        for i, (status, body, cs) in enumerate(results):
            if i % 2:
                assert (status, body) == (200, "stored body") and "stale-if-error" in cs
            else:
                assert status == 503, body
        assert hits["conditional"] == 1
    finally:
        await origin.stop()


def _hanging_origin() -> RawOrigin:
    """Stores one 200 (fresh for 1 s), then never answers again."""

    async def handler(req, reader, writer) -> bool:
        if len(origin.requests) == 1:
            headers = [("Cache-Control", "max-age=1"), ("ETag", CONDITIONAL)]
            writer.write(response(200, b"stored body", headers))
            await writer.drain()
            return True
        await asyncio.Event().wait()  # cancelled when the origin stops
        return False

    origin = RawOrigin.answering(handler)
    return origin


async def test_waiters_share_a_revalidation_timeout(engine_factory):
    origin = await _hanging_origin().start()
    eng = await engine_factory(config(origin.url, response_timeout=1.0))
    url = eng.listeners["reverse"] + "/r"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as s:
            await _stale(eng, s, url)
            allow = {"Cache-Control": "stale-if-error=60"}
            t0 = time.monotonic()
            results = await asyncio.gather(
                *(_get(s, url, allow if i % 2 else None) for i in range(20))
            )
            took = time.monotonic() - t0
        for i, (status, body, _) in enumerate(results):
            assert (status, body) == (200, "stored body") if i % 2 else status == 504
        assert len(origin.requests) == 2  # the first fetch and one revalidation
        assert took < 10  # bounded by the 1 s response timeout, not 20 × 1 s
    finally:
        await origin.stop()


async def test_concurrent_misses_share_the_fetch_failure(engine_factory):
    async def handler(req, reader, writer) -> bool:
        await asyncio.Event().wait()
        return False

    origin = await RawOrigin.answering(handler).start()
    eng = await engine_factory(config(origin.url, response_timeout=1.0))
    url = eng.listeners["reverse"] + "/miss"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as s:
            results = await asyncio.gather(*(_get(s, url) for _ in range(20)))
        assert {status for status, _, _ in results} == {504}
        assert len(origin.requests) == 1
    finally:
        await origin.stop()


async def test_a_failed_background_revalidation_lets_the_next_stale_hit_try_again(
    engine_factory,
):
    app, hits = revalidating_origin("max-age=1, stale-while-revalidate=60")
    origin = await Origin("reval", app).start()
    eng = await engine_factory(config(origin.url))
    url = eng.listeners["reverse"] + "/r"
    layer = eng.cache_layer
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as s:
            await _stale(eng, s, url)
            hits["fail"] = 1
            results = await asyncio.gather(*(_get(s, url) for _ in range(10)))
            assert {(st, body) for st, body, _ in results} == {(200, "stored body")}
            await wait_for(lambda: hits["conditional"] == 1 and not layer.inflight, 5)
            assert (await _get(s, url))[:2] == (200, "stored body")
            await wait_for(lambda: hits["conditional"] == 2 and not layer.inflight, 5)
            hits["fail"] = 0
            assert (await _get(s, url))[:2] == (200, "stored body")
            await wait_for(lambda: hits["conditional"] == 3 and not layer.inflight, 5)
            assert (await _get(s, url))[2].startswith("workbench; hit")
        assert hits["conditional"] == 3
    finally:
        await origin.stop()

"""The shared cache on real traffic: RFC 9111 behaviour seen by real clients via the proxies."""

from __future__ import annotations

import asyncio
import collections

import aiohttp
from aiohttp import web
from configs import forward_proxy, reverse_proxy
from origin import Origin, wait_for

from workbench.config.model import (
    CacheConfig,
    Config,
)

HITS = web.AppKey("hits", collections.Counter)


def cache_origin_app() -> web.Application:
    """An origin whose caching headers the test chooses, counting what reaches it."""
    hits: collections.Counter = collections.Counter()

    async def cc(request: web.Request) -> web.Response:
        hits[request.path_qs] += 1
        headers = {"Cache-Control": request.query.get("cc", "max-age=60")}
        if "cookie" in request.query:
            headers["Set-Cookie"] = "a=1"
        await asyncio.sleep(float(request.query.get("delay", "0")))
        size = int(request.query.get("size", "0"))
        body = (b"z" * size) if size else f"body {hits[request.path_qs]}".encode()
        return web.Response(body=body, headers=headers)

    async def vary(request: web.Request) -> web.Response:
        hits["vary"] += 1
        lang = request.headers.get("Accept-Language", "en")
        return web.Response(
            text=f"hello in {lang}",
            headers={"Cache-Control": "max-age=60", "Vary": "Accept-Language"},
        )

    async def etag(request: web.Request) -> web.Response:
        hits["etag"] += 1
        if request.headers.get("If-None-Match") == '"v1"':
            hits["etag-304"] += 1
            return web.Response(status=304, headers={"ETag": '"v1"', "Cache-Control": "no-cache"})
        return web.Response(text="versioned", headers={"ETag": '"v1"', "Cache-Control": "no-cache"})

    async def item(request: web.Request) -> web.Response:
        hits[f"{request.method} {request.path}"] += 1
        if request.method == "POST":
            return web.Response(status=201, text="created")
        return web.Response(text="item", headers={"Cache-Control": "max-age=60"})

    app = web.Application()
    app[HITS] = hits
    app.router.add_get("/cc", cc)
    app.router.add_get("/vary", vary)
    app.router.add_get("/etag", etag)
    app.router.add_route("*", "/item", item)
    return app


async def start(engine_factory, origin_url: str, **cache_kw):
    cfg = Config(
        reverse=reverse_proxy(origin_url, pool="o", route="all", cache=True),
        forward=forward_proxy(cache=True),
        cache=CacheConfig(**cache_kw),
    )
    return await engine_factory(cfg)


async def make(engine_factory, **cache_kw):
    origin = await Origin("cache-origin", cache_origin_app()).start()
    eng = await start(engine_factory, origin.url, **cache_kw)
    return origin, eng, eng.listeners["reverse"]


async def test_max_age_second_request_is_a_hit_with_age(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/cc?cc=max-age=60") as r:
                first = await r.text()
                assert (
                    "fwd=uri-miss; stored" in r.headers["Cache-Status"]
                    or "stored" in r.headers["Cache-Status"]
                )
            async with s.get(url + "/cc?cc=max-age=60") as r:
                assert await r.text() == first
                assert "Age" in r.headers and int(r.headers["Age"]) >= 0
                assert r.headers["Cache-Status"].startswith("workbench; hit; ttl=")
        assert origin.app[HITS]["/cc?cc=max-age=60"] == 1
        recs = eng.records_since(0, 10)[0]
        assert [r.cache for r in recs] == ["miss", "hit"]
        assert any(step[:2] == ("cache", "HIT") for step in recs[1].trace)
    finally:
        await origin.stop()


async def test_no_store_and_private_never_hit(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            for cc in ("no-store", "private, max-age=60"):
                for _ in range(3):
                    async with s.get(url + "/cc", params={"cc": cc}) as r:
                        await r.read()
        hits = origin.app[HITS]
        assert hits["/cc?cc=no-store"] == 3
        assert hits["/cc?cc=private,+max-age%3D60"] + hits["/cc?cc=private,%20max-age%3D60"] == 3
        assert all(r.cache in ("miss", "uncacheable") for r in eng.records_since(0, 10)[0])
    finally:
        await origin.stop()


async def test_vary_keeps_languages_apart(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            for lang in ("fr", "de", "fr", "de"):
                async with s.get(url + "/vary", headers={"Accept-Language": lang}) as r:
                    assert await r.text() == f"hello in {lang}"
        assert origin.app[HITS]["vary"] == 2
    finally:
        await origin.stop()


async def test_etag_revalidation_304_upstream_200_to_client(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(2):
                async with s.get(url + "/etag") as r:
                    assert r.status == 200
                    assert await r.text() == "versioned"
            # The client's own conditional request: answered 304 after revalidation.
            async with s.get(url + "/etag", headers={"If-None-Match": '"v1"'}) as r:
                assert r.status == 304
        assert origin.app[HITS]["etag-304"] == 2
        recs = eng.records_since(0, 10)[0]
        assert [r.cache for r in recs] == ["miss", "revalidated", "revalidated"]
        assert "fwd-status=304" in dict(recs[1].response_headers)["Cache-Status"]
    finally:
        await origin.stop()


async def test_post_invalidates(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(2):
                async with s.get(url + "/item") as r:
                    await r.read()
            async with s.post(url + "/item", data=b"x") as r:
                assert r.status == 201
            async with s.get(url + "/item") as r:
                assert r.headers["Cache-Status"].startswith("workbench; fwd=")
        assert origin.app[HITS]["GET /item"] == 2
    finally:
        await origin.stop()


async def test_100_concurrent_misses_make_one_origin_request(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as s:

            async def one():
                async with s.get(url + "/cc?cc=max-age=60&delay=0.3") as r:
                    return r.status, await r.text()

            results = await asyncio.gather(*(one() for _ in range(100)))
        assert {r for r in results} == {(200, "body 1")}
        assert origin.app[HITS]["/cc?cc=max-age=60&delay=0.3"] == 1
        assert eng.cache_layer.collapsed == 99
    finally:
        await origin.stop()


async def test_purge_empties_the_cache(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            for path in ("/cc?a=1", "/cc?a=2", "/item"):
                async with s.get(url + path) as r:
                    await r.read()
        assert eng.cache.stats()["entries"] == 3
        assert eng.control.purge_cache("/cc").value == 2
        assert eng.control.purge_cache().value == 1
        assert eng.cache.stats()["entries"] == 0
    finally:
        await origin.stop()


async def test_stale_if_error_serves_stale_when_every_backend_is_down(engine_factory):
    origin, eng, url = await make(engine_factory)
    path = "/cc?cc=max-age=1,stale-if-error=600"
    async with aiohttp.ClientSession() as s:
        async with s.get(url + path) as r:
            body = await r.text()
        await origin.stop()
        # Let the entry go stale (freshness is one second).
        await wait_for(
            lambda: eng.cache.lookup("GET", eng.records_since(0, 1)[0][0].url, []).status != "hit",
            5,
        )
        async with s.get(url + path) as r:
            assert r.status == 200
            assert await r.text() == body
            assert "stale-if-error" in r.headers["Cache-Status"]
    rec = eng.records_since(0, 10)[0][-1]
    assert rec.cache == "stale"


async def test_only_if_cached_504_and_authorization_bypass(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/cc?n=1", headers={"Cache-Control": "only-if-cached"}) as r:
                assert r.status == 504
            for _ in range(2):
                async with s.get(url + "/cc?n=2", headers={"Authorization": "Bearer x"}) as r:
                    await r.read()
        assert origin.app[HITS]["/cc?n=1"] == 0
        assert origin.app[HITS]["/cc?n=2"] == 2
        assert eng.records_since(0, 10)[0][-1].cache == "bypass"
    finally:
        await origin.stop()


async def test_large_bodies_stream_uncached_and_memory_stays_bounded(engine_factory):
    origin, eng, url = await make(engine_factory, max_size=200_000, max_object_size=50_000)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/cc?size=120000") as r:
                assert len(await r.read()) == 120000
            for i in range(20):
                async with s.get(url + f"/cc?size=30000&i={i}") as r:
                    assert len(await r.read()) == 30000
                assert eng.cache.stats()["bytes"] <= 200_000
        assert eng.cache.stats()["evictions"] > 0
        assert origin.app[HITS]["/cc?size=120000"] == 1
    finally:
        await origin.stop()


async def test_forward_proxy_caches_get(engine_factory):
    origin, eng, _ = await make(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(3):
                async with s.get(origin.url + "/item", proxy=eng.listeners["forward"]) as r:
                    assert await r.text() == "item"
        assert origin.app[HITS]["GET /item"] == 1
        assert [r.cache for r in eng.records_since(0, 10)[0]] == ["miss", "hit", "hit"]
    finally:
        await origin.stop()


async def test_forward_through_own_reverse_proxy_does_not_wait_on_itself(engine_factory):
    """The forward proxy fetching a URL served by the same engine's reverse proxy: both see the
    same cache key; collapsing must not make the reverse request wait for the forward one."""
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
            async with s.get(url + "/cc?cc=no-store", proxy=eng.listeners["forward"]) as r:
                assert r.status == 200
        recs = eng.records_since(0, 10)[0]
        reverse = next(r for r in recs if r.proxy == "reverse")
        assert not any(step[1] == "WAIT" for step in reverse.trace), reverse.trace
    finally:
        await origin.stop()

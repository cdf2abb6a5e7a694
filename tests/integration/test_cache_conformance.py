"""RFC 9111 / 9213 / 9110-ranges conformance of the shared cache, seen by real clients.

Each test drives a real origin on 127.0.0.1 through the engine's proxies and checks what
reached the origin and what the client got (issue 10's "Done means").
"""

from __future__ import annotations

import asyncio
import collections
import time

import aiohttp
import pytest
from aiohttp import web
from configs import forward_proxy, reverse_proxy
from origin import Origin, wait_for

from workbench.config.model import (
    CacheConfig,
    Config,
)

HITS = web.AppKey("hits", collections.Counter)
MIB = 1 << 20
BIG = bytes(range(256)) * (MIB // 256)


def rfc_origin_app() -> web.Application:
    """An origin whose caching headers each route fixes, counting what reaches it."""
    hits: collections.Counter = collections.Counter()

    async def big(request: web.Request) -> web.Response:
        """1 MiB, cacheable; answers a Range itself (206) when asked with ?ranges=1."""
        hits[f"{request.method} big"] += 1
        headers = {"Cache-Control": "max-age=60", "ETag": '"big-1"', "Content-Type": "app/x"}
        rng = request.headers.get("Range")
        if rng:
            hits["big range"] += 1
            start, end = (int(p) for p in rng.removeprefix("bytes=").split("-"))
            headers["Content-Range"] = f"bytes {start}-{end}/{len(BIG)}"
            return web.Response(status=206, body=BIG[start : end + 1], headers=headers)
        return web.Response(body=BIG, headers=headers)

    async def swr(request: web.Request) -> web.Response:
        """Fresh for 1 s, then stale-while-revalidate; revalidation takes 0.3 s."""
        if request.headers.get("If-None-Match") == '"s1"':
            hits["swr 304"] += 1
            await asyncio.sleep(0.3)
            return web.Response(status=304, headers={"ETag": '"s1"', "Cache-Control": "max-age=60"})
        hits["swr 200"] += 1
        return web.Response(
            text="swr body",
            headers={"ETag": '"s1"', "Cache-Control": "max-age=1, stale-while-revalidate=60"},
        )

    async def headers(request: web.Request) -> web.Response:
        """Answers with the response fields given as query parameters (name=value)."""
        hits[f"{request.method} {request.path_qs}"] += 1
        return web.Response(
            text=f"body {hits[request.method + ' ' + request.path_qs]}", headers=dict(request.query)
        )

    async def item(request: web.Request) -> web.Response:
        hits[f"{request.method} item"] += 1
        if request.method == "GET":
            return web.Response(text="item", headers={"Cache-Control": "max-age=60"})
        return web.Response(text="done")

    async def doc(request: web.Request) -> web.Response:
        hits[f"{request.method} doc"] += 1
        if request.method == "POST":
            return web.Response(
                text="posted",
                headers={"Cache-Control": "max-age=60", "Content-Location": "/doc"},
            )
        return web.Response(text="from GET", headers={"Cache-Control": "max-age=60"})

    async def ae(request: web.Request) -> web.Response:
        hits["ae"] += 1
        return web.Response(
            text=f"encoded for {request.headers.get('Accept-Encoding')}",
            headers={"Cache-Control": "max-age=60", "Vary": "Accept-Encoding"},
        )

    async def flaky(request: web.Request) -> web.Response:
        """Cacheable for 1 s with stale-if-error; answers 503 once ``hits["fail"]`` is set."""
        hits["flaky"] += 1
        if hits["fail"]:
            return web.Response(status=503, text="down")
        return web.Response(
            text="good copy",
            headers={"Cache-Control": request.query.get("cc", "max-age=1"), "ETag": '"f"'},
        )

    app = web.Application()
    app[HITS] = hits
    app.router.add_get("/flaky", flaky)
    app.router.add_get("/big", big)
    app.router.add_get("/swr", swr)
    app.router.add_get("/h", headers)
    app.router.add_route("*", "/item", item)
    app.router.add_route("*", "/doc", doc)
    app.router.add_get("/ae", ae)
    return app


def config(origin_url: str, *, retries: int = 1, **cache_kw) -> Config:
    return Config(
        reverse=reverse_proxy(origin_url, pool="o", route="all", cache=True, retries=retries),
        forward=forward_proxy(cache=True),
        cache=CacheConfig(**cache_kw),
    )


async def make(engine_factory, **kw):
    origin = await Origin("rfc-origin", rfc_origin_app()).start()
    eng = await engine_factory(config(origin.url, **kw))
    return origin, eng, eng.listeners["reverse"]


# -- ranges --------------------------------------------------------------------------------


async def test_range_on_a_cached_1mib_object_is_a_206_from_the_cache(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/big") as r:
                assert len(await r.read()) == MIB
            # curl -r 0-99
            async with s.get(url + "/big", headers={"Range": "bytes=0-99"}) as r:
                body = await r.read()
                assert r.status == 206
                assert r.headers["Content-Range"] == f"bytes 0-99/{MIB}"
                assert r.headers["Content-Length"] == "100"
                assert body == BIG[:100]
                assert "hit" in r.headers["Cache-Status"]
            async with s.get(url + "/big", headers={"Range": "bytes=-10"}) as r:
                assert r.status == 206 and await r.read() == BIG[-10:]
                assert r.headers["Content-Range"] == f"bytes {MIB - 10}-{MIB - 1}/{MIB}"
            async with s.get(url + "/big", headers={"Range": f"bytes={MIB}-"}) as r:
                assert r.status == 416
                assert r.headers["Content-Range"] == f"bytes */{MIB}"
            # Several ranges: the whole representation (allowed by RFC 9110 §14.2).
            async with s.get(url + "/big", headers={"Range": "bytes=0-1,5-6"}) as r:
                assert r.status == 200 and len(await r.read()) == MIB
            # HEAD ignores Range.
            async with s.head(url + "/big", headers={"Range": "bytes=0-99"}) as r:
                assert r.status == 200 and r.headers["Content-Length"] == str(MIB)
        assert origin.app[HITS]["GET big"] == 1
    finally:
        await origin.stop()


async def test_if_range(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/big") as r:
                await r.read()
            match = {"Range": "bytes=10-19", "If-Range": '"big-1"'}
            async with s.get(url + "/big", headers=match) as r:
                assert r.status == 206 and await r.read() == BIG[10:20]
            changed = {"Range": "bytes=10-19", "If-Range": '"big-0"'}
            async with s.get(url + "/big", headers=changed) as r:
                assert r.status == 200 and len(await r.read()) == MIB
        assert origin.app[HITS]["GET big"] == 1
    finally:
        await origin.stop()


async def test_range_miss_is_forwarded_and_the_206_is_not_stored(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/big", headers={"Range": "bytes=0-99"}) as r:
                assert r.status == 206 and await r.read() == BIG[:100]
                assert r.headers["Content-Range"] == f"bytes 0-99/{MIB}"
            assert origin.app[HITS]["big range"] == 1  # forwarded with its Range
            async with s.get(url + "/big") as r:
                assert r.status == 200 and await r.read() == BIG
                assert "fwd=" in r.headers["Cache-Status"]  # not answered from the 206
        assert origin.app[HITS]["GET big"] == 2
    finally:
        await origin.stop()


# -- stale-while-revalidate without a stampede ------------------------------------------------


async def test_50_concurrent_stale_hits_make_one_revalidation(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as s:
            async with s.get(url + "/swr") as r:
                assert await r.text() == "swr body"
            entry = next(iter(eng.cache.memory))
            await wait_for(lambda: entry.age(time.time()) > entry.lifetime + 0.05, 5)

            async def one():
                async with s.get(url + "/swr") as r:
                    return r.status, await r.text(), r.headers["Cache-Status"]

            results = await asyncio.gather(*(one() for _ in range(50)))
            assert {(st, body) for st, body, _ in results} == {(200, "swr body")}
            assert all("hit" in cs for _, _, cs in results)
            await wait_for(lambda: origin.app[HITS]["swr 304"] >= 1, 5)
            await wait_for(lambda: eng.cache.stats()["revalidated"] >= 1, 5)
            async with s.get(url + "/swr") as r:
                assert r.headers["Cache-Status"].startswith("workbench; hit")
        assert origin.app[HITS]["swr 304"] == 1
        assert origin.app[HITS]["swr 200"] == 1
    finally:
        await origin.stop()


# -- dates ------------------------------------------------------------------------------------


async def test_invalid_expires_is_a_miss_on_the_next_request(engine_factory):
    origin, eng, url = await make(engine_factory)
    path = "/h?Expires=Sun, 06 Nov 2094 08:49:37"  # no GMT: not an HTTP-date
    try:
        async with aiohttp.ClientSession() as s:
            for n in (1, 2):
                async with s.get(url + path) as r:
                    assert await r.text() == f"body {n}"
                    assert "hit" not in r.headers["Cache-Status"]
    finally:
        await origin.stop()


OLD = "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    ("fields", "second_is_hit", "absent_on_hit"),
    [
        ({"Cache-Control": "max-age=0, s-maxage=60"}, True, None),  # s-maxage wins
        ({"Cache-Control": "no-store, must-understand, max-age=60"}, True, None),
        (
            {"Cache-Control": 'max-age=60, no-cache="Set-Cookie"', "Set-Cookie": "s=1"},
            True,
            "Set-Cookie",
        ),
        ({"Cache-Control": 'max-age=60, private="X-User"', "X-User": "ann"}, True, "X-User"),
        ({"Cache-Control": "max-age=60, no-transform", "Content-Type": "image/png"}, True, None),
        ({"Last-Modified": OLD}, True, None),  # heuristic freshness
        ({"Cache-Control": "max-age=3600", "Age": "7200, 0"}, False, None),  # first Age counts
        ({"Cache-Control": "max-age=3600", "Age": "0, 7200"}, True, None),
        ({"Cache-Control": "max-age=3600", "Age": "abc"}, False, None),
        ({"Expires": "Sun, 06 Nov 2094 08:49:37 GMT"}, True, None),
        ({"Expires": "Sun, 06 Nov 2094 08:49:37 GMT junk"}, False, None),
    ],
)
async def test_response_directives_on_real_traffic(
    engine_factory, fields: dict[str, str], second_is_hit: bool, absent_on_hit: str | None
):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/h", params=fields) as r:
                assert await r.text() == "body 1"
            async with s.get(url + "/h", params=fields) as r:
                body = await r.text()
                assert (body == "body 1") is second_is_hit, r.headers["Cache-Status"]
                assert r.headers["Cache-Status"].startswith("workbench; hit") is second_is_hit
                if absent_on_hit:
                    assert absent_on_hit not in r.headers
    finally:
        await origin.stop()


async def test_304_updates_headers_but_not_the_length(engine_factory):
    hits = collections.Counter()

    async def rev(request: web.Request) -> web.Response:
        hits[request.headers.get("If-None-Match", "full")] += 1
        if request.headers.get("If-None-Match") == '"r"':
            return web.Response(
                status=304,
                headers={
                    "ETag": '"r"',
                    "Cache-Control": "max-age=60",
                    "X-Rev": "2",
                    "Content-Length": "0",
                },
            )
        return web.Response(
            text="0123456789", headers={"ETag": '"r"', "Cache-Control": "max-age=0", "X-Rev": "1"}
        )

    app = web.Application()
    app.router.add_get("/rev", rev)
    origin = await Origin("rev", app).start()
    eng = await engine_factory(config(origin.url))
    url = eng.listeners["reverse"]
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/rev") as r:
                assert await r.text() == "0123456789" and r.headers["X-Rev"] == "1"
            async with s.get(url + "/rev") as r:  # stale at once: revalidated by a 304
                assert await r.text() == "0123456789"
                assert r.headers["X-Rev"] == "2" and r.headers["Content-Length"] == "10"
            async with s.get(url + "/rev") as r:  # now fresh for 60 s
                assert r.headers["Cache-Status"].startswith("workbench; hit")
                assert await r.text() == "0123456789" and r.headers["X-Rev"] == "2"
        assert hits == {"full": 1, '"r"': 1}
    finally:
        await origin.stop()


# -- invalidation -----------------------------------------------------------------------------


async def test_m_search_invalidates_the_cached_url(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(2):
                async with s.get(url + "/item") as r:
                    await r.read()
            assert origin.app[HITS]["GET item"] == 1
            async with s.request("M-SEARCH", url + "/item") as r:
                assert r.status == 200
            async with s.get(url + "/item") as r:
                assert "fwd=uri-miss" in r.headers["Cache-Status"]
        assert origin.app[HITS]["GET item"] == 2
        assert origin.app[HITS]["M-SEARCH item"] == 1
    finally:
        await origin.stop()


# -- targeted cache control (RFC 9213) ---------------------------------------------------------


async def test_cdn_cache_control_overrides_no_store_in_the_reverse_proxy(engine_factory):
    origin, eng, url = await make(engine_factory)
    path = "/h?CDN-Cache-Control=max-age=60&Cache-Control=no-store"
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(2):
                async with s.get(url + path) as r:
                    assert await r.text() == "body 1"
                    # Passed on unchanged: the client still sees both fields.
                    assert r.headers["CDN-Cache-Control"] == "max-age=60"
                    assert r.headers["Cache-Control"] == "no-store"
            assert r.headers["Cache-Status"].startswith("workbench; hit")
            # The forward proxy is not the CDN the origin addresses: no-store holds there.
            for _ in range(2):
                async with s.get(origin.url + path, proxy=eng.listeners["forward"]) as r:
                    await r.read()
                    assert "hit" not in r.headers["Cache-Status"]
        assert origin.app[HITS]["GET " + path] == 3  # one reverse miss, two forward
    finally:
        await origin.stop()


# -- Set-Cookie (RFC 9111 §7.3) ------------------------------------------------------------------


async def test_set_cookie_responses_are_stored_and_marked(engine_factory):
    origin, eng, url = await make(engine_factory)
    path = "/h?Cache-Control=max-age=60&Set-Cookie=a=1"
    try:
        async with aiohttp.ClientSession() as s:
            for _ in range(2):
                async with s.get(url + path) as r:
                    assert await r.text() == "body 1"
                    assert r.headers["Set-Cookie"] == "a=1"
        assert eng.cache.entries()[0]["set_cookie"] is True
    finally:
        await origin.stop()


async def test_store_set_cookie_off(engine_factory):
    origin, eng, url = await make(engine_factory, store_set_cookie=False)
    path = "/h?Cache-Control=max-age=60&Set-Cookie=a=1"
    try:
        async with aiohttp.ClientSession() as s:
            for n in (1, 2):
                async with s.get(url + path) as r:
                    assert await r.text() == f"body {n}"
    finally:
        await origin.stop()


# -- stale on error ------------------------------------------------------------------------


async def _stale_after_origin_stops(engine_factory, path: str, **kw):
    origin, eng, url = await make(engine_factory, retries=0, **kw)
    async with aiohttp.ClientSession() as s:
        async with s.get(url + path) as r:
            assert r.status == 200
        entry = next(iter(eng.cache.memory))
        await origin.stop()
        await wait_for(lambda: entry.age(time.time()) > entry.lifetime + 0.05, 5)
        async with s.get(url + path) as r:
            return r.status, r.headers.get("Cache-Status", ""), await r.read()


async def test_no_stale_on_error_without_permission(engine_factory):
    status, cs, _ = await _stale_after_origin_stops(
        engine_factory, "/h?Cache-Control=max-age=1&ETag=%22e%22"
    )
    assert status == 502 and "stale-if-error" not in cs


async def test_configured_stale_window_serves_stale_when_the_origin_is_down(engine_factory):
    status, cs, body = await _stale_after_origin_stops(
        engine_factory, "/h?Cache-Control=max-age=1&ETag=%22e%22", serve_stale_on_error=60.0
    )
    assert status == 200 and "stale-if-error" in cs and body == b"body 1"


async def test_configured_stale_window_never_overrides_must_revalidate(engine_factory):
    status, cs, _ = await _stale_after_origin_stops(
        engine_factory,
        "/h?Cache-Control=max-age=1, must-revalidate&ETag=%22e%22",
        serve_stale_on_error=60.0,
    )
    assert status in (502, 504) and "stale-if-error" not in cs


async def _flaky_after_stale(engine_factory, cc: str, req_headers=None):
    origin, eng, url = await make(engine_factory, retries=0)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/flaky", params={"cc": cc}) as r:
                assert await r.text() == "good copy"
            entry = next(iter(eng.cache.memory))
            await wait_for(lambda: entry.age(time.time()) > entry.lifetime + 0.05, 5)
            origin.app[HITS]["fail"] = 1
            before = origin.app[HITS]["flaky"]
            async with s.get(url + "/flaky", params={"cc": cc}, headers=req_headers or {}) as r:
                out = r.status, await r.text(), r.headers.get("Cache-Status", "")
            return (*out, origin.app[HITS]["flaky"] - before)
    finally:
        await origin.stop()


async def test_stale_if_error_from_the_response_covers_a_5xx(engine_factory):
    status, body, cs, attempts = await _flaky_after_stale(
        engine_factory, "max-age=1, stale-if-error=60"
    )
    assert (status, body, attempts) == (200, "good copy", 1)
    assert "stale-if-error" in cs


async def test_stale_if_error_from_the_request_covers_a_5xx(engine_factory):
    status, body, _, attempts = await _flaky_after_stale(
        engine_factory, "max-age=1", {"Cache-Control": "stale-if-error=60"}
    )
    assert (status, body, attempts) == (200, "good copy", 1)


async def test_s_maxage_forbids_stale_if_error(engine_factory):
    status, body, _, attempts = await _flaky_after_stale(
        engine_factory, "s-maxage=1, stale-if-error=60"
    )
    assert (status, body, attempts) == (503, "down", 1)


# -- POST → GET (RFC 9110 §9.3.3) ------------------------------------------------------------


async def test_post_with_content_location_answers_the_next_get(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.post(url + "/doc", data=b"x") as r:
                assert await r.text() == "posted"
            async with s.get(url + "/doc") as r:
                assert await r.text() == "posted"
                assert r.headers["Cache-Status"].startswith("workbench; hit")
        assert origin.app[HITS]["GET doc"] == 0
    finally:
        await origin.stop()


# -- Vary normalisation and HEAD ------------------------------------------------------------


async def test_equivalent_accept_encodings_share_one_entry(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession(auto_decompress=False) as s:
            for value in ("gzip, br", "br,gzip", "BR, GZIP;q=1"):
                async with s.get(url + "/ae", headers={"Accept-Encoding": value}) as r:
                    assert await r.text() == "encoded for gzip, br"
            async with s.get(url + "/ae", headers={"Accept-Encoding": "gzip"}) as r:
                assert await r.text() == "encoded for gzip"
        assert origin.app[HITS]["ae"] == 2
    finally:
        await origin.stop()


async def test_head_is_answered_from_a_stored_get(engine_factory):
    origin, eng, url = await make(engine_factory)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/item") as r:
                await r.read()
            async with s.head(url + "/item") as r:
                assert r.status == 200 and r.headers["Content-Length"] == "4"
                assert r.headers["Cache-Status"].startswith("workbench; hit")
        assert origin.app[HITS]["HEAD item"] == 0 and origin.app[HITS]["GET item"] == 1
    finally:
        await origin.stop()

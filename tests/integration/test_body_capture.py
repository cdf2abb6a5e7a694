"""Bodies in records: what the client sent and what it received, through the real proxies."""

from __future__ import annotations

import json

import aiohttp
from aiohttp import web
from configs import reverse_proxy
from origin import Origin, wait_for

from workbench.config.model import (
    Address,
    Config,
    ForwardConfig,
    RecordsConfig,
    RuleConfig,
)


def reverse_config(origin, *, cache: bool = False, records=None, rules=()) -> Config:
    return Config(
        reverse=reverse_proxy([origin.url], route="all", cache=cache),
        records=records or RecordsConfig(),
        rules=tuple(rules),
    )


async def _last(eng, path: str):
    await wait_for(lambda: any(r.path == path for r in eng.records._ring))
    return [r for r in eng.records._ring if r.path == path][-1]


async def test_json_post_keeps_both_bodies(origins, engine_factory):
    (web,) = await origins("web-1")
    eng = await engine_factory(reverse_config(web))
    payload = {"name": "lamp", "price": 12}
    async with aiohttp.ClientSession() as s:
        async with s.post(eng.listeners["reverse"] + "/echo", json=payload) as r:
            received = await r.read()
    rec = await _last(eng, "/echo")
    assert json.loads(rec.request_bytes()) == payload
    assert rec.request_body_size == len(json.dumps(payload))
    assert rec.response_bytes() == received
    assert rec.response_body_size == len(received)
    assert rec.target == "/echo" and rec.upstream_target == "/echo"


async def test_block_page_and_cache_hit_bodies_are_what_the_client_got(engine_factory):
    async def cached(request: web.Request) -> web.Response:
        return web.Response(body=b"c" * 3000, headers={"Cache-Control": "max-age=60"})

    app = web.Application()
    app.router.add_get("/{tail:.*}", cached)
    origin = await Origin("web-1", app).start()
    try:
        rule = RuleConfig(name="no-secret", when="~u /secret", action="block", status=403)
        eng = await engine_factory(reverse_config(origin, cache=True, rules=[rule]))
        url = eng.listeners["reverse"]
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/secret") as r:
                block_page = await r.read()
                assert r.status == 403
            for _ in range(2):
                async with s.get(url + "/page") as r:
                    assert await r.read() == b"c" * 3000
    finally:
        await origin.stop()
    blocked = await _last(eng, "/secret")
    assert blocked.response_bytes() == block_page and block_page
    await wait_for(lambda: sum(r.path == "/page" for r in eng.records._ring) == 2)
    pages = [r for r in eng.records._ring if r.path == "/page"]
    assert [r.cache for r in pages] == ["miss", "hit"]
    assert all(r.response_bytes() == b"c" * 3000 for r in pages)


async def test_cap_cuts_and_says_how_much(origins, engine_factory):
    (web,) = await origins("web-1")
    records = RecordsConfig(body_cap=1000, body_budget=10_000)
    eng = await engine_factory(reverse_config(web, records=records))
    async with aiohttp.ClientSession() as s:
        async with s.get(eng.listeners["reverse"] + "/big?size=200000") as r:
            assert len(await r.read()) == 200_000
        # A streamed upload (past the server's buffering threshold) is kept as it goes upstream.
        async with s.post(eng.listeners["reverse"] + "/upload", data=b"u" * 400_000) as r:
            assert (await r.json())["received"] == 400_000
    big = await _last(eng, "/big?size=200000")
    assert big.response_bytes() == b"x" * 1000
    assert big.response_body_size == 200_000
    up = await _last(eng, "/upload")
    assert up.request_bytes() == b"u" * 1000
    assert up.request_body_size == 400_000


async def test_budget_drops_oldest_bodies_first(origins, engine_factory):
    (web,) = await origins("web-1")
    records = RecordsConfig(body_cap=1000, body_budget=3000)
    eng = await engine_factory(reverse_config(web, records=records))
    async with aiohttp.ClientSession() as s:
        for i in range(5):
            async with s.get(eng.listeners["reverse"] + f"/big?size=1000&n={i}") as r:
                await r.read()
    await wait_for(lambda: len(eng.records) == 5)
    recs = list(eng.records._ring)
    assert [r.response_body is not None for r in recs] == [False, False, True, True, True]
    assert "budget" in (recs[0].bodies_dropped or "")
    assert recs[-1].bodies_dropped is None
    assert eng.records.body_bytes == 3000


async def test_capture_off_keeps_nothing(origins, engine_factory):
    (web,) = await origins("web-1")
    eng = await engine_factory(reverse_config(web, records=RecordsConfig(body_cap=0)))
    async with aiohttp.ClientSession() as s:
        async with s.post(eng.listeners["reverse"] + "/echo", data=b"hello") as r:
            await r.read()
    rec = await _last(eng, "/echo")
    assert rec.request_body is None and rec.response_body is None
    assert rec.body_cap == 0 and rec.bodies_dropped is None
    assert eng.records.body_bytes == 0


async def test_forward_proxy_keeps_absolute_form_target(origins, engine_factory):
    (web,) = await origins("web-1")
    eng = await engine_factory(
        Config(forward=ForwardConfig(listen=Address("127.0.0.1", 0), cache=False))
    )
    async with aiohttp.ClientSession() as s:
        async with s.post(web.url + "/echo", data=b"abc", proxy=eng.listeners["forward"]) as r:
            body = await r.read()
    rec = await _last(eng, "/echo")
    assert rec.target == web.url + "/echo"
    assert rec.upstream_target == "/echo"
    assert rec.request_bytes() == b"abc" and rec.response_bytes() == body


async def test_the_api_gives_one_records_bodies(origins, engine_factory):
    from dataclasses import replace

    from workbench.config.model import AdminConfig

    (web,) = await origins("web-1")
    config = replace(reverse_config(web), admin=AdminConfig(listen=Address("127.0.0.1", 0)))
    eng = await engine_factory(config)
    payload = {"name": "lamp", "price": 12}
    async with aiohttp.ClientSession() as s:
        async with s.post(eng.listeners["reverse"] + "/echo", json=payload) as r:
            received = await r.text()
        async with s.get(eng.listeners["reverse"] + "/encoded/br") as r:
            assert r.status == 200
        post = await _last(eng, "/echo")
        binary = await _last(eng, "/encoded/br")
        async with s.get(f"{eng.listeners['admin']}/api/requests/{post.id}") as r:
            shown = await r.json()
        async with s.get(f"{eng.listeners['admin']}/api/requests/{binary.id}") as r:
            compressed = await r.json()
    assert (shown["method"], shown["path"], shown["status"]) == ("POST", "/echo", 200)
    assert ["Content-Type", "application/json"] in shown["request_headers"]
    assert json.loads(shown["request_body"]) == payload
    assert shown["request_body_encoding"] == "utf-8" and shown["response_body"] == received
    # A br body is kept as the client got it: bytes that are not text come as base64.
    import base64

    import brotli

    assert compressed["response_body_encoding"] == "base64"
    raw = base64.b64decode(compressed["response_body"])
    assert json.loads(brotli.decompress(raw))["encoded"] == "br"


async def test_the_api_says_when_a_body_was_cut_or_dropped(origins, engine_factory):
    from dataclasses import replace

    from workbench.config.model import AdminConfig

    (web,) = await origins("web-1")
    records = RecordsConfig(body_cap=1000, body_budget=3000)
    config = replace(
        reverse_config(web, records=records), admin=AdminConfig(listen=Address("127.0.0.1", 0))
    )
    eng = await engine_factory(config)
    api = eng.listeners["admin"] + "/api/requests/"
    async with aiohttp.ClientSession() as s:
        for i in range(4):
            async with s.get(eng.listeners["reverse"] + f"/big?size=5000&n={i}") as r:
                await r.read()
        await wait_for(lambda: len(eng.records) == 4)
        first, *_, last = list(eng.records._ring)
        async with s.get(api + str(first.id)) as r:
            dropped = await r.json()
        async with s.get(api + str(last.id)) as r:
            cut = await r.json()
    assert dropped["response_body"] is None and dropped["response_body_complete"] is False
    assert "body budget" in dropped["bodies_dropped"] and dropped["body_cap"] == 1000
    assert cut["response_body"] == "x" * 1000 and cut["response_body_size"] == 5000
    assert cut["response_body_complete"] is False and cut["bodies_dropped"] is None
    assert cut["request_body_complete"] is True  # a GET: the empty body is whole

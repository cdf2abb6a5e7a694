"""The reverse proxy end to end: real origins and real HTTP clients on 127.0.0.1."""

from __future__ import annotations

import asyncio
import collections
import json

import aiohttp
import pytest
from origin import STATE, wait_for

from workbench.config.model import (
    Address,
    BackendConfig,
    Config,
    HealthConfig,
    Limits,
    PassiveConfig,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
    Timeouts,
)


def reverse_config(pools: dict[str, PoolConfig], routes=None, **kw) -> Config:
    routes = routes or tuple(
        RouteConfig(name=f"r-{name}", pool=name, path_prefix="/") for name in list(pools)[:1]
    )
    return Config(
        reverse=ReverseConfig(
            listen=Address("127.0.0.1", 0), routes=tuple(routes), pools=pools, cache=False, **kw
        )
    )


def pool(name, origins, weights=None, **kw) -> PoolConfig:
    weights = weights or [1] * len(origins)
    return PoolConfig(
        name=name,
        backends=tuple(
            BackendConfig(name=o.name, url=o.url, weight=w)
            for o, w in zip(origins, weights, strict=True)
        ),
        **kw,
    )


async def test_weighted_shares_follow_3_1_1(origins, engine_factory):
    web = await origins("web-1", "web-2", "web-3")
    eng = await engine_factory(
        reverse_config({"web": pool("web", web, [3, 1, 1], algorithm="weighted_round_robin")})
    )
    url = eng.listeners["reverse"]
    seen = collections.Counter()
    async with aiohttp.ClientSession() as s:
        for _ in range(300):
            async with s.get(url + "/") as r:
                assert r.status == 200
                seen[r.headers["X-Backend"]] += 1
    assert seen == {"web-1": 180, "web-2": 60, "web-3": 60}


async def test_killed_backend_get_keeps_succeeding(origins, engine_factory):
    web = await origins("web-1", "web-2", "web-3")
    eng = await engine_factory(
        reverse_config({"web": pool("web", web, retries=2, algorithm="round_robin")})
    )
    url = eng.listeners["reverse"]
    statuses = collections.Counter()
    async with aiohttp.ClientSession() as s:
        for i in range(120):
            if i == 30:
                await web[1].stop()
            async with s.get(url + "/") as r:
                statuses[r.status] += 1
    assert statuses == {200: 120}
    # Passive outlier detection took the dead backend out of rotation.
    state = eng.pools["web"].backends["web-2"].state
    assert state == "ejected"


async def test_weight_zero_gets_no_more_traffic(origins, engine_factory):
    web = await origins("web-1", "web-2")
    eng = await engine_factory(reverse_config({"web": pool("web", web, algorithm="round_robin")}))
    url = eng.listeners["reverse"]
    res = eng.control.set_weight("web", "web-2", 0)
    assert res.ok
    async with aiohttp.ClientSession() as s:
        for _ in range(20):
            async with s.get(url + "/") as r:
                assert r.headers["X-Backend"] == "web-1"
    assert not eng.control.set_weight("web", "web-2", -1).ok
    assert eng.pools["web"].backends["web-2"].weight == 0


async def test_routes_longest_prefix_and_strip(origins, engine_factory):
    web, api = await origins("web-1", "api-1")
    cfg = reverse_config(
        {"web": pool("web", [web]), "api": pool("api", [api])},
        routes=(
            RouteConfig(name="site", pool="web", path_prefix="/"),
            RouteConfig(name="api", pool="api", path_prefix="/v1", strip_prefix=True),
        ),
    )
    eng = await engine_factory(cfg)
    url = eng.listeners["reverse"]
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/v1/echo?x=1") as r:
            data = json.loads(await r.text())
            assert data["backend"] == "api-1"
            assert data["path"] == "/echo?x=1"
        async with s.get(url + "/v1x") as r:
            assert r.headers["X-Backend"] == "web-1"
        async with s.get(url + "/anything") as r:
            assert r.headers["X-Backend"] == "web-1"


async def test_no_route_404(origins, engine_factory):
    (web,) = await origins("web-1")
    cfg = reverse_config(
        {"web": pool("web", [web])},
        routes=(RouteConfig(name="only-api", pool="web", path_prefix="/api"),),
    )
    eng = await engine_factory(cfg)
    async with aiohttp.ClientSession() as s, s.get(eng.listeners["reverse"] + "/x") as r:
        assert r.status == 404
        assert "No route" in await r.text()


async def test_forwarding_headers_hop_by_hop_and_hidden(origins, engine_factory):
    (web,) = await origins("web-1")
    eng = await engine_factory(reverse_config({"web": pool("web", [web])}))
    url = eng.listeners["reverse"]
    async with aiohttp.ClientSession() as s:
        async with s.get(
            url + "/echo",
            headers={
                "Connection": "keep-alive, X-Secret",
                "X-Secret": "1",
                "Keep-Alive": "5",
                "X-Forwarded-For": "10.0.0.9",
            },
        ) as r:
            data = json.loads(await r.text())
            assert "Server" not in r.headers or r.headers["Server"] != "origin/1.0"
            assert "X-Powered-By" not in r.headers
            assert "workbench" in r.headers["Via"]
    got = {k.lower(): v for k, v in data["headers"]}
    assert "x-secret" not in got and "keep-alive" not in got
    assert got["x-forwarded-for"] == "10.0.0.9, 127.0.0.1"
    assert got["x-forwarded-proto"] == "http"
    assert got["x-forwarded-host"].startswith("127.0.0.1:")
    assert "for=127.0.0.1;proto=http" in got["forwarded"]
    assert got["via"] == "1.1 workbench"


async def test_dead_backend_502_and_no_backend_503(origins, engine_factory):
    (web,) = await origins("web-1")
    port = web.port
    await web.stop()
    cfg = reverse_config(
        {"web": pool("web", [web], passive=PassiveConfig(consecutive_failures=2, eject_for=30))}
    )
    eng = await engine_factory(cfg)
    url = eng.listeners["reverse"]
    async with aiohttp.ClientSession() as s:
        for _ in range(2):
            async with s.get(url + "/") as r:
                assert r.status == 502
                assert f"127.0.0.1:{port}" in await r.text()
        async with s.get(url + "/") as r:
            assert r.status == 503
            assert "No healthy backend" in await r.text()


async def test_response_timeout_504(origins, engine_factory):
    (web,) = await origins("web-1")
    cfg = reverse_config(
        {"web": pool("web", [web], timeouts=Timeouts(connect=1, response=0.3, idle=5))}
    )
    eng = await engine_factory(cfg)
    async with aiohttp.ClientSession() as s:
        async with s.get(eng.listeners["reverse"] + "/slow?delay=2") as r:
            assert r.status == 504
            assert "timeout" in (await r.text()).lower()


async def test_post_is_not_retried(origins, engine_factory):
    web = await origins("web-1", "web-2")
    await web[0].stop()
    cfg = reverse_config({"web": pool("web", web, retries=3, algorithm="round_robin")})
    eng = await engine_factory(cfg)
    async with aiohttp.ClientSession() as s:
        async with s.post(eng.listeners["reverse"] + "/echo", data=b"abc") as r:
            assert r.status == 502
        async with s.post(eng.listeners["reverse"] + "/echo", data=b"abc") as r:
            assert r.status == 200
            assert json.loads(await r.text())["body_len"] == 3


async def test_streams_large_bodies_both_ways(origins, engine_factory):
    (web,) = await origins("web-1")
    eng = await engine_factory(reverse_config({"web": pool("web", [web])}))
    url = eng.listeners["reverse"]
    size = 20 * 1024 * 1024
    async with aiohttp.ClientSession() as s:
        async with s.get(url + f"/big?size={size}") as r:
            n = 0
            async for chunk in r.content.iter_chunked(1 << 16):
                n += len(chunk)
            assert n == size

        async def gen():
            for _ in range(160):
                yield b"y" * 65536

        async with s.post(url + "/upload", data=gen()) as r:
            assert (await r.json())["received"] == 160 * 65536
        async with s.get(url + "/chunked") as r:
            assert await r.text() == "part0;part1;part2;part3;part4;"


async def test_body_limit_413(origins, engine_factory):
    (web,) = await origins("web-1")
    cfg = reverse_config({"web": pool("web", [web])}, limits=Limits(max_body_size=1000))
    eng = await engine_factory(cfg)
    async with aiohttp.ClientSession() as s:
        async with s.post(eng.listeners["reverse"] + "/echo", data=b"z" * 5000) as r:
            assert r.status == 413


async def test_health_checks_take_down_and_bring_back(origins, engine_factory):
    web = await origins("web-1", "web-2")
    health = HealthConfig(path="/healthz", interval=0.05, timeout=0.5, rise=2, fall=2)
    cfg = reverse_config({"web": pool("web", web, health=health, algorithm="round_robin")})
    eng = await engine_factory(cfg)
    b2 = eng.pools["web"].backends["web-2"]
    web[1].app[STATE]["health_status"] = 503
    await wait_for(lambda: b2.state == "down")
    async with aiohttp.ClientSession() as s:
        for _ in range(10):
            async with s.get(eng.listeners["reverse"] + "/") as r:
                assert r.headers["X-Backend"] == "web-1"
    web[1].app[STATE]["health_status"] = 200
    await wait_for(lambda: b2.state == "up")
    events = [e.message for e in eng.events.recent(20)]
    assert any("web-2: up → down" in m for m in events)
    assert any("web-2: down → up" in m for m in events)


async def test_drain_finishes_inflight_and_takes_no_new(origins, engine_factory):
    web = await origins("web-1", "web-2")
    eng = await engine_factory(reverse_config({"web": pool("web", web, algorithm="round_robin")}))
    url = eng.listeners["reverse"]
    async with aiohttp.ClientSession() as s:
        # web-1 gets the first request (round robin); drain it while that request is in flight.
        slow = asyncio.ensure_future(s.get(url + "/slow?delay=0.3"))
        b1 = eng.pools["web"].backends["web-1"]
        await wait_for(lambda: b1.inflight == 1)
        assert eng.control.set_draining("web", "web-1", True).ok
        r = await slow
        assert r.status == 200
        r.release()
        for _ in range(6):
            async with s.get(url + "/") as r:
                assert r.headers["X-Backend"] == "web-2"
    assert b1.state == "draining"


async def test_records_and_trace(origins, engine_factory):
    (web,) = await origins("web-1")
    eng = await engine_factory(reverse_config({"web": pool("web", [web])}))
    async with aiohttp.ClientSession() as s:
        async with s.get(eng.listeners["reverse"] + "/page?q=1") as r:
            await r.read()
    await wait_for(lambda: eng.records.total >= 1)
    records, cursor, skipped = eng.records_since(0, 10)
    rec = records[-1]
    assert (rec.method, rec.path, rec.status, rec.backend, rec.proxy) == (
        "GET",
        "/page?q=1",
        200,
        "web-1",
        "reverse",
    )
    stages = [t[0] for t in rec.trace]
    assert stages[:3] == ["route", "balancer", "upstream"]
    assert rec.t_total >= rec.t_first_byte > 0
    assert cursor == rec.seq and skipped == 0


@pytest.mark.parametrize(
    "raw,status",
    ids=["garbage", "bad-length", "huge-header"],
    argvalues=[
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n" + b"X-Big: " + b"a" * 70000 + b"\r\n\r\n", 431),
    ],
)
async def test_malformed_requests_get_4xx(origins, engine_factory, raw, status):
    (web,) = await origins("web-1")
    eng = await engine_factory(reverse_config({"web": pool("web", [web])}))
    host, port = eng.listeners["reverse"].rsplit("/", 1)[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(raw)
    await writer.drain()
    line = await asyncio.wait_for(reader.readline(), 5)
    assert line.startswith(f"HTTP/1.1 {status}".encode())
    writer.close()


async def test_rules_edit_headers_both_ways_redirect_and_block_responses(origins, engine_factory):
    from workbench.config.model import RuleConfig

    (web,) = await origins("web-1")
    rules = (
        RuleConfig(name="mark", when="~u /echo", action="set_header", header="X-Mark", value="1"),
        RuleConfig(name="no-ua", when="~all", action="remove_header", header="User-Agent"),
        RuleConfig(name="moved", when="~u ^/old", action="redirect", status=301, location="/new"),
        RuleConfig(
            name="tag",
            phase="response",
            when="~t json",
            action="set_header",
            header="X-Workbench-Tag",
            value="json",
        ),
        RuleConfig(name="no-500", phase="response", when="~c 500", action="block", status=502),
    )
    cfg = reverse_config({"web": pool("web", [web])})
    from dataclasses import replace

    eng = await engine_factory(replace(cfg, rules=rules))
    url = eng.listeners["reverse"]
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/echo") as r:
            data = json.loads(await r.text())
            assert r.headers["X-Workbench-Tag"] == "json"
        got = {k.lower(): v for k, v in data["headers"]}
        assert got["x-mark"] == "1" and "user-agent" not in got
        async with s.get(url + "/old/page", allow_redirects=False) as r:
            assert r.status == 301 and r.headers["Location"] == "/new"
        async with s.get(url + "/status/500") as r:
            assert r.status == 502
            assert "no-500" in await r.text()
    hits = {r.config.name: r.hits for r in eng.ruleset.rules}
    assert hits["mark"] == 1 and hits["moved"] == 1 and hits["no-500"] == 1


async def test_pooled_connection_closed_by_backend_is_retried_transparently(engine_factory):
    """A backend that drops a kept-alive connection when the next request arrives (the race of
    a keep-alive timeout) must not turn that request into a 502 for a single-backend pool: the
    retry goes to a fresh connection. It is a retry like any other (with ``retries: 0`` the
    request is sent once: the backend may have received it; see test_pipeline_regressions)."""
    served = 0

    async def handle(reader, writer):
        nonlocal served
        await reader.readuntil(b"\r\n\r\n")
        served += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")  # the next request on this connection...
        writer.close()  # ...is dropped unanswered

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        cfg = Config(
            reverse=ReverseConfig(
                listen=Address("127.0.0.1", 0),
                cache=False,
                routes=(RouteConfig(name="all", pool="one"),),
                pools={
                    "one": PoolConfig(
                        name="one",
                        backends=(BackendConfig(name="b", url=f"http://127.0.0.1:{port}"),),
                        retries=1,
                    )
                },
            )
        )
        eng = await engine_factory(cfg)
        async with aiohttp.ClientSession() as s:
            for _ in range(5):
                async with s.get(eng.listeners["reverse"] + "/") as r:
                    assert r.status == 200
                    assert await r.text() == "ok"
        assert served == 5
    finally:
        server.close()


async def test_delay_rule_adds_latency_on_the_matching_requests_only(origins, engine_factory):
    from dataclasses import replace

    from workbench.config.model import RuleConfig

    (web,) = await origins("web-1")
    rule = RuleConfig(name="slow-api", when="~u ^/api", action="delay", delay=0.3)
    eng = await engine_factory(replace(reverse_config({"web": pool("web", [web])}), rules=(rule,)))
    async with aiohttp.ClientSession() as s:
        for path in ("/api/x", "/other"):
            async with s.get(eng.listeners["reverse"] + path) as r:
                assert r.status == 200
    slow, fast = eng.records_since(0, 10)[0]
    assert slow.t_total >= 0.3 > fast.t_total
    assert any("slow-api" in step[2] for step in slow.trace)


async def test_backend_certificate_failure_is_a_502_without_retry(tls_origin, engine_factory):
    # Two https:// backends whose certificate the system store does not trust: a verification
    # failure is not a connect error to try elsewhere, it is the answer (one attempt, 502).
    backends = tuple(
        BackendConfig(name=f"tls-{i}", url=f"https://127.0.0.1:{tls_origin.port}") for i in (1, 2)
    )
    eng = await engine_factory(
        reverse_config(
            {"web": PoolConfig(name="web", backends=backends, retries=1, algorithm="round_robin")}
        )
    )
    async with aiohttp.ClientSession() as s:
        async with s.get(eng.listeners["reverse"] + "/") as r:
            assert r.status == 502
            body = await r.text()
    assert "certificate verify failed" in body
    await wait_for(lambda: eng.records.total >= 1)
    (rec,) = eng.records_since(0, 10)[0]
    failures = [t for t in rec.trace if t[0] == "upstream"]
    assert len(failures) == 1 and failures[0][1] == "tls", rec.trace
    assert not any(t[1] == "retry" for t in rec.trace)
    streaks = sorted(b.consecutive_failures for b in eng.pools["web"].backends.values())
    assert streaks == [0, 1]
    assert tls_origin.hits == 0


async def test_stop_lets_a_request_on_a_pooled_connection_finish(origins, engine_factory):
    """A request waiting for its answer on a pooled connection (no task behind it) is still
    in flight for a graceful stop: the client gets the whole answer, the record is complete."""
    (web,) = await origins("web-1")
    eng = await engine_factory(reverse_config({"web": pool("web", [web])}))
    url = eng.listeners["reverse"]
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/") as r:  # opens the connection that the next request reuses
            assert r.status == 200
        slow = asyncio.ensure_future(s.get(url + "/slow?delay=0.3"))
        backend = eng.pools["web"].backends["web-1"]
        await wait_for(lambda: backend.inflight == 1)
        await eng.stop(grace=5.0)
        r = await slow
        assert r.status == 200 and (await r.read()).startswith(b"slow")
    records, _, _ = eng.records_since(0, 10)
    assert [(x.path, x.status, x.error) for x in records] == [
        ("/", 200, None),
        ("/slow?delay=0.3", 200, None),
    ]
    assert "answered on a pooled connection" in records[-1].trace[-1][2]


async def test_stop_gives_up_on_a_request_past_the_grace(origins, engine_factory):
    (web,) = await origins("web-1")
    eng = await engine_factory(reverse_config({"web": pool("web", [web])}))
    url = eng.listeners["reverse"]
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/") as r:
            assert r.status == 200
        slow = asyncio.ensure_future(s.get(url + "/slow?delay=5"))
        backend = eng.pools["web"].backends["web-1"]
        await wait_for(lambda: backend.inflight == 1)
        await eng.stop(grace=0.2)
        with pytest.raises(aiohttp.ClientError):
            await slow
    assert backend.inflight == 0
    await wait_for(lambda: eng.records.total == 2)

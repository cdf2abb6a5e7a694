"""The demo world: built-in backends, fault injection, traffic generation and the classroom config.

Everything runs on 127.0.0.1 with real sockets; waits are on conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict
from origin import wait_for

from workbench.config.model import Address, BackendConfig, Config, PoolConfig, ReverseConfig
from workbench.demo.backends import pick_language, start_demo_backends
from workbench.demo.classroom import classroom_config, demo_backend_names, resolve_demo_urls
from workbench.demo.faults import FaultInjector
from workbench.demo.traffic import TRACKER_URL, TrafficGenerator, build_mix
from workbench.demo.world import DemoWorld

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def backend():
    (b,) = await start_demo_backends(1, names=["web-1"])
    b.base_ms = b.jitter_ms = 0.0
    yield b
    await b.stop()


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as s:
        yield s


async def get(s: aiohttp.ClientSession, url: str, **kw) -> tuple[int, CIMultiDict[str], bytes]:
    async with s.get(url, **kw) as r:
        return r.status, r.headers.copy(), await r.read()


# -- routes ---------------------------------------------------------------------------------
async def test_index_names_the_backend(backend, session):
    status, headers, body = await get(session, backend.url + "/")
    assert status == 200
    assert headers["X-Backend"] == "web-1"
    assert headers["Content-Type"].startswith("text/html")
    assert b"web-1" in body


async def test_every_response_carries_x_backend_even_errors(backend, session):
    for path in ("/nope", "/static/missing.css", "/api/items/999", "/api/items/abc"):
        status, headers, _ = await get(session, backend.url + path)
        assert status == 404, path
        assert headers["X-Backend"] == "web-1", path


async def test_api_items_are_json_with_short_caching(backend, session):
    status, headers, body = await get(session, backend.url + "/api/items")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert "max-age=2" in headers["Cache-Control"]
    assert len(json.loads(body)["items"]) >= 3
    status, headers, body = await get(session, backend.url + "/api/items/3")
    assert status == 200
    assert headers["Cache-Control"] == "no-cache"
    assert json.loads(body)["item"]["id"] == 3


@pytest.mark.parametrize("name", ["app.css", "logo.png"])
async def test_static_assets_are_public_with_etag_and_answer_304(backend, session, name):
    status, headers, body = await get(session, f"{backend.url}/static/{name}")
    assert status == 200
    assert headers["Cache-Control"] == "public, max-age=60"
    assert body
    etag = headers["ETag"]
    status, headers, body = await get(
        session, f"{backend.url}/static/{name}", headers={"If-None-Match": etag}
    )
    assert status == 304
    assert body == b""
    assert headers["ETag"] == etag


async def test_static_etag_is_the_same_on_every_backend(session):
    a, b = await start_demo_backends(2)
    try:
        _, ha, _ = await get(session, a.url + "/static/app.css")
        _, hb, _ = await get(session, b.url + "/static/app.css")
        assert ha["ETag"] == hb["ETag"]
        assert (ha["X-Backend"], hb["X-Backend"]) == ("web-1", "web-2")
    finally:
        await a.stop()
        await b.stop()


@pytest.mark.parametrize(
    "if_none_match, expected",
    [
        (None, 200),
        ('"something-else"', 200),
        ("ETAG", 304),
        ("W/ETAG", 304),
        ('"other", ETAG', 304),
        ("*", 304),
    ],
)
async def test_etag_route_revalidates(backend, session, if_none_match, expected):
    _, headers, _ = await get(session, backend.url + "/etag")
    assert headers["Cache-Control"] == "no-cache"
    etag = headers["ETag"]
    req_headers = {}
    if if_none_match is not None:
        req_headers["If-None-Match"] = if_none_match.replace("ETAG", etag)
    status, headers, body = await get(session, backend.url + "/etag", headers=req_headers)
    assert status == expected
    assert headers["ETag"] == etag
    assert (body == b"") == (expected == 304)


@pytest.mark.parametrize(
    "accept, lang, word",
    [
        (None, "en", b"Hello"),
        ("fr", "fr", b"Bonjour"),
        ("de-DE,de;q=0.9", "de", b"Hallo"),
        ("fr;q=0.3, de;q=0.8", "de", b"Hallo"),
        ("es, it", "en", b"Hello"),
    ],
)
async def test_lang_varies_by_accept_language(backend, session, accept, lang, word):
    headers = {"Accept-Language": accept} if accept else {}
    status, got, body = await get(session, backend.url + "/lang", headers=headers)
    assert status == 200
    assert got["Vary"] == "Accept-Language"
    assert got["Content-Language"] == lang
    assert word in body


@pytest.mark.parametrize(
    "header, lang",
    [(None, "en"), ("", "en"), ("FR-ca", "fr"), ("de;q=bad, fr;q=0.1", "fr"), ("*", "en")],
)
def test_pick_language(header, lang):
    assert pick_language(header) == lang


async def test_private_is_marked_private(backend, session):
    status, headers, _ = await get(session, backend.url + "/private")
    assert status == 200
    assert headers["Cache-Control"].startswith("private")


async def test_slow_waits_the_requested_time(backend, session):
    start = time.monotonic()
    status, _, body = await get(session, backend.url + "/slow?ms=150")
    assert status == 200
    assert time.monotonic() - start >= 0.14
    assert b"150 ms" in body
    status, _, _ = await get(session, backend.url + "/slow?ms=nope")
    assert status == 400


async def test_echo_shows_what_the_backend_received(backend, session):
    async with session.post(
        backend.url + "/echo?x=1",
        data=b"hello",
        headers={"X-Forwarded-For": "203.0.113.7", "X-Lesson": "privacy"},
    ) as r:
        assert r.status == 200
        data = await r.json()
    assert data["backend"] == "web-1"
    assert data["client"] == "127.0.0.1"
    assert data["method"] == "POST"
    assert data["path"] == "/echo?x=1"
    assert data["body_bytes"] == 5
    assert ["X-Forwarded-For", "203.0.113.7"] in data["headers"]
    assert ["X-Lesson", "privacy"] in data["headers"]


async def test_healthz_ok_by_default(backend, session):
    status, headers, _ = await get(session, backend.url + "/healthz")
    assert status == 200
    assert headers["X-Backend"] == "web-1"


# -- faults ---------------------------------------------------------------------------------
async def test_kill_refuses_connections_and_revive_reopens_the_same_port(backend):
    faults = FaultInjector({"web-1": backend})
    port = backend.port
    # A keep-alive connection opened before the kill must not keep working afterwards.
    async with aiohttp.ClientSession() as s:
        assert (await get(s, backend.url + "/"))[0] == 200
        ok, msg = await faults.kill("web-1")
        assert ok, msg
        assert faults.state()["web-1"]["killed"] is True
        with pytest.raises(aiohttp.ClientConnectionError):
            await get(s, backend.url + "/")
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientConnectorError):
            await get(s, backend.url + "/")
        assert await faults.kill("web-1") == (False, "web-1 is already down")
        ok, msg = await faults.revive("web-1")
        assert ok, msg
        assert backend.port == port
        status, headers, _ = await get(s, f"http://127.0.0.1:{port}/")
        assert (status, headers["X-Backend"]) == (200, "web-1")
    assert (await faults.revive("web-1"))[0] is False


async def test_error_rate_one_answers_500_but_health_stays_up(backend, session):
    faults = FaultInjector({"web-1": backend})
    assert faults.set_error_rate("web-1", 1.0)[0]
    for path in ("/", "/api/items", "/static/app.css"):
        status, headers, _ = await get(session, backend.url + path)
        assert (status, headers["X-Backend"]) == (500, "web-1")
    assert (await get(session, backend.url + "/healthz"))[0] == 200
    assert faults.state()["web-1"]["errors"] == 3
    assert faults.set_error_rate("web-1", 0)[0]
    assert (await get(session, backend.url + "/"))[0] == 200


async def test_error_rate_half_gives_a_mix(backend, session):
    FaultInjector({"web-1": backend}).set_error_rate("web-1", 0.5)
    seen = collections.Counter()
    for _ in range(60):
        seen[(await get(session, backend.url + "/api/items"))[0]] += 1
    assert set(seen) == {200, 500}


async def test_health_fail_answers_503(backend, session):
    faults = FaultInjector({"web-1": backend})
    assert faults.set_health_fail("web-1", True)[0]
    assert (await get(session, backend.url + "/healthz"))[0] == 503
    assert (await get(session, backend.url + "/"))[0] == 200
    assert faults.state()["web-1"]["healthy"] is False
    faults.set_health_fail("web-1", False)
    assert (await get(session, backend.url + "/healthz"))[0] == 200


async def test_flap_alternates_health(backend, session):
    faults = FaultInjector({"web-1": backend})
    assert faults.set_flap("web-1", True, period=0.2)[0]
    seen: set[int] = set()

    async def poll() -> None:
        seen.add((await get(session, backend.url + "/healthz"))[0])

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while seen != {200, 503}:
        assert loop.time() < deadline, f"saw only {seen}"
        await poll()
        await asyncio.sleep(0.02)
    faults.set_flap("web-1", False)
    assert (await get(session, backend.url + "/healthz"))[0] == 200


async def test_extra_latency_delays_responses(backend, session):
    faults = FaultInjector({"web-1": backend})
    assert faults.set_latency("web-1", 0.2)[0]
    start = time.monotonic()
    assert (await get(session, backend.url + "/"))[0] == 200
    assert time.monotonic() - start >= 0.19


@pytest.mark.parametrize(
    "call, args, fragment",
    [
        ("set_latency", ("web-9", 1), "no demo backend named 'web-9'"),
        ("set_latency", ("web-1", -1), "latency"),
        ("set_latency", ("web-1", float("nan")), "latency"),
        ("set_latency", ("web-1", "1"), "latency"),
        ("set_error_rate", ("web-1", 1.5), "error rate"),
        ("set_error_rate", ("web-1", True), "error rate"),
        ("set_health_fail", ("web-1", "yes"), "true or false"),
        ("set_flap", ("web-1", 1), "true or false"),
        ("set_flap", ("web-1", True, 0), "flap period"),
    ],
)
async def test_fault_validation_rejects_and_changes_nothing(backend, call, args, fragment):
    faults = FaultInjector({"web-1": backend})
    before = faults.state()
    ok, message = getattr(faults, call)(*args)
    assert not ok
    assert fragment in message
    assert faults.state() == before


async def test_fault_kill_unknown_backend():
    ok, message = await FaultInjector({}).kill("web-1")
    assert not ok and "no demo backend named 'web-1'" in message


# -- traffic --------------------------------------------------------------------------------
class Sink:
    """A test server standing in for both proxies; records what reaches it."""

    def __init__(self, *, hang: bool = False) -> None:
        self.hang = hang
        self.requests: list[tuple[str, str, str]] = []
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        # Absolute-form targets come from the forward side; origin-form from the reverse side.
        target = str(request.url) if request.raw_path.startswith("http") else request.path_qs
        self.requests.append((request.method, request.raw_path, target))
        if self.hang:
            await self.release.wait()
        if request.host == "tracker.test":
            return web.Response(status=403, text="blocked")
        return web.Response(text="ok")

    async def start(self) -> TestServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        server = TestServer(app, host="127.0.0.1", port=0)
        await server.start_server()
        return server


async def test_traffic_generator_paces_at_the_requested_rate():
    sink = Sink()
    server = await sink.start()
    base = str(server.make_url("")).rstrip("/")
    origin = "http://127.0.0.1:1"  # never contacted: the sink answers as the forward proxy
    gen = TrafficGenerator(base, base, [origin], rate=50, seed=7)
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        gen.start()
        assert gen.running
        await wait_for(lambda: len(sink.requests) >= 50, timeout=10)
        elapsed = loop.time() - start
        # 50 requests at 50/s need about a second; sending them faster would mean no pacing.
        assert elapsed >= 0.9
        await wait_for(lambda: gen.ok >= 50, timeout=10)
    finally:
        await gen.stop()
        await server.close()
    assert not gen.running
    assert gen.sent >= 50 and gen.failed == 0
    assert gen.by_class["2xx"] + gen.by_class["4xx"] == gen.ok
    raw = [r[1] for r in sink.requests]
    assert any(p.startswith("/") for p in raw), "no reverse-proxy traffic"
    assert any(p.startswith(origin) for p in raw), "no forward-proxy traffic"
    for p in raw:
        assert p.startswith(("/", origin, TRACKER_URL)), p


def test_mix_covers_both_proxies_and_only_loopback_targets():
    origins = ["http://127.0.0.1:9001", "http://127.0.0.1:9002"]
    gen = TrafficGenerator("http://127.0.0.1:8080", "http://127.0.0.1:8888", origins, seed=1)
    seen = collections.Counter()
    for _ in range(5000):
        shot = gen.pick()
        if shot.via == "reverse":
            seen[urlsplit(shot.url).path] += 1
        else:
            host = urlsplit(shot.url).hostname
            assert host in ("127.0.0.1", "tracker.test")
            seen[shot.url] += 1
    for path in (
        "/",
        "/static/app.css",
        "/static/logo.png",
        "/api/items",
        "/api/items/3",
        "/etag",
        "/lang",
        "/private",
        "/slow",
    ):
        assert seen[path] > 0, path
    assert seen[TRACKER_URL] > 0
    assert seen["http://127.0.0.1:9002/echo"] > 0
    langs = {dict(s.headers).get("Accept-Language") for s, _ in build_mix(True, []) if s.headers}
    assert {"en", "fr", "de"} <= langs


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"origins": ["http://example.com/"]}, "loopback"),
        ({"rate": -1}, "rate"),
        ({"rate": 1e9}, "rate"),
    ],
)
def test_traffic_generator_rejects_bad_setup(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        TrafficGenerator("http://127.0.0.1:8080", "http://127.0.0.1:8888", **kwargs)


def test_traffic_needs_somewhere_to_go():
    with pytest.raises(ValueError, match="needs a reverse proxy or a forward proxy"):
        TrafficGenerator(None, None)


async def test_set_rate_validates():
    gen = TrafficGenerator("http://127.0.0.1:8080")
    assert gen.set_rate(5) == (True, "demo traffic: 5 req/s")
    assert gen.rate == 5
    ok, message = gen.set_rate("fast")
    assert not ok and "rate" in message and gen.rate == 5


async def test_in_flight_is_bounded_and_stop_is_prompt():
    sink = Sink(hang=True)
    server = await sink.start()
    base = str(server.make_url("")).rstrip("/")
    gen = TrafficGenerator(base, rate=500, max_in_flight=20)
    try:
        gen.start()
        # Every request hangs, so the server holding exactly 20 means the cap held.
        await wait_for(lambda: gen.skipped > 0 and len(sink.requests) >= 20, timeout=5)
        assert gen.in_flight == 20
        assert len(sink.requests) == 20
        loop = asyncio.get_running_loop()
        start = loop.time()
        await gen.stop()
        assert loop.time() - start < 1.0
        assert not gen.running and gen.in_flight == 0
    finally:
        sink.release.set()
        await gen.stop()
        await server.close()


async def test_rate_zero_pauses_and_resumes():
    sink = Sink()
    server = await sink.start()
    gen = TrafficGenerator(str(server.make_url("")).rstrip("/"), rate=0)
    try:
        gen.start()
        assert gen.running and gen.sent == 0
        gen.set_rate(100)
        await wait_for(lambda: gen.ok >= 5)
    finally:
        await gen.stop()
        await server.close()


async def test_burst_sends_concurrent_requests():
    sink = Sink()
    server = await sink.start()
    gen = TrafficGenerator(str(server.make_url("")).rstrip("/"), rate=0)
    try:
        statuses = await gen.burst(10, "/static/app.css")
    finally:
        await gen.stop()
        await server.close()
    assert statuses == [200] * 10
    assert [r[2] for r in sink.requests] == ["/static/app.css"] * 10
    with pytest.raises(ValueError):
        await gen.burst(0)


async def test_unreachable_proxy_counts_as_failed():
    (b,) = await start_demo_backends(1)
    url = b.url
    await b.stop()  # now nothing listens there
    gen = TrafficGenerator(url, rate=0, timeout=2)
    try:
        assert await gen.burst(3) == [None, None, None]
    finally:
        await gen.stop()
    assert (gen.failed, gen.by_class["error"], gen.ok) == (3, 3, 0)
    assert gen.last_error


# -- classroom and world --------------------------------------------------------------------
def test_classroom_config_shape():
    cfg = classroom_config()
    assert cfg.reverse is not None and cfg.forward is not None and cfg.admin is not None
    assert (cfg.reverse.listen.port, cfg.forward.listen.port, cfg.admin.listen.port) == (
        8080,
        8888,
        8081,
    )
    web, api = cfg.reverse.pools["web"], cfg.reverse.pools["api"]
    assert web.algorithm == "weighted_round_robin"
    assert [(b.name, b.weight) for b in web.backends] == [("web-1", 3), ("web-2", 1), ("web-3", 1)]
    assert api.algorithm == "least_connections"
    assert demo_backend_names(cfg) == ["web-1", "web-2", "web-3", "api-1", "api-2"]
    assert cfg.demo is not None and cfg.demo.backends == 5 and cfg.demo.traffic.rate == 20
    assert [r.path_prefix for r in cfg.reverse.routes] == ["/api", "/"]
    rules = {r.name: r for r in cfg.rules}
    assert rules["block-tracker"].action == "block" and rules["block-tracker"].enabled
    assert rules["tag-json"].phase == "response"
    assert rules["slow-api"].enabled is False
    assert cfg.forward.privacy == "transparent" and cfg.forward.cache


def test_resolve_demo_urls_replaces_placeholders_only():
    cfg = Config(
        reverse=ReverseConfig(
            pools={
                "web": PoolConfig(
                    name="web",
                    backends=(
                        BackendConfig("web-1", "demo://web-1", weight=3),
                        BackendConfig("ext", "http://127.0.0.1:9999"),
                    ),
                )
            }
        )
    )
    out = resolve_demo_urls(cfg, {"web-1": "http://127.0.0.1:41234"})
    backends = out.reverse.pools["web"].backends
    assert [(b.name, b.url, b.weight) for b in backends] == [
        ("web-1", "http://127.0.0.1:41234", 3),
        ("ext", "http://127.0.0.1:9999", 1),
    ]
    assert cfg.reverse.pools["web"].backends[0].url == "demo://web-1"  # the input is untouched
    with pytest.raises(ValueError, match="web-1"):
        resolve_demo_urls(cfg, {})
    assert resolve_demo_urls(Config(), {}) == Config()


async def test_world_starts_backends_for_the_classroom(session):
    world = DemoWorld()
    try:
        cfg = await world.start(classroom_config())
        assert sorted(world.backends) == ["api-1", "api-2", "web-1", "web-2", "web-3"]
        for pool in cfg.reverse.pools.values():
            for b in pool.backends:
                assert b.url == world.backends[b.name].url
                status, headers, _ = await get(session, b.url + "/healthz")
                assert (status, headers["X-Backend"]) == (200, b.name)
        assert set(world.faults.state()) == set(world.backends)
    finally:
        await world.stop()
    assert world.backends == {}


async def test_world_pads_to_demo_backends_count():
    from workbench.config.model import DemoConfig

    world = DemoWorld()
    try:
        await world.start(Config(demo=DemoConfig(backends=2)))
        assert sorted(world.backends) == ["web-1", "web-2"]
    finally:
        await world.stop()


async def test_classroom_end_to_end_traffic_flows_through_both_proxies(engine_factory):
    """The classroom as ``workbench`` opens it, on ephemeral ports: records from both proxies."""
    from dataclasses import replace

    world = DemoWorld()
    try:
        cfg = await world.start(classroom_config())
        # demo=None: this world is started by hand, so the runtime must not start another.
        cfg = replace(
            cfg,
            admin=None,
            demo=None,
            reverse=replace(cfg.reverse, listen=Address("127.0.0.1", 0)),
            forward=replace(cfg.forward, listen=Address("127.0.0.1", 0)),
        )
        eng = await engine_factory(cfg)
        traffic = world.start_traffic(
            {"reverse": eng.listeners["reverse"], "forward": eng.listeners["forward"]}
        )
        assert traffic is not None and traffic.running
        traffic.set_rate(200)

        def proxies_seen() -> set[str]:
            return {r.proxy for r in eng.records_since(0, 10_000)[0]}

        await wait_for(
            lambda: proxies_seen() >= {"reverse", "forward"} and traffic.ok >= 40, timeout=10
        )
        assert traffic.by_class["5xx"] == 0, traffic.counters()
        # The forward proxy answered the tracker itself: no such host exists.
        await wait_for(lambda: traffic.by_class["4xx"] > 0, timeout=10)
    finally:
        await world.stop()


def classroom_on_free_ports():
    """The built-in classroom with every listener on a free port."""
    from dataclasses import replace

    cfg = classroom_config()
    free = Address("127.0.0.1", 0)
    return replace(
        cfg,
        admin=replace(cfg.admin, listen=free),
        reverse=replace(cfg.reverse, listen=free),
        forward=replace(cfg.forward, listen=free),
    )


async def test_runtime_opens_the_classroom_quickly_with_traffic():
    """What ``workbench`` with no arguments does, on free ports: open within 2 s, traffic flows."""

    from workbench.runtime import Runtime

    rt = Runtime(classroom_on_free_ports())
    start = time.monotonic()
    try:
        await rt.start()
        assert time.monotonic() - start < 2.0
        assert rt.demo is not None and rt.demo.traffic is not None and rt.demo.traffic.running
        assert set(rt.demo.backends) == {"web-1", "web-2", "web-3", "api-1", "api-2"}
        eng = rt.engine
        await wait_for(
            lambda: {r.proxy for r in eng.records_since(0, 10_000)[0]} >= {"reverse", "forward"},
            timeout=10,
        )
        assert eng.snapshot()["demo"]["traffic"]["sent"] > 0
    finally:
        await rt.stop(grace=1.0)
    assert not rt.demo.traffic.running and rt.demo.backends == {}


def test_demo_backends_command_runs_until_sigint():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench", "demo-backends", "--count", "2", "--base-port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [proc.stdout.readline().strip() for _ in range(2)]
        assert [line.split(" listening on ")[0] for line in lines] == ["web-1", "web-2"]
        url = lines[0].split(" listening on ")[1]
        import urllib.request

        with urllib.request.urlopen(url + "/healthz", timeout=5) as r:
            assert r.status == 200 and r.headers["X-Backend"] == "web-1"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


async def test_admin_api_injects_faults_and_controls_demo_traffic():
    """Classes that drive the demo with curl: faults and traffic through the admin API."""

    import aiohttp

    from workbench.runtime import Runtime

    rt = Runtime(classroom_on_free_ports())
    await rt.start()
    try:
        api = rt.engine.listeners["admin"]
        async with aiohttp.ClientSession() as s:
            async with s.post(
                api + "/api/demo/faults", json={"backend": "web-3", "kind": "kill"}
            ) as r:
                assert r.status == 200
            await wait_for(lambda: rt.demo.backends["web-3"].killed)
            async with s.post(
                api + "/api/demo/faults", json={"backend": "web-9", "kind": "kill"}
            ) as r:
                assert r.status == 404
            async with s.post(
                api + "/api/demo/faults", json={"backend": "web-1", "kind": "melt"}
            ) as r:
                assert r.status == 400 and (await r.json())["field"] == "kind"
            async with s.patch(api + "/api/demo/traffic", json={"rate": 5, "running": False}) as r:
                assert r.status == 200
            await wait_for(lambda: not rt.demo.traffic.running)
            assert rt.demo.traffic.rate == 5
            async with s.patch(api + "/api/demo/traffic", json={"rate": -1}) as r:
                assert r.status == 400
    finally:
        await rt.stop(grace=1.0)

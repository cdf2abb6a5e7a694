"""Pipeline-level regressions of issue 9, with real sockets on 127.0.0.1.

Forwarding headers, retries, error answers, the forward proxy's Host and destination policy,
response-phase delays without buffering, and CONNECT where it does not belong.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from configs import forward_proxy, reverse_proxy
from origin import wait_for
from rawhttp import RawOrigin, echo_headers, raw_exchange, read_request, response

from workbench.config.model import (
    Address,
    AdminConfig,
    BackendConfig,
    Config,
    ForwardConfig,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
    RuleConfig,
)
from workbench.engine.http.headers import add_forwarded


@pytest.fixture
async def raw_origins():
    started: list[RawOrigin] = []

    async def make(handler=echo_headers) -> RawOrigin:
        o = await RawOrigin.answering(handler).start()
        started.append(o)
        return o

    yield make
    for o in started:
        await o.stop()


def reverse_config(url: str, *, retries: int = 1, rules=(), cache: bool = False) -> Config:
    return Config(reverse=reverse_proxy(url, retries=retries, cache=cache), rules=tuple(rules))


def forward_config(**kw) -> Config:
    rules = kw.pop("rules", ())
    return Config(forward=forward_proxy(**kw), rules=tuple(rules))


def header_lines(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.splitlines():
        n, _, v = line.partition(": ")
        out.append((n.lower(), v))
    return out


def values(lines: list[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in lines if n == name]


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


# -- forwarding headers -------------------------------------------------------------------------


async def test_reverse_replaces_client_forwarded_proto_and_host(raw_origins, engine_factory):
    origin = await raw_origins()
    eng = await engine_factory(reverse_config(origin.url))
    sent = {
        "Host": "site.test",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "evil.test",
        "X-Forwarded-For": "198.51.100.7",
        "Forwarded": "for=198.51.100.7",
    }
    async with (
        aiohttp.ClientSession() as s,
        s.get(eng.listeners["reverse"] + "/", headers=sent) as r,
    ):
        assert r.status == 200
        seen = header_lines(await r.text())
    assert values(seen, "x-forwarded-proto") == ["http"]
    assert values(seen, "x-forwarded-host") == ["site.test"]
    assert values(seen, "x-forwarded-for") == ["198.51.100.7, 127.0.0.1"]
    assert values(seen, "forwarded") == [
        "for=198.51.100.7, for=127.0.0.1;proto=http;host=site.test"
    ]
    assert len(values(seen, "via")) == 1


@pytest.mark.parametrize(
    "host,element",
    [
        ("x,for=6.6.6.6", 'for=10.0.0.1;proto=http;host="x,for=6.6.6.6"'),
        ('a"b', 'for=10.0.0.1;proto=http;host="a\\"b"'),
        ("site.test:8080", 'for=10.0.0.1;proto=http;host="site.test:8080"'),
        ("site.test", "for=10.0.0.1;proto=http;host=site.test"),
    ],
)
def test_forwarded_host_is_quoted_per_rfc7239(host, element):
    headers = [("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "evil.test")]
    add_forwarded(headers, "10.0.0.1", "http", host)
    assert [v for n, v in headers if n == "Forwarded"] == [element]
    assert [v for n, v in headers if n.lower() == "x-forwarded-proto"] == ["http"]
    assert [v for n, v in headers if n.lower() == "x-forwarded-host"] == [host]


def test_forwarded_ipv6_client_is_quoted():
    headers: list[tuple[str, str]] = []
    add_forwarded(headers, "::1", "https", None)
    assert headers[-1] == ("Forwarded", 'for="[::1]";proto=https')


# -- retries --------------------------------------------------------------------------------------


async def test_retries_zero_is_one_attempt_after_dropped_pooled_connection(
    raw_origins, engine_factory
):
    async def first_ok_then_drop(req, reader, writer) -> bool:
        if len(origin.requests) == 1:
            writer.write(response(200, b"ok"))
            await writer.drain()
            return True
        return False  # read the request, then close without a byte of answer

    origin = await raw_origins(first_ok_then_drop)
    eng = await engine_factory(reverse_config(origin.url, retries=0))
    url = eng.listeners["reverse"] + "/again"
    async with aiohttp.ClientSession() as s:
        async with s.get(url) as r:
            assert r.status == 200
        async with s.get(url) as r:
            assert r.status == 502
            text = await r.text()
    assert len(origin.requests) == 2, "retries: 0 must not send the request a second time"
    assert "Error(" not in text


async def test_retries_zero_is_one_attempt_on_fresh_connection(raw_origins, engine_factory):
    async def drop(req, reader, writer) -> bool:
        return False

    origin = await raw_origins(drop)
    eng = await engine_factory(reverse_config(origin.url, retries=0))
    async with aiohttp.ClientSession() as s, s.get(eng.listeners["reverse"] + "/x") as r:
        assert r.status == 502
    assert len(origin.requests) == 1


# -- error answers --------------------------------------------------------------------------------


async def test_error_answers_are_short_and_never_a_repr(engine_factory):
    # A backend that refuses connections: the client gets a human sentence, the record the detail.
    eng = await engine_factory(reverse_config("http://127.0.0.1:9", retries=0))
    async with aiohttp.ClientSession() as s, s.get(eng.listeners["reverse"] + "/") as r:
        assert r.status == 502
        text = await r.text()
    assert text.startswith("Bad gateway")
    assert "Error(" not in text and "Traceback" not in text and len(text) < 200
    await wait_for(lambda: eng.records.total >= 1)
    rec = eng.records_since(0, 10)[0][-1]
    assert rec.error and "127.0.0.1:9" in rec.error


async def test_early_answer_during_upload_never_leaks_an_exception(engine_factory):
    async def early_413(reader, writer) -> None:
        # Answer right after the head: do not read the body first.
        if await read_request(reader) is not None:
            writer.write(response(413, b"too big", [("Connection", "close")]))
            await writer.drain()

    origin = await RawOrigin(early_413).start()
    try:
        eng = await engine_factory(reverse_config(origin.url, retries=0))
        body = b"u" * (10 * 1024 * 1024)
        async with aiohttp.ClientSession() as s:
            try:
                async with s.post(eng.listeners["reverse"] + "/upload", data=body) as r:
                    text = await r.text()
            except aiohttp.ClientError:
                text = ""  # a reset is not what we want, but it is not a leak either
        assert "Error(" not in text and "Traceback" not in text
        await wait_for(lambda: eng.records.total >= 1)
        rec = eng.records_since(0, 10)[0][-1]
        assert rec.status is not None
    finally:
        await origin.stop()


# -- forward proxy: Host of absolute-form requests -----------------------------------------------


async def vhost(req, reader, writer) -> bool:
    """An origin with virtual hosts: the body names the Host it served; cacheable."""
    host = req.values("host")
    writer.write(
        response(
            200, f"vhost {host[0] if host else '-'}".encode(), [("Cache-Control", "max-age=60")]
        )
    )
    await writer.drain()
    return True


async def test_forward_sends_the_uri_authority_as_host(raw_origins, engine_factory):
    origin = await raw_origins(vhost)
    eng = await engine_factory(forward_config())
    proxy = eng.listeners["forward"]
    async with aiohttp.ClientSession() as s:
        async with s.get(origin.url + "/x", proxy=proxy, headers={"Host": "evil.test"}) as r:
            assert await r.text() == f"vhost 127.0.0.1:{origin.port}"
    assert [r.values("host") for r in origin.requests] == [[f"127.0.0.1:{origin.port}"]]


async def test_forged_host_neither_stored_nor_served_from_the_cache(raw_origins, engine_factory):
    origin = await raw_origins(vhost)
    eng = await engine_factory(forward_config(cache=True))
    proxy = eng.listeners["forward"]
    async with aiohttp.ClientSession() as s:
        async with s.get(origin.url + "/x", proxy=proxy, headers={"Host": "evil.test"}) as r:
            assert "evil" not in await r.text()
        async with s.get(origin.url + "/x", proxy=proxy) as r:
            assert await r.text() == f"vhost 127.0.0.1:{origin.port}"
    assert all(r.values("host") == [f"127.0.0.1:{origin.port}"] for r in origin.requests)


async def test_forged_host_does_not_slip_past_a_domain_rule(raw_origins, engine_factory):
    origin = await raw_origins(vhost)
    rule = RuleConfig(name="no-evil", when="~d evil.test", action="block", status=403)
    eng = await engine_factory(forward_config(rules=[rule]))
    async with aiohttp.ClientSession() as s:
        async with s.get(
            origin.url + "/x", proxy=eng.listeners["forward"], headers={"Host": "evil.test"}
        ) as r:
            text = await r.text()
    # Either the rule sees evil.test and blocks, or the request goes to the URI's host: never
    # does evil.test's virtual host answer.
    assert "vhost evil.test" not in text
    assert all(r.values("host") != ["evil.test"] for r in origin.requests)


# -- response-phase delay: back-pressure, not a buffer -------------------------------------------


async def test_response_delay_holds_back_without_buffering_the_body(engine_factory):
    total = 64 * 1024 * 1024
    sent = 0

    async def serve(reader, writer):
        nonlocal sent
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-big\r\n"
            + f"Content-Length: {total}\r\n\r\n".encode()
        )
        chunk = b"b" * 65536
        try:
            while sent < total:
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    rule = RuleConfig(name="slow-big", phase="response", when="~t x-big", action="delay", delay=1.5)
    try:
        eng = await engine_factory(reverse_config(f"http://127.0.0.1:{port}", rules=[rule]))
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port_of(eng.listeners["reverse"])
        )
        writer.write(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        # While the delay holds the response back, the origin must be stopped by back-pressure.
        loop = asyncio.get_running_loop()
        last, since = -1, loop.time()
        deadline = loop.time() + 1.2
        while loop.time() < deadline and sent < total:
            if sent != last:
                last, since = sent, loop.time()
            elif loop.time() - since > 0.3:
                break
            await asyncio.sleep(0.02)
        assert sent < 24 * 1024 * 1024, f"{sent} bytes of the body were pulled in during the delay"
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        got = 0
        while got < total:
            data = await asyncio.wait_for(reader.read(1 << 20), 10)
            assert data, "connection closed before the body ended"
            got += len(data)
        assert got == total
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


# -- forward proxy: destination policy -----------------------------------------------------------


async def test_link_local_is_denied_by_default(engine_factory):
    eng = await engine_factory(forward_config())
    async with aiohttp.ClientSession() as s:
        async with s.get(
            "http://169.254.169.254/latest/meta-data/", proxy=eng.listeners["forward"]
        ) as r:
            assert r.status == 403
            assert "deny_destinations" in await r.text()
    await wait_for(lambda: eng.records.total >= 1)
    rec = eng.records_since(0, 10)[0][-1]
    assert any(stage == "destination" and verdict == "deny" for stage, verdict, _ in rec.trace)


async def test_deny_destinations_is_checked_after_name_resolution(raw_origins, engine_factory):
    origin = await raw_origins()
    eng = await engine_factory(forward_config(deny_destinations=("127.0.0.0/8", "::1/128")))
    proxy = eng.listeners["forward"]
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://localhost:{origin.port}/", proxy=proxy) as r:
            assert r.status == 403
    assert origin.requests == []


async def test_deny_destinations_applies_to_connect(raw_origins, engine_factory):
    origin = await raw_origins()
    eng = await engine_factory(
        forward_config(deny_destinations=("127.0.0.0/8",), connect_ports=(origin.port,))
    )
    data = await raw_exchange(
        "127.0.0.1",
        port_of(eng.listeners["forward"]),
        f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
    )
    assert data.startswith(b"HTTP/1.1 403")
    await wait_for(lambda: eng.records.total >= 1)
    rec = eng.records_since(0, 10)[0][-1]
    assert any(stage == "destination" and verdict == "deny" for stage, verdict, _ in rec.trace)


@pytest.mark.parametrize("alias", ["127.0.0.1", "127.1", "localhost", "0.0.0.0", "127.0.0.2"])
async def test_own_admin_listener_is_unreachable_through_the_forward_proxy(engine_factory, alias):
    cfg = forward_config()
    cfg = Config(forward=cfg.forward, admin=AdminConfig(listen=Address("127.0.0.1", 0)))
    eng = await engine_factory(cfg)
    admin_port = port_of(eng.listeners["admin"])
    async with aiohttp.ClientSession() as s:
        async with s.get(
            f"http://{alias}:{admin_port}/api/state", proxy=eng.listeners["forward"]
        ) as r:
            assert r.status in (403, 508)
            text = await r.text()
    assert "admin" in text.lower()


@pytest.mark.parametrize("alias", ["127.1", "localhost", "0.0.0.0", "[::1]", "127.0.0.2"])
async def test_forward_proxy_refuses_itself_under_every_alias(engine_factory, alias):
    eng = await engine_factory(forward_config())
    port = port_of(eng.listeners["forward"])
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://{alias}:{port}/", proxy=eng.listeners["forward"]) as r:
            assert r.status == 508
            assert "itself" in await r.text()


async def test_forward_proxy_may_use_its_own_reverse_proxy(origins, engine_factory):
    (origin,) = await origins("web")
    pool = PoolConfig(name="web", backends=(BackendConfig("web-1", origin.url),))
    cfg = Config(
        forward=ForwardConfig(listen=Address("127.0.0.1", 0), cache=False),
        reverse=ReverseConfig(
            listen=Address("127.0.0.1", 0),
            cache=False,
            routes=(RouteConfig(name="site", pool="web"),),
            pools={"web": pool},
        ),
    )
    eng = await engine_factory(cfg)
    port = port_of(eng.listeners["reverse"])
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://localhost:{port}/", proxy=eng.listeners["forward"]) as r:
            assert r.status == 200


# -- CONNECT where it does not belong ------------------------------------------------------------


async def test_connect_to_the_reverse_proxy_is_405_and_closes(raw_origins, engine_factory):
    origin = await raw_origins()
    eng = await engine_factory(reverse_config(origin.url))
    data = await raw_exchange(
        "127.0.0.1",
        port_of(eng.listeners["reverse"]),
        b"CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    assert data.startswith(b"HTTP/1.1 405")
    assert data.count(b"HTTP/1.1 ") == 1, "bytes after CONNECT are not a request"
    assert origin.requests == []


async def test_refused_connect_on_the_forward_proxy_answers_and_closes(engine_factory):
    eng = await engine_factory(forward_config(connect_ports=(443,)))
    data = await raw_exchange(
        "127.0.0.1",
        port_of(eng.listeners["forward"]),
        b"CONNECT a.test:25 HTTP/1.1\r\nHost: a.test:25\r\n\r\n",
        timeout=5.0,
    )
    assert data.startswith(b"HTTP/1.1 403")
    assert b"connection: close" in data.lower()

"""Neighbours of the HTTP/1.1 findings of issues 9 and 10, through both proxies.

Each test drives a real engine on 127.0.0.1 with raw sockets on both sides (the scripted
origins of ``rawhttp``): trailer sections, Max-Forwards, absolute-form and Host-less requests
to the reverse proxy, and other corners that client libraries smooth over.
"""

from __future__ import annotations

import pytest
from configs import forward_proxy
from rawhttp import RawOrigin, connect, read_response, response
from test_http_conformance import get, proxy_for

from workbench.config.model import Config, RuleConfig


async def _ok(req, reader, writer) -> bool:
    writer.write(response(200, b"ok"))
    await writer.drain()
    return True


@pytest.fixture
async def origins_started():
    """Origins to stop at teardown."""
    started: list[RawOrigin] = []
    yield started
    for o in started:
        await o.stop()


@pytest.fixture
def answering(origins_started):
    """Factory: a started :meth:`RawOrigin.answering` origin for ``handler``."""

    async def make(handler=_ok) -> RawOrigin:
        o = await RawOrigin.answering(handler).start()
        origins_started.append(o)
        return o

    return make


@pytest.fixture
def scripted(origins_started):
    """Factory: a started :class:`RawOrigin` running ``script`` per connection."""

    async def make(script) -> RawOrigin:
        o = await RawOrigin(script).start()
        origins_started.append(o)
        return o

    return make


# -- trailer sections --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["reverse", "forward"])
async def test_request_trailers_never_reach_the_origin_as_headers(answering, engine_factory, kind):
    origin = await answering()
    eng, url, target = await proxy_for(kind, origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(
        get(
            target,
            host=f"127.0.0.1:{origin.port}",
            method="POST",
            extra="Transfer-Encoding: chunked\r\n",
        )
        + b"5\r\nhello\r\n0\r\nHost: evil.test\r\nX-Forwarded-For: 6.6.6.6\r\nX-Smuggled: 1\r\n\r\n"
    )
    resp = await read_response(reader)
    assert resp.status == 200
    seen = origin.requests[0]
    assert seen.values("host") == [f"127.0.0.1:{origin.port}"]
    assert seen.values("x-smuggled") == []
    assert seen.values("x-forwarded-for") == ["127.0.0.1"]
    writer.close()


async def test_response_trailers_are_neither_relayed_as_headers_nor_stored(
    scripted, engine_factory
):
    async def script(reader, writer):
        while True:
            await origin.read_head(reader)
            writer.write(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCache-Control: no-store\r\n\r\n"
                b"3\r\nabc\r\n0\r\nSet-Cookie: evil=1\r\nCache-Control: max-age=600\r\n\r\n"
            )
            await writer.drain()

    origin = await scripted(script)
    eng, url, target = await proxy_for("reverse", origin, engine_factory, cache=True)
    reader, writer = await connect(url)
    for _ in range(2):
        writer.write(get(target))
        resp = await read_response(reader)
        assert resp.status == 200 and resp.body == b"abc"
        assert resp.header("set-cookie") is None
        assert resp.header("cache-control") == "no-store"
    assert len(origin.heads) == 2  # no-store held: nothing was served from the cache
    writer.close()


# -- Max-Forwards (RFC 9110 §7.6.2) ------------------------------------------------------------
@pytest.mark.parametrize("kind", ["reverse", "forward"])
async def test_max_forwards_zero_is_answered_by_the_proxy(answering, engine_factory, kind):
    origin = await answering()
    eng, url, target = await proxy_for(kind, origin, engine_factory)
    reader, writer = await connect(url)
    host = f"127.0.0.1:{origin.port}"
    writer.write(get(target, host, "TRACE", "Max-Forwards: 0\r\nCookie: s=secret\r\nX-A: 1\r\n"))
    trace = await read_response(reader)
    assert trace.status == 200 and trace.header("content-type") == "message/http"
    assert trace.body.startswith(f"TRACE {target} HTTP/1.1\r\n".encode())
    assert b"X-A: 1\r\n" in trace.body and b"secret" not in trace.body
    writer.write(get(target, host, "OPTIONS", "Max-Forwards: 0\r\n"))
    options = await read_response(reader)
    assert options.status == 200 and "OPTIONS" in options.header("allow")
    assert origin.requests == []
    writer.close()


@pytest.mark.parametrize("kind", ["reverse", "forward"])
async def test_max_forwards_counts_down_on_trace_and_options_only(answering, engine_factory, kind):
    origin = await answering()
    eng, url, target = await proxy_for(kind, origin, engine_factory)
    reader, writer = await connect(url)
    host = f"127.0.0.1:{origin.port}"
    for method in ("TRACE", "OPTIONS", "GET"):
        writer.write(get(target, host, method, "Max-Forwards: 3\r\n"))
        assert (await read_response(reader)).status == 200
    assert [r.values("max-forwards") for r in origin.requests] == [["2"], ["2"], ["3"]]
    writer.close()


# -- the Host a reverse proxy sends upstream ---------------------------------------------------
async def test_absolute_form_to_the_reverse_proxy_uses_the_target_authority(
    answering, engine_factory
):
    origin = await answering()
    eng, url, _ = await proxy_for("reverse", origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(b"GET http://site.test/x?q=1 HTTP/1.1\r\nHost: other.test\r\n\r\n")
    assert (await read_response(reader)).status == 200
    seen = origin.requests[0]
    assert seen.target == "/x?q=1"
    assert seen.values("host") == ["site.test"]  # RFC 9112 §3.2.2: Host is ignored
    assert seen.values("x-forwarded-host") == ["site.test"]
    writer.close()


@pytest.mark.parametrize(
    "target", ["http:///x", "http://@/x", "http://[::1/x", "http://site.test:99999/x"]
)
async def test_absolute_form_with_a_bad_authority_is_400(answering, engine_factory, target):
    origin = await answering()
    eng, url, _ = await proxy_for("reverse", origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(get(target, host="site.test"))
    assert (await read_response(reader)).status == 400
    assert origin.requests == []
    writer.close()


async def test_http10_request_without_host_gets_one_upstream(answering, engine_factory):
    origin = await answering()
    eng, url, _ = await proxy_for("reverse", origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(b"GET /old HTTP/1.0\r\n\r\n")
    assert (await read_response(reader)).status == 200
    seen = origin.requests[0]
    assert seen.line == "GET /old HTTP/1.1"
    assert seen.values("host") == [url.split("//", 1)[1]]  # the authority the client reached
    writer.close()


# -- asterisk-form (RFC 9112 §3.2.4) -----------------------------------------------------------
async def test_options_absolute_form_without_path_is_sent_as_asterisk(answering, engine_factory):
    origin = await answering()
    eng, url, _ = await proxy_for("forward", origin, engine_factory)
    reader, writer = await connect(url)
    for target in (origin.url, origin.url + "/"):
        writer.write(get(target, f"127.0.0.1:{origin.port}", "OPTIONS"))
        assert (await read_response(reader)).status == 200
    assert [r.line for r in origin.requests] == ["OPTIONS * HTTP/1.1", "OPTIONS / HTTP/1.1"]
    writer.close()


@pytest.mark.parametrize("kind", ["reverse", "forward"])
async def test_options_asterisk_is_answered_by_the_proxy(answering, engine_factory, kind):
    origin = await answering()
    eng, url, _ = await proxy_for(kind, origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(get("*", method="OPTIONS"))
    resp = await read_response(reader)
    assert resp.status == 200 and "GET" in resp.header("allow")
    writer.write(get("*", method="OPTIONS"))  # the connection goes on
    assert (await read_response(reader)).status == 200
    writer.close()


# -- 101 Switching Protocols (RFC 9110 §7.8, §15.2.2) ------------------------------------------
@pytest.mark.parametrize(
    "switch", [b"Upgrade: foo\r\n", b""], ids=["another-protocol", "no-upgrade-field"]
)
async def test_a_101_to_a_protocol_the_client_did_not_offer_is_a_502(
    scripted, engine_factory, switch
):
    async def script(reader, writer):
        await origin.read_head(reader)
        writer.write(b"HTTP/1.1 101 Switching\r\nConnection: upgrade\r\n" + switch + b"\r\nFOO")
        await writer.drain()
        await reader.read()

    origin = await scripted(script)
    eng, url, _ = await proxy_for("reverse", origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(get("/ws", extra="Connection: Upgrade\r\nUpgrade: websocket\r\n"))
    resp = await read_response(reader)
    assert resp.status == 502 and b"offered" in resp.body
    writer.close()


# -- rules see one spelling of a host and of a path ----------------------------------------------
async def test_rules_are_not_slipped_past_by_trailing_dots_encodings_or_dot_segments(
    answering, engine_factory
):
    origin = await answering()
    rules = (
        RuleConfig(name="no-blocked", when="~d blocked.test", action="block", status=403),
        RuleConfig(name="no-admin", when='~u "^/admin"', action="block", status=403),
    )
    eng = await engine_factory(Config(forward=forward_proxy(), rules=rules))
    reader, writer = await connect(eng.listeners["forward"])
    for target in (
        "http://blocked.test./x",  # the same host as blocked.test (FQDN form)
        f"{origin.url}/%61dmin",  # %61 is "a"
        f"{origin.url}/static/../admin",
        f"{origin.url}/static/%2e%2e/admin",
    ):
        writer.write(get(target, target.split("/")[2]))
        resp = await read_response(reader)
        assert resp.status == 403, target
    assert origin.requests == []
    writer.close()

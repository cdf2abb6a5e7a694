"""HTTP/1.1 behaviour of both proxies against scripted raw origins (RFC 9110/9112).

Each test drives a real engine on 127.0.0.1 with raw sockets on both sides: close-delimited
bodies, mid-body drops and stalls, early answers, HTTP/1.0 clients, interim responses, Host
rules and limits are exactly what client libraries hide.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import time

import pytest
from origin import wait_for
from rawhttp import RawOrigin, connect, header, headers_named, read_response, read_to_eof

from workbench.config.model import (
    Address,
    BackendConfig,
    Config,
    ForwardConfig,
    Limits,
    PoolConfig,
    ReverseConfig,
    RouteConfig,
    Timeouts,
)


def reverse_config(origin_url: str, *, cache=False, response=5.0, limits=None) -> Config:
    pool = PoolConfig(
        name="web",
        backends=(BackendConfig(name="b1", url=origin_url),),
        retries=0,
        timeouts=Timeouts(connect=2.0, response=response, idle=60.0),
    )
    return Config(
        reverse=ReverseConfig(
            listen=Address("127.0.0.1", 0),
            routes=(RouteConfig(name="all", pool="web"),),
            pools={"web": pool},
            cache=cache,
            limits=limits or Limits(),
        )
    )


def forward_config(*, cache=False, response=5.0) -> Config:
    return Config(
        forward=ForwardConfig(
            listen=Address("127.0.0.1", 0),
            cache=cache,
            timeouts=Timeouts(connect=2.0, response=response, idle=60.0),
        )
    )


@pytest.fixture
async def raw_origin():
    started: list[RawOrigin] = []

    async def make(script) -> RawOrigin:
        o = await RawOrigin(script).start()
        started.append(o)
        return o

    yield make
    for o in started:
        await o.stop()


async def proxy_for(kind: str, origin: RawOrigin, engine_factory, **kw):
    """(engine, proxy url, request target) for the reverse or forward proxy to ``origin``."""
    if kind == "reverse":
        eng = await engine_factory(reverse_config(origin.url, **kw))
        return eng, eng.listeners["reverse"], "/"
    eng = await engine_factory(forward_config(**kw))
    return eng, eng.listeners["forward"], origin.url + "/"


def last_record(eng):
    records, _, _ = eng.records_since(0, 1000)
    return records[-1]


async def wait_record(eng, count: int = 1):
    await wait_for(lambda: eng.records.total >= count)
    return last_record(eng)


def get(target: str, host: str = "127.0.0.1", method: str = "GET", extra: str = "") -> bytes:
    return f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


# -- close-delimited bodies, drops and stalls --------------------------------------------------
@pytest.mark.parametrize("kind", ["reverse", "forward"])
async def test_close_delimited_response_ends_for_the_client(raw_origin, engine_factory, kind):
    body = b"x" * 300_000

    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    origin = await raw_origin(script)
    eng, url, target = await proxy_for(kind, origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(get(target))
    t0 = time.monotonic()
    resp = await read_response(reader)
    assert resp.status == 200 and resp.body == body
    assert resp.header("connection") == "close" or resp.header("content-length") == str(len(body))
    data, _ = await read_to_eof(reader)  # the proxy closes after the last byte
    assert data == b"" and time.monotonic() - t0 < 3
    rec = await wait_record(eng)
    assert rec.error is None and rec.status == 200 and rec.bytes_out == len(body)
    assert ("respond", "close-delimited") in [s[:2] for s in rec.trace]
    writer.close()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
@pytest.mark.parametrize("kind", ["reverse", "forward"])
async def test_backend_dying_mid_body_aborts_the_client(raw_origin, engine_factory, kind, framing):
    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        if framing == "chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(b"4000\r\n" + b"y" * 0x4000 + b"\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"y" * 16384)
        await writer.drain()
        writer.transport.abort()

    origin = await raw_origin(script)
    eng, url, target = await proxy_for(kind, origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(get(target))
    data, _ = await read_to_eof(reader)
    head, _, body = data.partition(b"\r\n\r\n")
    assert b" 200 " in head.split(b"\r\n")[0]
    if framing == "chunked":
        assert not body.endswith(b"0\r\n\r\n")  # no last chunk: visibly incomplete
    else:
        assert len(body) < 1_000_000
    rec = await wait_record(eng)
    assert rec.error and "truncated" in rec.error
    assert ("respond", "truncated") in [s[:2] for s in rec.trace]
    writer.close()


@pytest.mark.parametrize("kind", ["reverse", "forward"])
async def test_backend_stalling_mid_body_releases_the_client(raw_origin, engine_factory, kind):
    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"z" * 100)
        await writer.drain()
        await origin.release.wait()

    origin = await raw_origin(script)
    eng, url, target = await proxy_for(kind, origin, engine_factory, response=0.5)
    reader, writer = await connect(url)
    t0 = time.monotonic()
    writer.write(get(target))
    data, _ = await read_to_eof(reader, timeout=5)
    assert time.monotonic() - t0 < 2.5
    assert data.endswith(b"z" * 100) and b"Content-Length: 1000" in data
    rec = await wait_record(eng)
    assert rec.error and "stalled mid-body" in rec.error
    writer.close()


async def test_response_timeout_starts_when_the_upload_has_been_sent(raw_origin, engine_factory):
    """A slow upload to a slow-reading backend is not cut by the response timeout: the backend
    takes ~3 s to read 24 MiB, twice the response timeout, but never pauses for that long."""
    size = 24 * 1024 * 1024

    async def script(reader, writer):
        head = await origin.read_head(reader)
        left = int(header(head, "content-length"))
        digest = hashlib.sha256()
        while left:
            chunk = await reader.read(min(left, 262144))
            digest.update(chunk)
            left -= len(chunk)
            await asyncio.sleep(0.03)
        out = digest.hexdigest().encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(out), out))
        await writer.drain()

    origin = await raw_origin(script)
    eng, url, _ = await proxy_for("reverse", origin, engine_factory, response=1.5)
    payload = bytes(range(256)) * (size // 256)
    reader, writer = await connect(url)
    writer.write(get("/up", method="POST", extra=f"Content-Length: {len(payload)}\r\n"))
    t0 = time.monotonic()
    writer.write(payload)
    resp = await read_response(reader, timeout=20)
    assert resp.status == 200, resp.body
    assert resp.body.decode() == hashlib.sha256(payload).hexdigest()
    assert time.monotonic() - t0 > 1.5  # the upload did outlast the response timeout
    # Forwarded with the client's Content-Length, not re-chunked.
    assert header(origin.heads[0], "content-length") == str(len(payload))
    assert header(origin.heads[0], "transfer-encoding") is None
    writer.close()


@pytest.mark.parametrize("size", [10, 600_000], ids=["buffered", "streamed"])
async def test_stalled_client_body_gets_408(raw_origin, engine_factory, size):
    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        await origin.release.wait()

    origin = await raw_origin(script)
    limits = Limits(client_timeout=1.0)
    eng = await engine_factory(reverse_config(origin.url, limits=limits))
    reader, writer = await connect(eng.listeners["reverse"])
    writer.write(get("/up", method="POST", extra="Content-Length: 2000000\r\n"))
    writer.write(b"a" * size)
    t0 = time.monotonic()
    resp = await read_response(reader, timeout=6)
    assert resp.status == 408 and time.monotonic() - t0 < 4
    assert resp.header("connection") == "close"
    rec = await wait_record(eng)
    assert rec.status == 408 and "stopped arriving" in rec.error
    writer.close()


# -- HEAD, 304 and uploads ---------------------------------------------------------------------
def head_origin_script(origin_box):
    async def script(reader, writer):
        while True:
            head = await origin_box[0].read_head(reader)
            if head.startswith(b"HEAD"):
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\n"
                    b"Cache-Control: max-age=60\r\nContent-Type: application/zip\r\n\r\n"
                )
            else:
                writer.write(
                    b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 3000000\r\n\r\n'
                )
            await writer.drain()

    return script


@pytest.mark.parametrize("kind", ["reverse", "forward"])
async def test_head_and_304_keep_the_origins_content_length(raw_origin, engine_factory, kind):
    box = []
    origin = await raw_origin(head_origin_script(box))
    box.append(origin)
    eng, url, target = await proxy_for(kind, origin, engine_factory, cache=True)
    reader, writer = await connect(url)
    for _ in range(2):  # the second HEAD is a cache hit of the stored HEAD
        writer.write(get(target, method="HEAD"))
        resp = await read_response(reader, head_request=True)
        assert resp.status == 200 and resp.header("content-length") == "3000000"
    writer.write(get(target, extra='If-None-Match: "v1"\r\nCache-Control: no-cache\r\n'))
    resp = await read_response(reader)
    assert resp.status == 304 and resp.header("content-length") == "3000000"
    records, _, _ = eng.records_since(0, 10)
    assert [r.cache for r in records[:2]] == ["miss", "hit"]
    assert sum(h.startswith(b"HEAD") for h in origin.heads) == 1
    writer.close()


@pytest.mark.parametrize("kind", ["reverse", "forward"])
async def test_head_answer_leaves_the_upstream_connection_reusable(
    raw_origin, engine_factory, kind
):
    async def script(reader, writer):
        while True:
            head = await origin.read_head(reader)
            if head.startswith(b"HEAD"):
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n")
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world")
            await writer.drain()

    origin = await raw_origin(script)
    eng, url, target = await proxy_for(kind, origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(get(target, method="HEAD"))
    resp = await read_response(reader, head_request=True)
    assert resp.status == 200 and resp.header("content-length") == "11"
    await wait_record(eng, 1)  # the HEAD's exchange is over: its connection is back in the pool
    writer.write(get(target))
    resp = await read_response(reader)
    assert resp.status == 200 and resp.body == b"hello world"
    rec = await wait_record(eng, 2)
    assert [h.split(b" ", 1)[0] for h in origin.heads] == [b"HEAD", b"GET"]
    assert origin.connections == 1
    assert ("upstream", "200", f"{rec.backend} answered on a pooled connection") in rec.trace
    writer.close()


@pytest.mark.parametrize("kind", ["reverse", "forward"])
async def test_upload_keeps_its_content_length_and_bytes(raw_origin, engine_factory, kind):
    payload = hashlib.sha256(b"seed").digest() * (2 * 1024 * 1024 // 32)  # 2 MiB

    async def script(reader, writer):
        head = await origin.read_head(reader)
        body = await reader.readexactly(int(header(head, "content-length") or 0))
        out = hashlib.sha256(body).hexdigest().encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(out), out))
        await writer.drain()

    origin = await raw_origin(script)
    eng, url, target = await proxy_for(kind, origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(get(target, method="PUT", extra=f"Content-Length: {len(payload)}\r\n"))
    writer.write(payload)
    resp = await read_response(reader, timeout=10)
    assert resp.body.decode() == hashlib.sha256(payload).hexdigest()
    assert headers_named(origin.heads[0], "content-length") == [str(len(payload))]
    assert header(origin.heads[0], "transfer-encoding") is None
    writer.close()


async def test_chunked_upload_stays_chunked(raw_origin, engine_factory):
    async def script(reader, writer):
        await origin.read_head(reader)
        body = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if not size:
                await reader.readline()
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        out = b"%d" % len(body)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(out), out))
        await writer.drain()

    origin = await raw_origin(script)
    eng, url, _ = await proxy_for("reverse", origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(get("/c", method="POST", extra="Transfer-Encoding: chunked\r\n"))
    for _ in range(10):
        writer.write(b"10000\r\n" + b"c" * 0x10000 + b"\r\n")
    writer.write(b"0\r\n\r\n")
    resp = await read_response(reader, timeout=10)
    assert resp.status == 200 and resp.body == b"655360"
    assert header(origin.heads[0], "transfer-encoding") == "chunked"
    assert header(origin.heads[0], "content-length") is None
    writer.close()


async def test_early_413_during_a_big_upload_reaches_the_client(raw_origin, engine_factory):
    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\nConnection: close\r\n\r\n"
            b"too large"
        )
        await writer.drain()
        writer.transport.abort()

    origin = await raw_origin(script)
    eng, url, _ = await proxy_for("reverse", origin, engine_factory)
    reader, writer = await connect(url)
    size = 10 * 1024 * 1024
    writer.write(get("/up", method="POST", extra=f"Content-Length: {size}\r\n"))

    async def send_body():
        chunk = b"u" * 65536
        try:
            for _ in range(size // len(chunk)):
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass

    sender = asyncio.ensure_future(send_body())
    resp = await read_response(reader, timeout=10)
    assert resp.status == 413 and resp.body == b"too large", resp.body
    await asyncio.wait_for(sender, 10)
    rec = await wait_record(eng)
    assert rec.status == 413
    writer.close()


# -- HTTP/1.0, interim responses ---------------------------------------------------------------
def ok_script(origin_box, body=b"ok"):
    async def script(reader, writer):
        while True:
            await origin_box[0].read_head(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

    return script


async def test_http10_keep_alive_only_when_asked_and_announced(raw_origin, engine_factory):
    box = []
    origin = await raw_origin(ok_script(box))
    box.append(origin)
    eng, url, _ = await proxy_for("reverse", origin, engine_factory)
    reader, writer = await connect(url)
    for _ in range(2):
        writer.write(b"GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\n")
        resp = await read_response(reader)
        assert resp.status == 200 and resp.header("connection") == "keep-alive"
    writer.write(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n")
    resp = await read_response(reader)
    assert resp.status == 200 and resp.header("connection") == "close"
    data, _ = await read_to_eof(reader)
    assert data == b""
    writer.close()


@pytest.mark.parametrize("kind", ["reverse", "forward"])
async def test_interim_103_is_relayed_to_http11_clients(raw_origin, engine_factory, kind):
    async def script(reader, writer):
        while True:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nLink: </s.css>\r\n\r\nok")
            await writer.drain()

    origin = await raw_origin(script)
    eng, url, target = await proxy_for(kind, origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(get(target))
    hint = await read_response(reader)
    assert hint.status == 103 and hint.header("link") == "</s.css>; rel=preload"
    final = await read_response(reader)
    assert final.status == 200 and final.body == b"ok"
    # HTTP/1.0 clients never see interim answers.
    writer.write(f"GET {target} HTTP/1.0\r\nHost: a\r\n\r\n".encode())
    final = await read_response(reader)
    assert final.status == 200 and final.body == b"ok"
    writer.close()


async def test_expect_100_continue_is_answered_once_and_not_passed_on(raw_origin, engine_factory):
    async def script(reader, writer):
        head = await origin.read_head(reader)
        await reader.readexactly(int(header(head, "content-length")))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    origin = await raw_origin(script)
    eng, url, _ = await proxy_for("reverse", origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(get("/", method="POST", extra="Content-Length: 5\r\nExpect: 100-continue\r\n"))
    cont = await read_response(reader)
    assert cont.status == 100
    writer.write(b"hello")
    final = await read_response(reader)
    assert final.status == 200 and final.body == b"ok"
    assert header(origin.heads[0], "expect") is None
    writer.close()


# -- hostile input -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw,status",
    ids=["no-host", "two-hosts", "bad-host", "http2-version", "http09ish"],
    argvalues=[
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a b/c\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505),
    ],
)
async def test_bad_host_and_versions_are_refused(raw_origin, engine_factory, raw, status):
    box = []
    origin = await raw_origin(ok_script(box))
    box.append(origin)
    eng, url, _ = await proxy_for("reverse", origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(raw)
    resp = await read_response(reader)
    assert resp.status == status
    assert origin.connections == 0
    writer.close()


async def test_connection_header_cannot_strip_host(raw_origin, engine_factory):
    box = []
    origin = await raw_origin(ok_script(box))
    box.append(origin)
    eng, url, _ = await proxy_for("reverse", origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(get("/", host="site.test", extra="Connection: Host, Content-Length\r\n"))
    resp = await read_response(reader)
    assert resp.status == 200
    assert header(origin.heads[0], "host") == "site.test"
    writer.close()


@pytest.mark.parametrize("kind", ["reverse", "forward"])
async def test_huge_upstream_head_is_a_502(raw_origin, engine_factory, kind):
    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nX-Big: ")
        chunk = b"h" * 65536
        for _ in range(800):  # 50 MiB if nobody stops it
            writer.write(chunk)
            await writer.drain()

    origin = await raw_origin(script)
    eng, url, target = await proxy_for(kind, origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(get(target))
    resp = await read_response(reader)
    assert resp.status == 502 and b"larger than" in resp.body
    rec = await wait_record(eng)
    assert "response head is larger than" in rec.error
    writer.close()


async def test_malformed_request_after_a_valid_one_is_answered_in_order(raw_origin, engine_factory):
    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(0.2)  # the bad request is parsed while this one is in flight
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
        await writer.drain()

    origin = await raw_origin(script)
    eng, url, _ = await proxy_for("reverse", origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(get("/a") + b"NOT HTTP AT ALL\r\n\r\n")
    first = await read_response(reader)
    assert first.status == 200 and first.body == b"first"
    second = await read_response(reader)
    assert second.status == 400 and second.header("connection") == "close"
    data, _ = await read_to_eof(reader)
    assert data == b""
    writer.close()


async def test_pipelined_requests_with_bodies_are_answered_in_order(raw_origin, engine_factory):
    async def script(reader, writer):
        while True:
            head = await origin.read_head(reader)
            body = await reader.readexactly(int(header(head, "content-length")))
            out = hashlib.sha256(body).hexdigest()[:8].encode()
            await asyncio.sleep(0.01)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n" + out)
            await writer.drain()

    origin = await raw_origin(script)
    eng, url, _ = await proxy_for("reverse", origin, engine_factory)
    reader, writer = await connect(url)
    bodies = [bytes([i]) * n for i, n in enumerate((10, 400_000, 5, 1_200_000, 70_000))]
    for b in bodies:
        writer.write(get("/p", method="POST", extra=f"Content-Length: {len(b)}\r\n") + b)
    for b in bodies:
        resp = await read_response(reader, timeout=10)
        assert resp.body == hashlib.sha256(b).hexdigest()[:8].encode()
    writer.close()


async def test_connect_to_the_reverse_proxy_is_405_and_closes(raw_origin, engine_factory):
    box = []
    origin = await raw_origin(ok_script(box))
    box.append(origin)
    eng, url, _ = await proxy_for("reverse", origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(b"CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\nGET /")
    resp = await read_response(reader)
    assert resp.status == 405 and resp.header("connection") == "close"
    data, _ = await read_to_eof(reader)
    assert data == b""
    rec = await wait_record(eng)
    assert rec.method == "CONNECT" and rec.status == 405
    writer.close()


@pytest.mark.parametrize("kind", ["reverse", "forward"])
async def test_a_relayed_response_without_date_gets_one(raw_origin, engine_factory, kind):
    """RFC 9110 §6.6.1: a proxy with a clock adds the Date an origin without one left out;
    an origin's own Date is passed on unchanged."""
    dates = [None, "Sun, 06 Nov 1994 08:49:37 GMT"]

    async def script(reader, writer):
        for date in dates:
            await origin.read_head(reader)
            extra = f"Date: {date}\r\n" if date else ""
            writer.write(f"HTTP/1.1 200 OK\r\n{extra}Content-Length: 2\r\n\r\nok".encode())
            await writer.drain()

    origin = await raw_origin(script)
    eng, url, target = await proxy_for(kind, origin, engine_factory)
    reader, writer = await connect(url)
    writer.write(get(target))
    resp = await read_response(reader)
    added = resp.header("date")
    assert resp.status == 200 and added and added.endswith(" GMT")
    assert abs(email.utils.parsedate_to_datetime(added).timestamp() - time.time()) < 5
    writer.write(get(target))
    resp = await read_response(reader)
    assert headers_named(resp.head, "date") == [dates[1]]
    writer.close()

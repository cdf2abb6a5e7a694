"""The HTTP/1.1 server on its own: framing, pipelining, limits, timeouts, upgrades.

A real :class:`HttpServer` on 127.0.0.1 with a small echo handler, driven by raw sockets.
Timeouts are checked by calling the sweeper's :meth:`HttpServer.sweep` with a later clock
instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import pytest
from origin import wait_for
from rawhttp import read_response, read_to_eof

from workbench.config.model import Limits
from workbench.engine.http.server import (
    STREAM_THRESHOLD,
    HttpRequest,
    HttpServer,
    RequestBodyTimeout,
    ServerConnection,
)


class EchoServer:
    """An HttpServer whose handler describes the request it got (as JSON)."""

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.seen: list[HttpRequest] = []
        self.errors: list[BaseException] = []
        self.bad: list[tuple[int, str]] = []
        self.delays: dict[str, float] = {}
        self.stream_errors: list[BaseException] = []
        self.server: HttpServer | None = None
        self.port = 0

    async def start(self) -> EchoServer:
        self.server = HttpServer(
            self.handle,
            self.limits,
            on_error=self.errors.append,
            on_bad_request=lambda conn, status, msg: self.bad.append((status, msg)),
        )
        _, self.port = await self.server.start("127.0.0.1", 0)
        return self

    def handle(self, req: HttpRequest, conn: ServerConnection):
        """Targets under ``/sync`` are answered by the plain call (None returned, no task);
        every other one by the coroutine returned (the server runs it as a task)."""
        if req.target.startswith("/sync"):
            self.seen.append(req)
            if req.target == "/sync-boom":
                raise RuntimeError("secret internal detail")
            conn.respond(200, [], req.target.encode())
            return None
        return self.handle_async(req, conn)

    async def handle_async(self, req: HttpRequest, conn: ServerConnection) -> None:
        self.seen.append(req)
        if req.target == "/boom":
            raise RuntimeError("secret internal detail")
        if req.target in self.delays:
            await asyncio.sleep(self.delays[req.target])
        if req.target == "/flood":
            conn.write_head(200, [("Content-Length", str(1 << 30))])
            try:
                for _ in range(1 << 14):
                    conn.write(b"f" * 65536)
                    await conn.drain()
            except ConnectionError as exc:
                self.stream_errors.append(exc)
            return
        body = req.body
        if req.stream is not None:
            parts = []
            try:
                while chunk := await req.stream.read():
                    parts.append(chunk)
            except ConnectionError as exc:
                self.stream_errors.append(exc)
                raise
            body = b"".join(parts)
        if req.target.startswith("/status/"):
            status = int(req.target.rsplit("/", 1)[1])
            conn.respond(status, [("X-Status", str(status))], b"" if status in (204, 304) else b"x")
            return
        if req.upgrade is not None:
            conn.respond(400, [], b"declined")  # no upstream here: decline, stay HTTP
            return
        info = {
            "method": req.method,
            "target": req.target,
            "version": req.version,
            "streamed": req.stream is not None,
            "chunked": req.chunked,
            "length": len(body),
            "sha": hashlib.sha256(body).hexdigest(),
            "headers": req.headers,
        }
        out = json.dumps(info).encode()
        if req.method == "HEAD":
            conn.respond(200, [], b"", head=True, length=1234)
        else:
            conn.respond(200, [("Content-Type", "application/json")], out)

    async def connect(self):
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def stop(self) -> None:
        await self.server.stop(grace=0.5)


@pytest.fixture
async def echo():
    servers: list[EchoServer] = []

    async def make(limits: Limits | None = None) -> EchoServer:
        s = await EchoServer(limits).start()
        servers.append(s)
        return s

    yield make
    for s in servers:
        await s.stop()


def req(target="/", method="GET", extra="", version="1.1") -> bytes:
    return f"{method} {target} HTTP/{version}\r\nHost: t\r\n{extra}\r\n".encode()


# -- framing ------------------------------------------------------------------------------------
async def test_content_length_body_is_buffered_whole(echo):
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(req("/cl", "POST", "Content-Length: 11\r\n") + b"hello world")
    info = json.loads((await read_response(reader)).body)
    assert info["length"] == 11 and not info["streamed"]
    assert info["sha"] == hashlib.sha256(b"hello world").hexdigest()
    writer.close()


async def test_chunked_body_with_extensions_and_trailers(echo):
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(
        req("/ch", "POST", "Transfer-Encoding: chunked\r\n")
        + b'5;name=value;quoted="a b"\r\nhello\r\n'
        + b"6\r\n world\r\n"
        + b"0\r\nX-Checksum: abc\r\n\r\n"
    )
    info = json.loads((await read_response(reader)).body)
    assert info["chunked"] and info["length"] == 11
    assert info["sha"] == hashlib.sha256(b"hello world").hexdigest()
    # The connection is still usable after the trailers.
    writer.write(req("/after"))
    assert json.loads((await read_response(reader)).body)["target"] == "/after"
    writer.close()


async def test_large_body_is_streamed_with_its_bytes_intact(echo):
    srv = await echo()
    body = bytes(range(256)) * (3 * STREAM_THRESHOLD // 256)
    reader, writer = await srv.connect()
    writer.write(req("/big", "PUT", f"Content-Length: {len(body)}\r\n") + body)
    info = json.loads((await read_response(reader)).body)
    assert info["streamed"] and info["sha"] == hashlib.sha256(body).hexdigest()
    writer.close()


async def test_head_204_and_304_have_no_body(echo):
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(req("/h", "HEAD") + req("/status/204") + req("/status/304") + req("/end"))
    head = await read_response(reader, head_request=True)
    assert head.status == 200 and head.header("content-length") == "1234"
    r204 = await read_response(reader)
    assert r204.status == 204 and r204.header("content-length") is None
    r304 = await read_response(reader)
    assert r304.status == 304 and r304.header("content-length") is None
    # Nothing stray between the answers: the next response parses cleanly.
    assert json.loads((await read_response(reader)).body)["target"] == "/end"
    writer.close()


# -- pipelining ---------------------------------------------------------------------------------
async def test_pipelined_requests_are_answered_in_order(echo):
    srv = await echo()
    srv.delays = {"/slow": 0.2, "/mid": 0.05}
    reader, writer = await srv.connect()
    big = b"b" * (STREAM_THRESHOLD + 1000)
    writer.write(
        req("/slow")
        + req("/mid", "POST", "Content-Length: 3\r\n")
        + b"abc"
        + req("/big", "POST", f"Content-Length: {len(big)}\r\n")
        + big
        + req("/fast")
    )
    targets = [json.loads((await read_response(reader)).body)["target"] for _ in range(4)]
    assert targets == ["/slow", "/mid", "/big", "/fast"]
    writer.close()


async def test_many_pipelined_requests_answered_without_waiting_stay_in_order(echo):
    # Hundreds of requests in one read, most answered by plain calls, some by a task: the
    # answers come back in order (and the server loops, it does not recurse per request).
    srv = await echo()
    srv.delays = {"/slow": 0.05}
    targets = [f"/sync/{i}" if i % 100 != 50 else "/slow" for i in range(600)]
    reader, writer = await srv.connect()
    writer.write(b"".join(req(t) for t in targets))
    got = []
    for t in targets:
        resp = await read_response(reader)
        got.append(t if t == "/slow" else resp.body.decode())
    assert got == targets
    writer.close()


async def test_pipelined_body_arriving_in_many_pieces(echo):
    srv = await echo()
    srv.delays = {"/slow": 0.1}
    reader, writer = await srv.connect()
    body = b"p" * 200_000
    writer.write(req("/slow") + req("/body", "POST", f"Content-Length: {len(body)}\r\n"))
    for i in range(0, len(body), 1000):
        writer.write(body[i : i + 1000])
        await writer.drain()
    await read_response(reader)
    info = json.loads((await read_response(reader)).body)
    assert info["length"] == len(body) and info["sha"] == hashlib.sha256(body).hexdigest()
    writer.close()


async def test_malformed_request_behind_a_slow_one_is_answered_after_it(echo):
    srv = await echo()
    srv.delays = {"/slow": 0.2}
    reader, writer = await srv.connect()
    writer.write(req("/slow") + b"\x00\x01 nonsense\r\n\r\n")
    first = await read_response(reader)
    assert json.loads(first.body)["target"] == "/slow"
    second = await read_response(reader)
    assert second.status == 400 and second.header("connection") == "close"
    assert (await read_to_eof(reader))[0] == b""
    writer.close()


@pytest.mark.parametrize(
    "codings",
    ["identity, chunked", "gzip, chunked", "chunked, identity", "identity", "gzip"],
)
async def test_transfer_coding_other_than_chunked_alone_is_400_and_a_close(echo, codings):
    # RFC 9112 §6.1: the body's end cannot be found reliably; answer 400 and close, and
    # never read what follows as a request (it would be a smuggled one).
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(
        req("/te", "POST", f"Transfer-Encoding: {codings}\r\n")
        + b"5\r\nhello\r\n0\r\n\r\n"
        + req("/smuggled")
    )
    resp = await read_response(reader)
    assert resp.status == 400 and resp.header("connection") == "close"
    assert (await read_to_eof(reader))[0] == b""
    assert srv.seen == [] and srv.bad and srv.bad[0][0] == 400
    writer.close()


async def test_chunked_alone_in_any_case_is_accepted(echo):
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(req("/te", "POST", "Transfer-Encoding: Chunked\r\n") + b"2\r\nhi\r\n0\r\n\r\n")
    info = json.loads((await read_response(reader)).body)
    assert info["chunked"] and info["length"] == 2
    writer.close()


# -- versions, Host, keep-alive -----------------------------------------------------------------
@pytest.mark.parametrize(
    "raw,status",
    [
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),  # no userinfo in Host
        (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 200),
        (b"GET / HTTP/1.1\r\nHost: \r\n\r\n", 200),  # empty Host is legal (RFC 9110 §7.2)
        (b"GET / HTTP/1.0\r\n\r\n", 200),  # HTTP/1.0 may omit Host
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
    ],
)
async def test_host_and_version_rules(echo, raw, status):
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(raw)
    resp = await read_response(reader)
    assert resp.status == status
    writer.close()


# llhttp also reads Proxy-Connection as Connection: keep-alive through it must not make a request
# of another version pass for HTTP/1.1.
@pytest.mark.parametrize(
    "raw,status",
    [
        (b"GET / HTTP/2.0\r\nHost: a\r\nProxy-Connection: keep-alive\r\n\r\n", 505),
        (b"GET / HTTP/0.9\r\nHost: a\r\nProxy-Connection: keep-alive\r\n\r\n", 505),
        (
            b"POST / HTTP/1.0\r\nHost: a\r\nProxy-Connection: keep-alive\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
    ],
    ids=["http2", "http09", "http10-te"],
)
async def test_proxy_connection_keep_alive_does_not_change_the_version(echo, raw, status):
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(raw)
    resp = await read_response(reader)
    assert resp.status == status
    writer.close()


async def test_http10_with_proxy_connection_keep_alive_is_http10(echo):
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(req(version="1.0", extra="Proxy-Connection: keep-alive\r\n"))
    resp = await read_response(reader)
    assert resp.status == 200 and json.loads(resp.body)["version"] == "1.0"
    writer.close()


async def test_http10_keep_alive_is_announced_and_close_is_the_default(echo):
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(req(version="1.0", extra="Connection: keep-alive\r\n"))
    resp = await read_response(reader)
    assert resp.header("connection") == "keep-alive"
    writer.write(req(version="1.0"))
    resp = await read_response(reader)
    assert resp.header("connection") == "close"
    assert (await read_to_eof(reader))[0] == b""
    writer.close()


async def test_http11_connection_close_is_honoured(echo):
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(req(extra="Connection: close\r\n"))
    resp = await read_response(reader)
    assert resp.status == 200 and resp.header("connection") == "close"
    assert (await read_to_eof(reader))[0] == b""
    writer.close()


async def test_handler_bug_is_a_500_without_internal_text(echo):
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(req("/boom"))
    resp = await read_response(reader)
    assert resp.status == 500 and b"secret" not in resp.body and b"RuntimeError" not in resp.body
    assert len(srv.errors) == 1
    writer.close()


async def test_handler_bug_without_waiting_is_a_500_and_a_close(echo):
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(req("/sync-boom") + req("/sync/never"))
    resp = await read_response(reader)
    assert resp.status == 500 and b"secret" not in resp.body
    assert resp.header("connection") == "close"
    assert (await read_to_eof(reader))[0] == b""
    assert len(srv.errors) == 1 and [r.target for r in srv.seen] == ["/sync-boom"]
    writer.close()


# -- limits --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw,status",
    [
        (b"GET /" + b"u" * 3000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"h" * 3000 + b"\r\n\r\n", 431),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413),
        (b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: x\r\n\r\n", 400),
    ],
)
async def test_limits(echo, raw, status):
    srv = await echo(Limits(max_header_size=2048, max_body_size=4096))
    reader, writer = await srv.connect()
    writer.write(raw)
    resp = await read_response(reader)
    assert resp.status == status
    assert srv.bad and srv.bad[0][0] == status
    writer.close()


async def test_chunked_body_over_the_limit_is_413(echo):
    srv = await echo(Limits(max_body_size=4096))
    reader, writer = await srv.connect()
    writer.write(req("/", "POST", "Transfer-Encoding: chunked\r\n"))
    writer.write(b"1000\r\n" + b"c" * 4096 + b"\r\n" + b"10\r\n" + b"c" * 16 + b"\r\n")
    resp = await read_response(reader)
    assert resp.status == 413
    writer.close()


# -- timeouts (the sweeper, run with a later clock) ---------------------------------------------
async def test_slow_request_head_gets_408(echo):
    srv = await echo(Limits(client_timeout=5))
    reader, writer = await srv.connect()
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n")
    conns = srv.server.connections
    await wait_for(lambda: conns and next(iter(conns)).reading_head_since is not None)
    srv.server.sweep(time.monotonic() + 6)
    resp = await read_response(reader)
    assert resp.status == 408
    writer.close()


async def test_stalled_buffered_body_gets_408(echo):
    srv = await echo(Limits(client_timeout=5))
    reader, writer = await srv.connect()
    writer.write(req("/", "POST", "Content-Length: 100\r\n") + b"only some")
    await writer.drain()
    await wait_for(lambda: srv.server.connections and next(iter(srv.server.connections))._req)
    conn = next(iter(srv.server.connections))
    srv.server.sweep(time.monotonic() + 1)
    assert not conn.closed  # within the timeout
    srv.server.sweep(time.monotonic() + 6)
    resp = await read_response(reader)
    assert resp.status == 408
    writer.close()


async def test_stalled_streamed_body_gets_408_and_the_handler_an_error(echo):
    srv = await echo(Limits(client_timeout=5))
    reader, writer = await srv.connect()
    writer.write(req("/", "POST", f"Content-Length: {STREAM_THRESHOLD * 4}\r\n"))
    writer.write(b"s" * (STREAM_THRESHOLD + 10))
    await wait_for(lambda: srv.seen)
    srv.server.sweep(time.monotonic() + 6)
    resp = await read_response(reader)
    assert resp.status == 408 and resp.header("connection") == "close"
    await wait_for(lambda: srv.stream_errors)
    assert isinstance(srv.stream_errors[0], RequestBodyTimeout)
    writer.close()


async def test_never_ending_header_line_is_431_not_memory(echo):
    srv = await echo(Limits(max_header_size=16384))
    reader, writer = await srv.connect()
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nX-Endless: ")
    try:
        for _ in range(200):  # 12 MiB if nobody stops it
            writer.write(b"e" * 65536)
            await writer.drain()
    except ConnectionError:
        pass  # refused while still sending: the answer may be lost to the reset
    await wait_for(lambda: srv.bad)
    assert srv.bad[0][0] == 431


async def test_client_that_stops_reading_is_disconnected(echo):
    srv = await echo(Limits(client_timeout=5))
    reader, writer = await srv.connect()
    writer.write(req("/flood"))
    conns = srv.server.connections
    await wait_for(lambda: conns and next(iter(conns))._write_paused)
    srv.server.sweep(time.monotonic() + 1)
    assert not srv.stream_errors
    srv.server.sweep(time.monotonic() + 6)
    await wait_for(lambda: srv.stream_errors)
    assert "stopped reading" in str(srv.stream_errors[0])
    writer.close()


async def test_idle_keep_alive_connection_is_closed(echo):
    srv = await echo(Limits(keepalive_timeout=10))
    reader, writer = await srv.connect()
    writer.write(req())
    await read_response(reader)
    srv.server.sweep(time.monotonic() + 5)
    writer.write(req())
    await read_response(reader)  # still open
    srv.server.sweep(time.monotonic() + 11)
    assert (await read_to_eof(reader))[0] == b""
    writer.close()


# -- upgrades ------------------------------------------------------------------------------------
async def test_h2c_upgrade_offer_is_answered_over_http11(echo):
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(
        req(
            "/h2c",
            "POST",
            "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
            "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nContent-Length: 4\r\n",
        )
        + b"data"
        + req("/next")
    )
    info = json.loads((await read_response(reader)).body)
    names = {n.lower() for n, _ in info["headers"]}
    assert info["length"] == 4 and "upgrade" not in names and "http2-settings" not in names
    assert srv.seen[0].upgrade is None
    assert json.loads((await read_response(reader)).body)["target"] == "/next"
    writer.close()


async def test_websocket_upgrade_is_handed_over_and_a_refusal_keeps_http(echo):
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(
        req(
            "/ws",
            extra="Connection: Upgrade\r\nUpgrade: websocket\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
        )
        + req("/after")
    )
    resp = await read_response(reader)
    assert resp.status == 400 and resp.body == b"declined"
    assert srv.seen[0].upgrade == "websocket"
    assert srv.seen[0].tunnel_data.startswith(b"GET /after")
    # The bytes after the declined upgrade are parsed as the next request.
    assert json.loads((await read_response(reader)).body)["target"] == "/after"
    writer.close()


# -- requests of mixed kinds in one read, and one byte at a time ---------------------------------
# (A method llhttp does not know, FOO, is read only when its request line starts a read.)
_MIXED = [
    (req("/a", version="1.0", extra="Connection: keep-alive\r\n"), "GET", "/a", "1.0"),
    (req("/b"), "GET", "/b", "1.1"),
    (req("/c", "M-SEARCH"), "M-SEARCH", "/c", "1.1"),
    (req("/d", "POST", "Content-Length: 2\r\n") + b"hi", "POST", "/d", "1.1"),
    (req("/e", "PUT", "Proxy-Connection: keep-alive\r\n", version="1.0"), "PUT", "/e", "1.0"),
    (req("/f", version="1.0", extra="Connection: keep-alive\r\n"), "GET", "/f", "1.0"),
    (req("/g", extra="Connection: close\r\n"), "GET", "/g", "1.1"),
]


@pytest.mark.parametrize("pieces", ["one-read", "byte-by-byte"])
async def test_pipelined_requests_of_mixed_versions_and_methods_read_each_as_sent(echo, pieces):
    srv = await echo()
    reader, writer = await srv.connect()
    data = b"".join(raw for raw, *_ in _MIXED)
    if pieces == "one-read":
        writer.write(data)
    else:
        for i in range(len(data)):
            writer.write(data[i : i + 1])
            await writer.drain()
    got = []
    for _ in _MIXED:
        info = json.loads((await read_response(reader)).body)
        got.append((info["method"], info["target"], info["version"]))
    assert got == [tuple(x) for _, *x in _MIXED]
    assert (await read_to_eof(reader))[0] == b""  # closed after the Connection: close one
    writer.close()

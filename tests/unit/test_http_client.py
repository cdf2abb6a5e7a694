"""The pooled upstream client on its own, against scripted raw origins on 127.0.0.1.

Framing (Content-Length, chunked with extensions and trailers, close-delimited, HEAD/204/304),
truncation, reuse, the response-head limit and the three timeouts the pool's response timeout
stands for (upload stall, head, pause between body reads).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from origin import wait_for
from rawhttp import RawOrigin, header
from upstream_client import fetch, read_all

from workbench.engine.http.client import UpstreamError
from workbench.engine.http.server import BodyStream
from workbench.engine.http.upstream_pool import UpstreamPool


@pytest.fixture
async def origin():
    started: list[RawOrigin] = []
    pools: list[UpstreamPool] = []

    async def make(script, **pool_kw) -> tuple[RawOrigin, UpstreamPool]:
        o = await RawOrigin(script).start()
        started.append(o)
        pool = UpstreamPool("127.0.0.1", o.port, **pool_kw)
        pools.append(pool)
        return o, pool

    yield make
    for p in pools:
        p.close()
    for o in started:
        await o.stop()


def serve(*answers: bytes, close=False):
    """A script answering each request on a connection with the next canned bytes."""

    async def script(reader, writer):
        for answer in answers:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
        if close:
            writer.close()
        else:
            await reader.read()

    return script


# -- framing -------------------------------------------------------------------------------------
async def test_content_length_body_and_reuse(origin):
    _, pool = await origin(
        serve(
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        )
    )
    up, resp = await fetch(pool)
    assert (resp.status, resp.content_length, await read_all(resp)) == (200, 5, b"hello")
    assert up.reusable and not resp.close_delimited
    pool.release(up)
    again, resp = await fetch(pool)
    assert again is up and await read_all(resp) == b"hi"


async def test_chunked_with_extensions_and_trailers(origin):
    _, pool = await origin(
        serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b'5;ext=1\r\nhello\r\n1;a="b c"\r\n!\r\n0\r\nX-Trailer: t\r\n\r\n',
            b"HTTP/1.1 204 No Content\r\n\r\n",
        )
    )
    up, resp = await fetch(pool)
    assert resp.chunked and await read_all(resp) == b"hello!"
    assert up.reusable  # the trailers were consumed
    pool.release(up)
    up, resp = await fetch(pool)
    assert resp.status == 204


async def test_trailers_never_join_the_headers(origin):
    # Whole response in one read: the trailers are parsed before anyone looks at the headers.
    _, pool = await origin(
        serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nCache-Control: no-store\r\n\r\n"
            b"3\r\nabc\r\n0\r\nSet-Cookie: evil=1\r\nCache-Control: max-age=600\r\n\r\n"
        )
    )
    up, resp = await fetch(pool)
    assert await read_all(resp) == b"abc"
    assert [n.lower() for n, _ in resp.headers] == ["transfer-encoding", "cache-control"]
    assert ("Cache-Control", "no-store") in resp.headers and up.reusable


@pytest.mark.parametrize("codings", ["gzip, chunked", "chunked, gzip", "gzip", "x-custom"])
async def test_transfer_coding_other_than_chunked_is_refused(origin, codings):
    # Relayed under the proxy's own framing, a coded body would reach the client unmarked.
    _, pool = await origin(
        serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: %s\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            % codings.encode(),
            close=True,
        )
    )
    with pytest.raises(UpstreamError, match="Transfer-Encoding") as info:
        await fetch(pool)
    assert info.value.kind == "protocol" and not info.value.retryable


async def test_identity_coding_and_a_coded_head_answer_are_relayed(origin):
    _, pool = await origin(
        serve(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\nuntil close",
            close=True,
        )
    )
    up, resp = await fetch(pool, "HEAD")
    assert resp.status == 200 and resp.complete
    pool.release(up)
    up, resp = await fetch(pool)
    assert await read_all(resp) == b"until close"


async def test_close_delimited_body_ends_with_the_connection(origin):
    body = b"c" * 200_000
    _, pool = await origin(serve(b"HTTP/1.1 200 OK\r\n\r\n" + body, close=True))
    up, resp = await fetch(pool)
    assert resp.close_delimited and resp.content_length is None
    assert await read_all(resp) == body
    assert resp.complete and not up.reusable


async def test_head_keeps_the_content_length(origin):
    _, pool = await origin(serve(b"HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\n\r\n"))
    up, resp = await fetch(pool, "HEAD")
    assert resp.complete and resp.content_length == 3000000 and resp.take_body() == b""
    assert not resp.close_delimited


async def test_head_answer_leaves_the_connection_reusable(origin):
    o, pool = await origin(
        serve(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
        )
    )
    up, resp = await fetch(pool, "HEAD")
    assert resp.complete and up.reusable
    pool.release(up)
    again, resp = await fetch(pool, "HEAD")
    assert again is up and resp.complete and up.reusable
    pool.release(up)
    last, resp = await fetch(pool)
    assert last is up and await read_all(resp) == b"hello"
    assert up.uses == 3 and pool.size == 1


async def test_body_after_a_head_answer_is_not_reused(origin):
    _, pool = await origin(serve(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
    up, resp = await fetch(pool, "HEAD")
    assert resp.complete and resp.take_body() == b""
    # Whether the stray body came with the head or just after it, the connection is not reused.
    await wait_for(lambda: not up.reusable)


async def test_304_and_204_complete_at_the_head(origin):
    _, pool = await origin(
        serve(
            b"HTTP/1.1 304 Not Modified\r\nETag: x\r\nContent-Length: 30\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        )
    )
    for status in (304, 204):
        up, resp = await fetch(pool)
        assert resp.status == status and resp.complete and resp.take_body() == b""
        assert up.reusable
        pool.release(up)
    up, resp = await fetch(pool)
    assert await read_all(resp) == b"ok"


async def test_interim_responses_are_skipped(origin):
    _, pool = await origin(
        serve(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        )
    )
    up, resp = await fetch(pool)
    assert resp.status == 200 and await read_all(resp) == b"ok"
    assert ("Link", "</a>") not in resp.headers


# -- failures ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "partial",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
    ],
    ids=["content-length", "chunked"],
)
async def test_truncated_body_raises(origin, partial):
    _, pool = await origin(serve(partial, close=True))
    up, resp = await fetch(pool)
    with pytest.raises(UpstreamError, match="truncated") as info:
        await read_all(resp)
    assert info.value.kind == "reset" and not up.reusable


async def test_close_before_any_answer_is_retryable(origin):
    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    _, pool = await origin(script)
    up, _ = await pool.acquire()
    with pytest.raises(UpstreamError) as info:
        await up.send(b"GET / HTTP/1.1\r\nHost: o\r\n\r\n", b"", is_head=False, timeout=5)
    assert info.value.kind == "reset" and info.value.retryable


async def test_response_head_over_the_limit_is_refused(origin):
    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(200):
            writer.write(b"X-H%d: %s\r\n" % (i, b"v" * 1000))
            await writer.drain()
        await reader.read()

    _, pool = await origin(script, max_header_size=16384)
    with pytest.raises(UpstreamError, match="larger than 16384") as info:
        await fetch(pool)
    assert info.value.kind == "protocol"


@pytest.mark.parametrize("size", [16 * 1024 + 1, 40 * 1024])
async def test_response_head_over_the_limit_in_one_read_is_refused(origin, size):
    # The whole head, just over the limit, and its body arrive in one write: the head is
    # complete within one read, so the limit is checked on the parsed fields.
    fields = b"X-A: " + b"a" * (size - 7) + b"\r\n"  # `size` bytes as the limit counts them
    answer = b"HTTP/1.1 200 OK\r\n" + fields + b"Content-Length: 2\r\n\r\nok"

    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        await reader.read()

    _, pool = await origin(script, max_header_size=16384 + 19)  # Content-Length: 2 counts 19
    with pytest.raises(UpstreamError, match="larger than") as info:
        await fetch(pool)
    assert info.value.kind == "protocol"


async def test_response_head_at_the_limit_is_accepted(origin):
    fields = b"X-A: " + b"a" * (16384 - 7) + b"\r\n"
    answer = b"HTTP/1.1 200 OK\r\n" + fields + b"Content-Length: 2\r\n\r\nok"
    _, pool = await origin(serve(answer), max_header_size=16384 + 19)
    _, resp = await fetch(pool)
    assert resp.status == 200 and await read_all(resp) == b"ok"


async def test_one_endless_header_value_is_refused(origin):
    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nX-Endless: ")
        for _ in range(1000):
            writer.write(b"e" * 65536)
            await writer.drain()

    _, pool = await origin(script, max_header_size=65536)
    with pytest.raises(UpstreamError, match="larger than"):
        await fetch(pool)


# -- timeouts ------------------------------------------------------------------------------------
async def test_no_answer_times_out(origin):
    o, pool = await origin(lambda r, w: o.release.wait())
    t0 = time.monotonic()
    with pytest.raises(UpstreamError, match="did not respond within 0.2") as info:
        await fetch(pool, timeout=0.2)
    assert info.value.kind == "timeout" and time.monotonic() - t0 < 1.5


async def test_stall_between_body_reads_times_out(origin):
    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"a" * 10)
        await writer.drain()
        for _ in range(3):  # a trickle within the timeout is fine
            await asyncio.sleep(0.1)
            writer.write(b"a" * 10)
            await writer.drain()
        await o.release.wait()

    o, pool = await origin(script)
    up, resp = await fetch(pool, timeout=0.3)
    got = b""
    t0 = time.monotonic()
    with pytest.raises(UpstreamError, match="stalled mid-body for more than 0.3"):
        while chunk := await resp.read():
            got += chunk
    assert got == b"a" * 40 and time.monotonic() - t0 < 1.5


async def test_a_slow_reader_is_not_a_stalled_backend(origin):
    size = 6 * 1024 * 1024

    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        chunk = b"s" * 65536
        for _ in range(size // len(chunk)):
            writer.write(chunk)
            await writer.drain()
        await reader.read()

    _, pool = await origin(script)
    up, resp = await fetch(pool, timeout=0.2)
    first = await resp.read()
    await asyncio.sleep(0.6)  # we are slow; the backend is held back, not stalled
    rest = await read_all(resp)
    assert len(first) + len(rest) == size


async def test_upload_keeps_content_length_framing_and_chunked_when_asked(origin):
    async def script(reader, writer):
        while True:
            head = await o.read_head(reader)
            if header(head, "content-length"):
                body = await reader.readexactly(int(header(head, "content-length")))
            else:
                body = b""
                while size := int((await reader.readline()).split(b";")[0], 16):
                    body += await reader.readexactly(size)
                    await reader.readexactly(2)
                await reader.readline()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()

    o, pool = await origin(script)
    for chunked in (False, True):
        stream = BodyStream(lambda: None, lambda: None)
        stream.chunked = chunked
        framing = b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: 6\r\n"
        up, _ = await pool.acquire()
        pending = up.send(
            b"POST / HTTP/1.1\r\nHost: o\r\n" + framing + b"\r\n", stream, is_head=False, timeout=2
        )
        stream.feed(b"abc")
        stream.feed(b"def")
        stream.finish()
        resp = await pending
        assert await read_all(resp) == b"abcdef"
        assert up.reusable
        pool.release(up)


async def test_early_answer_ends_the_upload(origin):
    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 4\r\n\r\nnope")
        await writer.drain()
        await reader.read()

    _, pool = await origin(script)
    stream = BodyStream(lambda: None, lambda: None)
    up, _ = await pool.acquire()
    pending = asyncio.ensure_future(
        up.send(
            b"POST / HTTP/1.1\r\nHost: o\r\nContent-Length: 1000000\r\n\r\n",
            stream,
            is_head=False,
            timeout=2,
        )
    )
    stream.feed(b"x" * 1000)  # the rest never comes: the answer must not wait for it
    resp = await asyncio.wait_for(pending, 2)
    assert resp.status == 413 and await read_all(resp) == b"nope"
    assert not up.reusable


async def test_backend_not_reading_an_upload_times_out(origin):
    o, pool = await origin(lambda r, w: o.release.wait())
    stream = BodyStream(lambda: None, lambda: None)
    up, _ = await pool.acquire()
    pending = asyncio.ensure_future(
        up.send(
            b"POST / HTTP/1.1\r\nHost: o\r\nContent-Length: 100000000\r\n\r\n",
            stream,
            is_head=False,
            timeout=0.3,
        )
    )
    for _ in range(200):  # far more than the socket buffers hold
        stream.feed(b"u" * 65536)
    with pytest.raises(UpstreamError, match="stopped reading the request body"):
        await asyncio.wait_for(pending, 5)

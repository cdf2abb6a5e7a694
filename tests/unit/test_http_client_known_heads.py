"""The upstream client's memo of response heads (``response_heads.KNOWN_HEADS``).

A head the parser has read before, byte for byte, is taken from the memo: the response must be
exactly what the parser made of it, its Content-Length body counted off the same way (also when
it arrives over several reads), and anything outside that shape (HEAD, interim answers, other
framings, extra bytes) must go through the parser as before.
"""

from __future__ import annotations

import asyncio

import pytest
from origin import wait_for
from rawhttp import RawOrigin
from upstream_client import fetch, read_all

from workbench.engine.http.client import UpstreamError, UpstreamResponse
from workbench.engine.http.response_heads import KNOWN_HEADS, MAX_KNOWN_HEADS
from workbench.engine.http.upstream_pool import UpstreamPool

HEAD = (
    b"HTTP/1.1 200 Fine Thanks\r\nServer: test\r\nContent-Type: text/plain\r\n"
    b"X-Blank:   \r\nX-Spaces:  a b  \r\nContent-Length: 5\r\n\r\n"
)


@pytest.fixture(autouse=True)
def empty_memo():
    KNOWN_HEADS.clear()
    yield
    KNOWN_HEADS.clear()


@pytest.fixture
async def origin():
    started: list[RawOrigin] = []
    pools: list[UpstreamPool] = []

    async def make(script) -> UpstreamPool:
        o = await RawOrigin(script).start()
        started.append(o)
        pool = UpstreamPool("127.0.0.1", o.port)
        pools.append(pool)
        return pool

    yield make
    for p in pools:
        p.close()
    for o in started:
        await o.stop()


def serve(*answers: bytes):
    """Answer each request on a connection with the next canned bytes (one write each)."""

    async def script(reader, writer):
        for answer in answers:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
        await reader.read()

    return script


def shape(resp: UpstreamResponse) -> tuple:
    return (
        resp.status,
        resp.reason,
        resp.headers,
        resp.keep_alive,
        resp.content_length,
        resp.chunked,
        resp.close_delimited,
    )


async def test_a_repeated_head_is_taken_from_the_memo_and_reads_the_same(origin):
    pool = await origin(serve(HEAD + b"hello", HEAD + b"world"))
    up, first = await fetch(pool)
    assert await read_all(first) == b"hello"
    assert HEAD in KNOWN_HEADS  # learnt from the parser's reading
    pool.release(up)
    again, second = await fetch(pool)
    assert again is up
    assert await read_all(second) == b"world"
    assert shape(second) == shape(first)
    # The fields are the memo's own pairs: the parser did not read this head.
    assert all(a is b for a, b in zip(second.headers, KNOWN_HEADS[HEAD][2], strict=True))
    assert second.reason == "Fine Thanks" and ("X-Spaces", "a b  ") in second.headers
    assert second.headers is not KNOWN_HEADS[HEAD][2]  # a list of its own, free to change
    assert again.reusable


async def test_a_known_head_whose_body_arrives_over_several_reads(origin):
    more = asyncio.Event()

    async def script(reader, writer):
        for _ in range(2):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(HEAD + b"he")
            await writer.drain()
            await more.wait()
            more.clear()
            writer.write(b"llo")
            await writer.drain()
        await reader.read()

    pool = await origin(script)
    for _ in range(2):
        up, resp = await fetch(pool)
        assert not resp.complete and resp.content_length == 5
        more.set()
        assert await read_all(resp) == b"hello"
        assert up.reusable
        pool.release(up)
    assert HEAD in KNOWN_HEADS


async def test_a_known_head_cut_mid_body_is_a_truncated_response(origin):
    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(HEAD + b"hello")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
        writer.write(HEAD + b"he")
        await writer.drain()
        writer.close()

    pool = await origin(script)
    up, resp = await fetch(pool)
    assert await read_all(resp) == b"hello"
    pool.release(up)
    up, resp = await fetch(pool)
    with pytest.raises(UpstreamError) as err:
        await read_all(resp)
    assert "mid-body (2 of 5 bytes)" in str(err.value) and not up.reusable


async def test_bytes_after_a_known_response_are_left_to_the_parser(origin):
    # Keep-alive: the extra bytes start another message, so the connection is not reused.
    pool = await origin(serve(HEAD + b"hello", HEAD + b"helloHTTP/1.1 200 OK\r\n"))
    up, resp = await fetch(pool)
    await read_all(resp)
    pool.release(up)
    up, resp = await fetch(pool)
    assert await read_all(resp) == b"hello"
    await wait_for(lambda: not up.reusable)


async def test_bytes_after_a_known_close_response_split_over_reads(origin):
    head = HEAD.replace(b"Server: test", b"Connection: close")
    more = asyncio.Event()

    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(head + b"hello")
        await writer.drain()
        # A second connection (the first one was closed): the head is known now.
        await more.wait()
        writer.close()

    async def second(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(head + b"he")
        await writer.drain()
        await more.wait()
        writer.write(b"lloEXTRA")
        await writer.drain()
        await reader.read()

    scripts = iter([script, second])
    pool = await origin(lambda r, w: next(scripts)(r, w))
    up, resp = await fetch(pool)
    assert not resp.keep_alive and await read_all(resp) == b"hello"
    assert not up.reusable and head in KNOWN_HEADS
    pool.release(up)
    up2, resp = await fetch(pool)
    assert up2 is not up
    more.set()
    assert await read_all(resp) == b"hello"
    await wait_for(lambda: up2.closed)  # what the parser does with data after a close


async def test_heads_outside_the_memo_shape_are_never_learnt(origin):
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    interim = b"HTTP/1.1 100 Continue\r\n\r\n" + HEAD + b"hello"
    no_content = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
    close_delimited = b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbye"
    pool = await origin(serve(chunked, interim, no_content, HEAD))
    for _ in range(3):
        up, resp = await fetch(pool)
        await read_all(resp)
        pool.release(up)
    up, resp = await fetch(pool, "HEAD")  # a HEAD answer announces a body it does not carry
    assert resp.complete and resp.content_length == 5
    assert KNOWN_HEADS == {}
    pool.release(up)

    async def closing(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(close_delimited)
        await writer.drain()
        writer.close()

    up, resp = await fetch(await origin(closing))
    assert await read_all(resp) == b"bye" and KNOWN_HEADS == {}


async def test_the_memo_is_bounded(origin):
    answers = [HEAD.replace(b"Server: test", b"Server: t%d" % i) + b"hello" for i in range(300)]
    pool = await origin(serve(*answers))
    for _ in answers:
        up, resp = await fetch(pool)
        assert await read_all(resp) == b"hello"
        assert len(KNOWN_HEADS) <= MAX_KNOWN_HEADS
        pool.release(up)

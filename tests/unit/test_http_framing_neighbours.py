"""Framing corners next to the tested ones: trailer sections of chunked request bodies (RFC 9110
§6.5, RFC 9112 §7.1.2) and Transfer-Encoding in HTTP/1.0.

A trailer arrives after the head was checked (Host, framing) and after rules saw the headers:
it must never become a header, and httptools accumulates it like a head, so it is bounded
like one. Driven by raw sockets against a real :class:`HttpServer` (the echo server of
``test_http_server``).
"""

from __future__ import annotations

import hashlib
import json

import pytest
from origin import wait_for
from rawhttp import read_response, read_to_eof
from test_http_server import echo, req  # noqa: F401  (echo is a fixture)

from workbench.config.model import Limits


async def test_trailer_fields_never_join_the_headers(echo):  # noqa: F811
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(
        req("/ch", "POST", "Transfer-Encoding: chunked\r\n")
        + b"5\r\nhello\r\n0\r\n"
        + b"Host: evil.test\r\nX-Forwarded-For: 6.6.6.6\r\nX-Trailer: t\r\n\r\n"
    )
    info = json.loads((await read_response(reader)).body)
    names = [n.lower() for n, _ in info["headers"]]
    assert names.count("host") == 1 and ["Host", "t"] in info["headers"]
    assert "x-forwarded-for" not in names and "x-trailer" not in names
    assert info["length"] == 5
    writer.write(req("/after"))  # the connection goes on after the dropped trailers
    assert json.loads((await read_response(reader)).body)["target"] == "/after"
    writer.close()


async def test_never_ending_trailer_is_431_not_memory(echo):  # noqa: F811
    srv = await echo(Limits(max_header_size=16384))
    reader, writer = await srv.connect()
    writer.write(req("/ch", "POST", "Transfer-Encoding: chunked\r\n") + b"1\r\na\r\n0\r\nX-T: ")
    try:
        for _ in range(200):  # 12 MiB if nobody stops it
            writer.write(b"t" * 65536)
            await writer.drain()
    except ConnectionError:
        pass  # refused while still sending: the answer may be lost to the reset
    await wait_for(lambda: srv.bad)
    assert srv.bad[0][0] == 431
    assert "trailers" in srv.bad[0][1]


async def test_many_small_chunks_are_not_mistaken_for_a_long_trailer(echo):  # noqa: F811
    srv = await echo(Limits(max_header_size=1024))
    reader, writer = await srv.connect()
    writer.write(req("/ch", "POST", "Transfer-Encoding: chunked\r\n"))
    body = bytearray()
    for i in range(600):  # chunk heads and data in separate writes: framing-only reads
        piece = bytes([65 + i % 26]) * 700
        body += piece
        writer.write(b"2bc\r\n")
        await writer.drain()
        writer.write(piece + b"\r\n")
        await writer.drain()
    writer.write(b"0\r\nX-Sum: 1\r\n\r\n")
    info = json.loads((await read_response(reader)).body)
    assert info["length"] == len(body)
    assert info["sha"] == hashlib.sha256(bytes(body)).hexdigest()
    assert not srv.bad
    writer.close()


async def test_transfer_encoding_in_http10_is_400_and_a_close(echo):  # noqa: F811
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(
        req("/te10", "POST", "Transfer-Encoding: chunked\r\n", version="1.0")
        + b"1\r\na\r\n0\r\n\r\n"
    )
    resp = await read_response(reader)
    assert resp.status == 400 and b"HTTP/1.0" in resp.body
    assert (await read_to_eof(reader))[0] == b""
    assert not srv.seen
    writer.close()


async def test_a_fragment_in_the_request_target_is_400(echo):  # noqa: F811
    srv = await echo()
    for target in ("/x#frag", "/x?q=1#frag", "http://a/x#frag"):
        reader, writer = await srv.connect()
        writer.write(req(target))
        resp = await read_response(reader)
        assert resp.status == 400 and b"fragment" in resp.body
        writer.close()
    assert not srv.seen


@pytest.mark.parametrize("first", ["/slow", "/sync-first"])
async def test_pipelined_expect_100_continue_gets_its_100_after_the_answer_before(
    echo,  # noqa: F811
    first,
):
    srv = await echo()
    srv.delays["/slow"] = 0.2
    reader, writer = await srv.connect()
    writer.write(req(first) + req("/up", "POST", "Expect: 100-continue\r\nContent-Length: 5\r\n"))
    assert (await read_response(reader)).status == 200  # the first answer comes first
    assert (await read_response(reader)).status == 100  # then the go-ahead for the body
    writer.write(b"hello")
    info = json.loads((await read_response(reader)).body)
    assert info["target"] == "/up" and info["length"] == 5
    writer.close()


async def test_upgrade_in_an_http10_request_is_ignored(echo):  # noqa: F811
    srv = await echo()
    reader, writer = await srv.connect()
    writer.write(req("/ws10", extra="Connection: Upgrade\r\nUpgrade: websocket\r\n", version="1.0"))
    info = json.loads((await read_response(reader)).body)  # answered as plain HTTP
    assert info["target"] == "/ws10" and info["version"] == "1.0"
    assert srv.seen[0].upgrade is None
    assert not [n for n, _ in info["headers"] if n.lower() in ("upgrade", "connection")]
    writer.close()

"""Outside-review regressions of issue 9 (QA pass), with real sockets on 127.0.0.1.

Streamed (chunked) uploads are held to ``max_body_size`` like buffered ones, and the record
counts a streamed request body.
"""

from __future__ import annotations

import asyncio

import pytest
from configs import forward_proxy, reverse_proxy
from rawhttp import RawOrigin, echo_headers, raw_exchange, read_request, response

from workbench.config.model import (
    Address,
    Config,
    ForwardConfig,
    Limits,
)

LIMIT = 1024 * 1024
PIECE = 64 * 1024


@pytest.fixture
async def origin():
    """Reads every request (Content-Length or chunked) whole, then answers 200 with its size."""

    sizes: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (req := await read_request(reader)) is not None:
            size = 0
            if req.values("transfer-encoding"):
                while n := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                    size += len(await reader.readexactly(n + 2)) - 2
                await reader.readuntil(b"\r\n")
            elif req.content_length:
                size = len(await reader.readexactly(req.content_length))
            sizes.append(size)
            writer.write(response(200, str(size).encode()))
            await writer.drain()

    o = await RawOrigin(serve).start()
    o.sizes = sizes  # type: ignore[attr-defined]
    yield o
    await o.stop()


def configs(url: str) -> dict[str, Config]:
    limits = Limits(max_body_size=LIMIT)
    return {
        "reverse": Config(reverse=reverse_proxy(url, limits=limits)),
        "forward": Config(forward=forward_proxy(limits=limits)),
    }


async def chunked_upload(
    port: int, target: str, host: str, size: int, *, end: bool = True
) -> bytes:
    """Send ``size`` bytes chunked (and the last chunk if ``end``), read until the close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        head = f"POST {target} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n"
        writer.write(head.encode() + b"Connection: close\r\n\r\n")
        for _ in range(size // PIECE):
            writer.write(b"%x\r\n" % PIECE + b"u" * PIECE + b"\r\n")
            await writer.drain()
        if end:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


@pytest.mark.parametrize("mode", ["reverse", "forward"])
async def test_chunked_upload_over_max_body_size_gets_413(origin, engine_factory, mode):
    url = f"http://127.0.0.1:{origin.port}"
    eng = await engine_factory(configs(url)[mode])
    port = int(eng.listeners[mode].rsplit(":", 1)[1])
    target = "/up" if mode == "reverse" else url + "/up"
    # Stop sending right past the limit (more would only race the proxy's close with a reset).
    host = f"127.0.0.1:{origin.port}"
    answer = await chunked_upload(port, target, host, LIMIT + PIECE, end=False)
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert origin.sizes == []  # no complete over-limit body reached the origin


@pytest.mark.parametrize("mode", ["reverse", "forward"])
async def test_streamed_upload_is_counted_in_the_record(origin, engine_factory, mode):
    url = f"http://127.0.0.1:{origin.port}"
    eng = await engine_factory(configs(url)[mode])
    port = int(eng.listeners[mode].rsplit(":", 1)[1])
    target = "/up" if mode == "reverse" else url + "/up"
    size = LIMIT // 2  # over the buffering threshold: streamed upstream
    answer = await chunked_upload(port, target, f"127.0.0.1:{origin.port}", size)
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(str(size).encode())
    assert origin.sizes == [size]
    recs = [r for r in eng.records_since(0, 100)[0] if r.method == "POST"]
    assert [r.bytes_in for r in recs] == [size]


@pytest.mark.parametrize("target", ["/foo", "127.0.0.1", "[::1]", "a:", "u@h:443", "h:443/x"])
async def test_connect_target_must_be_host_and_port(engine_factory, target):
    """RFC 9110 §9.3.6: no default port, no path; a bad target is the client's 400, not a 502."""
    cfg = Config(forward=ForwardConfig(listen=Address("127.0.0.1", 0), cache=False))
    eng = await engine_factory(cfg)
    port = int(eng.listeners["forward"].rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: example.test:443\r\n\r\n".encode())
        answer = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"host:port" in answer


async def test_client_x_forwarded_port_does_not_reach_the_backend(engine_factory):
    """Proto, host and port are how the client reached the proxy: only the proxy may say so."""
    origin = await RawOrigin.answering(echo_headers).start()
    try:
        eng = await engine_factory(configs(origin.url)["reverse"])
        port = int(eng.listeners["reverse"].rsplit(":", 1)[1])
        answer = await raw_exchange(
            "127.0.0.1",
            port,
            b"GET / HTTP/1.1\r\nHost: site.test\r\nX-Forwarded-Port: 443\r\n"
            b"X-Forwarded-Proto: https\r\nConnection: close\r\n\r\n",
        )
    finally:
        await origin.stop()
    seen = answer.partition(b"\r\n\r\n")[2].decode().lower().splitlines()
    assert "x-forwarded-proto: http" in seen
    assert not [line for line in seen if line.startswith("x-forwarded-port")]

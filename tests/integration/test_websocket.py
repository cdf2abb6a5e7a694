"""Protocol upgrades through both proxies: WebSocket (aiohttp client and echo server), other
101 upgrades, ``h2c`` declined (curl --http2), rules and idle timeouts."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import struct
import subprocess

import aiohttp
import pytest
from aiohttp import web
from configs import forward_proxy, reverse_proxy
from origin import wait_for
from rawhttp import RawOrigin, connect, read_response

from workbench.config.model import (
    Config,
    RuleConfig,
    Timeouts,
)
from workbench.engine.http.upgrade import MAX_PREVIEWS, FrameCounter
from workbench.engine.observe.accesslog import combined


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await ws.send_str(f"echo: {msg.data}")
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await ws.send_bytes(msg.data[::-1])
    return ws


async def plain(request: web.Request) -> web.Response:
    return web.Response(text=f"plain {request.version.major}.{request.version.minor}")


@pytest.fixture
async def ws_origin():
    app = web.Application()
    app.router.add_get("/ws", ws_echo)
    app.router.add_route("*", "/{tail:.*}", plain)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def reverse_config(url: str, idle: float = 60.0, rules=()) -> Config:
    timeouts = Timeouts(connect=2.0, response=5.0, idle=idle)
    reverse = reverse_proxy(url, pool="ws", route="all", cache=True, timeouts=timeouts)
    return Config(reverse=reverse, rules=tuple(rules))


def forward_config(connect_port: int = 443) -> Config:
    return Config(forward=forward_proxy(cache=True, connect_ports=(443, connect_port)))


async def echo_session(url: str, proxy: str | None = None) -> list:
    got = []
    async with aiohttp.ClientSession() as s, s.ws_connect(url, proxy=proxy) as ws:
        for text in ("hello", "second message", "x" * 500):
            await ws.send_str(text)
            got.append((await ws.receive(timeout=5)).data)
        await ws.send_bytes(b"\x01\x02\x03")
        got.append((await ws.receive(timeout=5)).data)
    return got


def check_record(rec, path="/ws"):
    assert rec.upgrade == "websocket" and rec.status == 101
    assert rec.method == "GET" and rec.path.endswith(path)
    assert rec.messages_in == 4 and rec.messages_out == 4
    assert rec.bytes_in > 500 and rec.bytes_out > 500
    assert rec.message_previews[:2] == [("→", "hello"), ("←", "echo: hello")]
    assert ("upgrade", "→ websocket") in [s[:2] for s in rec.trace]
    assert any(s[:2] == ("upgrade", "closed") for s in rec.trace)
    assert rec.t_total > 0
    line = combined(rec)  # the access log names the request, not "-"
    assert '"GET ' in line and path in line and " 101 " in line


EXPECTED = ["echo: hello", "echo: second message", "echo: " + "x" * 500, b"\x03\x02\x01"]


async def test_websocket_through_the_reverse_proxy(ws_origin, engine_factory):
    eng = await engine_factory(reverse_config(ws_origin))
    url = eng.listeners["reverse"].replace("http://", "ws://") + "/ws"
    assert await echo_session(url) == EXPECTED
    await wait_for(lambda: eng.records.total >= 1)
    check_record(eng.records_since(0, 10)[0][-1])


async def test_websocket_through_the_forward_proxy_absolute_form(ws_origin, engine_factory):
    eng = await engine_factory(forward_config())
    url = ws_origin.replace("http://", "ws://") + "/ws"
    assert await echo_session(url, proxy=eng.listeners["forward"]) == EXPECTED
    await wait_for(lambda: eng.records.total >= 1)
    rec = eng.records_since(0, 10)[0][-1]
    check_record(rec)
    assert rec.proxy == "forward"


def ws_frame(payload: bytes, opcode: int = 1) -> bytes:
    """A masked client frame."""
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def test_websocket_through_a_connect_tunnel(ws_origin, engine_factory):
    port = int(ws_origin.rsplit(":", 1)[1])
    eng = await engine_factory(forward_config(port))
    reader, writer = await connect(eng.listeners["forward"])
    writer.write(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
    writer.write(ws_frame(b"tunnelled"))
    head = await asyncio.wait_for(reader.readexactly(2), 5)
    assert head[0] == 0x81
    assert await reader.readexactly(head[1]) == b"echo: tunnelled"
    writer.close()


async def test_block_rule_stops_a_websocket(ws_origin, engine_factory):
    rule = RuleConfig(name="no-ws", when="~u /ws", action="block", status=403)
    eng = await engine_factory(reverse_config(ws_origin, rules=(rule,)))
    url = eng.listeners["reverse"].replace("http://", "ws://") + "/ws"
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await s.ws_connect(url)
    assert info.value.status == 403
    await wait_for(lambda: eng.records.total >= 1)
    rec = eng.records_since(0, 10)[0][-1]
    assert rec.rule == "no-ws" and rec.upgrade is None


async def test_idle_websocket_is_closed(ws_origin, engine_factory):
    eng = await engine_factory(reverse_config(ws_origin, idle=0.3))
    url = eng.listeners["reverse"].replace("http://", "ws://") + "/ws"
    async with aiohttp.ClientSession() as s, s.ws_connect(url, autoping=False) as ws:
        await ws.send_str("one")
        assert (await ws.receive(timeout=5)).data == "echo: one"
        msg = await ws.receive(timeout=5)  # nothing moves: the proxy ends the session
        assert msg.type in (
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.ERROR,
        )
    await wait_for(lambda: eng.records.total >= 1)
    rec = eng.records_since(0, 10)[0][-1]
    assert any(s[0] == "upgrade" and "idle" in s[2] for s in rec.trace)


async def test_other_upgrades_accepted_with_101_are_relayed(engine_factory):
    async def script(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"upgrade: chat" in head.lower()
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: chat\r\n\r\nhi "
        )
        await writer.drain()
        while data := await reader.read(1024):
            writer.write(data.upper())
            await writer.drain()

    origin = await RawOrigin(script).start()
    try:
        eng = await engine_factory(reverse_config(origin.url))
        reader, writer = await connect(eng.listeners["reverse"])
        writer.write(
            b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: chat\r\n\r\n"
        )
        resp = await read_response(reader, head_request=True)
        assert resp.status == 101 and resp.header("upgrade") == "chat"
        assert await asyncio.wait_for(reader.readexactly(3), 5) == b"hi "
        writer.write(b"shout")
        assert await asyncio.wait_for(reader.readexactly(5), 5) == b"SHOUT"
        writer.close()
        await wait_for(lambda: eng.records.total >= 1)
        rec = eng.records_since(0, 10)[0][-1]
        assert rec.upgrade == "chat" and rec.bytes_in == 5 and rec.bytes_out == 8
    finally:
        await origin.stop()


async def test_backend_hanging_up_right_after_its_101_ends_the_session(engine_factory):
    async def script(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n"
        )
        await writer.drain()
        writer.close()

    origin = await RawOrigin(script).start()
    try:
        eng = await engine_factory(reverse_config(origin.url))
        reader, writer = await connect(eng.listeners["reverse"])
        writer.write(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
        resp = await read_response(reader, head_request=True)
        assert resp.status == 101
        assert await asyncio.wait_for(reader.read(), 3) == b""  # not held for timeouts.idle
        writer.close()
    finally:
        await origin.stop()


async def test_upgrade_declined_by_the_backend_keeps_the_connection(ws_origin, engine_factory):
    eng = await engine_factory(reverse_config(ws_origin))
    reader, writer = await connect(eng.listeners["reverse"])
    writer.write(
        b"GET /plain HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        b"GET /next HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    first = await read_response(reader)
    assert first.status == 200 and first.body == b"plain 1.1"
    second = await read_response(reader)
    assert second.status == 200
    writer.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
@pytest.mark.parametrize("kind", ["reverse", "forward"])
async def test_curl_http2_h2c_offer_gets_200(ws_origin, engine_factory, kind):
    if kind == "reverse":
        eng = await engine_factory(reverse_config(ws_origin))
        args = [eng.listeners["reverse"] + "/page"]
    else:
        eng = await engine_factory(forward_config())
        args = ["-x", eng.listeners["forward"], ws_origin + "/page"]
    proc = await asyncio.create_subprocess_exec(
        "curl",
        "-s",
        "--http2",
        "-w",
        "\\n%{http_code} %{http_version}",
        "--max-time",
        "5",
        *args,
        stdout=subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    body, _, tail = out.decode().rpartition("\n")
    assert tail == "200 1.1" and body == "plain 1.1"


# -- the frame follower on its own -------------------------------------------------------------
def server_frame(payload: bytes, opcode: int = 1, fin: bool = True) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


@pytest.mark.parametrize("split", [1, 3, 7, 1000])
def test_frame_counter_follows_any_split(split):
    stream = (
        ws_frame(b"hi")
        + ws_frame(b"\x00\xff" * 40_000, opcode=2)
        + ws_frame(b"", opcode=9)  # ping: not a message
        + server_frame(b"part one, ", opcode=1, fin=False)
        + server_frame(b"", opcode=10)  # pong between fragments
        + server_frame(b"part two", opcode=0)
    )
    previews: list[tuple[str, str]] = []
    counter = FrameCounter("→", previews)
    for i in range(0, len(stream), split):
        counter.feed(stream[i : i + split])
    assert counter.messages == 3 and not counter.broken
    assert previews[0] == ("→", "hi")
    assert previews[1][1].startswith("<binary, 80000 bytes> 00ff")
    assert previews[2] == ("→", "part one, part two")


def test_frame_counter_keeps_only_the_first_previews():
    previews: list[tuple[str, str]] = []
    counter = FrameCounter("←", previews)
    counter.feed(b"".join(server_frame(b"m%d" % i) for i in range(50)))
    assert counter.messages == 50 and len(previews) == MAX_PREVIEWS


def test_frame_counter_gives_up_on_non_websocket_bytes():
    counter = FrameCounter("→", [])
    counter.feed(b"\x83\x00garbage")  # opcode 3 is reserved
    assert counter.broken

"""Peeking at a client's first bytes (HTTPS interception): real sockets on 127.0.0.1, with
asyncio's loop and uvloop's. What is peeked stays unread for the TLS layer; what is not TLS is
dropped; a ClientHello in pieces is waited for briefly."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable

import pytest

from workbench.engine.http.peek import PIECES_WAIT, FirstBytes, peek_first_bytes

LOOPS = ["asyncio"]
try:
    import uvloop

    LOOPS.append("uvloop")
except ImportError:  # pragma: no cover - uvloop is not on every platform
    uvloop = None


def client_hello(server_hostname: str | None) -> bytes:
    """A real ClientHello, as Python's ssl writes it."""
    ctx = ssl.create_default_context()
    if server_hostname is None:
        ctx.check_hostname = False
    tls = ctx.wrap_bio(ssl.MemoryBIO(), out := ssl.MemoryBIO(), server_hostname=server_hostname)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return out.read()


class Paused(asyncio.Protocol):
    """A server side that does not read until told to (as a CONNECT's connection waits)."""

    def __init__(self, ready: asyncio.Future) -> None:
        self.ready = ready
        self.received = b""
        self.eof = asyncio.get_running_loop().create_future()

    def connection_made(self, transport) -> None:
        self.ready.set_result(transport)

    def data_received(self, data: bytes) -> None:
        self.received += data

    def eof_received(self) -> None:
        self.eof.set_result(None)


Scenario = Callable[[asyncio.StreamWriter, asyncio.Transport, Paused], Awaitable[None]]


def run(loop_name: str, scenario: Scenario) -> None:
    async def main() -> None:
        ready = asyncio.get_running_loop().create_future()
        proto: list[Paused] = []

        def factory() -> Paused:
            proto.append(Paused(ready))
            return proto[0]

        server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        transport = await asyncio.wait_for(ready, 10)
        transport.pause_reading()  # here: uvloop ignores a pause inside connection_made
        try:
            await scenario(writer, transport, proto[0])
        finally:
            writer.close()
            transport.close()
            server.close()

    if loop_name == "uvloop":
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    else:
        asyncio.run(main())


@pytest.mark.parametrize("loop_name", LOOPS)
def test_the_sni_is_read_and_the_hello_left_for_tls(loop_name):
    hello = client_hello("api.example.test")

    async def scenario(writer, transport, proto):
        writer.write(hello)
        first = await peek_first_bytes(transport, 10)
        assert first == FirstBytes(hello, True)
        assert first.tls and first.sni == "api.example.test" and not first.closed
        transport.resume_reading()  # the TLS layer reads the very same bytes
        await asyncio.wait_for(_until(lambda: proto.received == hello), 10)

    run(loop_name, scenario)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_no_sni(loop_name):
    async def scenario(writer, transport, proto):
        writer.write(client_hello(None))
        first = await peek_first_bytes(transport, 10)
        assert first.tls and first.complete and first.sni is None

    run(loop_name, scenario)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_plain_http_is_recognised_and_dropped(loop_name):
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"

    async def scenario(writer, transport, proto):
        writer.write(request)
        first = await peek_first_bytes(transport, 10)
        assert not first.tls and first.looks_like_http() and first.data == request
        writer.write_eof()
        transport.resume_reading()
        await asyncio.wait_for(proto.eof, 10)
        assert proto.received == b""  # read and dropped: a close will not reset the answer

    run(loop_name, scenario)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_client_that_hangs_up(loop_name):
    async def scenario(writer, transport, proto):
        writer.close()
        first = await peek_first_bytes(transport, 10)
        assert first.closed and not first.tls

    run(loop_name, scenario)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_silence_times_out(loop_name):
    async def scenario(writer, transport, proto):
        with pytest.raises(TimeoutError):
            await peek_first_bytes(transport, 0.2)

    run(loop_name, scenario)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_a_hello_in_pieces(loop_name):
    hello = client_hello("pieces.test")

    async def scenario(writer, transport, proto):
        writer.write(hello[:3])  # only the start of the record header
        first = await peek_first_bytes(transport, 10)  # gives up on the rest after PIECES_WAIT
        assert first == FirstBytes(hello[:3], False) and first.sni is None
        writer.write(hello[3:])
        first = await peek_first_bytes(transport, 10)
        assert first == FirstBytes(hello, True) and first.sni == "pieces.test"

    assert PIECES_WAIT < 1
    run(loop_name, scenario)


def test_first_bytes_descriptions():
    assert FirstBytes(b"\x00\x01\x02hello", True).describe_start() == "00 01 02 68 65 6c 6c 6f"
    assert FirstBytes(b"hello there", True).describe_start() == "'hello there'"
    assert not FirstBytes(b"hello there", True).looks_like_http()
    assert FirstBytes(b"OPTIONS * HTTP/1.1\r\n", True).looks_like_http()


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.005)

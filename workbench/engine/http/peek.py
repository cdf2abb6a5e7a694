"""Look at the first bytes a client sends without reading them (``MSG_PEEK``).

HTTPS interception answers a CONNECT, then hands the connection to the event loop's TLS
(``loop.start_tls``), which must read the ClientHello itself. When that handshake fails, the
loop's TLS layer keeps what the client said (its SNI) to itself. Peeking first lets the record
say which name the client asked for, whether it spoke TLS at all, or whether it hung up before
saying anything, with any event loop (asyncio's or uvloop's).

The transport must be paused (the server pauses a CONNECT's connection until it is wired up).
The socket is watched through a duplicate descriptor, closed before this returns. Bytes that
are not TLS are read and dropped (nobody will read them: closing a socket with unread bytes
would reset the connection, and the client would not see the answer it is sent).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass

from workbench.engine.http.tlsinfo import looks_like_tls, parse_sni

PEEK_LIMIT = 16384
"""At most this many bytes are looked at (a ClientHello is far smaller)."""
PIECES_WAIT = 0.1
"""A ClientHello that arrives in pieces is waited for this long, then parsed as far as it came."""


@dataclass(frozen=True, slots=True)
class FirstBytes:
    """What the client sent first on a connection, still unread."""

    data: bytes
    """b"" when the client closed (or reset) without sending a byte."""
    complete: bool
    """For TLS: the whole first record (the ClientHello) was there."""

    @property
    def closed(self) -> bool:
        return not self.data

    @property
    def tls(self) -> bool:
        return looks_like_tls(self.data)

    @property
    def sni(self) -> str | None:
        return parse_sni(self.data)

    def looks_like_http(self) -> bool:
        """A request line (``GET /x HTTP/1.1``): the client sent plain HTTP, not TLS."""
        method, _, rest = self.data[:64].partition(b" ")
        return bool(method) and method.isalpha() and method.isupper() and bool(rest)

    def describe_start(self) -> str:
        """The first bytes, printable, for a message."""
        head = self.data[:16]
        text = head.decode("ascii", "replace")
        if text.isprintable():
            return repr(text)
        return head.hex(" ")


def _record_complete(data: bytes) -> bool:
    if not data or data[0] != 0x16:
        return True  # not TLS: nothing more to wait for
    if len(data) < 5:
        return False
    return len(data) >= 5 + int.from_bytes(data[3:5], "big")


async def peek_first_bytes(transport: asyncio.BaseTransport, timeout: float) -> FirstBytes | None:
    """The client's first bytes, left in the socket for whoever reads next.

    None when this transport has no socket to peek at or the loop cannot watch one (the
    caller goes on without knowing). Raises TimeoutError when nothing arrives in ``timeout``.
    """
    raw = transport.get_extra_info("socket")
    if raw is None:
        return None
    loop = asyncio.get_running_loop()
    try:
        peer = socket.socket(fileno=os.dup(raw.fileno()))
    except (OSError, ValueError):
        return None
    try:
        deadline = time.monotonic() + timeout
        data = None
        while data is None:  # None: a wake-up with nothing to read after all
            await _readable(loop, peer, max(0.0, deadline - time.monotonic()))
            data = _peek(peer)
        pieces_until = time.monotonic() + PIECES_WAIT
        while data and not _record_complete(data) and len(data) < PEEK_LIMIT:
            # The socket stays readable while the bytes wait unread: poll briefly for the rest.
            now = time.monotonic()
            if now >= min(pieces_until, deadline):
                return FirstBytes(data, False)
            await asyncio.sleep(0.005)
            data = _peek(peer) or data
        first = FirstBytes(data, True)
        if data and not first.tls:
            _discard(peer, len(data))
        return first
    except NotImplementedError:  # a loop that cannot watch descriptors (Windows' proactor)
        return None
    finally:
        peer.close()  # only the duplicate: the transport's own descriptor stays open


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket, timeout: float) -> None:
    ready = loop.create_future()
    fd = sock.fileno()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await asyncio.wait_for(ready, timeout)
    finally:
        loop.remove_reader(fd)


def _discard(sock: socket.socket, size: int) -> None:
    try:
        sock.recv(size, getattr(socket, "MSG_DONTWAIT", 0))
    except OSError:
        pass


_FLAGS = socket.MSG_PEEK | getattr(socket, "MSG_DONTWAIT", 0)


def _peek(sock: socket.socket) -> bytes | None:
    try:
        return sock.recv(PEEK_LIMIT, _FLAGS)
    except (BlockingIOError, InterruptedError):
        return None
    except OSError:
        return b""  # reset: as good as closed

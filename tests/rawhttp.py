"""Raw-socket HTTP helpers for protocol tests: a scriptable origin and a byte-level client.

A real HTTP library hides exactly what these tests look at (framing, early answers, stalls,
drops), so both sides here speak bytes over real sockets on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
"""Runs one connection of a :class:`RawOrigin`."""
RawHandler = Callable[["RawRequest", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]
"""Answers one request; returns True to keep the connection for the next request."""


class RawRequest:
    """One request as received: request line and header lines exactly as sent."""

    def __init__(self, line: str, headers: list[tuple[str, str]]) -> None:
        self.line = line
        self.method, self.target, _ = (line.split(" ", 2) + ["", ""])[:3]
        self.headers = headers

    def values(self, name: str) -> list[str]:
        """Every value of ``name`` in order (case-insensitive)."""
        lname = name.lower()
        return [v for n, v in self.headers if n.lower() == lname]

    @property
    def content_length(self) -> int:
        v = self.values("content-length")
        return int(v[0]) if v else 0


async def read_request(reader: asyncio.StreamReader) -> RawRequest | None:
    """Read one request head (None at EOF)."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line:
            n, _, v = line.partition(":")
            headers.append((n.strip(), v.strip()))
    return RawRequest(lines[0], headers)


def response(status: int, body: bytes = b"", headers: list[tuple[str, str]] = ()) -> bytes:
    """A complete HTTP/1.1 response with a Content-Length."""
    lines = [f"HTTP/1.1 {status} X\r\n", f"Content-Length: {len(body)}\r\n"]
    lines += [f"{n}: {v}\r\n" for n, v in headers]
    return "".join(lines).encode("latin-1") + b"\r\n" + body


class RawOrigin:
    """A TCP server on 127.0.0.1 that runs ``script(reader, writer)`` per connection.

    :meth:`answering` makes one that reads each request and hands it to a handler instead.
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.connections = 0
        self.heads: list[bytes] = []
        """Request heads read with :meth:`read_head`, in arrival order."""
        self.requests: list[RawRequest] = []
        """Requests read by an :meth:`answering` origin (or appended by a script), in order."""
        self.release = asyncio.Event()
        """Scripts that stall wait on this; set at stop so nothing is left hanging."""
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()

    @classmethod
    def answering(cls, handler: RawHandler) -> RawOrigin:
        """An origin that reads each request (head, then a Content-Length body) and hands it to
        ``handler``; the connection stays open while the handler returns True."""

        async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                req = await read_request(reader)
                if req is None:
                    break
                if req.content_length:
                    await reader.readexactly(req.content_length)
                origin.requests.append(req)
                if not await handler(req, reader, writer):
                    break

        origin = cls(script)
        return origin

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> RawOrigin:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await self.script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # cancelled at stop: end quietly (asyncio logs a cancelled handler task)
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()

    async def read_head(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        return head

    async def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1)


def header(head: bytes, name: str) -> str | None:
    """Value of the first ``name`` field in a raw head (case-insensitive)."""
    for line in head.split(b"\r\n")[1:]:
        n, _, v = line.partition(b":")
        if n.strip().lower() == name.lower().encode():
            return v.strip().decode("latin-1")
    return None


def headers_named(head: bytes, name: str) -> list[str]:
    out = []
    for line in head.split(b"\r\n")[1:]:
        n, _, v = line.partition(b":")
        if n.strip().lower() == name.lower().encode():
            out.append(v.strip().decode("latin-1"))
    return out


class RawResponse:
    def __init__(self, status: int, head: bytes, body: bytes) -> None:
        self.status = status
        self.head = head
        self.body = body

    def header(self, name: str) -> str | None:
        return header(self.head, name)


async def read_response(
    reader: asyncio.StreamReader, *, head_request: bool = False, timeout: float = 5.0
) -> RawResponse:
    """Read one response with its framing (Content-Length, chunked, or until close)."""

    async def _read() -> RawResponse:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if head_request or status in (204, 304) or 100 <= status < 200:
            return RawResponse(status, head, b"")
        length = header(head, "content-length")
        if length is not None:
            return RawResponse(status, head, await reader.readexactly(int(length)))
        if (header(head, "transfer-encoding") or "").lower() == "chunked":
            body = bytearray()
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    while (await reader.readline()) not in (b"\r\n", b""):
                        pass
                    return RawResponse(status, head, bytes(body))
                body += await reader.readexactly(size)
                await reader.readexactly(2)
        return RawResponse(status, head, await reader.read())

    return await asyncio.wait_for(_read(), timeout)


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open a raw connection to ``http://host:port``."""
    host, port = url.rsplit("/", 1)[1].rsplit(":", 1)
    return await asyncio.open_connection(host.strip("[]"), int(port))


async def read_to_eof(reader: asyncio.StreamReader, timeout: float = 5.0) -> tuple[bytes, bool]:
    """Everything until the connection ends; ``(data, reset)`` where reset means an RST."""
    chunks = []

    async def _read() -> bool:
        while True:
            try:
                data = await reader.read(65536)
            except ConnectionResetError:
                return True
            if not data:
                return False
            chunks.append(data)

    reset = await asyncio.wait_for(_read(), timeout)
    return b"".join(chunks), reset


async def echo_headers(req: RawRequest, reader, writer) -> bool:
    """Answer with every request header line, one per line (keep-alive)."""
    body = "\n".join(f"{n}: {v}" for n, v in req.headers).encode("latin-1")
    writer.write(response(200, body, [("Content-Type", "text/plain")]))
    await writer.drain()
    return True


async def raw_exchange(host: str, port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send ``data`` on a new connection and read until the server closes it."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()

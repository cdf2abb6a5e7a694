"""Raw-socket HTTP helpers for protocol tests: a scriptable origin and a byte-level client.

A real HTTP library hides exactly what these tests look at (framing, early answers, stalls,
drops), so both sides here speak bytes over real sockets on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawOrigin:
    """A TCP server on 127.0.0.1 that runs ``script(reader, writer)`` per connection."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.connections = 0
        self.heads: list[bytes] = []
        """Request heads read with :meth:`read_head`, in arrival order."""
        self.release = asyncio.Event()
        """Scripts that stall wait on this; set at stop so nothing is left hanging."""
        self._tasks: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> RawOrigin:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await self.script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # cancelled at stop: end quietly (asyncio logs a cancelled handler task)
        finally:
            self._tasks.discard(task)
            writer.close()

    async def read_head(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        self.heads.append(head)
        return head

    async def stop(self) -> None:
        self.release.set()
        if self.server is not None:
            self.server.close()
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

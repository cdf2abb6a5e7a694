"""A raw asyncio origin for tests that need byte-level control (echo exact headers, drop, stall)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

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
    """A TCP server on 127.0.0.1 that hands each request to ``handler``; counts requests."""

    def __init__(self, handler: RawHandler) -> None:
        self.handler = handler
        self.requests: list[RawRequest] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> RawOrigin:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                req = await read_request(reader)
                if req is None:
                    break
                if req.content_length:
                    await reader.readexactly(req.content_length)
                self.requests.append(req)
                if not await self.handler(req, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            for w in list(self._writers):
                w.close()
            for t in list(self._tasks):
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self.server.wait_closed()


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

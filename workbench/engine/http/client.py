"""The upstream side: a lean, pooled HTTP/1.1 client on httptools.

Why hand-written: aiohttp's ``ClientSession`` machinery costs about two thirds of a bare proxy's
CPU per request. This client does only what a proxy needs: one request at a time per connection,
Content-Length / chunked / close-delimited bodies, HEAD, 1xx skipping, connection reuse only when
the exchange ended cleanly, and timeouts for connect and response headers.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable

import httptools

from workbench.engine.http.server import BodyStream

TIMEOUT_TICK = 0.05
"""Resolution of response timeouts (seconds)."""


class UpstreamError(Exception):
    """The upstream exchange failed.

    ``kind`` is ``connect`` (never reached the server), ``timeout`` (no response in time),
    ``reset`` (connection closed before a complete response) or ``protocol`` (unparseable reply).
    ``retryable`` is true when no response byte was received, so an idempotent request may be
    sent again elsewhere.
    """

    def __init__(self, kind: str, message: str, *, retryable: bool, stale: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.stale = stale
        """A kept-alive connection was closed by the server just as it was reused: the request
        never reached the application, so it may be sent again on a fresh connection."""


class UpstreamResponse:
    """Status and headers of an upstream response; the body is complete or arrives as a stream."""

    __slots__ = (
        "status",
        "reason",
        "headers",
        "keep_alive",
        "content_length",
        "chunked",
        "complete",
        "_chunks",
        "_size",
        "_stream",
        "_conn",
        "_conn_error",
    )

    def __init__(self, conn: UpstreamConnection) -> None:
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.keep_alive = True
        self.content_length: int | None = None
        self.chunked = False
        self.complete = False
        """True once the whole body has arrived."""
        self._chunks: list[bytes] = []
        self._size = 0
        self._stream: BodyStream | None = None
        self._conn = conn
        self._conn_error: UpstreamError | None = None

    def take_body(self) -> bytes:
        """The whole body; only valid when :attr:`complete` was true before any :meth:`read`."""
        chunks = self._chunks
        self._chunks = []
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def hold(self) -> None:
        """Stream from now on: the rest of the body waits upstream (back-pressure), not here."""
        if self._stream is None and not self.complete:
            self._conn._start_streaming(self)

    async def read(self) -> bytes:
        """Next piece of the body, ``b""`` at the end (streaming mode)."""
        if self._chunks:
            data = b"".join(self._chunks)
            self._chunks = []
            return data
        if self.complete and self._stream is None:
            return b""
        if self._stream is None:
            self._conn._start_streaming(self)
        return await self._stream.read()


class UpstreamConnection(asyncio.Protocol):
    """One pooled connection to a backend, carrying one request at a time."""

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.uses = 0
        self._resp: UpstreamResponse | None = None
        self._head_waiter: asyncio.Future[UpstreamResponse] | None = None
        self._head_request = False
        self._got_bytes = False
        self._message_done = False
        self._reusable = True
        self.deadline = 0.0
        """Monotonic time by which the response head must arrive (0: not waiting)."""
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool._forget(self)
        self._wake_writer(ConnectionResetError("the backend closed the connection"))
        resp = self._resp
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(
                UpstreamError(
                    "reset",
                    "the backend closed the connection before responding",
                    retryable=not self._got_bytes,
                    stale=not self._got_bytes and self.uses > 1,
                )
            )
        elif resp is not None and not self._message_done:
            try:
                # A close-delimited body ends with the connection.
                self.parser.feed_eof()
            except httptools.HttpParserError:
                pass
            if not self._message_done:
                err = UpstreamError("reset", "the backend closed mid-response", retryable=False)
                if resp._stream is not None:
                    resp._stream.fail(err)
                else:
                    resp._conn_error = err

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamError("protocol", "the backend switched protocols", retryable=False))
        except httptools.HttpParserError as exc:
            self._fail(
                UpstreamError("protocol", f"bad response from backend: {exc}", retryable=False)
            )

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer(None)

    def _wake_writer(self, exc: BaseException | None) -> None:
        w = self._drain_waiter
        if w is not None and not w.done():
            if exc is None:
                w.set_result(None)
            else:
                w.set_exception(exc)

    # -- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        resp = UpstreamResponse(self)
        self._resp = resp
        self._message_done = False

    def on_status(self, status: bytes) -> None:
        self._resp.reason += status.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._resp.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        resp = self._resp
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            # Interim response: drop it and wait for the final one.
            resp.headers = []
            resp.reason = ""
            return
        resp.status = status
        resp.keep_alive = self.parser.should_keep_alive()
        for name, value in resp.headers:
            n = name.lower()
            if n == "content-length":
                try:
                    resp.content_length = int(value)
                except ValueError:
                    resp.content_length = None
            elif n == "transfer-encoding" and "chunked" in value.lower():
                resp.chunked = True
        if self._head_request or status in (204, 304):
            resp.content_length = 0 if self._head_request else resp.content_length
            resp.complete = True
            self._message_done = True
            if self._head_request:
                # llhttp does not know this answered a HEAD and would wait for a body.
                self._reusable = False
        self._cancel_timer()
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(resp)

    def on_body(self, body: bytes) -> None:
        resp = self._resp
        if resp is None or self._head_request:
            return
        if resp._stream is not None:
            resp._stream.feed(body)
        else:
            resp._chunks.append(body)
            resp._size += len(body)

    def on_message_complete(self) -> None:
        resp = self._resp
        if resp is None or resp.status == 0:
            return  # end of an interim 1xx
        if self._message_done and self._head_request:
            return
        self._message_done = True
        resp.complete = True
        if not resp.keep_alive:
            self._reusable = False
        if resp._stream is not None:
            resp._stream.finish()

    # -- request ----------------------------------------------------------------------------
    def _fail(self, err: UpstreamError) -> None:
        self._reusable = False
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(err)
        elif self._resp is not None and self._resp._stream is not None:
            self._resp._stream.fail(err)
        self.close()

    def _cancel_timer(self) -> None:
        if self.deadline:
            self.deadline = 0.0
            self.pool._waiting.discard(self)

    def _on_timeout(self) -> None:
        self.deadline = 0.0
        self._fail(UpstreamError("timeout", "the backend did not respond in time", retryable=False))

    def send(
        self,
        head: bytes,
        body: bytes | BodyStream | None,
        *,
        is_head: bool,
        timeout: float,
    ) -> Awaitable[UpstreamResponse]:
        """Send one request (head already serialised); await the result for the response head.

        A buffered body goes out in the same write as the head and the future itself is
        returned (no coroutine frame on the hot path); a streamed body returns a coroutine.
        """
        self._resp = None
        self._head_request = is_head
        self._got_bytes = False
        self._message_done = False
        self._reusable = True
        self.uses += 1
        waiter: asyncio.Future[UpstreamResponse] = self.pool.loop.create_future()
        self._head_waiter = waiter
        # One coarse pool-wide timer instead of a timer per request: cheaper on the hot path.
        self.deadline = time.monotonic() + timeout
        self.pool._watch(self)
        if isinstance(body, BodyStream):
            return self._send_stream(head, body, waiter)
        self.transport.write(head + body if body else head)
        return waiter

    async def _send_stream(
        self, head: bytes, body: BodyStream, waiter: asyncio.Future[UpstreamResponse]
    ) -> UpstreamResponse:
        transport = self.transport
        transport.write(head)
        while True:
            chunk = await body.read()
            if not chunk:
                break
            transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            if self._write_paused:
                # A slow backend: stop reading the client until the backend takes more.
                self._drain_waiter = self.pool.loop.create_future()
                try:
                    await self._drain_waiter
                finally:
                    self._drain_waiter = None
        transport.write(b"0\r\n\r\n")
        return await waiter

    def _start_streaming(self, resp: UpstreamResponse) -> None:
        resp._stream = BodyStream(self._pause, self._resume)
        if resp.complete:
            resp._stream.finish()
        elif resp._conn_error is not None:
            resp._stream.fail(resp._conn_error)

    def _pause(self) -> None:
        if not self.closed:
            self.transport.pause_reading()

    def _resume(self) -> None:
        if not self.closed:
            self.transport.resume_reading()

    @property
    def reusable(self) -> bool:
        return self._reusable and self._message_done and not self.closed

    def close(self) -> None:
        self._cancel_timer()
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self.pool._forget(self)


class UpstreamPool:
    """Keep-alive connections to one backend, with a cap on concurrent connections."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        max_connections: int = 256,
        connect_timeout: float = 2.0,
        idle_timeout: float = 60.0,
        ssl=None,
        server_hostname: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.ssl = ssl
        self.server_hostname = server_hostname
        self.loop = asyncio.get_running_loop()
        self._idle: deque[UpstreamConnection] = deque()
        self._all: set[UpstreamConnection] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._opening = 0
        self.closed = False
        self._waiting: set[UpstreamConnection] = set()
        self._watchdog: asyncio.TimerHandle | None = None

    def _watch(self, conn: UpstreamConnection) -> None:
        self._waiting.add(conn)
        if self._watchdog is None:
            self._watchdog = self.loop.call_later(TIMEOUT_TICK, self._check_deadlines)

    def _check_deadlines(self) -> None:
        now = time.monotonic()
        late = [c for c in self._waiting if c.deadline and c.deadline <= now]
        for conn in late:
            self._waiting.discard(conn)
            conn._on_timeout()
        self._watchdog = (
            self.loop.call_later(TIMEOUT_TICK, self._check_deadlines) if self._waiting else None
        )

    @property
    def size(self) -> int:
        return len(self._all)

    def idle_connection(self) -> UpstreamConnection | None:
        """A pooled connection ready to use now, without awaiting (the hot path)."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.closed and not conn.transport.is_closing():
                return conn
        return None

    async def acquire(self) -> tuple[UpstreamConnection, float]:
        """A ready connection and the seconds spent opening it (0.0 for a pooled one)."""
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.closed and not conn.transport.is_closing():
                return conn, 0.0
        while len(self._all) + self._opening >= self.max_connections:
            fut = self.loop.create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)
            while idle:
                conn = idle.pop()
                if not conn.closed:
                    return conn, 0.0
        t0 = time.monotonic()
        self._opening += 1
        try:
            _, conn = await asyncio.wait_for(
                self.loop.create_connection(
                    lambda: UpstreamConnection(self),
                    self.host,
                    self.port,
                    ssl=self.ssl,
                    server_hostname=self.server_hostname if self.ssl else None,
                ),
                self.connect_timeout,
            )
        except TimeoutError:
            self._wake()
            raise UpstreamError(
                "connect", f"connect to {self.host}:{self.port} timed out", retryable=True
            ) from None
        except OSError as exc:
            self._wake()
            reason = exc.strerror or str(exc)
            raise UpstreamError(
                "connect", f"cannot connect to {self.host}:{self.port}: {reason}", retryable=True
            ) from None
        finally:
            self._opening -= 1
        self._all.add(conn)
        return conn, time.monotonic() - t0

    def release(self, conn: UpstreamConnection) -> None:
        """Return a connection after its exchange; it is reused only if that is safe."""
        if conn.reusable and not self.closed:
            conn.idle_since = time.monotonic()
            conn._resp = None
            self._idle.append(conn)
        else:
            conn.close()
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def _forget(self, conn: UpstreamConnection) -> None:
        self._all.discard(conn)
        try:
            self._idle.remove(conn)
        except ValueError:
            pass
        self._wake()

    def sweep(self, now: float) -> None:
        """Close connections idle for longer than the idle timeout."""
        limit = now - self.idle_timeout
        while self._idle and self._idle[0].idle_since < limit:
            self._idle.popleft().close()

    def close(self) -> None:
        self.closed = True
        for conn in list(self._all):
            conn.close()
        self._idle.clear()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

"""The client-facing HTTP/1.1 server: an asyncio protocol on httptools (llhttp).

One :class:`ServerConnection` per client connection. Each request on a kept-alive connection is
parsed and handled on its own (pipelined requests are answered in order). Small request bodies are
buffered whole before the handler runs; bodies past ``STREAM_THRESHOLD`` are handed over as a
:class:`BodyStream` with back-pressure. ``CONNECT`` hands the raw socket to the handler as a tunnel.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus

import httptools

from workbench.config.model import Limits

STREAM_THRESHOLD = 256 * 1024
"""Request bodies up to this size are buffered whole (faster); larger ones are streamed."""
WRITE_HIGH_WATER = 256 * 1024
READ_PAUSE_BYTES = 512 * 1024

REASONS = {s.value: s.phrase for s in HTTPStatus}
REASONS[508] = "Loop Detected"

Handler = Callable[["HttpRequest", "ServerConnection"], Awaitable[None]]


def reason_phrase(status: int) -> str:
    """Standard reason phrase for a status code (``"Unknown"`` for unregistered codes)."""
    return REASONS.get(status, "Unknown")


class BodyStream:
    """A request or response body that arrives in pieces, with back-pressure on the sender."""

    __slots__ = (
        "_chunks",
        "_buffered",
        "_done",
        "_error",
        "_waiter",
        "_pause",
        "_resume",
        "_paused",
    )

    def __init__(self, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._pause = pause
        self._resume = resume
        self._paused = False

    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > READ_PAUSE_BYTES and not self._paused:
            self._paused = True
            self._pause()
        self._wake()

    def finish(self) -> None:
        self._done = True
        self._wake()

    def fail(self, exc: BaseException) -> None:
        self._error = exc
        self._wake()

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    @property
    def done(self) -> bool:
        return self._done and not self._chunks

    def _maybe_resume(self) -> None:
        if self._paused and self._buffered < READ_PAUSE_BYTES // 2:
            self._paused = False
            self._resume()

    async def read(self) -> bytes:
        """Next piece of the body; ``b""`` at the end. Raises if the sender went away."""
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._done:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = self._chunks.popleft()
        self._buffered -= len(data)
        self._maybe_resume()
        return data


class HttpRequest:
    """One parsed client request."""

    __slots__ = (
        "method",
        "target",
        "version",
        "headers",
        "keep_alive",
        "body",
        "stream",
        "content_length",
        "chunked",
        "expect_continue",
        "tunnel_data",
        "start",
        "start_mono",
        "_size",
    )

    def __init__(self) -> None:
        self.method = ""
        self.target = ""
        self.version = "1.1"
        self.headers: list[tuple[str, str]] = []
        self.keep_alive = True
        self.body = b""
        """The whole body, when it was small enough to buffer (``stream`` is None)."""
        self.stream: BodyStream | None = None
        """The body as a stream, when it was too large to buffer."""
        self.content_length: int | None = None
        self.chunked = False
        self.expect_continue = False
        self.tunnel_data = b""
        """For CONNECT: bytes the client sent right after the request head."""
        self.start = 0.0
        self.start_mono = 0.0
        self._size = 0


class ServerConnection(asyncio.Protocol):
    """One client connection: parses requests, runs the handler, writes responses."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.handler = server.handler
        self.limits = server.limits
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.client_ip = ""
        self.client_port = 0
        self.local_port = 0
        self.parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._req: HttpRequest | None = None
        self._queue: deque[HttpRequest] = deque()
        self._busy = False
        self._streaming: HttpRequest | None = None
        self._upgrade: HttpRequest | None = None
        self._closed = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._tunnel_sink: Callable[[bytes], None] | None = None
        self._tunnel_closed: Callable[[], None] | None = None
        self.last_active = time.monotonic()
        self.reading_head_since: float | None = None
        self.requests_served = 0
        self.tls = False
        self.on_pause_writing: Callable[[bool], None] | None = None
        """Tunnels use this to pause the far side while the client is slow to read."""

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if peer:
            self.client_ip, self.client_port = peer[0], peer[1]
        sock = transport.get_extra_info("sockname")
        if sock:
            self.local_port = sock[1]
        self.tls = transport.get_extra_info("sslcontext") is not None
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.server.connections.discard(self)
        if self._streaming is not None and self._streaming.stream is not None:
            self._streaming.stream.fail(ConnectionResetError("client closed the connection"))
        if self._tunnel_closed is not None:
            self._tunnel_closed()
        w = self._drain_waiter
        if w is not None and not w.done():
            w.set_exception(ConnectionResetError("client closed the connection"))

    def pause_writing(self) -> None:
        self._write_paused = True
        if self.on_pause_writing is not None:
            self.on_pause_writing(True)

    def resume_writing(self) -> None:
        self._write_paused = False
        if self.on_pause_writing is not None:
            self.on_pause_writing(False)
        w = self._drain_waiter
        if w is not None and not w.done():
            w.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        if self._tunnel_sink is not None:
            self._tunnel_sink(data)
            return
        if self.reading_head_since is None:
            self.reading_head_since = self.last_active
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            req = self._upgrade
            self._upgrade = None
            if req is not None and req.method == "CONNECT":
                offset = exc.args[0] if exc.args else len(data)
                req.tunnel_data = data[offset:]
                self._req = None
                self.transport.pause_reading()  # the tunnel resumes once it is wired up
                self._enqueue(req)
            else:
                self._bad_request(400, "Protocol upgrades are not supported by this proxy.")
        except httptools.HttpParserError as exc:
            # Errors raised in our callbacks arrive wrapped, with ours as the context.
            cause = exc.__context__
            if isinstance(cause, _TooLarge):
                self._bad_request(cause.status, cause.message)
            else:
                self._bad_request(400, f"Malformed HTTP request: {exc}")

    def eof_received(self) -> bool | None:
        if self._tunnel_sink is not None and self._tunnel_closed is not None:
            self._tunnel_closed()
            return True
        if self._streaming is not None and self._streaming.stream is not None:
            self._streaming.stream.fail(ConnectionResetError("client closed before the body ended"))
        # Keep the connection half-open only while a response is still being produced.
        return self._busy

    # -- httptools callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        req = HttpRequest()
        req.start = time.time()
        req.start_mono = time.monotonic()
        self._req = req
        self._url = b""

    def on_url(self, url: bytes) -> None:
        self._url += url
        req = self._req
        req._size += len(url)
        if req._size > self.limits.max_header_size:
            raise _TooLarge(414, "The request target is longer than this proxy accepts.")

    def on_header(self, name: bytes, value: bytes) -> None:
        req = self._req
        req._size += len(name) + len(value) + 4
        if req._size > self.limits.max_header_size:
            raise _TooLarge(431, "The request headers are larger than this proxy accepts.")
        req.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        req = self._req
        parser = self.parser
        req.method = parser.get_method().decode("ascii", "replace")
        req.target = self._url.decode("latin-1")
        req.version = parser.get_http_version()
        req.keep_alive = parser.should_keep_alive()
        self.reading_head_since = None
        for name, value in req.headers:
            n = name.lower()
            if n == "content-length":
                try:
                    req.content_length = int(value)
                except ValueError:
                    raise _TooLarge(400, "Content-Length is not a number.") from None
                if req.content_length > self.limits.max_body_size:
                    raise _TooLarge(413, "The request body is larger than this proxy accepts.")
            elif n == "transfer-encoding" and "chunked" in value.lower():
                req.chunked = True
            elif n == "expect" and value.lower() == "100-continue":
                req.expect_continue = True
        if req.expect_continue and req.version == "1.1" and not self._busy and not self._queue:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        req = self._req
        req._size += len(body)
        if req.stream is not None:
            req.stream.feed(body)
            if req.stream._buffered > self.limits.max_body_size:
                raise _TooLarge(413, "The request body is larger than this proxy accepts.")
            return
        if req.body:
            req.body += body
        else:
            req.body = body
        blen = len(req.body)
        if blen > self.limits.max_body_size:
            raise _TooLarge(413, "The request body is larger than this proxy accepts.")
        if blen > STREAM_THRESHOLD and not self._busy and not self._queue:
            # Too big to buffer: hand the handler a stream now and feed it as data arrives.
            stream = BodyStream(self._pause_reading, self._resume_reading)
            stream.feed(req.body)
            req.body = b""
            req.stream = stream
            self._streaming = req
            self._enqueue(req)

    def on_message_complete(self) -> None:
        req = self._req
        self._req = None
        if req is None:
            return
        if self.parser.should_upgrade():
            # CONNECT (or an Upgrade request): feed_data raises HttpParserUpgrade next.
            self._upgrade = req
            return
        if req.stream is not None:
            req.stream.finish()
            self._streaming = None
            return
        self._enqueue(req)

    # -- request dispatch -------------------------------------------------------------------
    def _pause_reading(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.resume_reading()

    def _enqueue(self, req: HttpRequest) -> None:
        if self._busy:
            self._queue.append(req)
            if len(self._queue) > 16:
                self._pause_reading()
            return
        self._start(req)

    def _start(self, req: HttpRequest) -> None:
        self._busy = True
        self.response_started = False
        task = self.loop.create_task(self._run(req))
        self.server.tasks.add(task)
        task.add_done_callback(self.server.tasks.discard)

    async def _run(self, req: HttpRequest) -> None:
        try:
            await self.handler(req, self)
        except Exception as exc:  # a handler bug must not take the connection loop down
            self.server.on_error(exc)
            if not self._closed and not self.response_started:
                self.respond_text(500, f"Internal error in the workbench: {exc!r}\n", close=True)
            else:
                self.close()
            return
        finally:
            self._busy = False
        self.requests_served += 1
        self.last_active = time.monotonic()
        if self._closed:
            return
        if not req.keep_alive or self.server.closing:
            self.close()
            return
        if self._queue:
            nxt = self._queue.popleft()
            if len(self._queue) <= 16:
                self._resume_reading()
            self._start(nxt)

    # -- response writing -------------------------------------------------------------------
    response_started = False

    def write_head(
        self,
        status: int,
        headers: list[tuple[str, str]],
        reason: str | None = None,
        body: bytes = b"",
    ) -> None:
        """Write the status line and header block (the caller chose the framing headers).

        A small ``body`` given here goes out in the same write (one syscall instead of two).
        """
        self.response_started = True
        lines = [f"HTTP/1.1 {status} {reason or reason_phrase(status)}\r\n"]
        for name, value in headers:
            lines.append(f"{name}: {value}\r\n")
        lines.append("\r\n")
        data = "".join(lines).encode("latin-1")
        if not self._closed:
            self.transport.write(data + body if body else data)

    def write(self, data: bytes) -> None:
        if data and not self._closed:
            self.transport.write(data)

    async def drain(self) -> None:
        """Wait until the client has taken enough of what was written (back-pressure)."""
        if self._closed:
            raise ConnectionResetError("client closed the connection")
        if not self._write_paused:
            return
        self._drain_waiter = self.loop.create_future()
        try:
            await self._drain_waiter
        finally:
            self._drain_waiter = None

    def respond(
        self,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes = b"",
        *,
        head: bool = False,
        close: bool = False,
    ) -> None:
        """Write a complete response with a Content-Length in one go."""
        self.response_started = True
        lines = [f"HTTP/1.1 {status} {reason_phrase(status)}\r\n"]
        for name, value in headers:
            lines.append(f"{name}: {value}\r\n")
        if status >= 200 and status not in (204, 304):
            lines.append(f"Content-Length: {len(body)}\r\n")
        if close:
            lines.append("Connection: close\r\n")
        lines.append("\r\n")
        data = "".join(lines).encode("latin-1")
        if body and not head and status not in (204, 304):
            data += body
        if not self._closed:
            self.transport.write(data)
        if close:
            self.close()

    def respond_text(
        self, status: int, text: str, *, close: bool = False, extra: list[tuple[str, str]] = ()
    ) -> None:
        """A short plain-text answer produced by the proxy itself."""
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Server", "workbench")]
        headers.extend(extra)
        self.respond(status, headers, text.encode(), close=close)

    def _bad_request(self, status: int, message: str) -> None:
        """Answer a request we could not parse, then close: the byte stream is no longer usable."""
        if self._streaming is not None and self._streaming.stream is not None:
            self._streaming.stream.fail(ConnectionResetError(message))
        self.server.on_bad_request(self, status, message)
        if self._busy and self.response_started:
            self.close()
            return
        if not self._closed:
            self.respond_text(status, message + "\n", close=True)

    def close(self) -> None:
        if not self._closed and self.transport is not None:
            self._closed = True
            self.transport.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- tunnels ----------------------------------------------------------------------------
    def start_tunnel(self, sink: Callable[[bytes], None], on_close: Callable[[], None]) -> None:
        """Stop parsing HTTP: every byte from the client now goes to ``sink``."""
        self._tunnel_sink = sink
        self._tunnel_closed = on_close
        self.transport.resume_reading()

    async def start_tls(self, ctx, timeout: float) -> asyncio.Transport:
        """Become the TLS server of this connection (HTTPS interception, after a CONNECT's 200).

        Requests decrypted from now on are parsed afresh. Call it from the CONNECT's handler and
        set ``handler`` before that returns: requests arriving with the handshake wait in the
        queue until then. On failure (the client refused our certificate, hung up or took
        longer than ``timeout``) the connection is closed and the error raised.
        """
        self.parser = httptools.HttpRequestParser(self)
        try:
            tls = await self.loop.start_tls(
                self.transport, self, ctx, server_side=True, ssl_handshake_timeout=timeout
            )
        except BaseException:
            self._closed = True
            self.server.connections.discard(self)
            raise
        self.transport = tls
        self.tls = True
        return tls


class _TooLarge(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class HttpServer:
    """A listening socket serving :class:`ServerConnection`, with timeouts and shutdown."""

    def __init__(
        self,
        handler: Handler,
        limits: Limits,
        *,
        on_error: Callable[[BaseException], None] | None = None,
        on_bad_request: Callable[[ServerConnection, int, str], None] | None = None,
    ) -> None:
        self.handler = handler
        self.limits = limits
        self.loop = asyncio.get_running_loop()
        self.connections: set[ServerConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.closing = False
        self._server: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.on_error = on_error or (lambda exc: None)
        self.on_bad_request = on_bad_request or (lambda conn, status, msg: None)

    async def start(self, host: str, port: int, ssl=None) -> tuple[str, int]:
        self._server = await self.loop.create_server(
            lambda: ServerConnection(self), host, port, ssl=ssl, backlog=1024, reuse_address=True
        )
        self._sweeper = self.loop.create_task(self._sweep())
        sock = self._server.sockets[0].getsockname()
        return sock[0], sock[1]

    async def _sweep(self) -> None:
        """Close idle keep-alive connections and clients too slow to send their headers."""
        limits = self.limits
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for conn in list(self.connections):
                if conn._busy or conn._tunnel_sink is not None:
                    continue
                if conn.reading_head_since is not None:
                    if now - conn.reading_head_since > limits.client_timeout:
                        conn._bad_request(408, "The request headers took too long to arrive.")
                elif now - conn.last_active > limits.keepalive_timeout:
                    conn.close()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, let in-flight requests finish (up to ``grace`` seconds), then close."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        if self._sweeper is not None:
            self._sweeper.cancel()
        for conn in list(self.connections):
            if not conn._busy:
                conn.close()
        deadline = time.monotonic() + grace
        while self.tasks and time.monotonic() < deadline:
            await asyncio.wait(list(self.tasks), timeout=max(0.0, deadline - time.monotonic()))
        for task in list(self.tasks):
            task.cancel()
        for conn in list(self.connections):
            conn.close()

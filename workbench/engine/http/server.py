"""The client-facing HTTP/1.1 server: an asyncio protocol on httptools (llhttp).

One :class:`ServerConnection` per client connection. Each request on a kept-alive connection is
parsed and handled on its own (pipelined requests are answered in order). Small request bodies are
buffered whole before the handler runs; bodies past ``STREAM_THRESHOLD`` are handed over as a
:class:`BodyStream` with back-pressure. ``CONNECT`` and protocol upgrades (``Upgrade:``) pause the
parser and hand the raw bytes to the handler, which may turn the connection into a tunnel.

Timeouts are checked by one sweeper per server (once a second), never a timer per read: request
heads must arrive within ``client_timeout``, a request body may not pause for longer than
``client_timeout`` (408, or a close once the response has started), idle keep-alive connections
close after ``keepalive_timeout``.
"""

from __future__ import annotations

import asyncio
import re
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
LINGER_SECONDS = 5.0
"""After answering a request whose body is still arriving, read and drop the rest for at most
this long before closing (closing with unread data would reset the answer away)."""
MAX_PIPELINED = 16
"""Parsed requests waiting behind the current one before the connection stops reading."""

REASONS = {s.value: s.phrase for s in HTTPStatus}
REASONS[508] = "Loop Detected"
_STATUS_LINES = {code: f"HTTP/1.1 {code} {phrase}\r\n".encode() for code, phrase in REASONS.items()}
SEPARATE_BODY = 64 * 1024
"""Bodies larger than this are written after the head rather than copied onto it."""

Handler = Callable[["HttpRequest", "ServerConnection"], Awaitable[None]]

_HOST_RE = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?", re.ASCII
).fullmatch
"""A valid ``Host`` value: uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2)."""


def reason_phrase(status: int) -> str:
    """Standard reason phrase for a status code (``"Unknown"`` for unregistered codes)."""
    return REASONS.get(status, "Unknown")


class RequestBodyTimeout(ConnectionError):
    """The client stopped sending its request body for longer than ``client_timeout``."""

    status = 408


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
        "_discard",
        "chunked",
        "tap",
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
        self._discard = False
        self.chunked = False
        """For a request body: the client sent it chunked (else it has a Content-Length)."""
        self.tap: Callable[[bytes], None] | None = None
        """Called with each piece as it is read (body capture for the request record)."""

    def feed(self, data: bytes) -> None:
        if self._discard:
            return
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

    def discard(self) -> None:
        """Nobody will read the rest: drop what is buffered and whatever still arrives."""
        self._discard = True
        self._chunks.clear()
        self._buffered = 0
        if self._paused:
            self._paused = False
            self._resume()

    def _wake(self, _fut: object = None) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    @property
    def done(self) -> bool:
        return self._done and not self._chunks

    @property
    def paused(self) -> bool:
        """The sender is held back because the reader is slower (not the sender's fault)."""
        return self._paused

    def _maybe_resume(self) -> None:
        if self._paused and self._buffered < READ_PAUSE_BYTES // 2:
            self._paused = False
            self._resume()

    async def read(self, stop: asyncio.Future | None = None) -> bytes | None:
        """Next piece of the body; ``b""`` at the end. Raises if the sender went away.

        Returns None instead of waiting once ``stop`` is done (an upload that the upstream
        answered before it ended).
        """
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._done:
                return b""
            if stop is not None and stop.done():
                return None
            self._waiter = w = asyncio.get_running_loop().create_future()
            if stop is not None:
                stop.add_done_callback(self._wake)
            try:
                await w
            finally:
                self._waiter = None
                if stop is not None:
                    stop.remove_done_callback(self._wake)
        data = self._chunks.popleft()
        self._buffered -= len(data)
        self._maybe_resume()
        if self.tap is not None:
            self.tap(data)
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
        "upgrade",
        "tunnel_data",
        "start",
        "start_mono",
        "_size",
        "_raw",
        "_buf",
    )

    def __init__(self) -> None:
        self.method = ""
        self.target = ""
        self.version = "1.1"
        self.headers: list[tuple[str, str]] = []
        self.keep_alive = True
        """False once the connection must close after this response (set it to force a close)."""
        self.body = b""
        """The whole body, when it was small enough to buffer (``stream`` is None)."""
        self.stream: BodyStream | None = None
        """The body as a stream, when it was too large to buffer."""
        self.content_length: int | None = None
        self.chunked = False
        self.expect_continue = False
        self.upgrade: str | None = None
        """The ``Upgrade`` the client asked for (e.g. ``websocket``); the connection is handed
        over (``tunnel_data`` holds what followed the head) if the upstream answers 101."""
        self.tunnel_data = b""
        """For CONNECT and upgrades: bytes the client sent right after the request head."""
        self.start = 0.0
        self.start_mono = 0.0
        self._size = 0
        self._raw = 0
        self._buf: bytearray | None = None

    @property
    def body_received(self) -> int:
        """Body bytes received from the client so far (also for a streamed body)."""
        return self._size


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
        self._current: HttpRequest | None = None
        self._queue: deque[HttpRequest] = deque()
        self._busy = False
        """A request's handler is running (its answer may not be complete yet)."""
        self._parsing = False
        """Inside ``feed_data``: parsed requests wait in the queue until it returns."""
        self._pipeline_full = False
        """Reading is paused because more than ``MAX_PIPELINED`` requests wait."""
        self._streaming: HttpRequest | None = None
        self._upgrade: HttpRequest | None = None
        self._closed = False
        self._broken: tuple[int, str] | None = None
        """A parse error met behind requests still being answered: sent once they are done."""
        self._linger_until = 0.0
        self._drain_waiter: asyncio.Future[None] | None = None
        self._write_paused = False
        self._write_paused_since = 0.0
        self._why = ""
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
        why = self._why or "client closed the connection"
        if self._streaming is not None and self._streaming.stream is not None:
            self._streaming.stream.fail(ConnectionResetError(why))
        if self._tunnel_closed is not None:
            self._tunnel_closed()
        w = self._drain_waiter
        if w is not None and not w.done():
            w.set_exception(ConnectionResetError(why))

    def pause_writing(self) -> None:
        self._write_paused = True
        self._write_paused_since = time.monotonic()
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
        if self._broken is not None:
            return  # the byte stream is unusable after a parse error
        if self.reading_head_since is None:
            if self._req is None:
                self.reading_head_since = self.last_active
            partial = None
        else:
            partial = self._req  # a head that began in an earlier read
        self._parsing = True
        try:
            self.parser.feed_data(data)
            if partial is not None and partial is self._req and self.reading_head_since:
                # Still the same unfinished head: bound what httptools accumulates (a header
                # line that never ends would otherwise grow without limit, copied each time).
                partial._raw += len(data)
                if partial._raw > self.limits.max_header_size:
                    self._bad_request(
                        431, "The request headers are larger than this proxy accepts."
                    )
        except httptools.HttpParserUpgrade as exc:
            req = self._upgrade
            self._upgrade = None
            if req is None:
                self._bad_request(400, "Malformed HTTP request: unexpected upgrade.")
                return
            offset = exc.args[0] if exc.args else len(data)
            rest = data[offset:]
            self._req = None
            if req.method == "CONNECT":
                req.tunnel_data = rest
                req.keep_alive = False  # a tunnel, or a refusal and a close
                self.transport.pause_reading()  # the tunnel resumes once it is wired up
                self._enqueue(req)
            else:
                self._upgrade_request(req, rest)
        except httptools.HttpParserError as exc:
            # Errors raised in our callbacks arrive wrapped, with ours as the context.
            cause = exc.__context__
            if isinstance(cause, _TooLarge):
                self._bad_request(cause.status, cause.message)
            else:
                self._bad_request(400, f"Malformed HTTP request: {exc}")
        finally:
            self._parsing = False
        if self._queue and not self._busy:
            self._dispatch()

    def _upgrade_request(self, req: HttpRequest, rest: bytes) -> None:
        """A request with ``Upgrade``: hand it over paused, or re-parse it as plain HTTP/1.1.

        ``h2c`` is declined the way nginx declines it: the request is answered over HTTP/1.1.
        So are upgrade requests with a body (llhttp would hand the body over as tunnel bytes).
        """
        tokens = ""
        for name, value in req.headers:
            if name.lower() == "upgrade":
                tokens = value.strip()
                break
        protocols = {t.strip().lower() for t in tokens.split(",") if t.strip()}
        has_body = req.chunked or bool(req.content_length)
        if protocols and not protocols <= {"h2c"} and not has_body:
            req.upgrade = tokens
            req.tunnel_data = rest
            scheme = req.target[:6].lower()
            if scheme.startswith("ws://") or scheme == "wss://":
                # A WebSocket client talking to a forward proxy names the ws:// URI itself.
                req.target = ("http" if scheme[2] == ":" else "https") + req.target[
                    scheme.index(":") :
                ]
            self.transport.pause_reading()  # resumed by the relay, or when declined
            self._enqueue(req)
            return
        # Replay the head without the upgrade offer through a fresh parser.
        lines = [f"{req.method} {req.target} HTTP/{req.version}\r\n"]
        for name, value in req.headers:
            ln = name.lower()
            if ln in ("upgrade", "http2-settings"):
                continue
            if ln == "connection":
                value = ", ".join(
                    t
                    for t in (x.strip() for x in value.split(","))
                    if t.lower() not in ("upgrade", "http2-settings")
                )
                if not value:
                    continue
            lines.append(f"{name}: {value}\r\n")
        lines.append("\r\n")
        self.parser = httptools.HttpRequestParser(self)
        self.data_received("".join(lines).encode("latin-1") + rest)

    def eof_received(self) -> bool | None:
        if self._tunnel_sink is not None and self._tunnel_closed is not None:
            self._tunnel_closed()
            return True
        if self._streaming is not None and self._streaming.stream is not None:
            self._streaming.stream.fail(ConnectionResetError("client closed before the body ended"))
        # Keep the connection half-open only while a response is still being produced.
        return self._busy or bool(self._queue)

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
        version = req.version = parser.get_http_version()
        if version != "1.1" and version != "1.0":
            raise _TooLarge(505, f"HTTP/{version} is not supported here; use HTTP/1.1.")
        req.keep_alive = parser.should_keep_alive()
        self.reading_head_since = None
        hosts = 0
        host = ""
        codings: str | None = None
        for name, value in req.headers:
            size = len(name)  # only four names matter here: compare lengths before cases
            if size == 4:
                if name.lower() == "host":
                    hosts += 1
                    host = value
            elif size == 14:
                if name.lower() == "content-length":
                    try:
                        req.content_length = int(value)
                    except ValueError:
                        raise _TooLarge(400, "Content-Length is not a number.") from None
                    if req.content_length > self.limits.max_body_size:
                        raise _TooLarge(413, "The request body is larger than this proxy accepts.")
            elif size == 17:
                if name.lower() == "transfer-encoding":
                    codings = value if codings is None else f"{codings},{value}"
            elif size == 6:
                if name.lower() == "expect" and value.lower() == "100-continue":
                    req.expect_continue = True
        if codings is not None:
            # RFC 9112 §6.1: with any coding but a final chunked the body's end is unknowable;
            # this proxy decodes no other coding, so chunked must be the only one.
            if [c for c in (t.strip().lower() for t in codings.split(",")) if c] != ["chunked"]:
                raise _TooLarge(
                    400, f"Transfer-Encoding {codings.strip()!r} is not supported: only chunked."
                )
            req.chunked = True
        if hosts != 1 and (hosts or version == "1.1"):
            # RFC 9112 §3.2: exactly one Host in HTTP/1.1 (at most one in 1.0).
            raise _TooLarge(400, "A request needs exactly one Host header.")
        if hosts and not _HOST_RE(host):
            raise _TooLarge(400, "The Host header is not a valid host[:port].")
        if req.expect_continue and version == "1.1" and not self._busy and not self._queue:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        req._size = 0  # from here on: body bytes received

    def on_body(self, body: bytes) -> None:
        req = self._req
        req._size += len(body)
        stream = req.stream
        if stream is not None:
            stream.feed(body)
            if req._size > self.limits.max_body_size:  # a chunked body has no length up front
                raise _TooLarge(413, "The request body is larger than this proxy accepts.")
            return
        buf = req._buf
        if buf is not None:
            buf += body  # amortised O(n), unlike bytes += bytes
            blen = len(buf)
        elif req.body:
            buf = req._buf = bytearray(req.body)
            buf += body
            req.body = b""
            blen = len(buf)
        else:
            req.body = body
            blen = len(body)
        if blen > self.limits.max_body_size:
            raise _TooLarge(413, "The request body is larger than this proxy accepts.")
        if blen > STREAM_THRESHOLD:
            # Too big to buffer: hand the handler a stream (now, or when its turn comes in a
            # pipeline) and feed it as data arrives, with back-pressure on the client.
            stream = BodyStream(self._pause_reading, self._resume_reading)
            stream.chunked = req.chunked
            stream.feed(bytes(buf) if buf is not None else req.body)
            req.body = b""
            req._buf = None
            req.stream = stream
            self._streaming = req
            self._enqueue(req)

    def on_message_complete(self) -> None:
        req = self._req
        self._req = None
        if req is None:
            return
        if req._buf is not None:
            req.body = bytes(req._buf)
            req._buf = None
        if self.parser.should_upgrade():
            # CONNECT (or an Upgrade request): feed_data raises HttpParserUpgrade next.
            self._upgrade = req
            return
        if req.stream is not None:
            req.stream.finish()
            self._streaming = None
            if self._linger_until:
                self.close()  # the rest of an already answered request's body has arrived
            return
        self._enqueue(req)

    # -- request dispatch -------------------------------------------------------------------
    def _pause_reading(self) -> None:
        if self.transport is not None and not self._closed:
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.transport is not None and not self._closed:
            self.last_active = time.monotonic()
            self.transport.resume_reading()

    def _enqueue(self, req: HttpRequest) -> None:
        """Queue a parsed request; it starts now, or once the requests before it are answered.

        While the parser runs (inside ``feed_data``) nothing starts: ``data_received`` starts
        the queue when the parser has returned, so no handler runs inside a parser callback.
        """
        queue = self._queue
        queue.append(req)
        if len(queue) - (not self._busy) > MAX_PIPELINED and not self._pipeline_full:
            self._pipeline_full = True
            self._pause_reading()
        if not self._parsing and not self._busy:
            self._dispatch()

    def _dispatch(self) -> None:
        """Answer queued requests in order while each is answered synchronously.

        A handler answers at once (a cache hit, a block) by returning None: its request is
        finished here, with no task, and the next queued one starts. One that must wait returns
        an awaitable, which becomes the task that finishes the request and dispatches the rest.
        A loop, not recursion: a read holding hundreds of pipelined requests stays flat.
        """
        queue = self._queue
        while queue and not self._busy and not self._closed:
            req = queue.popleft()
            if self._pipeline_full and len(queue) <= MAX_PIPELINED:
                self._pipeline_full = False
                self._resume_reading()
            self._busy = True
            self._current = req
            self.response_started = False
            try:
                pending = self.handler(req, self)
            except Exception as exc:  # a handler bug must not take the connection loop down
                self._handler_failed(req, exc)
                return
            if pending is not None:
                task = self.loop.create_task(self._run(req, pending))
                self.server.tasks.add(task)
                task.add_done_callback(self.server.tasks.discard)
                return
            self._busy = False
            self._current = None
            if not self._finished(req):
                return
        if not queue and not self._busy and self._broken is not None and not self._closed:
            status, message = self._broken
            self.respond_text(status, message + "\n", close=True)

    async def _run(self, req: HttpRequest, pending: Awaitable[None]) -> None:
        """The rest of a request whose handler had to wait, then the requests queued behind it."""
        try:
            await pending
        except Exception as exc:  # a handler bug must not take the connection loop down
            self._handler_failed(req, exc)
            return
        finally:
            self._busy = False
            self._current = None
        if self._finished(req):
            self._dispatch()

    def _handler_failed(self, req: HttpRequest, exc: Exception) -> None:
        """A handler raised (a bug): a 500 if nothing was sent yet, then close."""
        self.server.on_error(exc)
        if not self._closed and not self.response_started:
            req.keep_alive = False
            self.respond_text(500, "Internal error in the workbench (see its event log).\n")
        self._busy = False
        self._current = None
        self.close()

    def _finished(self, req: HttpRequest) -> bool:
        """Bookkeeping after a request was answered; True when the next one may start."""
        self.requests_served += 1
        self.last_active = time.monotonic()
        if self._closed:
            return False
        stream = req.stream
        if stream is not None and not stream.done:
            # Answered before the body ended (an early 413, an error): let the rest arrive and
            # drop it, then close, so that the client reads the answer instead of a reset.
            stream.discard()
            self._linger_until = self.last_active + LINGER_SECONDS
            self.transport.resume_reading()
            return False
        if not req.keep_alive or self.server.closing or self._tunnel_sink is not None:
            self.close()
            return False
        if req.upgrade is not None:
            # The upstream declined the upgrade: go on with HTTP/1.1 on this connection.
            self.parser = httptools.HttpRequestParser(self)
            self.transport.resume_reading()
            if req.tunnel_data:
                self.data_received(req.tunnel_data)
            return False
        return True

    # -- response writing -------------------------------------------------------------------
    response_started = False

    def _connection_line(self, status: int) -> str:
        """The ``Connection`` line this response needs: close when closing, keep-alive for a
        kept-alive HTTP/1.0 client (RFC 9112 §9.3), nothing otherwise."""
        req = self._current
        if req is None:
            return "Connection: close\r\n"
        if not req.keep_alive:
            if status == 101 or (req.method == "CONNECT" and 200 <= status < 300):
                return ""
            return "Connection: close\r\n"
        if req.version == "1.0":
            return "Connection: keep-alive\r\n"
        return ""

    def write_head(
        self,
        status: int,
        headers: list[tuple[str, str]],
        reason: str | None = None,
        body: bytes = b"",
    ) -> None:
        """Write the status line and header block (the caller chose the framing headers).

        A small ``body`` given here goes out in the same write (one syscall instead of two).
        To close the connection after this response, set ``keep_alive = False`` on the request
        first: the ``Connection`` line is added here.
        """
        self.response_started = True
        lines = [f"HTTP/1.1 {status} {reason or reason_phrase(status)}\r\n"]
        for name, value in headers:
            lines.append(f"{name}: {value}\r\n")
        lines.append(self._connection_line(status))
        lines.append("\r\n")
        data = "".join(lines).encode("latin-1")
        if not self._closed:
            self.transport.write(data + body if body else data)

    def write_interim(
        self, req: HttpRequest | None, status: int, reason: str, headers: list[tuple[str, str]]
    ) -> None:
        """Relay an interim 1xx answer (103 Early Hints, …) for ``req`` to an HTTP/1.1 client.

        Dropped when ``req`` is no longer the request being answered or its answer has started.
        """
        if self._closed or self.response_started or req is None or req is not self._current:
            return
        if req.version != "1.1":
            return
        if status == 100 and req.expect_continue:
            return  # this proxy already said 100 Continue itself
        lines = [f"HTTP/1.1 {status} {reason or reason_phrase(status)}\r\n"]
        for name, value in headers:
            lines.append(f"{name}: {value}\r\n")
        lines.append("\r\n")
        self.transport.write("".join(lines).encode("latin-1"))

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
        length: int | None = None,
        wire: bytes = b"",
        skip: int = 0,
    ) -> None:
        """Write a complete response with a Content-Length in one go.

        ``length`` announces a Content-Length other than ``len(body)``: a HEAD answered from
        stored headers says how long the GET's body would be. ``wire`` holds the first ``skip``
        fields of ``headers`` already serialized (a cache entry's, made once per entry).
        """
        self.response_started = True
        req = self._current
        if close and req is not None:
            req.keep_alive = False
        fields = headers[skip:] if skip else headers
        lines = [f"{name}: {value}\r\n" for name, value in fields]
        if status >= 200 and status != 204 and (status != 304 or length is not None):
            lines.append(f"Content-Length: {len(body) if length is None else length}\r\n")
        lines.append(self._connection_line(status))
        lines.append("\r\n")
        start = _STATUS_LINES.get(status) or (
            f"HTTP/1.1 {status} {reason_phrase(status)}\r\n".encode("latin-1")
        )
        data = start + wire + "".join(lines).encode("latin-1")
        if not self._closed:
            if body and not head and status != 204 and status != 304:
                if len(body) > SEPARATE_BODY:
                    self.transport.write(data)
                    self.transport.write(body)
                else:
                    self.transport.write(data + body)
            else:
                self.transport.write(data)
        if close and not self._busy:
            self.close()

    def respond_text(
        self, status: int, text: str, *, close: bool = False, extra: list[tuple[str, str]] = ()
    ) -> None:
        """A short plain-text answer produced by the proxy itself."""
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Server", "workbench")]
        headers.extend(extra)
        self.respond(status, headers, text.encode(), close=close)

    def _bad_request(self, status: int, message: str) -> None:
        """Answer a request we could not parse, then close: the byte stream is no longer usable.

        Requests parsed before the bad one are answered first, in order.
        """
        if self._linger_until:
            self.close()  # the request was answered already; nothing more to say
            return
        streaming = self._streaming
        if streaming is not None and streaming.stream is not None:
            self._streaming = None
            streaming.stream.fail(ConnectionResetError(message))
            if self._current is streaming:
                # Its handler is running: answer if it has not started to, then close.
                self.server.on_bad_request(self, status, message)
                streaming.keep_alive = False
                if self.response_started:
                    self.close()
                else:
                    self.respond_text(status, message + "\n")
                return
        self.server.on_bad_request(self, status, message)
        if self._busy or self._queue:
            self._broken = (status, message)
            self._pause_reading()
            return
        if not self._closed:
            self.respond_text(status, message + "\n", close=True)

    def _body_timeout(self) -> None:
        """The client stopped sending a request body whose handler already runs."""
        req = self._streaming
        if req is None or req.stream is None:
            return
        self._streaming = None
        exc = RequestBodyTimeout(
            f"the request body stopped arriving for more than {self.limits.client_timeout:g} s"
        )
        req.stream.fail(exc)
        if self._linger_until or self.response_started:
            self.close()
            return
        req.keep_alive = False
        self.respond_text(408, "The request body stopped arriving; giving up.\n")
        self.close()

    def close(self) -> None:
        if not self._closed and self.transport is not None:
            self._closed = True
            self.transport.close()

    def abort(self, why: str = "") -> None:
        """Reset the connection at once (a response that cannot be completed must not look
        complete to a client that reads until the connection closes)."""
        if not self._closed and self.transport is not None:
            self._why = why
            self._closed = True
            self.transport.abort()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- tunnels ----------------------------------------------------------------------------
    def start_tunnel(self, sink: Callable[[bytes], None], on_close: Callable[[], None]) -> None:
        """Stop parsing HTTP: every byte from the client now goes to ``sink``."""
        self._tunnel_sink = sink
        self._tunnel_closed = on_close
        if self._closed:
            on_close()  # the client left while the other side was being reached
        else:
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

    async def _sweep(self, interval: float = 1.0) -> None:
        """Close idle keep-alive connections and clients too slow to send their requests."""
        while True:
            await asyncio.sleep(interval)
            self.sweep(time.monotonic())

    def sweep(self, now: float) -> None:
        """One pass of the timeout checks (the sweeper runs it about once a second)."""
        limits = self.limits
        timeout = limits.client_timeout
        for conn in list(self.connections):
            if conn._tunnel_sink is not None or conn._closed:
                continue
            if conn._write_paused and now - conn._write_paused_since > timeout:
                conn.abort(f"the client stopped reading for more than {timeout:g} s")
                continue
            if conn._linger_until:
                if now > conn._linger_until or now - conn.last_active > timeout:
                    conn.close()
                continue
            if conn._busy:
                streaming = conn._streaming
                if (
                    streaming is not None
                    and streaming is conn._current
                    and streaming.stream is not None
                    and not streaming.stream.paused
                    and now - conn.last_active > timeout
                ):
                    conn._body_timeout()
                continue
            if conn._queue:
                continue
            if conn.reading_head_since is not None:
                if now - conn.reading_head_since > timeout:
                    conn._bad_request(408, "The request headers took too long to arrive.")
            elif conn._req is not None:
                if now - conn.last_active > timeout:
                    conn._bad_request(408, "The request body stopped arriving.")
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
            if not conn._busy or conn._tunnel_sink is not None:
                conn.close()  # idle, or a tunnel / WebSocket: nothing to finish
        deadline = time.monotonic() + grace
        while self.tasks and time.monotonic() < deadline:
            await asyncio.wait(list(self.tasks), timeout=max(0.0, deadline - time.monotonic()))
        for task in list(self.tasks):
            task.cancel()
        for conn in list(self.connections):
            conn.close()

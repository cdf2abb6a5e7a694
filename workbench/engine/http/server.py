"""The client-facing HTTP/1.1 server: an asyncio protocol on httptools (llhttp).

One :class:`ServerConnection` per client connection. Each request on a kept-alive connection is
parsed and handled on its own (pipelined requests are answered in order); a request its handler
answers without waiting (a cache hit, a block) costs no task. Small request bodies are buffered
whole before the handler runs; bodies past ``STREAM_THRESHOLD`` are handed over as a
:class:`BodyStream` with back-pressure. ``CONNECT`` and protocol upgrades (``Upgrade:``) pause
the parser and hand the raw bytes to the handler, which may turn the connection into a tunnel.

Parsing and its limits live in :mod:`.request_parsing`, response writing in
:mod:`.response_writing`; this module holds the connection's life: reading, dispatching
requests to the handler, errors, tunnels, TLS, and the listener with its timeouts.

Timeouts are checked by one sweeper per server (once a second), never a timer per read: request
heads must arrive within ``client_timeout``, a request body may not pause for longer than
``client_timeout`` (408, or a close once the response has started), idle keep-alive connections
close after ``keepalive_timeout``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable

import httptools

from workbench.config.model import Limits
from workbench.engine.http.body_stream import READ_PAUSE_BYTES, BodyStream, RequestBodyTimeout
from workbench.engine.http.request_parsing import (
    MAX_PIPELINED,
    STREAM_THRESHOLD,
    HttpRequest,
    RequestParsing,
    RequestRejected,
)
from workbench.engine.http.response_writing import REASONS, ResponseWriting, reason_phrase

__all__ = [
    "READ_PAUSE_BYTES",
    "REASONS",
    "STREAM_THRESHOLD",
    "BodyStream",
    "Handler",
    "HttpRequest",
    "HttpServer",
    "RequestBodyTimeout",
    "ServerConnection",
    "reason_phrase",
]

WRITE_HIGH_WATER = 256 * 1024
LINGER_SECONDS = 5.0
"""After answering a request whose body is still arriving, read and drop the rest for at most
this long before closing (closing with unread data would reset the answer away)."""

Handler = Callable[["HttpRequest", "ServerConnection"], Awaitable[None] | None]
"""Answers one request: returns None when it answered without waiting, else an awaitable that
finishes the answer (the server runs it as a task), or a bare future: the handler then goes on
by itself once it is done and reports with :meth:`ServerConnection.continue_request`."""


class ServerConnection(RequestParsing, ResponseWriting, asyncio.Protocol):
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
        self._fields: dict[tuple[bytes, bytes], tuple[str, str]] = {}
        self._host_ok: str | None = None
        self._upgrade_offered = False
        """The request being parsed has an ``Upgrade`` field (the parser may hand it over)."""
        self._req: HttpRequest | None = None
        self._current: HttpRequest | None = None
        self._queue: deque[HttpRequest] = deque()
        self._busy = False
        """A request's handler is running (its answer may not be complete yet)."""
        self._pending: asyncio.Future | None = None
        """The future the running handler waits on, when it goes on without a task."""
        self._parsing = False
        """Inside ``feed_data``: parsed requests wait in the queue until it returns."""
        self._pipeline_full = False
        """Reading is paused because more than ``MAX_PIPELINED`` requests wait."""
        self._streaming: HttpRequest | None = None
        self._upgrade: HttpRequest | None = None
        self._continue_owed: HttpRequest | None = None
        """A pipelined request waiting for its ``100 Continue`` until those before it are
        answered (its client may hold the body back until then)."""
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
        in_body = self._req
        if self.reading_head_since is None:
            if in_body is None:
                self.reading_head_since = self.last_active
            partial = None
        else:
            partial = in_body  # a head that began in an earlier read
            in_body = None
        body_before = in_body._size if in_body is not None else 0
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
            elif in_body is not None and in_body is self._req:
                # Inside a body: a read that carried no body byte is chunk framing or the
                # trailer section, which httptools accumulates like a head: bound it the same.
                if in_body._size != body_before:
                    in_body._raw = 0
                else:
                    in_body._raw += len(data)
                    if in_body._raw > self.limits.max_header_size:
                        self._bad_request(
                            431, "The request trailers are larger than this proxy accepts."
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
        except httptools.HttpParserInvalidMethodError as exc:
            # A head that began with this read and is still the first one in it: the request
            # line starts ``data``, so an extension method (M-SEARCH is known; FOO is not) can
            # be parsed under a placeholder. Anything else unknown stays a 400.
            if partial is None and self.reading_head_since is not None:
                if self._extension_method(data):
                    return
            self._bad_request(400, f"Malformed HTTP request: {exc}")
        except httptools.HttpParserError as exc:
            # Errors raised in our callbacks arrive wrapped, with ours as the context.
            cause = exc.__context__
            if isinstance(cause, RequestRejected):
                self._bad_request(cause.status, cause.message)
            else:
                self._bad_request(400, f"Malformed HTTP request: {exc}")
        finally:
            self._parsing = False
        if self._queue and not self._busy:
            self._dispatch()

    def eof_received(self) -> bool | None:
        if self._tunnel_sink is not None and self._tunnel_closed is not None:
            self._tunnel_closed()
            return True
        if self._streaming is not None and self._streaming.stream is not None:
            self._streaming.stream.fail(ConnectionResetError("client closed before the body ended"))
        # Keep the connection half-open only while a response is still being produced.
        return self._busy or bool(self._queue)

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
        an awaitable, which becomes the task that finishes the request and dispatches the rest,
        or a bare future: the handler then goes on from that future's callback and reports back
        with :meth:`continue_request` (no task). A loop, not recursion: a read holding hundreds
        of pipelined requests stays flat.
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
                if type(pending) is asyncio.Future:
                    self._pending = pending  # the handler goes on from its callback
                else:
                    self._start(req, pending)
                return
            self._busy = False
            self._current = None
            if (
                req.keep_alive
                and req.stream is None
                and req.upgrade is None
                and not self._closed
                and not self.server.closing
                and self._tunnel_sink is None
            ):
                self.requests_served += 1  # _finished(req), for a kept-alive plain request
            elif not self._finished(req):
                return
        owed = self._continue_owed
        if owed is not None and not queue and not self._busy:
            self._continue_owed = None
            if owed is self._req and not self._closed:  # its body has not arrived yet
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if not queue and not self._busy and self._broken is not None and not self._closed:
            status, message = self._broken
            self.respond_text(status, message + "\n", close=True)

    def _start(self, req: HttpRequest, pending: Awaitable[None]) -> None:
        task = self.loop.create_task(self._run(req, pending))
        self.server.tasks.add(task)
        task.add_done_callback(self.server.tasks.discard)

    def continue_request(self, req: HttpRequest, pending: Awaitable[None] | None) -> None:
        """From a handler that returned a bare future and went on when it was done: ``pending``
        is None once ``req`` is answered, another future it now waits on, or an awaitable that
        finishes the answer (run as a task)."""
        if pending is None:
            self._pending = None
            self._busy = False
            self._current = None
            self.last_active = time.monotonic()
            if self._finished(req):
                self._dispatch()
        elif type(pending) is asyncio.Future:
            self._pending = pending
        else:
            self._pending = None
            self._start(req, pending)

    def abandon_request(self, req: HttpRequest) -> None:
        """The handler gave up on ``req`` (the server is stopping): no next request."""
        self._pending = None
        self._busy = False
        self._current = None

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
        self.last_active = time.monotonic()
        if self._finished(req):
            self._dispatch()

    def _handler_failed(self, req: HttpRequest, exc: Exception) -> None:
        """A handler raised (a bug): a 500 if nothing was sent yet, then close."""
        self._pending = None
        self.server.on_error(exc)
        if not self._closed and not self.response_started:
            req.keep_alive = False
            self.respond_text(500, "Internal error in the workbench (see its event log).\n")
        self._busy = False
        self._current = None
        self.close()

    def _finished(self, req: HttpRequest) -> bool:
        """Bookkeeping after a request was answered; True when the next one may start.

        ``last_active`` is the caller's to update: a request answered synchronously was
        answered in the read that brought it (whose time it already holds).
        """
        self.requests_served += 1
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

    def _in_flight(self) -> list[asyncio.Future]:
        """Handlers still answering: their tasks, and the futures of those without one."""
        busy: list[asyncio.Future] = list(self.tasks)
        busy.extend(c._pending for c in self.connections if c._pending is not None)
        return busy

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
        while (busy := self._in_flight()) and time.monotonic() < deadline:
            await asyncio.wait(busy, timeout=max(0.0, deadline - time.monotonic()))
        for task in self._in_flight():
            task.cancel()
        for conn in list(self.connections):
            conn.close()

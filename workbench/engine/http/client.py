"""The upstream side: a lean HTTP/1.1 client on httptools, one exchange per connection at a time.

Why hand-written: aiohttp's ``ClientSession`` machinery costs about two thirds of a bare proxy's
CPU per request. This client does only what a proxy needs: one request at a time per connection,
Content-Length / chunked / close-delimited bodies, HEAD, interim 1xx answers (relayed to the
client, never kept), ``101 Switching Protocols`` (the connection is handed over), and connection
reuse only when the exchange ended cleanly. The connections live in an
:class:`~workbench.engine.http.upstream_pool.UpstreamPool` (checkout, return, connect, sweep).

Timeouts use one coarse pool-wide checker (``TIMEOUT_TICK`` there), never a timer per read. The
pool's response timeout bounds, each on its own: a backend that stops taking a streamed request
body, the wait for the response head once the request has been sent, and every pause between two
reads of the response body (paused while the client is the slow one).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING

import httptools

from workbench.engine.http.body_stream import BodyStream
from workbench.engine.http.response_heads import (
    KNOWN_HEADS,
    MAX_KNOWN_HEAD,
    NAMES,
    KnownHead,
    field_name,
    head_size,
    learn_head,
)
from workbench.engine.http.upstream_response import UpstreamError, UpstreamResponse

if TYPE_CHECKING:
    from workbench.engine.http.server import HttpRequest, ServerConnection
    from workbench.engine.http.upstream_pool import UpstreamPool

MAX_HEAD_SIZE = 65536
"""Default limit on an upstream response's status line and headers (bytes)."""

_UPLOAD, _HEAD, _BODY = 1, 2, 3
"""What a connection's deadline is waiting for."""


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
        self._new_parser = False
        """A HEAD was answered: the parser (expecting a body) is replaced after this read."""
        self._got_bytes = False
        self._message_done = False
        self._failed = False
        self._reusable = True
        self._head_raw = 0
        self._chunk = 0
        """Size of the read being parsed."""
        self._left = 0
        """Body bytes still due after a head taken without the parser (:meth:`_known_head`)."""
        self._heads = 0
        """Heads parsed in the current read."""
        self._plain: KnownHead | None = None
        """The first head of the current read, if it may be remembered (``KNOWN_HEADS``)."""
        self._interim: ServerConnection | None = None
        self._interim_req: HttpRequest | None = None
        self._timeout = 30.0
        self._phase = 0
        self.deadline = 0.0
        """Monotonic time by which the awaited progress must happen (0: not waiting)."""
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._sink = None
        self._sink_closed = None
        self.on_pause_writing = None
        """After a 101: the relay holds the client back while the backend is slow to read."""

    # -- asyncio.Protocol -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        waiter = self._head_waiter
        if exc is not None and waiter is not None and not waiter.done() and self.pool.ssl is None:
            self._salvage()
        self.closed = True
        self._cancel_timer()
        self.pool._forget(self)
        self._wake_writer(
            UpstreamError(
                "reset", "the backend closed the connection during the upload", retryable=False
            )
        )
        if self._sink_closed is not None:
            self._sink_closed()
            return
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
        elif resp is not None and not self._message_done and not self._failed:
            if resp.close_delimited:
                self.on_message_complete()  # a close-delimited body ends with the connection
            else:
                self._body_error(
                    UpstreamError(
                        "reset",
                        f"the backend closed the connection mid-body "
                        f"({self._body_progress(resp)}): the response is truncated",
                        retryable=False,
                    )
                )

    def _salvage(self) -> None:
        """Read what the backend sent before a reset that a failed write reported first.

        An origin that answers early (413) and closes while the body still arrives resets the
        connection; asyncio then drops the answer already in the socket. It is read here, before
        the socket is closed, so that the client gets the origin's answer instead of a 502.
        """
        try:
            fd = self.transport.get_extra_info("socket").fileno()
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.setblocking(False)
                while not self._head_waiter.done():
                    data = sock.recv(65536)
                    if not data:
                        break
                    self.data_received(data)
        except (OSError, AttributeError, ValueError):
            pass

    @staticmethod
    def _body_progress(resp: UpstreamResponse) -> str:
        if resp.content_length is not None:
            return f"{resp._size} of {resp.content_length} bytes"
        return f"{resp._size} bytes, chunked body unfinished"

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        if self._sink is not None:
            self._sink(data)
            return
        if self._phase == _BODY and self.deadline:
            self.deadline = time.monotonic() + self._timeout
        learn = 0
        if self._left:
            data = self._known_body(data)
            if not data:
                return
        elif self._phase == _HEAD and self._resp is None and not self._head_request:
            end = data.find(b"\r\n\r\n", 0, MAX_KNOWN_HEAD)
            if end > 0:
                learn = end + 4
                known = KNOWN_HEADS.get(data[:learn])
                if known is not None and self._known_head(known, data, learn):
                    return
        self._chunk = len(data)
        self._heads = 0
        self._plain = None
        try:
            self.parser.feed_data(data)
            if self._new_parser:
                self._new_parser = False
                self.parser = httptools.HttpResponseParser(self)
            if learn and self._plain is not None:
                learn_head(data[:learn], self._plain)
        except httptools.HttpParserUpgrade as exc:
            resp = self._resp
            if resp is not None and resp.status == 101 and self._head_waiter is not None:
                offset = exc.args[0] if exc.args else len(data)
                resp.upgrade_data = data[offset:]
                self._reusable = False
                self.transport.pause_reading()  # resumed by the relay
            else:
                self._fail(UpstreamError("protocol", "unexpected protocol switch", retryable=False))
            return
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            message = str(cause) if isinstance(cause, _HeadRefused) else f"bad response: {exc}"
            self._fail(UpstreamError("protocol", message, retryable=False))
            return
        if 0 < self._phase <= _HEAD and not self._failed:
            # Still in the head: bound what httptools accumulates (one header can be huge).
            self._head_raw += self._chunk
            if self._head_raw > self.pool.max_header_size:
                self._fail(self._too_large())

    def _known_head(self, known: KnownHead, data: bytes, size: int) -> bool:
        """Take a response whose head the parser has read before, byte for byte (see
        ``KNOWN_HEADS``); False when it cannot be taken this way (the parser then reads it).

        Its body is framed by Content-Length, and counted off here too. The parser sees
        nothing of this response and stays at a message boundary.
        """
        status, reason, headers, keep_alive, length = known
        rest = len(data) - size
        if rest > length or size > self.pool.max_header_size:
            return False  # more than this response: the parser judges the extra bytes
        self.on_message_begin()
        resp = self._resp
        resp.status = status
        resp.reason = reason
        resp.headers = list(headers)
        resp.keep_alive = keep_alive
        resp.content_length = length
        self._phase = _BODY
        if rest < length:
            self._left = length - rest
            self._arm(_BODY)  # each pause between two body reads is bounded from now on
        self._wake_writer(None)
        if rest:
            self.on_body(data[size:])
        if rest == length:
            self.on_message_complete()
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(resp)
        return True

    def _known_body(self, data: bytes) -> bytes:
        """Count off the body of a response taken by :meth:`_known_head`; returns the bytes
        past its end, for the parser (as the start of another message, or an error)."""
        left = self._left
        if len(data) < left:
            self._left = left - len(data)
            self.on_body(data)
            return b""
        self._left = 0
        self.on_body(data[:left] if len(data) > left else data)
        keep_alive = self._resp.keep_alive
        self.on_message_complete()
        if len(data) > left and not keep_alive:
            # What the parser says about bytes after a Connection: close response.
            self._fail(
                UpstreamError(
                    "protocol", "bad response: Data after `Connection: close`", retryable=False
                )
            )
            return b""
        return data[left:]

    def _too_large(self) -> UpstreamError:
        return UpstreamError(
            "protocol",
            f"the backend's response head is larger than {self.pool.max_header_size} bytes",
            retryable=False,
        )

    def pause_writing(self) -> None:
        self._write_paused = True
        if self.on_pause_writing is not None:
            self.on_pause_writing(True)

    def resume_writing(self) -> None:
        self._write_paused = False
        if self.on_pause_writing is not None:
            self.on_pause_writing(False)
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
        resp = self._resp
        if resp.status:
            # A trailer field (the status is set once the final head is complete): never
            # merged into the headers relayed or stored (RFC 9110 §6.5.1), so dropped.
            return
        text = NAMES.get(name)
        if text is None:
            text = field_name(name)
        resp.headers.append((text, value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        resp = self._resp
        self._heads += 1
        limit = self.pool.max_header_size
        if self._head_raw + self._chunk > limit and head_size(resp.headers) > limit:
            # Counted only when the bytes read could hold a head that large: a head that ends
            # within one read is checked here, one spread over reads in data_received.
            raise _HeadRefused(self._too_large())
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            # Interim response: relay it to the client (if any), keep waiting for the final one.
            client = self._interim
            if client is not None:
                client.write_interim(self._interim_req, status, resp.reason, resp.headers)
            resp.headers = []
            resp.reason = ""
            self._head_raw = 0
            return
        resp.status = status
        resp.keep_alive = self.parser.should_keep_alive()
        coding = None
        framed = False  # any Transfer-Encoding field at all
        for name, value in resp.headers:
            size = len(name)  # compared first: most fields are neither of these two
            if size == 14 and name.lower() == "content-length":
                try:
                    resp.content_length = int(value)
                except ValueError:
                    resp.content_length = None
            elif size == 17 and name.lower() == "transfer-encoding":
                framed = True
                tokens = value.strip().lower()
                if tokens == "chunked":
                    resp.chunked = True
                elif tokens != "identity":
                    resp.chunked = resp.chunked or "chunked" in tokens
                    coding = value.strip()
        if not (
            framed
            or self._heads > 1
            or self._head_request
            or resp.content_length is None
            or status in (204, 304, 101)
        ):
            # The read's first head, final, with a Content-Length body: may be remembered.
            self._plain = (
                status,
                resp.reason,
                tuple(resp.headers),
                resp.keep_alive,
                resp.content_length,
            )
        if coding is not None and not (self._head_request or status in (204, 304, 101)):
            # A coding this proxy does not decode (gzip, ...): relayed under our own framing,
            # the client would get coded bytes with nothing saying so.
            raise _HeadRefused(
                UpstreamError(
                    "protocol",
                    f"the backend used Transfer-Encoding {coding!r}; only chunked is relayed",
                    retryable=False,
                )
            )
        if self._head_request or status in (204, 304, 101):
            resp.complete = True
            self._message_done = True
            self._cancel_timer()
            self._phase = 0
            if self._head_request:
                # llhttp does not know this answered a HEAD and would wait for the body its
                # Content-Length announces: the next answer gets a fresh parser instead.
                self._new_parser = True
                if not resp.keep_alive:
                    self._reusable = False
        else:
            resp.close_delimited = resp.content_length is None and not resp.chunked
            self._arm(_BODY)  # each pause between two body reads is bounded from now on
        # An answer that arrives while a request body is still being sent ends the upload.
        self._wake_writer(None)
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(resp)

    def on_body(self, body: bytes) -> None:
        resp = self._resp
        if resp is None:
            return
        if self._head_request:
            self._reusable = False  # a body after a HEAD answer: the framing is not to be trusted
            return
        resp._size += len(body)
        if resp._stream is not None:
            resp._stream.feed(body)
        else:
            resp._chunks.append(body)

    def on_message_complete(self) -> None:
        resp = self._resp
        if resp is None or resp.status == 0:
            return  # end of an interim 1xx
        if self._message_done and (self._head_request or resp.status == 101):
            return
        self._message_done = True
        self._cancel_timer()
        resp.complete = True
        if not resp.keep_alive:
            self._reusable = False
        if resp._stream is not None:
            resp._stream.finish()

    # -- request ----------------------------------------------------------------------------
    def _fail(self, err: UpstreamError) -> None:
        self._reusable = False
        self._failed = True
        self._wake_writer(err)
        waiter = self._head_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(err)
        else:
            self._body_error(err)
        self.close()

    def _body_error(self, err: UpstreamError) -> None:
        resp = self._resp
        if resp is None or self._message_done:
            return
        self._failed = True
        if resp._stream is not None:
            resp._stream.fail(err)
        else:
            resp._conn_error = err

    def _arm(self, phase: int) -> None:
        self._phase = phase
        self.deadline = time.monotonic() + self._timeout
        pool = self.pool
        pool._waiting.add(self)
        if pool._watchdog is None:
            pool._watch()

    def _cancel_timer(self) -> None:
        if self.deadline:
            self.deadline = 0.0
            self.pool._waiting.discard(self)

    def _on_timeout(self) -> None:
        self.deadline = 0.0
        t = self._timeout
        if self._phase == _UPLOAD:
            why = f"the backend stopped reading the request body for more than {t:g} s"
        elif self._phase == _BODY:
            why = f"the backend stalled mid-body for more than {t:g} s"
        else:
            why = f"the backend did not respond within {t:g} s"
        self._fail(UpstreamError("timeout", why, retryable=False))

    def send(
        self,
        head: bytes,
        body: bytes | BodyStream | None,
        *,
        is_head: bool,
        timeout: float,
        client: ServerConnection | None = None,
        request: HttpRequest | None = None,
    ) -> Awaitable[UpstreamResponse]:
        """Send one request (head already serialised); await the result for the response head.

        A buffered body goes out in the same write as the head and the future itself is
        returned (no coroutine frame on the hot path); a streamed body returns a coroutine.
        Interim 1xx answers go to ``client`` as they arrive, while ``request`` is the one it
        is answering.
        """
        self._resp = None
        self._left = 0
        self._head_request = is_head
        self._got_bytes = False
        self._message_done = False
        self._failed = False
        self._reusable = True
        self._head_raw = 0
        self._interim = client
        self._interim_req = request
        self._timeout = timeout
        self.uses += 1
        waiter: asyncio.Future[UpstreamResponse] = self.pool.loop.create_future()
        self._head_waiter = waiter
        if isinstance(body, BodyStream):
            self._phase = _UPLOAD
            return self._send_stream(head, body, waiter)
        # The response timeout starts once the request is sent; one coarse pool-wide timer.
        self._arm(_HEAD)
        self.transport.write(head + body if body else head)
        return waiter

    async def _send_stream(
        self, head: bytes, body: BodyStream, waiter: asyncio.Future[UpstreamResponse]
    ) -> UpstreamResponse:
        """Stream a request body (as the client framed it), then wait for the answer.

        An answer that arrives first (an early 413, say) ends the upload: the rest of the body is
        not sent and the connection is not reused.
        """
        transport = self.transport
        chunked = body.chunked
        transport.write(head)
        try:
            while True:
                chunk = await body.read(waiter)
                if chunk is None:
                    self._reusable = False  # answered mid-upload: the body was not all sent
                    break
                if not chunk:
                    if chunked:
                        transport.write(b"0\r\n\r\n")
                    if not waiter.done():
                        self._arm(_HEAD)
                    break
                transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
                if self._write_paused and not waiter.done():
                    # A slow backend: stop reading the client until the backend takes more.
                    self._arm(_UPLOAD)
                    self._drain_waiter = self.pool.loop.create_future()
                    try:
                        await self._drain_waiter
                    finally:
                        self._drain_waiter = None
                        if self._phase == _UPLOAD:
                            self._cancel_timer()
        except BaseException:
            self._reusable = False
            if waiter.done():
                if not waiter.cancelled():
                    waiter.exception()  # the failure is reported once, by what we raise
            else:
                waiter.cancel()  # nobody awaits it now: a later close must not leave it unread
            raise
        return await waiter

    def _start_streaming(self, resp: UpstreamResponse) -> None:
        resp._stream = BodyStream(self._pause, self._resume)
        if resp.complete:
            resp._stream.finish()
        elif resp._conn_error is not None:
            resp._stream.fail(resp._conn_error)

    def _pause(self) -> None:
        # The client reads slower than the backend sends: not the backend's stall.
        if not self.closed:
            self.transport.pause_reading()
            if self._phase == _BODY:
                self._cancel_timer()

    def _resume(self) -> None:
        if not self.closed:
            self.transport.resume_reading()
            if self._phase == _BODY and not self._message_done:
                self._arm(_BODY)

    # -- after a 101 ------------------------------------------------------------------------
    def start_tunnel(self, sink, on_close) -> None:
        """Stop parsing HTTP: every byte from the backend now goes to ``sink``."""
        self._cancel_timer()
        self._sink = sink
        self._sink_closed = on_close
        if self.closed:
            on_close()  # the backend hung up right after its 101
        else:
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


class _HeadRefused(Exception):
    """A response head this client refuses (too large, an unknown transfer coding); its
    argument is the :class:`UpstreamError` to report."""

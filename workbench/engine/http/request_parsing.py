"""Request heads and bodies off the wire: the httptools (llhttp) callbacks, limits and checks.

:class:`RequestParsing` is the parsing half of :class:`~.server.ServerConnection`: it builds one
:class:`HttpRequest` per message, enforces ``max_header_size`` and ``max_body_size`` as bytes
arrive, checks Host, version and Transfer-Encoding (RFC 9112), buffers small bodies whole and
turns larger ones into a :class:`~.body_stream.BodyStream`, and queues each request for the
connection to dispatch. A check that fails raises :class:`RequestRejected` (llhttp wraps it; the
connection answers it and closes).
"""

from __future__ import annotations

import re
import time

import httptools

from workbench.engine.http.body_stream import BodyStream

STREAM_THRESHOLD = 256 * 1024
"""Request bodies up to this size are buffered whole (faster); larger ones are streamed."""
MAX_PIPELINED = 16
"""Parsed requests waiting behind the current one before the connection stops reading."""

_HOST_RE = re.compile(
    r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::[0-9]*)?", re.ASCII
).fullmatch
"""A valid ``Host`` value: uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2)."""

_EXTENSION_METHOD = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}) ").match
"""A request line starting with a method llhttp does not know: any token (RFC 9110 §9.1)."""
_PLACEHOLDER_METHOD = b"OPTIONS"
"""What llhttp parses such a request as (a method with no special framing)."""


class HttpRequest:
    """One parsed client request."""

    __slots__ = (
        "method",
        "target",
        "version",
        "headers",
        "host",
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
        self.host = ""
        """The ``Host`` field's value as received ("" without one; the parser allows one)."""
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


MAX_SHARED_FIELDS = 32
"""Decoded header fields a connection keeps for reuse by its next requests..."""
MAX_SHARED_VALUE = 256
"""...when their value is at most this long (a few KiB per connection at most)."""
_VERSIONS = {"1.1": "1.1", "1.0": "1.0"}
"""The HTTP versions served."""
_METHODS = {
    m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT")
}


class RequestRejected(Exception):
    """A request this server will not take: answered with ``status`` and ``message``, then a
    close (the byte stream cannot be trusted after it)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class RequestParsing:
    """The httptools callbacks of a server connection (mixed into it).

    Relies on the connection's ``parser``, ``limits``, ``transport``, ``last_active`` (the
    time of the current read), ``_fields`` (a dict for :meth:`on_header`), ``_host_ok`` (the
    last valid Host value), ``_upgrade_offered`` (False between requests), its queue
    (``_enqueue``, ``_busy``, ``_queue``, ``_parsing``) and reading controls (``_pause_reading``,
    ``_resume_reading``).
    """

    # -- httptools callbacks ----------------------------------------------------------------
    # No on_message_begin: a request begins with its target, so the first piece of the target
    # makes the request (one callback less per request).
    def on_url(self, url: bytes) -> None:
        req = self._req
        if req is None:
            req = self._req = HttpRequest()
            req.start = time.time()
            req.start_mono = self.last_active  # the time of the read that brought its target
            self._url = url
        else:
            self._url += url
        req._size += len(url)
        if req._size > self.limits.max_header_size:
            raise RequestRejected(414, "The request target is longer than this proxy accepts.")

    def on_header(self, name: bytes, value: bytes) -> None:
        req = self._req
        if req.method:
            # A trailer field (after a chunked body; its method is set once the head is
            # complete): never merged into the header section the rules, the Host check and
            # the upstream saw (RFC 9110 §6.5.1), so dropped.
            return
        req._size += len(name) + len(value) + 4
        if req._size > self.limits.max_header_size:
            raise RequestRejected(431, "The request headers are larger than this proxy accepts.")
        # A client repeats most of its fields on every request of a connection: decode each
        # once and share the (immutable) pair between the requests' header lists.
        seen = self._fields
        field = seen.get((name, value))
        if field is None:
            field = (name.decode("latin-1"), value.decode("latin-1"))
            if len(value) <= MAX_SHARED_VALUE:
                if len(seen) >= MAX_SHARED_FIELDS:
                    seen.clear()
                seen[(name, value)] = field
        req.headers.append(field)

    def on_headers_complete(self) -> None:
        req = self._req
        parser = self.parser
        method = parser.get_method()
        req.method = _METHODS.get(method) or method.decode("ascii", "replace")
        target = req.target = self._url.decode("latin-1")
        keep_alive = req.keep_alive = parser.should_keep_alive()
        self.reading_head_since = None
        hosts = 0
        host = ""
        codings: str | None = None
        connection = False
        bad_length: RequestRejected | None = None
        for name, value in req.headers:
            size = len(name)  # only six names matter here: compare lengths before cases
            if size == 4:
                if name.lower() == "host":
                    hosts += 1
                    host = value
            elif size == 14:
                if name.lower() == "content-length" and bad_length is None:
                    try:
                        req.content_length = int(value)
                    except ValueError:
                        bad_length = RequestRejected(400, "Content-Length is not a number.")
                        continue
                    if req.content_length > self.limits.max_body_size:
                        bad_length = RequestRejected(
                            413, "The request body is larger than this proxy accepts."
                        )
            elif size == 17:
                if name.lower() == "transfer-encoding":
                    codings = value if codings is None else f"{codings},{value}"
            elif size == 10:
                if name.lower() == "connection":
                    connection = True
            elif size == 16:
                if name.lower() == "proxy-connection":
                    connection = True  # llhttp takes keep-alive from it too (any version)
            elif size == 7:
                if name.lower() == "upgrade":
                    self._upgrade_offered = True
            elif size == 6:
                if name.lower() == "expect" and value.lower() == "100-continue":
                    req.expect_continue = True
        if keep_alive and not connection:
            # llhttp keeps an HTTP/1.1 connection alive unless told otherwise, and every other
            # version it accepts (0.9, 1.0, 2.0) only when told so, by a Connection or a
            # Proxy-Connection field: neither field and kept alive is HTTP/1.1, without asking
            # the parser to format its version string.
            version = "1.1"
        else:
            given = parser.get_http_version()
            version = _VERSIONS.get(given)  # one shared string per version (kept by records)
            if version is None:
                raise RequestRejected(505, f"HTTP/{given} is not supported here; use HTTP/1.1.")
        req.version = version
        if "#" in target:
            # No request-target form has a fragment (RFC 9112 §3.2): an invalid request line,
            # never to be "corrected" and passed on (§3: it may be crafted to slip past filters).
            raise RequestRejected(400, "The request target has a fragment ('#'): not allowed.")
        if bad_length is not None:
            raise bad_length
        if codings is not None:
            if version == "1.0":
                # RFC 9112 §6.1: HTTP/1.0 has no Transfer-Encoding; its framing is faulty.
                raise RequestRejected(400, "Transfer-Encoding is not allowed in HTTP/1.0.")
            # RFC 9112 §6.1: with any coding but a final chunked the body's end is unknowable;
            # this proxy decodes no other coding, so chunked must be the only one.
            if [c for c in (t.strip().lower() for t in codings.split(",")) if c] != ["chunked"]:
                raise RequestRejected(
                    400, f"Transfer-Encoding {codings.strip()!r} is not supported: only chunked."
                )
            req.chunked = True
        if hosts != 1 and (hosts or version == "1.1"):
            # RFC 9112 §3.2: exactly one Host in HTTP/1.1 (at most one in 1.0).
            raise RequestRejected(400, "A request needs exactly one Host header.")
        if hosts:
            if host is not self._host_ok:  # the same (shared) value as last time: valid
                if not _HOST_RE(host):
                    raise RequestRejected(400, "The Host header is not a valid host[:port].")
                self._host_ok = host
            req.host = host
        if req.expect_continue and version == "1.1":
            if not self._busy and not self._queue:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            else:
                self._continue_owed = req  # said once the answers before it are complete
        req._size = 0  # from here on: body bytes received
        req._raw = 0  # from here on: bytes of reads that carried no body (trailers)

    def on_body(self, body: bytes) -> None:
        req = self._req
        req._size += len(body)
        stream = req.stream
        if stream is not None:
            stream.feed(body)
            if req._size > self.limits.max_body_size:  # a chunked body has no length up front
                raise RequestRejected(413, "The request body is larger than this proxy accepts.")
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
            raise RequestRejected(413, "The request body is larger than this proxy accepts.")
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
        if (req.method == "CONNECT" or self._upgrade_offered) and self.parser.should_upgrade():
            # CONNECT (or an Upgrade request): feed_data raises HttpParserUpgrade next. (llhttp
            # upgrades nothing else: the parser is asked only when one of those two is there.)
            self._upgrade_offered = False
            self._upgrade = req
            return
        self._upgrade_offered = False
        if req.stream is not None:
            req.stream.finish()
            self._streaming = None
            if self._linger_until:
                self.close()  # the rest of an already answered request's body has arrived
            return
        queue = self._queue
        if len(queue) < MAX_PIPELINED and self._parsing:
            queue.append(req)  # _enqueue(req) when it neither pauses reading nor dispatches
        else:
            self._enqueue(req)

    def _extension_method(self, data: bytes) -> bool:
        """Parse a request whose method llhttp does not know; False when ``data`` can't be one.

        The request is parsed as ``OPTIONS`` by a fresh parser whose callbacks give it its own
        method back; requests after it on the connection are parsed as usual.
        """
        m = _EXTENSION_METHOD(data)
        if m is None:
            return False
        self.parser = httptools.HttpRequestParser(_ExtensionMethod(self, m.group(1).decode()))
        self._req = None
        self._url = b""
        self.data_received(_PLACEHOLDER_METHOD + data[m.end(1) :])
        return True

    def _upgrade_request(self, req: HttpRequest, rest: bytes) -> None:
        """A request with ``Upgrade``: hand it over paused, or re-parse it as plain HTTP/1.1.

        ``h2c`` is declined the way nginx declines it: the request is answered over HTTP/1.1.
        So are upgrade requests with a body (llhttp would hand the body over as tunnel bytes)
        and HTTP/1.0 ones.
        """
        tokens = ""
        for name, value in req.headers:
            if name.lower() == "upgrade":
                tokens = value.strip()
                break
        protocols = {t.strip().lower() for t in tokens.split(",") if t.strip()}
        has_body = req.chunked or bool(req.content_length)
        # RFC 9110 §7.8: Upgrade in an HTTP/1.0 request is ignored (replayed without it).
        if protocols and not protocols <= {"h2c"} and not has_body and req.version == "1.1":
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


class _ExtensionMethod:
    """Parser callbacks for one request with an extension method: the connection's own, with
    the method name put back once the head is parsed."""

    __slots__ = (
        "conn",
        "method",
        "on_url",
        "on_header",
        "on_body",
        "on_message_complete",
    )

    def __init__(self, conn: RequestParsing, method: str) -> None:
        self.conn = conn
        self.method: str | None = method
        self.on_url = conn.on_url
        self.on_header = conn.on_header
        self.on_body = conn.on_body
        self.on_message_complete = conn.on_message_complete

    def on_headers_complete(self) -> None:
        conn = self.conn
        conn.on_headers_complete()
        if self.method is not None and conn._req is not None:
            conn._req.method = self.method
            self.method = None

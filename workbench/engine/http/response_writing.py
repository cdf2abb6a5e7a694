"""Responses to the client: status line, header block, framing and the ``Connection`` line.

:class:`ResponseWriting` is the writing half of :class:`~.server.ServerConnection`. A complete
response goes out in one ``transport.write`` (the head and a small body together); a stored
response's head can come pre-serialized, so that only the fields that change are formatted.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.engine.http.request_parsing import HttpRequest

REASONS = {s.value: s.phrase for s in HTTPStatus}
REASONS[508] = "Loop Detected"
_STATUS_LINES = {code: f"HTTP/1.1 {code} {phrase}\r\n".encode() for code, phrase in REASONS.items()}
_FIELDS = "\r\n".join
_FIELD = ": ".join
SEPARATE_BODY = 64 * 1024
"""Bodies larger than this are written after the head rather than copied onto it."""


def reason_phrase(status: int) -> str:
    """Standard reason phrase for a status code (``"Unknown"`` for unregistered codes)."""
    return REASONS.get(status, "Unknown")


def response_head(
    status: int,
    headers: list[tuple[str, str]],
    length: int | None,
    *,
    wire: bytes = b"",
    skip: int = 0,
    line: str = "",
) -> bytes:
    """Status line and header block of a response: ``Content-Length: length`` unless None,
    then the ``Connection`` ``line``. ``wire`` holds the first ``skip`` fields serialized."""
    fields = headers[skip:] if skip else headers
    lines = [f"{name}: {value}\r\n" for name, value in fields]
    if length is not None:
        lines.append(f"Content-Length: {length}\r\n")
    lines.append(line)
    lines.append("\r\n")
    start = _STATUS_LINES.get(status) or (
        f"HTTP/1.1 {status} {reason_phrase(status)}\r\n".encode("latin-1")
    )
    return start + wire + "".join(lines).encode("latin-1")


class ResponseWriting:
    """Writing responses on a server connection (mixed into it).

    Relies on the connection's ``transport``, ``_current`` (the request being answered),
    ``_closed``, ``_busy``, ``_write_paused``, ``_drain_waiter``, ``loop`` and ``close()``.
    """

    response_started = False

    def connection_line(self, status: int) -> str:
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
        line = self.connection_line(status)
        if headers:  # one C-level join instead of a formatted string per field
            text = f"{_FIELDS(map(_FIELD, headers))}\r\n{line}\r\n"
        else:
            text = line + "\r\n"
        start = _STATUS_LINES.get(status) if not reason or reason == REASONS.get(status) else None
        if start is None:
            start = f"HTTP/1.1 {status} {reason or reason_phrase(status)}\r\n".encode("latin-1")
        data = start + text.encode("latin-1")
        if not self._closed:
            if body and len(body) <= SEPARATE_BODY:
                self.transport.write(data + body)
            else:
                self.transport.write(data)
                if body:
                    self.transport.write(body)

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
        if status >= 200 and status != 204 and (status != 304 or length is not None):
            announced: int | None = len(body) if length is None else length
        else:
            announced = None
        data = response_head(
            status, headers, announced, wire=wire, skip=skip, line=self.connection_line(status)
        )
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

    def respond_whole(self, data: bytes) -> None:
        """Write a complete response already serialized (head and body, see
        :func:`response_head`); the connection stays open."""
        self.response_started = True
        if not self._closed:
            self.transport.write(data)

    def respond_text(
        self, status: int, text: str, *, close: bool = False, extra: list[tuple[str, str]] = ()
    ) -> None:
        """A short plain-text answer produced by the proxy itself."""
        headers = [("Content-Type", "text/plain; charset=utf-8"), ("Server", "workbench")]
        headers.extend(extra)
        self.respond(status, headers, text.encode(), close=close)

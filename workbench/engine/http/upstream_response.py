"""What an upstream exchange yields: the response (head, then body whole or streamed) or an error.

Filled in by :class:`~workbench.engine.http.client.UpstreamConnection`, which also re-exports both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.engine.http.body_stream import BodyStream
    from workbench.engine.http.client import UpstreamConnection


class UpstreamError(Exception):
    """The upstream exchange failed.

    ``kind`` is ``connect`` (never reached the server), ``tls`` (the server's certificate failed
    verification: not retried), ``timeout`` (no response in time),
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
        "close_delimited",
        "complete",
        "upgrade_data",
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
        """The origin's Content-Length (kept for HEAD and 304, where no body follows)."""
        self.chunked = False
        self.close_delimited = False
        """No Content-Length and not chunked: the body ends when the backend closes."""
        self.complete = False
        """True once the whole body has arrived."""
        self.upgrade_data = b""
        """After a 101: bytes the backend sent right after its head (the new protocol's)."""
        self._chunks: list[bytes] = []
        self._size = 0
        self._stream: BodyStream | None = None
        self._conn = conn
        self._conn_error: UpstreamError | None = None

    @property
    def connection(self) -> UpstreamConnection:
        """The upstream connection this response arrived on."""
        return self._conn

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
        """Next piece of the body, ``b""`` at the end (streaming mode).

        Raises :class:`UpstreamError` when the body cannot be completed (backend closed or
        stalled mid-body): what was relayed so far is a truncated body.
        """
        if self._chunks:
            data = b"".join(self._chunks)
            self._chunks = []
            return data
        if self.complete and self._stream is None:
            return b""
        if self._stream is None:
            self._conn._start_streaming(self)
        return await self._stream.read()

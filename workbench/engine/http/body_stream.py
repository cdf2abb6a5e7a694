"""A body that arrives in pieces, read with back-pressure on whoever sends it.

The server hands request bodies past its buffering threshold to the handler as a
:class:`BodyStream`; the upstream client reads response bodies the same way.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

READ_PAUSE_BYTES = 512 * 1024
"""Buffered bytes past which the sender is paused (resumed below half of it)."""


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

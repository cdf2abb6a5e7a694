"""Keep-alive connections to one backend or origin: checkout and return, connect, deadlines.

The hot path takes an idle connection without awaiting (:meth:`UpstreamPool.idle_connection`)
and gives it back with :meth:`UpstreamPool.release`, which keeps it only when its exchange ended
cleanly. Response timeouts of every connection of a pool are checked by one coarse timer
(:data:`TIMEOUT_TICK`) while any of them waits, never by a timer per request or per read.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque

from workbench.engine.http.client import MAX_HEAD_SIZE, UpstreamConnection, UpstreamError

TIMEOUT_TICK = 0.05
"""Resolution of response timeouts (seconds)."""


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
        max_header_size: int = MAX_HEAD_SIZE,
    ) -> None:
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.max_header_size = max_header_size
        """Largest response head accepted from this backend (bigger: 502)."""
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

    def _watch(self) -> None:
        """Start the deadline checker (a connection was just added to ``_waiting``)."""
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
        except ssl.SSLCertVerificationError as exc:
            # Not a connect failure to try elsewhere: every attempt would be refused the same way.
            self._wake()
            raise UpstreamError(
                "tls",
                f"the TLS certificate of {self.host}:{self.port} is not trusted: certificate "
                f"verify failed ({exc.verify_message or exc.reason or exc})",
                retryable=False,
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
            conn._interim = None
            conn._interim_req = None
            self._idle.append(conn)
        else:
            conn.close()
        if self._waiters:
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

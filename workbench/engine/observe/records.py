"""Per-request records and the bounded ring buffer the UI and admin API read from.

The hot path creates one :class:`RequestRecord` per request, fills it in as the pipeline runs, and
appends it to a :class:`RecordLog` when the request ends: O(1), no callbacks into anything else.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from sys import intern
from typing import Any

Headers = list[tuple[str, str]]
"""HTTP header fields in wire order, names in the case they were received."""

TraceStep = tuple[str, str, str]
"""One pipeline decision: (stage, verdict, detail), e.g. ("cache", "MISS", "no entry")."""


@dataclass(slots=True, eq=False)
class RequestRecord:
    """Everything the workbench knows about one request, filled in as the pipeline runs."""

    id: int
    """Monotonic id, unique within one engine run; the cursor for ``records_since``."""
    start: float
    """Wall-clock start time (``time.time()``)."""
    client: str
    """Client IP address as the proxy saw it."""
    proxy: str
    """Which proxy handled it: ``"reverse"`` or ``"forward"``."""
    method: str
    url: str
    """Full URL (``http://host/path?query``); for CONNECT, ``host:port``."""
    host: str
    """Target host, lower-case, without the port."""
    path: str
    """Path and query as requested by the client."""
    request_headers: Headers = field(default_factory=list)
    """Headers as the client sent them."""
    upstream_headers: Headers | None = None
    """Request headers as the upstream received them (after privacy, forwarding and rules)."""
    status: int | None = None
    """Status sent to the client; ``None`` while no response has started."""
    response_headers: Headers | None = None
    """Response headers as the client received them."""
    backend_response_headers: Headers | None = None
    """Response headers as the upstream sent them."""
    content_type: str | None = None
    bytes_in: int = 0
    """Request body bytes received from the client (tunnels: client → server bytes)."""
    bytes_out: int = 0
    """Response body bytes sent to the client (tunnels: server → client bytes)."""
    t_queue: float = 0.0
    """Seconds spent before an upstream connection was obtained (rules, cache, balancer, pool)."""
    t_connect: float = 0.0
    """Seconds spent opening a new upstream connection (0 when a pooled one was reused)."""
    t_first_byte: float = 0.0
    """Seconds from start until the response headers arrived from upstream (or cache)."""
    t_total: float = 0.0
    """Seconds from start until the last response byte was written."""
    pool: str | None = None
    backend: str | None = None
    cache: str | None = None
    """Cache outcome: hit, miss, stale, revalidated, bypass, uncacheable (None: cache off)."""
    rule: str | None = None
    """Name of the rule that decided the request (block/allow/redirect), if any."""
    tags: list[str] | None = None
    """Labels attached by ``tag`` rules."""
    error: str | None = None
    """Short error description when the request failed."""
    replay_of: int | None = None
    """Id of the record this request replays (``control.replay``)."""
    sni: str | None = None
    """For CONNECT tunnels: the TLS server name the client asked for, when visible."""
    body_preview: bytes | None = None
    """First bytes of the response body (size-capped) for the detail view."""
    trace: list[TraceStep] = field(default_factory=list)
    seq: int = 0
    """Position in the record log, assigned when the request finishes; the read cursor."""

    def step(self, stage: str, verdict: str, detail: str = "") -> None:
        """Append one decision to the trace.

        Most details repeat from request to request ("route site: prefix / → pool web"), so
        they are interned: ten thousand records then share one copy of each.
        """
        self.trace.append((stage, verdict, intern(detail)))

    def strip_details(self) -> None:
        """Forget headers and body preview (kept only for the newest records)."""
        self.request_headers = []
        self.upstream_headers = None
        self.response_headers = None
        self.backend_response_headers = None
        self.body_preview = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for the admin API and JSON logs."""
        return {
            "id": self.id,
            "seq": self.seq,
            "start": self.start,
            "client": self.client,
            "proxy": self.proxy,
            "method": self.method,
            "url": self.url,
            "host": self.host,
            "path": self.path,
            "status": self.status,
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "timings": {
                "queue": self.t_queue,
                "connect": self.t_connect,
                "first_byte": self.t_first_byte,
                "total": self.t_total,
            },
            "pool": self.pool,
            "backend": self.backend,
            "cache": self.cache,
            "rule": self.rule,
            "tags": list(self.tags or ()),
            "error": self.error,
            "sni": self.sni,
            "replay_of": self.replay_of,
            "content_type": self.content_type,
            "request_headers": [list(h) for h in self.request_headers],
            "upstream_headers": [list(h) for h in self.upstream_headers or ()],
            "response_headers": [list(h) for h in self.response_headers or ()],
            "backend_response_headers": [list(h) for h in self.backend_response_headers or ()],
            "trace": [list(t) for t in self.trace],
        }


class RecordLog:
    """Bounded ring buffer of finished records with a count of the ones that fell off."""

    def __init__(self, capacity: int = 10_000, detail_capacity: int = 1_000) -> None:
        self.capacity = capacity
        self.detail_capacity = min(detail_capacity, capacity)
        """How many of the newest records keep their headers and body preview."""
        self._ring: deque[RequestRecord] = deque(maxlen=capacity)
        self.total = 0
        """Records ever appended."""

    @property
    def dropped(self) -> int:
        """Records evicted from the ring to keep memory bounded."""
        return self.total - len(self._ring)

    def __len__(self) -> int:
        return len(self._ring)

    def append(self, record: RequestRecord) -> None:
        """Add a finished record; O(1), evicts the oldest when full."""
        self.total += 1
        record.seq = self.total
        ring = self._ring
        ring.append(record)
        # Older records keep their summary and trace but drop the heavy parts, so a full ring
        # stays within a few MiB whatever the headers and bodies looked like.
        if len(ring) > self.detail_capacity:
            ring[-self.detail_capacity - 1].strip_details()

    def records_since(
        self, cursor: int = 0, limit: int = 1000
    ) -> tuple[list[RequestRecord], int, int]:
        """Records appended after ``cursor`` (a ``seq``), oldest first, at most ``limit`` newest.

        Returns ``(records, new_cursor, skipped)``; ``skipped`` counts records after the cursor
        that were not returned because they were evicted from the ring or beyond ``limit``.
        """
        ring = self._ring
        newest = self.total
        if newest <= cursor or not ring:
            return [], max(cursor, newest) if ring else cursor, 0
        available = min(newest - cursor, len(ring))
        take = min(available, limit)
        out = [ring[i] for i in range(len(ring) - take, len(ring))]
        return out, newest, (newest - cursor) - take

    def find(self, record_id: int) -> RequestRecord | None:
        """The record with this id if it is still in the ring."""
        for rec in reversed(self._ring):
            if rec.id == record_id:
                return rec
        return None

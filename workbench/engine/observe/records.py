"""Per-request records and the bounded ring buffer the UI and admin API read from.

The hot path creates one :class:`RequestRecord` per request, fills it in as the pipeline runs, and
appends it to a :class:`RecordLog` when the request ends: O(1), no callbacks into anything else.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, fields
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
    upgrade: str | None = None
    """The protocol the connection switched to after a 101 (``websocket``), if it did."""
    messages_in: int = 0
    """WebSocket messages from the client to the server."""
    messages_out: int = 0
    """WebSocket messages from the server to the client."""
    message_previews: list[tuple[str, str]] | None = None
    """The first few WebSocket messages: (``→`` or ``←``, start of the message)."""
    trace: list[TraceStep] = field(default_factory=list)
    seq: int = 0
    """Position in the record log, assigned when the request finishes; the read cursor."""
    version: str = "1.1"
    """HTTP version of the client's request line."""
    target: str | None = None
    """The request target exactly as received (origin-form ``/p?q`` or absolute-form URL)."""
    upstream_target: str | None = None
    """The request target as sent upstream (``None``: nothing went upstream)."""
    body_cap: int = 0
    """Bytes of each body kept for this record; 0 keeps none (capture off)."""
    request_body: bytes | list[bytes] | None = None
    """The request body as received, up to ``body_cap`` (chunks as they arrived)."""
    request_body_size: int = 0
    """Request body bytes seen by the capture (the whole body, also past the cap)."""
    response_body: bytes | list[bytes] | None = None
    """The response body as the client received it, up to ``body_cap``."""
    response_body_size: int = 0
    """Response body bytes the client received (the whole body, also past the cap)."""
    bodies_dropped: str | None = None
    """Why the kept bodies were let go (``None`` while they are kept)."""
    marked: bool = False
    """Marked by the user: kept with its details past the ring's eviction until unmarked."""

    def step(self, stage: str, verdict: str, detail: str = "") -> None:
        """Append one decision to the trace.

        Most details repeat from request to request ("route site: prefix / → pool web"), so
        they are interned: ten thousand records then share one copy of each.
        """
        self.trace.append((stage, verdict, intern(detail)))

    def keep_request(self, data: bytes) -> None:
        """Keep a piece of the request body: a reference to it, copied only when cut at the cap."""
        seen = self.request_body_size
        self.request_body_size = seen + len(data)
        room = self.body_cap - seen
        if room <= 0 or not data:
            return
        piece = data if len(data) <= room else data[:room]
        kept = self.request_body
        if kept is None:
            self.request_body = piece
        elif isinstance(kept, list):
            kept.append(piece)
        else:
            self.request_body = [kept, piece]

    def keep_response(self, data: bytes) -> None:
        """Keep a piece of the body the client received (same rules as :meth:`keep_request`)."""
        seen = self.response_body_size
        self.response_body_size = seen + len(data)
        room = self.body_cap - seen
        if room <= 0 or not data:
            return
        piece = data if len(data) <= room else data[:room]
        kept = self.response_body
        if kept is None:
            self.response_body = piece
        elif isinstance(kept, list):
            kept.append(piece)
        else:
            self.response_body = [kept, piece]

    @property
    def body_weight(self) -> int:
        """Bytes of body this record keeps, or kept before they were dropped (budget accounting)."""
        cap = self.body_cap
        if not cap:
            return 0
        return min(self.request_body_size, cap) + min(self.response_body_size, cap)

    def request_bytes(self) -> bytes | None:
        """The kept request body in one piece (``None`` when not kept)."""
        return _joined(self.request_body)

    def response_bytes(self) -> bytes | None:
        """The kept response body in one piece (``None`` when not kept)."""
        return _joined(self.response_body)

    def drop_bodies(self, why: str) -> None:
        """Let the kept bodies go, remembering why (the detail view says so)."""
        if self.body_cap and self.bodies_dropped is None:
            self.bodies_dropped = why
        self.request_body = None
        self.response_body = None

    def strip_details(self) -> None:
        """Forget headers and bodies (kept only for the newest records)."""
        # An empty tuple, not a new list: nothing allocated, and nothing more for the garbage
        # collector to walk in each of the thousands of records the ring keeps.
        self.request_headers = _NO_HEADERS
        self.upstream_headers = None
        self.response_headers = None
        self.backend_response_headers = None
        # drop_bodies, inlined (this runs once per request, on the record leaving the details)
        if self.body_cap and self.bodies_dropped is None:
            self.bodies_dropped = "old record: only the newest records keep their details"
        self.request_body = None
        self.response_body = None

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
            "upgrade": self.upgrade,
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "message_previews": [list(p) for p in self.message_previews or ()],
            "content_type": self.content_type,
            "request_headers": [list(h) for h in self.request_headers],
            "upstream_headers": [list(h) for h in self.upstream_headers or ()],
            "response_headers": [list(h) for h in self.response_headers or ()],
            "backend_response_headers": [list(h) for h in self.backend_response_headers or ()],
            "trace": [list(t) for t in self.trace],
            "target": self.target,
            "upstream_target": self.upstream_target,
            "request_body_size": self.request_body_size,
            "response_body_size": self.response_body_size,
            "bodies_kept": self.body_cap > 0 and self.bodies_dropped is None,
            "marked": self.marked,
        }


_NO_HEADERS: Headers = ()  # type: ignore[assignment]  # read-only, like a stripped record's


def _flat_init(cls: type) -> None:
    """Give the dataclass ``cls`` a faster ``__init__``: only the fields up to
    ``request_headers`` as parameters, every other field set to its default as a constant (or
    to a value given by keyword).

    The dataclass ``__init__`` takes all 44 fields as parameters with defaults (about 1k
    instructions more per record); the engine passes only the first ones. Defaults are still
    declared once, on the fields.
    """
    params: list[str] = []
    body: list[str] = []
    for f in fields(cls):
        if not params or params[-1] != "request_headers=None":  # still a parameter
            if f.name == "request_headers":
                params.append("request_headers=None")
                body.append(
                    "    self.request_headers = [] if request_headers is None else request_headers"
                )
            else:
                params.append(f.name)
                body.append(f"    self.{f.name} = {f.name}")
            continue
        if f.default_factory is list:
            value = "[]"
        elif f.default is None or type(f.default) in (int, float, str, bool):
            value = repr(f.default)
        else:
            raise TypeError(f"{f.name}: a constant or list() default is needed here")
        body.append(f"    self.{f.name} = {value}")
    # Any other field may still be given by keyword (tests and tools build whole records).
    body.append("    if more:\n        _set_fields(self, more)")
    src = f"def __init__(self, {', '.join(params)}, **more) -> None:\n" + "\n".join(body)
    names = frozenset(f.name for f in fields(cls))

    def _set_fields(rec: Any, more: dict[str, Any]) -> None:
        for name, value in more.items():
            if name not in names:
                raise TypeError(f"{cls.__name__}() got an unexpected keyword argument {name!r}")
            setattr(rec, name, value)

    namespace: dict[str, Any] = {"_set_fields": _set_fields}
    exec(compile(src, f"<{cls.__name__}.__init__>", "exec"), namespace)
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__name__}.__init__"
    init.__doc__ = cls.__init__.__doc__
    cls.__init__ = init  # type: ignore[misc]


_flat_init(RequestRecord)


def _joined(kept: bytes | list[bytes] | None) -> bytes | None:
    if kept is None or isinstance(kept, bytes):
        return kept
    return b"".join(kept)


DEFAULT_BODY_CAP = 1024 * 1024
DEFAULT_BODY_BUDGET = 64 * 1024 * 1024
MAX_MARKS = 1000
"""Marked records kept at most (marking more asks to unmark some first)."""


class RecordLog:
    """Bounded ring buffer of finished records with a count of the ones that fell off.

    Bodies are kept up to ``body_cap`` bytes each way per record, within ``body_budget`` bytes in
    all: when a finished record takes the total past the budget, the oldest records' bodies go
    first. Marked records keep theirs (and their headers) until unmarked.
    """

    def __init__(
        self,
        capacity: int = 10_000,
        detail_capacity: int = 1_000,
        *,
        body_cap: int = DEFAULT_BODY_CAP,
        body_budget: int = DEFAULT_BODY_BUDGET,
    ) -> None:
        self.capacity = capacity
        self.detail_capacity = min(detail_capacity, capacity)
        """How many of the newest records keep their headers and bodies."""
        self._ring: deque[RequestRecord] = deque(maxlen=capacity)
        self._detailed: deque[RequestRecord] = deque()
        """The newest ``detail_capacity`` records (the ones that still have their details)."""
        self.total = 0
        """Records ever appended."""
        self.body_cap = min(body_cap, body_budget)
        """Bytes of each body kept per record (0: capture off)."""
        self.body_budget = body_budget
        """Bytes of bodies kept in all."""
        self.body_bytes = 0
        """Bytes of bodies held by the records in ``_bodied``."""
        self._bodied: deque[RequestRecord] = deque()
        self.marked: dict[int, RequestRecord] = {}
        """Marked records by id (they survive eviction from the ring)."""

    def begin(self, rec: RequestRecord, req: Any) -> None:
        """Arm body capture on a new record and keep the buffered request body (a reference).

        ``req`` is the parsed client request (method, target, version, body).
        """
        body = req.body
        rec.bytes_in = len(body)
        rec.target = req.target
        rec.version = req.version
        cap = self.body_cap
        if cap:
            rec.body_cap = cap
            if body:
                rec.keep_request(body)

    @property
    def dropped(self) -> int:
        """Records evicted from the ring to keep memory bounded."""
        return self.total - len(self._ring)

    def __len__(self) -> int:
        return len(self._ring)

    def append(self, record: RequestRecord) -> None:
        """Add a finished record; O(1), evicts the oldest when full."""
        total = self.total = self.total + 1
        record.seq = total
        self._ring.append(record)
        # Older records keep their summary and trace but drop the heavy parts, so a full ring
        # stays within a few MiB whatever the headers and bodies looked like.
        detailed = self._detailed
        detailed.append(record)
        old_seq = 0
        if len(detailed) > self.detail_capacity:
            old = detailed.popleft()
            old_seq = old.seq
            if not old.marked:
                old.strip_details()
        bodied = self._bodied
        cap = record.body_cap
        if cap and record.bodies_dropped is None:
            # body_weight, inlined (this runs once per request)
            req_size = record.request_body_size
            resp_size = record.response_body_size
            kept = (req_size if req_size < cap else cap) + (resp_size if resp_size < cap else cap)
            if kept:
                self.body_bytes += kept
                bodied.append(record)
        # Amortised O(1): each record enters and leaves ``_bodied`` once.
        while bodied and (bodied[0].seq <= old_seq or self.body_bytes > self.body_budget):
            first = bodied.popleft()
            # body_weight, inlined (a record is in ``_bodied`` only with a body_cap)
            cap = first.body_cap
            req_size = first.request_body_size
            resp_size = first.response_body_size
            self.body_bytes -= (req_size if req_size < cap else cap) + (
                resp_size if resp_size < cap else cap
            )
            if first.marked:
                continue  # marked: keeps its bodies, outside the budget's queue
            if first.seq > old_seq:
                first.drop_bodies(
                    f"dropped to stay within the body budget ({self.body_budget:,} bytes)"
                )

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
        """The record with this id if it is still in the ring (or marked)."""
        marked = self.marked.get(record_id)
        if marked is not None:
            return marked
        for rec in reversed(self._ring):
            if rec.id == record_id:
                return rec
        return None

    def all_records(self) -> list[RequestRecord]:
        """Every record kept: marked ones that left the ring, then the ring, oldest first."""
        ring = self._ring
        oldest = ring[0].seq if ring else self.total + 1
        early = [r for r in self.marked.values() if r.seq < oldest]
        early.sort(key=lambda r: r.seq)
        return early + list(ring)

    def set_marked(self, rec: RequestRecord, marked: bool) -> str | None:
        """Mark or unmark ``rec``; returns an error message instead of passing the bound."""
        if marked == rec.marked:
            return None
        if marked:
            if len(self.marked) >= MAX_MARKS:
                return f"at most {MAX_MARKS:,} records can be marked: unmark some first"
            rec.marked = True
            self.marked[rec.id] = rec
            return None
        rec.marked = False
        self.marked.pop(rec.id, None)
        newest = self.total
        if rec.seq and rec.seq <= newest - self.detail_capacity:
            rec.strip_details()  # it would have lost them by now
        elif rec.seq and rec.body_weight and rec not in self._bodied:
            # Its place in the budget's queue was given up while it was marked.
            rec.drop_bodies("dropped to stay within the body budget")
        return None

"""Closing requests: record ids, the one finish (timings → stats → ring buffer), error counts.

Every record the engine makes gets its id from :attr:`Recorder.next_id` and ends in
:meth:`Recorder.finish`; requests the HTTP server could not parse and bugs met while handling a
request are counted here too. Callers bind these methods once (at listener start), so the hot path
pays no extra lookup per request.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from workbench.engine.observe.records import RecordLog, RequestRecord
from workbench.engine.observe.stats import Stats

if TYPE_CHECKING:
    from workbench.engine.balancing.pools import EventLog
    from workbench.engine.http.server import ServerConnection

log = logging.getLogger("workbench.engine")


class Recorder:
    """Hands out record ids and closes records into the stats and the ring buffer."""

    def __init__(self, records: RecordLog, stats: Stats, events: EventLog) -> None:
        self.records = records
        self.stats = stats
        self.events = events
        self.next_id: Callable[[], int] = itertools.count(1).__next__
        """The next record id: monotonic, unique within one engine run."""
        self.internal_errors = 0
        """Bugs met while handling a request (see :meth:`internal_error`)."""
        self.bad_requests = 0
        """Requests the HTTP server rejected before any stage saw them (400, 431, 505, …)."""
        self._stats_monotonic = stats.clock is time.monotonic
        """The stats count by the monotonic clock: ``finish`` hands them its own reading."""

    def finish(self, rec: RequestRecord, start_mono: float) -> None:
        """Close a record: timings, stats, ring buffer. O(1)."""
        now = time.monotonic()
        total = rec.t_total = now - start_mono
        status = rec.status
        self.stats.observe(
            rec.proxy,
            rec.backend,
            status,
            total,
            rec.error is not None or status is None or status >= 500,
            rec.bytes_out,
            now if self._stats_monotonic else None,
        )
        self.records.append(rec)

    def internal_error(self, exc: BaseException) -> None:
        """Count and log a bug met while handling a request (never shown to the client)."""
        self.internal_errors += 1
        self.events.add("error", f"internal error: {type(exc).__name__}: {exc}")
        log.exception("internal error", exc_info=exc)

    def bad_request_recorder(self, proxy: str) -> Callable[[ServerConnection, int, str], None]:
        """The ``on_bad_request`` of ``proxy``'s listener: one record per unparsable request.

        The server answers the client itself (it knows the framing); this only records it.
        """

        def bad_request(conn: ServerConnection, status: int, message: str) -> None:
            self.bad_requests += 1
            rec = RequestRecord(
                self.next_id(), time.time(), conn.client_ip, proxy, "-", "-", "", ""
            )
            rec.status = status
            rec.error = message
            rec.step("parse", str(status), message)
            self.stats.observe(proxy, None, status, 0.0, True, 0)
            self.records.append(rec)

        return bad_request

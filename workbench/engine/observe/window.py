"""Per-second ring of request counters: the rolling windows behind rates and percentiles.

The hot path does a handful of integer increments into the slot for the current second: no
allocation in the common case, nothing proportional to the window length. Everything derived
(rates, percentiles, series) is computed only when someone asks.

Ring layout: a window of ``seconds`` (plus one) slots, where second ``s`` lives in slot
``s % len(ring)`` and each slot remembers which second it holds. A slot found holding an older
second is reset before use, and readers skip slots whose second is outside the range they want.
So an idle gap of any length costs nothing: there is no walk over skipped seconds, even after
hours of silence.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.engine.observe.latency import (
    LATENCY_BUCKETS,
    N_BUCKETS,
    STATUS_CLASSES,
    Histogram,
    status_class,
)

Clock = Callable[[], float]


class _Slot:
    """Counters for one wall-clock second."""

    __slots__ = ("second", "classes", "buckets", "errors", "bytes")

    def __init__(self, second: int) -> None:
        self.second = second
        self.classes = [0] * len(STATUS_CLASSES)
        """Requests per status class; their sum is the request count (each has exactly one)."""
        self.buckets = [0] * N_BUCKETS
        self.errors = 0
        self.bytes = 0

    def reset(self, second: int) -> None:
        self.second = second
        # Slice assignment reuses the lists: no allocation when a slot is recycled.
        self.classes[:] = _ZERO_CLASSES
        self.buckets[:] = _ZERO_BUCKETS
        self.errors = 0
        self.bytes = 0


_ZERO_CLASSES = (0,) * len(STATUS_CLASSES)
_ZERO_BUCKETS = (0,) * N_BUCKETS


@dataclass(slots=True)
class WindowSummary:
    """What happened in the last ``over`` seconds (the current, partial second included)."""

    over: int
    requests: int = 0
    rate: float = 0.0
    """Requests per second, smoothed across the sliding edge (see :meth:`Window.summary`)."""
    errors: int = 0
    error_rate: float = 0.0
    """``errors / requests`` (0.0 without requests)."""
    status_classes: dict[str, int] = field(default_factory=dict)
    p50: float = 0.0
    """Latency percentiles in seconds (0.0 without requests)."""
    p95: float = 0.0
    p99: float = 0.0
    bytes_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Window:
    """Per-second ring of counters covering the last ``seconds`` seconds."""

    __slots__ = ("seconds", "clock", "_size", "_ring", "_slot")

    def __init__(self, seconds: int = 60, clock: Clock = time.monotonic) -> None:
        if seconds < 1:
            raise ValueError("a window needs at least one second")
        self.seconds = seconds
        self.clock = clock
        # One slot more than the window: the second just before the window stays readable for
        # the sliding-edge rate (see summary()).
        self._size = seconds + 1
        # Every slot starts out claiming a second that can never be current, so it reads as empty.
        self._ring = [_Slot(-self._size - 1) for _ in range(self._size)]
        self._slot = self._ring[0]
        """The slot of the newest second seen: the fast path when the second has not changed."""

    def _slot_for(self, sec: int) -> _Slot:
        """The slot for ``sec``, recycled if it held an older second. O(1)."""
        cur = self._slot
        if sec < cur.second:
            # A late observation (its ``now`` was taken before the newest one): count it in the
            # current second rather than clobbering a slot that holds newer data.
            return cur
        slot = self._ring[sec % self._size]
        if slot.second != sec:
            slot.reset(sec)
        self._slot = slot
        return slot

    def observe(
        self,
        status: int | None,
        latency: float,
        error: bool,
        bytes_out: int = 0,
        now: float | None = None,
    ) -> None:
        """Count one request that finished at ``now`` (default: the window's clock)."""
        sec = int(self.clock() if now is None else now)
        slot = self._slot
        if sec != slot.second:
            slot = self._slot_for(sec)
        slot.classes[status_class(status)] += 1
        slot.buckets[bisect_left(LATENCY_BUCKETS, latency)] += 1
        slot.bytes += bytes_out
        if error:
            slot.errors += 1

    def _covered(self, over: int, sec: int) -> list[_Slot]:
        if not 1 <= over <= self.seconds:
            raise ValueError(f"over must be within 1..{self.seconds}, got {over}")
        first = sec - over
        return [s for s in self._ring if first < s.second <= sec]

    def summary(self, over: int, now: float | None = None) -> WindowSummary:
        """Counts, rate, error rate, status classes and percentiles over the last ``over`` s.

        Counts cover the seconds ``int(now) - over + 1 .. int(now)``, the current partial second
        included, so a request shows up at once. ``rate`` instead estimates requests per second
        over exactly ``(now - over, now]``: it also counts the part of the second just before the
        window that the sliding edge still covers, weighted by how much of the current second is
        yet to come. That keeps the rate steady under steady load instead of dipping each time a
        new, still-empty second starts.
        """
        return summarise((self,), over, self.clock() if now is None else now)

    def second(self, sec: int) -> tuple[int, int, float]:
        """``(requests, errors, p95 seconds)`` of the one second ``sec``; zeros when it is gone."""
        slot = self._ring[sec % self._size]
        if slot.second != sec:
            return 0, 0, 0.0
        requests = sum(slot.classes)
        if not requests:
            return 0, slot.errors, 0.0
        hist = Histogram.from_counts(slot.buckets)
        return requests, slot.errors, hist.percentile(0.95)

    def series(self, over: int = 60, now: float | None = None) -> list[int]:
        """Requests per second for the last ``over`` seconds, oldest first, current second last."""
        sec = int(self.clock() if now is None else now)
        counts = [0] * over
        base = sec - over + 1
        for s in self._covered(over, sec):
            counts[s.second - base] = sum(s.classes)
        return counts


def summarise(windows: Iterable[Window], over: int, now: float) -> WindowSummary:
    """One summary over several windows (e.g. all proxies), merging their covered seconds."""
    sec = int(now)
    classes = [0] * len(STATUS_CLASSES)
    hist = Histogram()
    buckets = hist.counts
    errors = 0
    nbytes = 0
    edge = 0  # requests in the second just before the window (for the sliding-edge rate)
    for w in windows:
        for s in w._covered(over, sec):
            for i, c in enumerate(s.classes):
                classes[i] += c
            for i, c in enumerate(s.buckets):
                buckets[i] += c
            errors += s.errors
            nbytes += s.bytes
        prev = w._ring[(sec - over) % w._size]
        if prev.second == sec - over:
            edge += sum(prev.classes)
    requests = sum(classes)
    hist.total = requests
    remaining = 1.0 - (now - sec)
    return WindowSummary(
        over=over,
        requests=requests,
        rate=(requests + edge * remaining) / over,
        errors=errors,
        error_rate=errors / requests if requests else 0.0,
        status_classes=dict(zip(STATUS_CLASSES, classes, strict=True)),
        p50=hist.percentile(0.50),
        p95=hist.percentile(0.95),
        p99=hist.percentile(0.99),
        bytes_out=nbytes,
    )

"""One proxy's or backend's stats: a rolling window plus all-time counters, and its snapshot row."""

from __future__ import annotations

from typing import Any

from workbench.engine.observe.latency import N_BUCKETS, STATUS_CLASSES, Histogram
from workbench.engine.observe.window import Clock, Window


class Track(Window):
    """A window plus all-time counters for one proxy or backend."""

    __slots__ = ("classes", "buckets", "latency_sum", "errors", "bytes", "recent")

    def __init__(self, seconds: int, clock: Clock) -> None:
        super().__init__(seconds, clock)
        self.classes = [0] * len(STATUS_CLASSES)
        self.buckets = [0] * N_BUCKETS
        self.latency_sum = 0.0
        self.errors = 0
        self.bytes = 0
        self.recent = 0
        """Requests since the last ranking of forward-proxy origins (see :mod:`.origins`)."""

    def row(self, now: float, long: int, inflight: int) -> dict[str, Any]:
        """The snapshot row of a backend or origin, in one pass over the ring.

        Same numbers as :meth:`Window.summary` over ``long`` and 10 seconds plus
        :meth:`Window.series`, computed together: snapshots hold hundreds of these rows.
        """
        sec = int(now)
        first = sec - long
        short = min(10, long)
        first10 = sec - short
        series = [0] * long
        base = sec - long + 1
        buckets = [0] * N_BUCKETS
        requests = errors = req10 = edge10 = 0
        for slot in self._ring:
            s = slot.second
            if s <= first or s > sec:
                if s == first10:
                    edge10 += sum(slot.classes)
                continue
            n = sum(slot.classes)
            if not n:
                continue
            requests += n
            errors += slot.errors
            series[s - base] = n
            if s > first10:
                req10 += n
            elif s == first10:
                edge10 += n
            for i, c in enumerate(slot.buckets):
                if c:
                    buckets[i] += c
        hist = Histogram()
        hist.counts = buckets
        hist.total = requests
        return {
            "requests": sum(self.classes),
            "errors": self.errors,
            "bytes_out": self.bytes,
            "inflight": inflight,
            "requests_60s": requests,
            "errors_60s": errors,
            "error_rate_60s": errors / requests if requests else 0.0,
            "rate_10s": (req10 + edge10 * (1.0 - (now - sec))) / short,
            "p50": hist.percentile(0.50),
            "p95": hist.percentile(0.95),
            "p99": hist.percentile(0.99),
            "share_60s": 0.0,
            "series_60s": series,
        }

    def absorb(self, other: Track) -> None:
        """Add ``other``'s all-time counters and the seconds of its window still in ours."""
        for i, c in enumerate(other.classes):
            self.classes[i] += c
        for i, c in enumerate(other.buckets):
            self.buckets[i] += c
        self.latency_sum += other.latency_sum
        self.errors += other.errors
        self.bytes += other.bytes
        newest = self._slot.second
        for src in other._ring:
            sec = src.second
            if sec < 0 or sec < newest - self.seconds:
                continue  # never used, or older than anything our window still shows
            dst = self._ring[sec % self._size]
            if dst.second != sec:
                if dst.second > sec:
                    continue  # that slot holds a newer second: this one is out of our window
                dst.reset(sec)
                if sec > newest:
                    self._slot = dst
                    newest = sec
            for i, c in enumerate(src.classes):
                dst.classes[i] += c
            for i, c in enumerate(src.buckets):
                dst.buckets[i] += c
            dst.errors += src.errors
            dst.bytes += src.bytes

    def add(self, sec: int, cls: int, bucket: int, latency: float, error: bool, n: int) -> None:
        # Window.observe and the all-time counters inlined into one call: this runs twice per
        # proxied request, and a Python call costs about as much as all these increments.
        slot = self._slot
        if sec != slot.second:
            slot = self._slot_for(sec)
        slot.classes[cls] += 1
        slot.buckets[bucket] += 1
        slot.bytes += n
        self.classes[cls] += 1
        self.buckets[bucket] += 1
        self.latency_sum += latency
        self.bytes += n
        if error:
            slot.errors += 1
            self.errors += 1

    @property
    def requests(self) -> int:
        return sum(self.classes)

    def all_time(self) -> dict[str, Any]:
        return {
            "requests": sum(self.classes),
            "errors": self.errors,
            "status_classes": dict(zip(STATUS_CLASSES, self.classes, strict=True)),
            "bytes_out": self.bytes,
        }

    def histogram(self) -> Histogram:
        return Histogram.from_counts(self.buckets, self.latency_sum)

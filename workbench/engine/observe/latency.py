"""What every stats table counts in: latency buckets, status classes and the latency histogram."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from typing import Any

LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    float("inf"),
)
"""Upper bounds (seconds, inclusive) of the latency buckets; the last one catches everything."""

STATUS_CLASSES: tuple[str, ...] = ("1xx", "2xx", "3xx", "4xx", "5xx", "err")
"""Status class names, in slot order; ``err`` counts requests that never got a status."""

N_BUCKETS = len(LATENCY_BUCKETS)
ERR_CLASS = len(STATUS_CLASSES) - 1
"""Slot of ``err`` in :data:`STATUS_CLASSES`."""


def status_class(status: int | None) -> int:
    """Index into :data:`STATUS_CLASSES` for a status code (``None`` or out of range → ``err``)."""
    if status is None or not 100 <= status < 600:
        return ERR_CLASS
    return status // 100 - 1


class Histogram:
    """Latency histogram over :data:`LATENCY_BUCKETS` (Prometheus ``le`` semantics).

    ``counts[i]`` is the number of observations in ``(LATENCY_BUCKETS[i-1], LATENCY_BUCKETS[i]]``
    (not cumulative); ``total`` is their number and ``sum`` the sum of the observed values.
    """

    __slots__ = ("counts", "total", "sum")

    def __init__(self) -> None:
        self.counts: list[int] = [0] * N_BUCKETS
        self.total = 0
        self.sum = 0.0

    @classmethod
    def from_counts(cls, counts: Iterable[int], sum_: float = 0.0) -> Histogram:
        """A histogram from per-bucket counts (one per :data:`LATENCY_BUCKETS` entry)."""
        h = cls()
        h.counts = list(counts)
        if len(h.counts) != N_BUCKETS:
            raise ValueError(f"expected {N_BUCKETS} bucket counts, got {len(h.counts)}")
        h.total = sum(h.counts)
        h.sum = sum_
        return h

    def observe(self, seconds: float) -> None:
        """Count one observation."""
        self.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.total += 1
        self.sum += seconds

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s observations to this histogram."""
        counts = self.counts
        for i, c in enumerate(other.counts):
            if c:
                counts[i] += c
        self.total += other.total
        self.sum += other.sum

    def copy(self) -> Histogram:
        h = Histogram()
        h.counts = self.counts.copy()
        h.total = self.total
        h.sum = self.sum
        return h

    def percentile(self, q: float) -> float:
        """Estimate the ``q`` quantile (``0 <= q <= 1``) in seconds; 0.0 when empty.

        Linear interpolation inside the bucket that holds the rank, like Prometheus's
        ``histogram_quantile``: the observations of a bucket are assumed spread evenly between
        its lower and upper bound (the first bucket starts at 0). A rank that falls into the
        ``+Inf`` bucket returns the largest finite bound, since there is no upper edge to
        interpolate towards.
        """
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be within [0, 1], got {q}")
        total = self.total
        if total <= 0:
            return 0.0
        rank = q * total
        below = 0
        for i, c in enumerate(self.counts):
            if not c:
                continue
            if below + c >= rank:
                lower = LATENCY_BUCKETS[i - 1] if i else 0.0
                upper = LATENCY_BUCKETS[i]
                if upper == float("inf"):
                    return lower
                return lower + (upper - lower) * ((rank - below) / c)
            below += c
        # Only reachable when counts and total disagree (a hand-built histogram).
        return LATENCY_BUCKETS[-2]

    def to_dict(self) -> dict[str, Any]:
        """Plain data: bounds, per-bucket (non-cumulative) counts, sum and count."""
        return {
            "bounds": list(LATENCY_BUCKETS),
            "counts": list(self.counts),
            "sum": self.sum,
            "count": self.total,
        }

    def __repr__(self) -> str:
        return f"Histogram(total={self.total}, sum={self.sum:.6f})"

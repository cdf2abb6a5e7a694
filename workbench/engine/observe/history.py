"""The last five minutes, one sample per second, for the charts.

The engine's once-a-second timer calls :meth:`History.sample`; nothing happens per request. Each
call records every complete second since the previous call (so a late timer leaves no gap),
reading the per-second slots the stats already keep: requests, errors and p95 latency per proxy
and per pool backend, and the cache's hit ratio from the change in its counters. The ring holds
:data:`SECONDS` samples, so memory stays bounded whatever the uptime.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from workbench.engine.observe.stats import Stats

__all__ = ["SECONDS", "History", "Sample"]

SECONDS = 300
"""Samples kept: five minutes at one per second."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One second of the system."""

    second: int
    """The stats clock's second (monotonic)."""
    time: float
    """Wall-clock time of that second's end."""
    proxies: Mapping[str, tuple[int, int, float]]
    """Proxy name → (requests, errors, p95 latency in seconds)."""
    backends: Mapping[str, tuple[int, int, float]]
    """Pool backend name → (requests, errors, p95 latency in seconds)."""
    hit_ratio: float | None
    """Share of cache lookups answered from the cache in that second; None without lookups."""


class History:
    """A bounded ring of per-second :class:`Sample` s."""

    def __init__(self, seconds: int = SECONDS) -> None:
        self.samples: deque[Sample] = deque(maxlen=seconds)
        self._last: int | None = None
        self._cache: tuple[int, int] | None = None

    def sample(
        self,
        stats: Stats,
        backends: Iterable[str],
        cache: Mapping[str, Any] | None,
        now_mono: float,
        now_wall: float,
    ) -> int:
        """Record every complete second since the last call; returns how many were added."""
        newest = int(now_mono) - 1  # the current second is still filling up
        first = newest if self._last is None else self._last + 1
        first = max(first, newest - (self.samples.maxlen or SECONDS) + 1)
        if newest < first:
            return 0
        names = tuple(backends)
        ratio = self._hit_ratio(cache)
        added = 0
        for sec in range(first, newest + 1):
            proxies, per_backend = stats.second(sec, names)
            wall = now_wall - (now_mono - (sec + 1))
            # The cache counters are cumulative, so a catch-up sample spreads nothing: the
            # whole change is credited to the newest second.
            self.samples.append(
                Sample(sec, wall, proxies, per_backend, ratio if sec == newest else None)
            )
            added += 1
        self._last = newest
        return added

    def _hit_ratio(self, cache: Mapping[str, Any] | None) -> float | None:
        if cache is None:
            return None
        served = int(cache.get("hits", 0)) + int(cache.get("stale", 0))
        served += int(cache.get("revalidated", 0))
        lookups = served + int(cache.get("misses", 0))
        before, self._cache = self._cache, (served, lookups)
        if before is None or lookups - before[1] <= 0:
            return None
        return (served - before[0]) / (lookups - before[1])

    def to_dict(self) -> dict[str, Any]:
        """Plain series for the UI and the admin API, oldest first.

        ``{"time": [...], "proxies": {name: {"rate", "error_rate", "p95"}}, "backends": {name:
        {"rate", "error_rate", "p95"}}, "hit_ratio": [...]}``; every list has one entry per
        sample, None where a second had nothing to measure.
        """
        samples = list(self.samples)
        names_p = sorted({n for s in samples for n in s.proxies})
        names_b = sorted({n for s in samples for n in s.backends})

        def series(pick: str, name: str) -> dict[str, list[float | None]]:
            rate: list[float | None] = []
            errors: list[float | None] = []
            p95: list[float | None] = []
            for s in samples:
                req, err, lat = getattr(s, pick).get(name, (0, 0, 0.0))
                rate.append(float(req))
                errors.append(err / req if req else None)
                p95.append(lat if req else None)
            return {"rate": rate, "error_rate": errors, "p95": p95}

        return {
            "time": [s.time for s in samples],
            "proxies": {n: series("proxies", n) for n in names_p},
            "backends": {n: series("backends", n) for n in names_b},
            "hit_ratio": [s.hit_ratio for s in samples],
        }

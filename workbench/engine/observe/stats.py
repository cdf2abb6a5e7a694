"""Rolling request statistics: per-second rings, latency histograms and all-time counters.

The hot path calls :meth:`Stats.observe` once per finished request. It does a handful of integer
increments into the slot for the current second and returns: no allocation in the common case, no
callbacks, nothing proportional to the window length. Everything derived (rates, percentiles,
shares, sparkline series) is computed only when someone asks for a snapshot, a few times a second
at most.

Ring layout: a window of ``seconds`` (plus one) slots, where second ``s`` lives in slot
``s % len(ring)`` and each slot remembers which second it holds. A slot found holding an older
second is reset before use, and readers skip slots whose second is outside the range they want.
So an idle gap of any length costs nothing: there is no walk over skipped seconds, even after
hours of silence.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "LATENCY_BUCKETS",
    "OTHER_ORIGINS",
    "STATUS_CLASSES",
    "Histogram",
    "Stats",
    "Window",
    "WindowSummary",
    "status_class",
]

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

_N_BUCKETS = len(LATENCY_BUCKETS)
_ERR = len(STATUS_CLASSES) - 1
_WINDOWS = (1, 10, 60)

Clock = Callable[[], float]


def status_class(status: int | None) -> int:
    """Index into :data:`STATUS_CLASSES` for a status code (``None`` or out of range → ``err``)."""
    if status is None or not 100 <= status < 600:
        return _ERR
    return status // 100 - 1


class Histogram:
    """Latency histogram over :data:`LATENCY_BUCKETS` (Prometheus ``le`` semantics).

    ``counts[i]`` is the number of observations in ``(LATENCY_BUCKETS[i-1], LATENCY_BUCKETS[i]]``
    (not cumulative); ``total`` is their number and ``sum`` the sum of the observed values.
    """

    __slots__ = ("counts", "total", "sum")

    def __init__(self) -> None:
        self.counts: list[int] = [0] * _N_BUCKETS
        self.total = 0
        self.sum = 0.0

    @classmethod
    def from_counts(cls, counts: Iterable[int], sum_: float = 0.0) -> Histogram:
        """A histogram from per-bucket counts (one per :data:`LATENCY_BUCKETS` entry)."""
        h = cls()
        h.counts = list(counts)
        if len(h.counts) != _N_BUCKETS:
            raise ValueError(f"expected {_N_BUCKETS} bucket counts, got {len(h.counts)}")
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


class _Slot:
    """Counters for one wall-clock second."""

    __slots__ = ("second", "classes", "buckets", "errors", "bytes")

    def __init__(self, second: int) -> None:
        self.second = second
        self.classes = [0] * len(STATUS_CLASSES)
        """Requests per status class; their sum is the request count (each has exactly one)."""
        self.buckets = [0] * _N_BUCKETS
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
_ZERO_BUCKETS = (0,) * _N_BUCKETS


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
        return _summarise((self,), over, self.clock() if now is None else now)

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


def _summarise(windows: Iterable[Window], over: int, now: float) -> WindowSummary:
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


class _Track(Window):
    """A window plus all-time counters for one proxy or backend."""

    __slots__ = ("classes", "buckets", "latency_sum", "errors", "bytes", "recent")

    def __init__(self, seconds: int, clock: Clock) -> None:
        super().__init__(seconds, clock)
        self.classes = [0] * len(STATUS_CLASSES)
        self.buckets = [0] * _N_BUCKETS
        self.latency_sum = 0.0
        self.errors = 0
        self.bytes = 0
        self.recent = 0
        """Requests since the last ranking of forward-proxy origins (see :class:`_Origins`)."""

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
        buckets = [0] * _N_BUCKETS
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

    def absorb(self, other: _Track) -> None:
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


OTHER_ORIGINS = "other origins"
"""Key of the aggregate of the forward proxy's origins not tracked one by one.

It cannot clash with a backend name (no spaces allowed) nor with an origin (``host:port``)."""


class _Origins:
    """Per-origin tracks of the forward proxy, at most ``limit`` of them, plus one aggregate.

    Clients choose origins, so their number is unbounded. A request to a tracked origin counts in
    its track; any other request counts in the aggregate and as a candidate. Once untracked
    requests reach ``limit`` since the last ranking (amortised O(1) per request), the busiest
    candidates take the places of tracked origins that were less busy (a tracked origin's
    busyness halves at each ranking, so it remembers earlier periods); a displaced origin's counts
    move into the aggregate, so totals are never lost.
    """

    __slots__ = ("limit", "seconds", "clock", "tracks", "other", "candidates", "untracked")

    def __init__(self, limit: int, seconds: int, clock: Clock) -> None:
        self.limit = limit
        self.seconds = seconds
        self.clock = clock
        self.tracks: dict[str, _Track] = {}
        self.other = _Track(seconds, clock)
        self.candidates: dict[str, int] = {}
        self.untracked = 0

    def track(self, origin: str) -> _Track:
        """The track a request to ``origin`` counts in. O(1) amortised."""
        t = self.tracks.get(origin)
        if t is not None:
            t.recent += 1
            return t
        if len(self.tracks) < self.limit:
            t = self.tracks[origin] = _Track(self.seconds, self.clock)
            t.recent = 1
            return t
        cand = self.candidates
        cand[origin] = cand.get(origin, 0) + 1
        self.untracked += 1
        if self.untracked >= self.limit or len(cand) > 2 * self.limit:
            self.rank()
        return self.other

    def rank(self) -> None:
        """Swap busier candidates in for less busy tracked origins; start a new period."""
        cand = sorted(self.candidates.items(), key=lambda kv: kv[1], reverse=True)
        cand = cand[: self.limit]
        tracked = sorted(self.tracks.items(), key=lambda kv: kv[1].recent)
        for (name, busy), (old, track) in zip(cand, tracked, strict=False):
            # One visit is no sign of a busy origin: a stream of one-off origins (a crawler)
            # then swaps nothing, and costs a dict increment per request.
            if busy < 2 or busy <= track.recent:
                break
            self.other.absorb(track)
            del self.tracks[old]
            # The requests that made it a candidate are already counted in the aggregate.
            new = self.tracks[name] = _Track(self.seconds, self.clock)
            new.recent = busy
        for t in self.tracks.values():
            t.recent //= 2  # decay: busyness remembers earlier periods, fading
        self.candidates.clear()
        self.untracked = 0

    def items(self) -> list[tuple[str, _Track]]:
        """Tracked origins, then the aggregate when it has counted anything."""
        out = list(self.tracks.items())
        if self.other.requests:
            out.append((OTHER_ORIGINS, self.other))
        return out


class Stats:
    """Engine-wide and per-backend rolling stats plus all-time counters.

    Keys are created lazily: the first request of a proxy or backend makes its entry, and
    :meth:`forget_backend` drops one that left the configuration. The forward proxy's origins
    (its "backends", chosen by clients) are bounded: the busiest ``max_origins`` are kept one by
    one, the rest counted together as :data:`OTHER_ORIGINS`.
    """

    def __init__(
        self, clock: Clock = time.monotonic, seconds: int = 60, max_origins: int = 256
    ) -> None:
        if max_origins < 1:
            raise ValueError("max_origins must be ≥ 1")
        self.clock = clock
        self.seconds = seconds
        self._proxies: dict[str, _Track] = {}
        self._backends: dict[str, _Track] = {}
        self._origins = _Origins(max_origins, seconds, clock)
        self._inflight: dict[str, int] = {}

    @property
    def max_origins(self) -> int:
        """How many forward-proxy origins are tracked one by one."""
        return self._origins.limit

    @max_origins.setter
    def max_origins(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("max_origins must be ≥ 1")
        origins = self._origins
        origins.limit = limit
        if len(origins.tracks) > limit:
            for name, track in sorted(origins.tracks.items(), key=lambda kv: kv[1].requests)[
                : len(origins.tracks) - limit
            ]:
                origins.other.absorb(track)
                del origins.tracks[name]

    # -- hot path ---------------------------------------------------------------------------
    def observe(
        self,
        proxy: str,
        backend: str | None,
        status: int | None,
        latency: float,
        error: bool,
        bytes_out: int,
        now: float | None = None,
    ) -> None:
        """Count one finished request (``backend`` is None when no backend was involved).

        ``now`` is the stats clock's current reading when the caller has just taken it.
        """
        sec = int(self.clock() if now is None else now)
        cls = _ERR if status is None or not 100 <= status < 600 else status // 100 - 1
        bucket = bisect_left(LATENCY_BUCKETS, latency)
        track = self._proxies.get(proxy)
        if track is None:
            track = self._proxies[proxy] = _Track(self.seconds, self.clock)
        track.add(sec, cls, bucket, latency, error, bytes_out)
        if backend is not None:
            if proxy == "forward":
                track = self._origins.track(backend)
            else:
                track = self._backends.get(backend)
                if track is None:
                    track = self._backends[backend] = _Track(self.seconds, self.clock)
            track.add(sec, cls, bucket, latency, error, bytes_out)

    def second(
        self, sec: int, backends: Iterable[str] = ()
    ) -> tuple[dict[str, tuple[int, int, float]], dict[str, tuple[int, int, float]]]:
        """Per proxy and per named backend: ``(requests, errors, p95)`` of the second ``sec``.

        For the once-a-second history sampler; costs one ring read per proxy and backend.
        """
        proxies = {name: t.second(sec) for name, t in self._proxies.items()}
        out: dict[str, tuple[int, int, float]] = {}
        for name in backends:
            track = self._backends.get(name)
            out[name] = track.second(sec) if track is not None else (0, 0, 0.0)
        return proxies, out

    def inflight_inc(self, backend: str) -> None:
        """A request to ``backend`` started."""
        inflight = self._inflight
        inflight[backend] = inflight.get(backend, 0) + 1

    def inflight_dec(self, backend: str) -> None:
        """A request to ``backend`` ended (never goes below zero)."""
        inflight = self._inflight
        n = inflight.get(backend, 0)
        inflight[backend] = n - 1 if n > 0 else 0

    def inflight(self, backend: str) -> int:
        """Requests to ``backend`` currently in flight."""
        return self._inflight.get(backend, 0)

    def forget_backend(self, name: str) -> None:
        """Drop everything known about a backend that was removed."""
        self._backends.pop(name, None)
        self._inflight.pop(name, None)

    # -- reading ----------------------------------------------------------------------------
    def snapshot(
        self, now: float | None = None, pools: Mapping[str, Iterable[str]] | None = None
    ) -> dict[str, Any]:
        """Plain-data view for the UI and admin API.

        ``pools`` maps pool name → backend names; when given, a backend's ``share_60s`` is its
        part of its pool's requests over the last 60 s, otherwise of all backends' requests.
        Backends are keyed by name only, so names should be unique across pools.

        Shape::

            {"time": now,
             "total": all_time(),
             "windows": {1: summary, 10: summary, 60: summary},      # all proxies together
             "proxies": {"reverse": {1: summary, 10: ..., 60: ...}, ...},
             "backends": {name: {"requests", "errors", "bytes_out",          # all time
                                 "inflight", "requests_60s", "errors_60s", "error_rate_60s",
                                 "rate_10s", "p50", "p95", "p99",            # latency over 60 s
                                 "share_60s", "series_60s"}}}

        A summary is :class:`WindowSummary` as a dict.
        """
        if now is None:
            now = self.clock()
        spans = tuple(o for o in _WINDOWS if o <= self.seconds)
        proxies = {
            name: {o: track.summary(o, now).to_dict() for o in spans}
            for name, track in self._proxies.items()
        }
        tracks = tuple(self._proxies.values())
        windows = {o: _summarise(tracks, o, now).to_dict() for o in spans}
        long = spans[-1]
        backends: dict[str, dict[str, Any]] = {}
        inflight = self._inflight
        for name, track in (*self._backends.items(), *self._origins.items()):
            backends[name] = track.row(now, long, inflight.get(name, 0))
        # Backends with requests in flight but none finished yet still deserve a row.
        for name, n in self._inflight.items():
            if name not in backends and n:
                backends[name] = _empty_backend(n, long)
        _fill_shares(backends, pools)
        return {
            "time": now,
            "total": self.all_time(),
            "windows": windows,
            "proxies": proxies,
            "backends": backends,
        }

    def all_time(self) -> dict[str, Any]:
        """Counters since start: requests, errors, status classes, bytes; per proxy and backend."""
        classes = [0] * len(STATUS_CLASSES)
        errors = 0
        nbytes = 0
        for track in self._proxies.values():
            for i, c in enumerate(track.classes):
                classes[i] += c
            errors += track.errors
            nbytes += track.bytes
        return {
            "requests": sum(classes),
            "errors": errors,
            "status_classes": dict(zip(STATUS_CLASSES, classes, strict=True)),
            "bytes_out": nbytes,
            "proxies": {name: t.all_time() for name, t in self._proxies.items()},
            "backends": {
                name: t.all_time() for name, t in (*self._backends.items(), *self._origins.items())
            },
        }

    def prometheus_state(self) -> dict[str, Any]:
        """The request/latency part of the input of :func:`~.metrics.render_metrics`.

        Returns ``{"proxies": {name: {"status_classes", "errors", "duration"}},
        "backend_counters": {name: {"requests", "errors", "inflight"}}}``; the engine adds the
        pool, state and weight of each backend when it builds the ``backends`` list.
        """
        return {
            "proxies": {
                name: {
                    "status_classes": dict(zip(STATUS_CLASSES, t.classes, strict=True)),
                    "errors": t.errors,
                    "duration": t.histogram().to_dict(),
                }
                for name, t in self._proxies.items()
            },
            "backend_counters": {
                name: {
                    "requests": t.requests,
                    "errors": t.errors,
                    "inflight": self._inflight.get(name, 0),
                }
                for name, t in self._backends.items()
            },
        }


def _empty_backend(inflight: int, long: int) -> dict[str, Any]:
    return {
        "requests": 0,
        "errors": 0,
        "bytes_out": 0,
        "inflight": inflight,
        "requests_60s": 0,
        "errors_60s": 0,
        "error_rate_60s": 0.0,
        "rate_10s": 0.0,
        "p50": 0.0,
        "p95": 0.0,
        "p99": 0.0,
        "share_60s": 0.0,
        "series_60s": [0] * long,
    }


def _fill_shares(
    backends: dict[str, dict[str, Any]], pools: Mapping[str, Iterable[str]] | None
) -> None:
    groups: Iterable[Iterable[str]] = pools.values() if pools is not None else (list(backends),)
    for members in groups:
        rows = [backends[n] for n in members if n in backends]
        total = sum(r["requests_60s"] for r in rows)
        if total:
            for r in rows:
                r["share_60s"] = r["requests_60s"] / total

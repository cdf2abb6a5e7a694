"""Rolling request statistics: per proxy, per backend and per forward-proxy origin.

The hot path calls :meth:`Stats.observe` once per finished request: a few increments into the
tracks of its proxy and backend (:mod:`.track`, over the per-second rings of :mod:`.window`),
nothing proportional to the window length. Everything derived (rates, percentiles, shares,
sparkline series) is computed only when someone asks for a snapshot, a few times a second at
most. Latency buckets and the histogram live in :mod:`.latency`, the bounded origin table in
:mod:`.origins`.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from typing import Any

from workbench.engine.observe.latency import (
    ERR_CLASS,
    LATENCY_BUCKETS,
    STATUS_CLASSES,
    Histogram,
    status_class,
)
from workbench.engine.observe.origins import OTHER_ORIGINS, Origins
from workbench.engine.observe.track import Track
from workbench.engine.observe.window import Clock, Window, WindowSummary, summarise

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

_WINDOWS = (1, 10, 60)


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
        self._proxies: dict[str, Track] = {}
        self._backends: dict[str, Track] = {}
        self._origins = Origins(max_origins, seconds, clock)
        self._inflight: dict[str, int] = {}
        self._sec = -1
        self._sec_lo = self._sec_hi = 0.0
        """The second of the last observation and its bounds as times: ``_sec_lo <= now <
        _sec_hi`` is ``int(now) == _sec`` (now ≥ 0), without making an int per request."""

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
        if now is None:
            now = self.clock()
        if self._sec_lo <= now < self._sec_hi:
            sec = self._sec
        else:
            sec = self._sec = int(now)
            # (int() rounds towards 0: below 0 no bounds, every reading takes this branch)
            self._sec_lo = float(sec) if sec >= 0 else 0.0
            self._sec_hi = sec + 1.0 if sec >= 0 else 0.0
        cls = ERR_CLASS if status is None or not 100 <= status < 600 else status // 100 - 1
        bucket = bisect_left(LATENCY_BUCKETS, latency)
        track = self._proxies.get(proxy)
        if track is None:
            track = self._proxies[proxy] = Track(self.seconds, self.clock)
        track.add(sec, cls, bucket, latency, error, bytes_out)
        if backend is not None:
            if proxy == "forward":
                track = self._origins.track(backend)
            else:
                track = self._backends.get(backend)
                if track is None:
                    track = self._backends[backend] = Track(self.seconds, self.clock)
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
        windows = {o: summarise(tracks, o, now).to_dict() for o in spans}
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

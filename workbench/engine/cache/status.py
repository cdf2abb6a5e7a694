"""What the cache reports: lookup and store results, ``Cache-Status``, hit ratios, the listing."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from workbench.engine.observe.records import Headers

if TYPE_CHECKING:
    from workbench.engine.cache.store import CachedResponse, CacheKey

__all__ = [
    "CACHE_NAME",
    "LookupResult",
    "RatioRing",
    "StoreResult",
    "cache_status",
    "entry_rows",
    "hit_result",
    "stats_dict",
]

CACHE_NAME = "workbench"
"""Our name in ``Cache-Status`` (RFC 9211)."""


class LookupResult:
    """What :meth:`HttpCache.lookup` decided, and why (``reason`` goes into the trace).

    ``status`` is one of hit, miss, stale, bypass. A must-revalidate lookup reports ``stale``;
    the engine's final word for the record is ``revalidated`` (304), ``stale`` (served on error)
    or ``miss`` (replaced). ``fwd`` is the RFC 9211 forward reason (None on a hit).
    """

    __slots__ = (
        "status",
        "reason",
        "entry",
        "key",
        "fwd",
        "ttl",
        "usable",
        "must_revalidate",
        "conditional_headers",
        "can_serve_stale_on_error",
        "serve_while_revalidate",
        "only_if_cached_fail",
        "range",
        "if_range",
        "conditional",
        "age",
    )

    def __init__(
        self,
        status: str,
        reason: str,
        entry: CachedResponse | None = None,
        key: CacheKey | None = None,
        fwd: str | None = None,
        ttl: float | None = None,
        usable: bool = False,
        must_revalidate: bool = False,
        conditional_headers: Headers | None = None,
        can_serve_stale_on_error: bool = False,
        serve_while_revalidate: bool = False,
        only_if_cached_fail: bool = False,
    ) -> None:
        self.status = status
        self.reason = reason
        self.entry = entry
        self.key = key
        self.fwd = fwd
        self.ttl = ttl
        """Seconds of freshness left (negative: stale by that much); None without an entry."""
        self.usable = usable
        """The entry may be sent to the client now (fresh, or stale by permission)."""
        self.must_revalidate = must_revalidate
        self.conditional_headers: Headers = conditional_headers or []
        self.can_serve_stale_on_error = can_serve_stale_on_error
        self.serve_while_revalidate = serve_while_revalidate
        self.only_if_cached_fail = only_if_cached_fail
        self.range: str | None = None
        """The request's Range (GET only), for :meth:`HttpCache.apply_range`."""
        self.if_range: str | None = None
        self.conditional = False
        """The request carries If-None-Match or If-Modified-Since (it may be answered 304)."""
        self.age = 0.0
        """A fresh hit's current age (RFC 9111 §4.2.3) at the lookup (0.0 for the others)."""

    def __repr__(self) -> str:
        return f"LookupResult({self.status!r}, {self.reason!r})"


_new = object.__new__


def hit_result(reason: str, entry: CachedResponse, key: CacheKey, ttl: float, age: float):
    """A fresh hit's :class:`LookupResult`: the general constructor's result for
    ``LookupResult("hit", reason, entry, key, None, ttl, True)`` with ``age`` set, made
    without its keyword handling (a hit is the proxy's fastest path)."""
    res = _new(LookupResult)
    res.status = "hit"
    res.reason = reason
    res.entry = entry
    res.key = key
    res.fwd = None
    res.ttl = ttl
    res.usable = True
    res.must_revalidate = False
    res.conditional_headers = []
    res.can_serve_stale_on_error = False
    res.serve_while_revalidate = False
    res.only_if_cached_fail = False
    res.range = None
    res.if_range = None
    res.conditional = False
    res.age = age
    return res


class StoreResult:
    """Outcome of :meth:`HttpCache.store`; truthy when stored. ``reason`` goes into the trace."""

    __slots__ = ("stored", "reason", "entry")

    def __init__(self, stored: bool, reason: str, entry: CachedResponse | None = None) -> None:
        self.stored = stored
        self.reason = reason
        self.entry = entry

    def __bool__(self) -> bool:
        return self.stored

    def __repr__(self) -> str:
        return f"StoreResult({self.stored}, {self.reason!r})"


def cache_status(
    result: LookupResult,
    stored: bool = False,
    fwd_status: int | None = None,
    *,
    collapsed: bool = False,
    detail: str | None = None,
    name: str = CACHE_NAME,
) -> str:
    """A ``Cache-Status`` member (RFC 9211) for what happened to one request.

    ``workbench; hit; ttl=42`` · ``workbench; fwd=uri-miss; stored`` ·
    ``workbench; fwd=stale; fwd-status=304`` · ``workbench; fwd=bypass``.
    """
    if (
        result.usable
        and fwd_status is None
        and result.ttl is not None
        and not (stored or collapsed or detail)
    ):
        return f"{name}; hit; ttl={int(result.ttl)}"  # the common case, without the list
    parts = [name]
    if result.usable and fwd_status is None:
        parts.append("hit")
        if result.ttl is not None:
            parts.append(f"ttl={int(result.ttl)}")
    else:
        parts.append(f"fwd={result.fwd or 'miss'}")
        if fwd_status is not None:
            parts.append(f"fwd-status={fwd_status}")
    if stored:
        parts.append("stored")
    if collapsed:
        parts.append("collapsed")
    if detail:
        parts.append(f"detail={detail}")
    return "; ".join(parts)


class RatioRing:
    """Per-second (served from cache, total) counts in a fixed ring; O(1) to update.

    The current second counts into two plain integers and is written to its slot only when the
    second changes, so the hot path does no list indexing.
    """

    __slots__ = ("_sec", "_hit", "_all", "_cur", "_cur_hit", "_cur_all", "_lo", "_hi")
    SIZE = 64  # ≥ 60 s window + the current second; a power of two so the index is a mask

    def __init__(self) -> None:
        self._sec = [-1] * self.SIZE
        self._hit = [0] * self.SIZE
        self._all = [0] * self.SIZE
        self._cur = -1
        self._cur_hit = 0
        self._cur_all = 0
        self._lo = -1.0
        self._hi = 0.0
        """The current second as times: ``_lo <= now < _hi`` means ``int(now) == _cur``,
        without making an int per call."""

    def add(self, now: float, hit: bool) -> None:
        if not self._lo <= now < self._hi:
            s = int(now)
            if s != self._cur:
                self._flush(s)
        self._cur_all += 1
        if hit:
            self._cur_hit += 1

    def _flush(self, s: int) -> None:
        if self._cur >= 0:
            i = self._cur & (self.SIZE - 1)
            self._sec[i] = self._cur
            self._hit[i] = self._cur_hit
            self._all[i] = self._cur_all
        self._cur = s
        # (int() rounds towards 0: below 0 no bounds, every add compares the int)
        self._lo = float(s) if s >= 0 else 0.0
        self._hi = s + 1.0 if s >= 0 else 0.0
        self._cur_hit = self._cur_all = 0

    def ratio(self, now: float, seconds: int) -> float | None:
        s = int(now)
        hits = total = 0
        if s - seconds < self._cur <= s:
            hits, total = self._cur_hit, self._cur_all
        for sec in range(s - seconds + 1, s + 1):
            i = sec & (self.SIZE - 1)
            if self._sec[i] == sec and sec != self._cur:
                hits += self._hit[i]
                total += self._all[i]
        return hits / total if total else None


def entry_rows(entries: Iterable[CachedResponse], limit: int, now: float) -> list[dict[str, Any]]:
    """Plain rows for the UI's cache table, in the order given (most recently used first).

    ``set_cookie`` marks entries that will replay a stored Set-Cookie to every client.
    """
    out: list[dict[str, Any]] = []
    for e in entries:
        if len(out) >= limit:
            break
        age = e.age(now)
        out.append(
            {
                "key": e.key,
                "url": e.url,
                "status": e.status,
                "size": e.size,
                "age": int(age),
                "ttl": int(e.lifetime - age),
                "hits": e.hits,
                "source": e.source,
                "vary": {n: v for n, v in e.vary},
                "set_cookie": e.set_cookie,
                "targeted": e.targeted,
            }
        )
    return out


def stats_dict(cache: Any, ring: RatioRing, now: float) -> dict[str, Any]:
    """An :class:`HttpCache`'s counters, sizes and hit ratios (None: no cacheable request).

    Hits, stale responses served and revalidations count as served from the cache.
    """
    memory = cache.memory
    served = cache.hits + cache.stale + cache.revalidated
    total = served + cache.misses
    return {
        "hits": cache.hits,
        "misses": cache.misses,
        "stale": cache.stale,
        "revalidated": cache.revalidated,
        "bypass": cache.bypass,
        "uncacheable": cache.uncacheable,
        "stores": cache.stores,
        "evictions": memory.evictions,
        "invalidations": cache.invalidations,
        "bytes_served": cache.bytes_served,
        "entries": len(memory),
        "bytes": memory.bytes,
        "max_size": memory.max_size,
        "max_object_size": memory.max_object_size,
        "hit_ratio_10s": ring.ratio(now, 10),
        "hit_ratio_60s": ring.ratio(now, 60),
        "hit_ratio": served / total if total else None,
    }

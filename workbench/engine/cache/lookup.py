"""Reuse (RFC 9111 §4): how a stored response may answer a request, and the counting of it.

:class:`CacheLookup` is the lookup half of :class:`.core.HttpCache` (which sets up the store,
the clock, the options and the counters it uses). Synchronous and allocation-light: a fresh hit
is the proxy's fastest path.
"""

from __future__ import annotations

from collections.abc import Callable

from workbench.engine.cache.parse import (
    EMPTY_CC,
    CacheControl,
    field_value,
    normalize_url,
    normalize_vary_value,
    parse_cache_control,
)
from workbench.engine.cache.policy import stale_on_error_allowed
from workbench.engine.cache.status import LookupResult, RatioRing, hit_result
from workbench.engine.cache.store import CachedResponse, CacheKey, MemoryStore
from workbench.engine.observe.records import Headers

__all__ = ["CacheLookup", "PlainHit"]

PlainHit = tuple[CachedResponse, str, float, float, CacheKey]
"""A fresh hit for a request without Range or validators: (entry, reason, ttl, age, key), the
fields of the :class:`LookupResult` :func:`~.status.hit_result` would make of it."""

_CACHE_CONTROL, _AUTHORIZATION, _PRAGMA, _RANGE, _IF_RANGE, _CONDITIONAL = range(6)
_FIELDS = {
    "cache-control": _CACHE_CONTROL,
    "authorization": _AUTHORIZATION,
    "pragma": _PRAGMA,
    "range": _RANGE,
    "if-range": _IF_RANGE,
    "if-none-match": _CONDITIONAL,
    "if-modified-since": _CONDITIONAL,
}
"""The request fields a lookup reads (lower-case name → what it is)."""
MEMO_KEYS = 4096
"""URLs whose cache key is remembered (then all are forgotten at once)..."""
MEMO_URL = 2048
"""...when they are at most this long."""


class CacheLookup:
    """Lookup decisions over :attr:`memory`; counts hits, misses, bypasses and stale uses."""

    memory: MemoryStore
    serve_stale_on_error: float
    _clock: Callable[[], float]
    _ring: RatioRing
    _get_keys: dict[str, CacheKey]
    """Request URL → its GET key (the same few URLs make most lookups); bounded."""
    hits: int
    misses: int
    stale: int
    bypass: int
    bytes_served: int

    # -- lookup --------------------------------------------------------------------------------
    def lookup(
        self, method: str, url: str, req_headers: Headers, now: float | None = None
    ) -> LookupResult:
        """Find a stored response for this request and decide how it may be used."""
        res = self.lookup_or_hit(method, url, req_headers, now)
        if type(res) is tuple:
            entry, reason, remaining, age, key = res
            return hit_result(reason, entry, key, remaining, age)
        return res

    def lookup_or_hit(
        self, method: str, url: str, req_headers: Headers, now: float | None = None
    ) -> LookupResult | PlainHit:
        """:meth:`lookup`, except that a fresh hit for a request without Range or validators
        (the proxy's fastest path) comes as a :data:`PlainHit` tuple, counted the same."""
        if now is None:
            now = self._clock()
        if method != "GET" and method != "HEAD":
            self.bypass += 1
            return LookupResult("bypass", f"bypass: method {method}", fwd="bypass")
        cc_raw: str | None = None
        pragma_no_cache = False
        rng: str | None = None
        if_range: str | None = None
        conditional = False
        for name, value in req_headers:
            kind = _FIELDS.get(name.lower())
            if kind is None:
                continue  # most fields: one dict lookup
            if kind == _CACHE_CONTROL:
                cc_raw = value if cc_raw is None else f"{cc_raw}, {value}"
            elif kind == _AUTHORIZATION:
                self.bypass += 1
                return LookupResult("bypass", "bypass: Authorization", fwd="bypass")
            elif kind == _PRAGMA:
                if "no-cache" in value.lower():
                    pragma_no_cache = True
            elif kind == _RANGE:
                rng = value if rng is None else f"{rng}, {value}"
            elif kind == _IF_RANGE:
                if_range = value
            else:
                conditional = True
        plain = (rng is None or method != "GET") and not conditional
        res = self._decide(method, url, req_headers, now, cc_raw, pragma_no_cache, plain)
        if plain:
            return res  # nothing to add (a hit comes as a PlainHit)
        if rng is not None and method == "GET":
            res.range = rng
            res.if_range = if_range
        if conditional:
            res.conditional = True
        return res

    def _decide(
        self,
        method: str,
        url: str,
        req_headers: Headers,
        now: float,
        cc_raw: str | None,
        pragma_no_cache: bool,
        plain: bool = False,
    ) -> LookupResult | PlainHit:
        rcc = parse_cache_control(cc_raw) if cc_raw else EMPTY_CC
        keys = self._get_keys
        key = keys.get(url)
        if key is None:
            key = "GET|" + normalize_url(url)
            if len(url) <= MEMO_URL:
                if len(keys) >= MEMO_KEYS:
                    keys.clear()
                keys[url] = key
        variants = self.memory._index.get(key)
        if variants is None and method == "HEAD":
            key = "HEAD|" + key[4:]
            variants = self.memory._index.get(key)
        if variants is None:
            return self._miss(key, rcc, now, "miss: no entry", "uri-miss")
        entry = None
        for v in variants:
            if not v.vary or all(
                normalize_vary_value(n, field_value(req_headers, n)) == val for n, val in v.vary
            ):
                entry = v
                break
        if entry is None:
            names = ", ".join(n for n, _ in variants[0].vary)
            return self._miss(
                key, rcc, now, f"miss: no stored variant for Vary: {names}", "vary-miss"
            )

        age = entry.corrected_initial_age + (now - entry.response_time)
        if age < 0.0:
            age = 0.0
        remaining = entry.lifetime - age
        fwd = "stale"
        why: str
        if entry.no_cache:
            why = "response says no-cache"
        elif rcc.no_cache or (pragma_no_cache and cc_raw is None):
            why, fwd = "client sent no-cache", "request"
        elif rcc.max_age is not None and age > rcc.max_age:
            why = f"age {age:.0f}s exceeds client max-age={rcc.max_age}"
            if remaining > 0:
                fwd = "request"
        elif remaining > 0.0:
            if rcc.min_fresh is None or remaining >= rcc.min_fresh:
                # A fresh hit (the proxy's fastest path: counted and answered inline).
                entry.hits += 1
                self.memory._lru.move_to_end(entry)
                self.hits += 1
                if method == "GET":
                    self.bytes_served += len(entry.body)
                ring = self._ring  # RatioRing.add(now, True), inlined
                if not ring._lo <= now < ring._hi and int(now) != ring._cur:
                    ring._flush(int(now))
                ring._cur_all += 1
                ring._cur_hit += 1
                # The reason changes once a second: hits within that second share one string.
                memo = entry.hit_reason  # (ttl, ttl + 1, why): ttl = int(remaining) inside
                if not memo[0] <= remaining < memo[1]:
                    ttl = int(remaining)
                    if entry.heuristic:
                        why = f"hit: heuristic freshness (10% of Last-Modified age), ttl {ttl}s"
                    else:
                        why = f"hit: fresh, ttl {ttl}s"
                    memo = entry.hit_reason = (float(ttl), ttl + 1.0, why)
                if plain:
                    return (entry, memo[2], remaining, age, key)
                return hit_result(memo[2], entry, key, remaining, age)
            why, fwd = f"ttl {remaining:.0f}s is under client min-fresh={rcc.min_fresh}", "request"
        else:
            stale_for = -remaining
            if rcc.max_stale is not None and not entry.forbid_stale and stale_for <= rcc.max_stale:
                return self._serve_stale_now(
                    entry,
                    key,
                    method,
                    remaining,
                    now,
                    f"stale: {stale_for:.0f}s stale, within client max-stale",
                    False,
                )
            if entry.swr is not None and not entry.forbid_stale and stale_for <= entry.swr:
                # The engine starts one revalidation unless one is in flight already.
                return self._serve_stale_now(
                    entry,
                    key,
                    method,
                    remaining,
                    now,
                    f"stale: {_expired(entry, stale_for)}, served"
                    f" (stale-while-revalidate={entry.swr})",
                    True,
                )
            why = _expired(entry, stale_for)

        if rcc.only_if_cached:
            self._count_miss(now)
            return LookupResult(
                "miss",
                f"miss: only-if-cached, but {why} (504)",
                entry,
                key,
                "miss",
                ttl=remaining,
                only_if_cached_fail=True,
            )
        stale_for = -remaining if remaining < 0.0 else 0.0
        if remaining > 0.0 and not entry.no_cache:
            # Fresh, but the client asked for more: only the client itself can waive that.
            on_error = not entry.forbid_stale and rcc.stale_if_error is not None
        else:
            on_error = stale_on_error_allowed(
                entry.forbid_stale,
                stale_for,
                entry.sie,
                rcc.stale_if_error,
                self.serve_stale_on_error,
            )
        return LookupResult(
            "stale",
            f"stale: {why}, revalidating",
            entry,
            key,
            fwd,
            ttl=remaining,
            must_revalidate=True,
            conditional_headers=list(entry.conditional),
            can_serve_stale_on_error=on_error,
        )

    def _serve_stale_now(
        self,
        entry: CachedResponse,
        key: CacheKey,
        method: str,
        remaining: float,
        now: float,
        reason: str,
        revalidate: bool,
    ) -> LookupResult:
        self._count_stale(entry, method, now)
        return LookupResult(
            "stale",
            reason,
            entry,
            key,
            "stale",
            remaining,
            True,
            conditional_headers=list(entry.conditional) if revalidate else None,
            serve_while_revalidate=revalidate,
        )

    def _count_stale(self, entry: CachedResponse, method: str, now: float) -> None:
        """A stale response goes to a client (by permission, or because the origin failed)."""
        entry.hits += 1
        self.memory.touch(entry)
        self.stale += 1
        if method == "GET":
            self.bytes_served += len(entry.body)
        self._ring.add(now, True)

    def _miss(
        self, key: CacheKey, rcc: CacheControl, now: float, reason: str, fwd: str
    ) -> LookupResult:
        self._count_miss(now)
        if rcc.only_if_cached:
            return LookupResult(
                "miss", f"{reason}; only-if-cached (504)", None, key, fwd, only_if_cached_fail=True
            )
        return LookupResult("miss", reason, None, key, fwd)

    def _count_miss(self, now: float) -> None:
        self.misses += 1
        self._ring.add(now, False)

    def count_miss(self, now: float | None = None) -> None:
        """Count a revalidation that ended in a full response as a miss."""
        self._count_miss(self._clock() if now is None else now)


def _expired(entry: CachedResponse, stale_for: float) -> str:
    if entry.source == "none":
        return "no freshness information"
    label = "heuristic freshness" if entry.heuristic else entry.source
    return f"{label} expired {stale_for:.0f}s ago"

"""The shared HTTP cache: RFC 9111 decisions (from :mod:`.policy`) over the LRU :mod:`.store`.

Pure, synchronous and free of networking: the engine asks questions and acts on the answers.
Headers are ``list[tuple[str, str]]`` in wire order, names in their original case. Every time
argument is wall-clock seconds (``time.time()``); ``now=None`` means "ask the injected clock".

How the engine drives it, and the policy choices: see the package docstring (:mod:`.`).

Counting: ``lookup`` counts hits, misses, bypasses and stale responses it lets through;
``refresh`` counts revalidations, ``serve_stale`` stale responses; when a revalidation ends in a
full response the engine calls ``count_miss``. The hit ratio counts hits, stale served and
revalidations as served-from-cache, misses as not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from workbench.engine.cache.answer import (
    apply_range,
    not_modified,
    not_modified_headers,
    response_headers,
)
from workbench.engine.cache.entries import (
    Verdict,
    build_entry,
    date_value,
    judge,
    same_representation,
    with_date,
)
from workbench.engine.cache.lookup import CacheLookup
from workbench.engine.cache.parse import (
    field_value,
    normalize_url,
)
from workbench.engine.cache.policy import (
    ResponseMeta,
    freshness_lifetime,
    invalidation_targets,
    merge_304_headers,
    vary_key,
)
from workbench.engine.cache.status import (
    LookupResult,
    RatioRing,
    StoreResult,
    entry_rows,
    stats_dict,
)
from workbench.engine.cache.store import CachedResponse, CacheKey, MemoryStore
from workbench.engine.observe.records import Headers

__all__ = ["HttpCache", "LookupResult", "StoreResult"]  # the results live in .status


class HttpCache(CacheLookup):
    """A shared (proxy) cache: storage decisions, freshness, validation and invalidation.

    The reuse decisions (:meth:`lookup`) are in :class:`.lookup.CacheLookup`.
    """

    def __init__(
        self,
        max_size: int,
        max_object_size: int,
        clock: Callable[[], float] = time.time,
        *,
        store_set_cookie: bool = True,
        serve_stale_on_error: float = 0.0,
        targeted_fields: Iterable[str] = ("CDN-Cache-Control",),
    ) -> None:
        self.memory = MemoryStore(max_size, max_object_size)
        self._clock = clock
        self._ring = RatioRing()
        self._get_keys: dict[str, CacheKey] = {}
        self.store_set_cookie = store_set_cookie
        """Store responses carrying Set-Cookie (RFC 9111 §7.3 allows it); config key."""
        self.serve_stale_on_error = serve_stale_on_error
        """Seconds of staleness a failed origin may be covered for without stale-if-error."""
        self.targeted_fields: tuple[str, ...] = tuple(n.lower() for n in targeted_fields)
        """RFC 9213 target list, lower-case, in priority order (used with ``targeted=True``)."""
        self.hits = 0
        self.misses = 0
        self.stale = 0
        self.revalidated = 0
        self.bypass = 0
        self.uncacheable = 0
        self.stores = 0
        self.invalidations = 0
        self.bytes_served = 0

    @classmethod
    def from_config(cls, config: Any) -> HttpCache:
        """A cache for a :class:`workbench.config.model.CacheConfig`."""
        return cls(
            config.max_size,
            config.max_object_size,
            store_set_cookie=config.store_set_cookie,
            serve_stale_on_error=config.serve_stale_on_error,
            targeted_fields=config.targeted_fields,
        )

    # -- keys ----------------------------------------------------------------------------------
    @staticmethod
    def key(method: str, url: str) -> CacheKey:
        """Primary key: HEAD keeps its own key; everything else is looked up as GET."""
        return f"{'HEAD' if method == 'HEAD' else 'GET'}|{normalize_url(url)}"

    def collapse_key(self, method: str, url: str, req_headers: Headers) -> str | None:
        """Key under which concurrent misses may share one upstream fetch (None: don't).

        Includes the request's values for the fields the stored variants vary on, so requests
        that would select different variants are not collapsed onto each other.
        """
        if method not in ("GET", "HEAD") or field_value(req_headers, "authorization"):
            return None
        key = self.key(method, url)
        variants = self.memory.variants(key)
        if variants and variants[0].vary:
            vals = "|".join(f"{n}={v}" for n, v in vary_key(variants[0].names, req_headers))
            return f"{key}|{vals}"
        return key

    # -- storing -------------------------------------------------------------------------------
    def _meta(self, resp_headers: Headers, targeted: bool) -> ResponseMeta:
        return ResponseMeta(resp_headers, self.targeted_fields if targeted else ())

    def _judge(
        self,
        meta: ResponseMeta,
        method: str,
        url: str,
        req_headers: Headers,
        status: int,
        body_size: int | None,
        date: float,
    ) -> Verdict:
        return judge(
            meta,
            method,
            url,
            req_headers,
            status,
            body_size,
            date,
            max_object_size=self.memory.max_object_size,
            store_set_cookie=self.store_set_cookie,
        )

    def storable(
        self,
        method: str,
        url: str,
        req_headers: Headers,
        status: int,
        resp_headers: Headers,
        body_size: int | None = None,
        *,
        targeted: bool = False,
    ) -> tuple[bool, str]:
        """May a shared cache store this response (RFC 9111 §3)? And the reason, for the trace.

        ``body_size`` defaults to the response's Content-Length, if any; pass it when known.
        ``targeted``: this cache is the reverse proxy, so RFC 9213 targeted fields apply.
        """
        meta = self._meta(resp_headers, targeted)
        date = date_value(meta, self._clock())
        verdict = self._judge(meta, method, url, req_headers, status, body_size, date)
        return verdict.ok, verdict.reason

    def store(
        self,
        method: str,
        url: str,
        req_headers: Headers,
        status: int,
        resp_headers: Headers,
        body: bytes,
        request_time: float,
        response_time: float,
        *,
        targeted: bool = False,
    ) -> StoreResult:
        """Store a response from upstream if policy allows; truthy when stored.

        A POST response is stored (for later GETs) only when it names its own URI in
        Content-Location and has explicit freshness; call :meth:`invalidate` first.
        """
        meta = self._meta(resp_headers, targeted)
        date = date_value(meta, response_time)
        verdict = self._judge(meta, method, url, req_headers, status, len(body), date)
        if not verdict.ok:
            self.uncacheable += 1
            return StoreResult(False, verdict.reason)
        entry = build_entry(
            self.key(method, url),
            meta,
            url,
            req_headers,
            status,
            resp_headers,
            body,
            request_time,
            response_time,
            date,
            verdict,
        )
        if not self.memory.put(entry):
            self.uncacheable += 1
            return StoreResult(False, f"uncacheable: {entry.size} bytes do not fit the cache")
        self.stores += 1
        return StoreResult(True, f"stored, ttl {entry.lifetime:.0f}s ({entry.source})", entry)

    def refresh(
        self,
        entry: CachedResponse,
        resp_304_headers: Headers,
        request_time: float,
        response_time: float,
        served: bool = True,
        *,
        targeted: bool | None = None,
    ) -> CachedResponse:
        """Apply a 304 to ``entry`` (RFC 9111 §4.3.4) and return the updated response to serve.

        Fields in the 304 replace the stored ones of the same name, except the body's framing
        and encoding. Freshness and age restart from this exchange. If the merged response is no
        longer storable (the 304 said no-store, say) it leaves the store but is still returned:
        the origin just confirmed it for this request. ``served=False`` for a background
        (stale-while-revalidate) refresh, which sends nothing to a client. ``targeted``
        defaults to what decided the stored entry.
        """
        if targeted is None:
            targeted = entry.targeted is not None
        # A 304 without Date was sent now, not when the stored response was (RFC 9110 §6.6.1).
        merged = merge_304_headers(entry.headers, with_date(resp_304_headers, response_time))
        meta = self._meta(merged, targeted)
        method = "HEAD" if entry.key.startswith("HEAD|") else "GET"
        date = date_value(meta, response_time)
        verdict = self._judge(meta, method, entry.url, [], entry.status, len(entry.body), date)
        if not verdict.ok:  # still the response to serve now: keep its freshness for the trace
            verdict = Verdict(False, verdict.reason, *freshness_lifetime(meta, entry.status, date))
        new = build_entry(
            entry.key,
            meta,
            entry.url,
            [],
            entry.status,
            merged,
            entry.body,
            request_time,
            response_time,
            date,
            verdict,
            hits=entry.hits + (1 if served and verdict.ok else 0),
            vary=entry.vary,
        )
        self.revalidated += 1
        if served:
            if method == "GET":
                self.bytes_served += len(entry.body)
            self._ring.add(response_time, True)
        self.memory.remove(entry)
        if verdict.ok:
            self.memory.put(new)
        return new

    def freshen_from_head(
        self,
        url: str,
        req_headers: Headers,
        status: int,
        resp_headers: Headers,
        request_time: float,
        response_time: float,
        *,
        targeted: bool = False,
    ) -> CachedResponse | None:
        """A 200 to HEAD updates the stored GET it describes (RFC 9111 §4.3.5).

        Only when the validators agree (ETag, Last-Modified and Content-Length, each when the
        HEAD response carries it); then the stored headers are updated as by a 304.
        """
        if status != 200:
            return None
        variants = self.memory.variants("GET|" + normalize_url(url))
        if not variants:
            return None
        meta = ResponseMeta(resp_headers)
        for entry in variants:
            if entry.vary and vary_key(entry.names, req_headers) != entry.vary:
                continue
            if not same_representation(entry, meta):
                return None
            return self.refresh(
                entry, resp_headers, request_time, response_time, False, targeted=targeted
            )
        return None

    def serve_stale(
        self, entry: CachedResponse, now: float | None = None, method: str = "GET"
    ) -> Headers:
        """Count a stale response served because upstream failed; returns its headers."""
        if now is None:
            now = self._clock()
        self._count_stale(entry, method, now)
        return response_headers(entry, now)

    # -- answering (see .answer) ---------------------------------------------------------------
    def response_headers(self, entry: CachedResponse, now: float | None = None) -> Headers:
        """The stored fields plus a fresh ``Age`` (the caller adds ``Cache-Status``)."""
        return response_headers(entry, self._clock() if now is None else now)

    def not_modified_headers(self, entry: CachedResponse, now: float | None = None) -> Headers:
        """Fields for a 304 answered from ``entry`` (RFC 9110 §15.4.5), plus ``Age``."""
        return not_modified_headers(entry, self._clock() if now is None else now)

    not_modified = staticmethod(not_modified)
    apply_range = staticmethod(apply_range)

    # -- invalidation and purging --------------------------------------------------------------
    def invalidate(self, method: str, url: str, status: int, resp_headers: Headers) -> int:
        """After an unsafe request that succeeded, drop what it may have changed (§4.4).

        See :func:`.policy.invalidation_targets`. Returns how many stored responses went.
        """
        n = 0
        for u in invalidation_targets(method, url, status, resp_headers):
            n += self.memory.remove_key("GET|" + u) + self.memory.remove_key("HEAD|" + u)
        self.invalidations += n
        return n

    def purge(self, prefix: str | None = None) -> int:
        """Drop all entries, or those whose path (``/static``) or URL (``http://h/x``) matches."""
        return self.memory.purge(prefix)

    def configure(
        self,
        max_size: int,
        max_object_size: int,
        *,
        store_set_cookie: bool | None = None,
        serve_stale_on_error: float | None = None,
        targeted_fields: Iterable[str] | None = None,
    ) -> None:
        """Apply new limits and options, evicting at once if the cache shrank."""
        self.memory.resize(max_size, max_object_size)
        if store_set_cookie is not None:
            self.store_set_cookie = store_set_cookie
        if serve_stale_on_error is not None:
            self.serve_stale_on_error = serve_stale_on_error
        if targeted_fields is not None:
            self.targeted_fields = tuple(n.lower() for n in targeted_fields)

    # -- reading -------------------------------------------------------------------------------
    def stats(self, now: float | None = None) -> dict[str, Any]:
        """Counters, sizes and hit ratios (None when no cacheable request in the window)."""
        if now is None:
            now = self._clock()
        return stats_dict(self, self._ring, now)

    def entries(self, limit: int = 200, now: float | None = None) -> list[dict[str, Any]]:
        """The most recently used entries, for the UI's cache table."""
        return entry_rows(self.memory, limit, self._clock() if now is None else now)

"""The shared HTTP cache: RFC 9111 decisions (from :mod:`.policy`) over the LRU :mod:`.store`.

Pure, synchronous and free of networking: the engine asks questions and acts on the answers.
Headers are ``list[tuple[str, str]]`` in wire order, names in their original case. Every time
argument is wall-clock seconds (``time.time()``); ``now=None`` means "ask the injected clock".

How the engine drives it::

    res = cache.lookup(method, url, req_headers)            # → LookupResult, reason for the trace
    if res.only_if_cached_fail:   answer 504
    elif res.usable:              # fresh hit, or stale that may be served (max-stale, s-w-r)
        if cache.not_modified(res.entry, req_headers): answer 304 with
            cache.not_modified_headers(res.entry)
        else: answer res.entry.status, cache.response_headers(res.entry), res.entry.body
        if res.serve_while_revalidate: revalidate in the background (res.conditional_headers),
            then cache.refresh(res.entry, h304, t0, t1, served=False) or cache.store(...)
    elif res.must_revalidate:     # stale or the client insists: forward with the validators
        send upstream with res.conditional_headers set (replacing the client's own)
        304                         → entry = cache.refresh(res.entry, h304, t0, t1)
        5xx / no answer and res.can_serve_stale_on_error → cache.serve_stale(res.entry)
        a full response             → cache.count_miss(); cache.store(...)
    else:                         # miss or bypass
        forward; then cache.store(method, url, req_headers, status, headers, body, t0, t1)
    for every unsafe request: cache.invalidate(method, url, status, resp_headers)
    Cache-Status header: cache_status(res, stored=..., fwd_status=...)

Policy choices worth knowing (each is allowed by RFC 9111, and each is the cautious one):

- Keys are ``"GET|" + normalised URL``; a HEAD request may be served from the GET entry, and a
  HEAD response is stored under ``"HEAD|…"`` for HEAD requests only. 206 and 304 are never
  stored. A fresh POST response whose Content-Location is its own URI is stored for GET.
- Requests carrying ``Authorization`` bypass the lookup (their answer may be per user); their
  responses are stored only when marked public, s-maxage or must-revalidate (§3.5).
- Set-Cookie does not prevent storing (§7.3) unless ``store_set_cookie`` is off; entries
  remember it. Fields named by qualified ``private="…"``/``no-cache="…"`` are not stored.
- A response that is stale on arrival and carries no validator is not stored (it could never be
  used). Vary ``*`` is never stored. Invalid ``max-age``/``Expires``/``Age`` mean "stale".
- must-revalidate, proxy-revalidate, s-maxage and no-cache forbid every stale use: client
  ``max-stale``, ``stale-while-revalidate``, ``stale-if-error`` and the configured window.
- With ``targeted=True`` (the reverse proxy) a targeted field from ``targeted_fields``
  (default ``CDN-Cache-Control``, RFC 9213) replaces Cache-Control and Expires for this cache.

Counting: ``lookup`` counts hits, misses, bypasses and stale responses it lets through;
``refresh`` counts revalidations, ``serve_stale`` stale responses; when a revalidation ends in a
full response the engine calls ``count_miss``. The hit ratio counts hits, stale served and
revalidations as served-from-cache, misses as not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from workbench.engine.cache.parse import (
    EMPTY_CC,
    CacheControl,
    field_value,
    normalize_url,
    normalize_vary_value,
    parse_age,
    parse_cache_control,
    parse_http_date,
    split_url,
)
from workbench.engine.cache.policy import (
    ResponseMeta,
    corrected_initial_age,
    etag_matches_weak,
    freshness_lifetime,
    if_range_matches,
    invalidation_targets,
    merge_304_headers,
    parse_range,
    partial_headers,
    stale_on_error_allowed,
    storable_reason,
    stored_headers,
    vary_key,
)
from workbench.engine.cache.status import LookupResult, RatioRing, StoreResult, entry_rows
from workbench.engine.cache.store import ENTRY_OVERHEAD, CachedResponse, CacheKey, MemoryStore
from workbench.engine.observe.records import Headers

__all__ = ["HttpCache", "LookupResult", "StoreResult"]  # the results live in .status

_NOT_MODIFIED_FIELDS = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified"}
)


class HttpCache:
    """A shared (proxy) cache: storage decisions, freshness, validation and invalidation."""

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

    # -- lookup --------------------------------------------------------------------------------
    def lookup(
        self, method: str, url: str, req_headers: Headers, now: float | None = None
    ) -> LookupResult:
        """Find a stored response for this request and decide how it may be used."""
        if now is None:
            now = self._clock()
        if method != "GET" and method != "HEAD":
            self.bypass += 1
            return LookupResult("bypass", f"bypass: method {method}", fwd="bypass")
        cc_raw: str | None = None
        pragma_no_cache = False
        rng: str | None = None
        if_range: str | None = None
        for name, value in req_headers:
            ln = name.lower()
            if ln == "cache-control":
                cc_raw = value if cc_raw is None else f"{cc_raw}, {value}"
            elif ln == "authorization":
                self.bypass += 1
                return LookupResult("bypass", "bypass: Authorization", fwd="bypass")
            elif ln == "pragma" and "no-cache" in value.lower():
                pragma_no_cache = True
            elif ln == "range":
                rng = value if rng is None else f"{rng}, {value}"
            elif ln == "if-range":
                if_range = value
        res = self._decide(method, url, req_headers, now, cc_raw, pragma_no_cache)
        if rng is not None and method == "GET":
            res.range = rng
            res.if_range = if_range
        return res

    def _decide(
        self,
        method: str,
        url: str,
        req_headers: Headers,
        now: float,
        cc_raw: str | None,
        pragma_no_cache: bool,
    ) -> LookupResult:
        rcc = parse_cache_control(cc_raw) if cc_raw else EMPTY_CC
        nurl = normalize_url(url)
        key = "GET|" + nurl
        variants = self.memory._index.get(key)
        if variants is None and method == "HEAD":
            key = "HEAD|" + nurl
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
                return self._hit(entry, key, method, remaining, now)
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

    def _hit(
        self, entry: CachedResponse, key: CacheKey, method: str, remaining: float, now: float
    ) -> LookupResult:
        entry.hits += 1
        self.memory._lru.move_to_end(entry)
        self.hits += 1
        if method == "GET":
            self.bytes_served += len(entry.body)
        self._ring.add(now, True)
        if entry.heuristic:
            reason = f"hit: heuristic freshness (10% of Last-Modified age), ttl {int(remaining)}s"
        else:
            reason = f"hit: fresh, ttl {int(remaining)}s"
        return LookupResult("hit", reason, entry, key, None, remaining, True)

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
        entry.hits += 1
        self.memory.touch(entry)
        self.stale += 1
        if method == "GET":
            self.bytes_served += len(entry.body)
        self._ring.add(now, True)
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

    # -- storing -------------------------------------------------------------------------------
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
        meta = ResponseMeta(resp_headers, self.targeted_fields if targeted else ())
        ok, reason, _, _ = self._check(method, url, req_headers, status, meta, body_size, None)
        return ok, reason

    def _check(
        self,
        method: str,
        url: str,
        req_headers: Headers,
        status: int,
        meta: ResponseMeta,
        body_size: int | None,
        date_value: float | None,
    ) -> tuple[bool, str, float, str]:
        why = storable_reason(
            method,
            status,
            req_headers,
            meta,
            url=url,
            body_size=body_size,
            max_object_size=self.memory.max_object_size,
            store_set_cookie=self.store_set_cookie,
        )
        if why is not None:
            return False, f"uncacheable: {why}", 0.0, "none"
        if date_value is None:
            parsed = parse_http_date(meta.date) if meta.date else None
            date_value = parsed if parsed is not None else self._clock()
        lifetime, source = freshness_lifetime(meta, status, date_value)
        cc = meta.cc
        has_validator = meta.etag is not None or meta.last_modified is not None
        if not has_validator and (lifetime <= 0.0 or cc.no_cache):
            if cc.stale_while_revalidate is None and cc.stale_if_error is None:
                return False, "uncacheable: stale on arrival and no validator", 0.0, "none"
        how = f"{source} via {meta.targeted}" if meta.targeted else source
        return True, f"storable ({how})", lifetime, source

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
        entry, reason = self._build(
            method,
            url,
            req_headers,
            status,
            resp_headers,
            body,
            request_time,
            response_time,
            targeted=targeted,
        )
        if entry is None:
            self.uncacheable += 1
            return StoreResult(False, reason)
        if not self.memory.put(entry):
            self.uncacheable += 1
            return StoreResult(False, f"uncacheable: {entry.size} bytes do not fit the cache")
        self.stores += 1
        return StoreResult(True, f"stored, ttl {entry.lifetime:.0f}s ({entry.source})", entry)

    def _build(
        self,
        method: str,
        url: str,
        req_headers: Headers,
        status: int,
        resp_headers: Headers,
        body: bytes,
        request_time: float,
        response_time: float,
        hits: int = 0,
        vary: tuple[tuple[str, str | None], ...] | None = None,
        check: bool = True,
        targeted: bool = False,
    ) -> tuple[CachedResponse | None, str]:
        meta = ResponseMeta(resp_headers, self.targeted_fields if targeted else ())
        parsed_date = parse_http_date(meta.date) if meta.date else None
        # No Date: the receipt time stands in for it (RFC 9110 §6.6.1).
        date_value = parsed_date if parsed_date is not None else response_time
        if check:
            ok, reason, lifetime, source = self._check(
                method, url, req_headers, status, meta, len(body), date_value
            )
            if not ok:
                return None, reason
        else:
            reason = "not stored"
            lifetime, source = freshness_lifetime(meta, status, date_value)
        cc = meta.cc
        headers = stored_headers(resp_headers, cc)
        if vary is None:
            vary = vary_key(meta.vary, req_headers)
        conditional: Headers = []
        if meta.etag is not None:
            conditional.append(("If-None-Match", meta.etag))
        if meta.last_modified is not None:
            conditional.append(("If-Modified-Since", meta.last_modified))
        nurl = normalize_url(url)
        size = ENTRY_OVERHEAD + len(body) + len(nurl)
        set_cookie = False
        for n, v in headers:
            size += len(n) + len(v) + 4
            if not set_cookie and n.lower() == "set-cookie":
                set_cookie = True
        forbid_stale = (
            cc.must_revalidate or cc.proxy_revalidate or cc.no_cache or cc.s_maxage is not None
        )
        entry = CachedResponse(
            key=self.key(method, nurl),
            url=nurl,
            path=split_url(nurl)[1],
            status=status,
            headers=headers,
            body=body,
            request_time=request_time,
            response_time=response_time,
            date_value=date_value,
            age_value=parse_age(meta.age),
            corrected_initial_age=corrected_initial_age(
                parse_age(meta.age), date_value, request_time, response_time
            ),
            lifetime=lifetime,
            source=source,
            vary=vary,
            etag=meta.etag,
            last_modified=meta.last_modified,
            last_modified_value=(
                parse_http_date(meta.last_modified) if meta.last_modified else None
            ),
            no_cache=cc.no_cache,
            forbid_stale=forbid_stale,
            swr=cc.stale_while_revalidate,
            sie=cc.stale_if_error,
            conditional=conditional,
            size=size,
            stored_at=response_time,
            hits=hits,
            set_cookie=set_cookie,
            targeted=meta.targeted,
        )
        return entry, reason

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
        merged = merge_304_headers(entry.headers, resp_304_headers)
        method = "HEAD" if entry.key.startswith("HEAD|") else "GET"
        args = (method, entry.url, [], entry.status, merged, entry.body, request_time)
        new, _ = self._build(
            *args,
            response_time,
            hits=entry.hits + (1 if served else 0),
            vary=entry.vary,
            targeted=targeted,
        )
        self.revalidated += 1
        if served:
            if method == "GET":
                self.bytes_served += len(entry.body)
            self._ring.add(response_time, True)
        self.memory.remove(entry)
        if new is not None:
            self.memory.put(new)
            return new
        # No longer storable, but the origin just confirmed it for this one response.
        new, _ = self._build(
            *args,
            response_time,
            hits=entry.hits,
            vary=entry.vary,
            check=False,
            targeted=targeted,
        )
        assert new is not None
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
            if meta.etag is not None and meta.etag != entry.etag:
                return None
            if meta.last_modified is not None and meta.last_modified != entry.last_modified:
                return None
            if meta.content_length is not None and meta.content_length != len(entry.body):
                return None
            if meta.etag is None and meta.last_modified is None:
                return None  # nothing shows it is the same representation
            return self.refresh(
                entry, resp_headers, request_time, response_time, False, targeted=targeted
            )
        return None

    def serve_stale(self, entry: CachedResponse, now: float | None = None) -> Headers:
        """Count a stale response served because upstream failed; returns its headers."""
        if now is None:
            now = self._clock()
        entry.hits += 1
        self.memory.touch(entry)
        self.stale += 1
        self.bytes_served += len(entry.body)
        self._ring.add(now, True)
        return self.response_headers(entry, now)

    # -- answering -----------------------------------------------------------------------------
    def response_headers(self, entry: CachedResponse, now: float | None = None) -> Headers:
        """The stored fields plus a fresh ``Age`` (the caller adds ``Cache-Status``)."""
        if now is None:
            now = self._clock()
        age = entry.corrected_initial_age + (now - entry.response_time)
        headers = entry.headers.copy()
        headers.append(("Age", str(int(age)) if age > 0.0 else "0"))
        return headers

    @staticmethod
    def apply_range(
        res: LookupResult, entry: CachedResponse, headers: Headers, body: bytes
    ) -> tuple[int, Headers, bytes]:
        """Answer a GET's Range from a complete stored 200 (RFC 9110 §14).

        ``headers`` are the client-ready fields. Returns (206, fields with Content-Range, the
        slice), (416, fields with ``Content-Range: bytes */LEN``, no body), or the stored
        status with everything: when there is no Range, ``If-Range`` does not match, the
        entry is not a 200, or several ranges were asked for (allowed: RFC 9110 §14.2).
        """
        if res.range is None or entry.status != 200:
            return entry.status, headers, body
        if res.if_range is not None and not if_range_matches(
            res.if_range, entry.etag, entry.last_modified, entry.date_value
        ):
            return entry.status, headers, body
        length = len(body)
        br = parse_range(res.range, length)
        if br.kind == "partial":
            return (
                206,
                partial_headers(headers, br.start, br.end, length),
                body[br.start : br.end + 1],
            )
        if br.kind == "unsatisfiable":
            drop = ("content-length", "content-range", "content-type", "content-encoding")
            out = [(n, v) for n, v in headers if n.lower() not in drop]
            out.append(("Content-Range", f"bytes */{length}"))
            return 416, out, b""
        return entry.status, headers, body

    def not_modified_headers(self, entry: CachedResponse, now: float | None = None) -> Headers:
        """Fields for a 304 answered from ``entry`` (RFC 9110 §15.4.5), plus ``Age``."""
        headers = [(n, v) for n, v in entry.headers if n.lower() in _NOT_MODIFIED_FIELDS]
        age = entry.age(self._clock() if now is None else now)
        headers.append(("Age", str(int(age))))
        return headers

    def not_modified(self, entry: CachedResponse, req_headers: Headers) -> bool:
        """True when the client's own conditional GET/HEAD is satisfied by ``entry`` (→ 304).

        If-None-Match (weak comparison) takes precedence; otherwise If-Modified-Since against
        Last-Modified, or Date when there is none (RFC 9111 §4.3.2).
        """
        if not 200 <= entry.status < 300:
            return False
        inm: str | None = None
        ims: str | None = None
        for n, v in req_headers:
            ln = n.lower()
            if ln == "if-none-match":
                inm = v if inm is None else f"{inm}, {v}"
            elif ln == "if-modified-since":
                ims = v
        if inm is not None:
            return etag_matches_weak(inm, entry.etag)
        if ims is not None:
            since = parse_http_date(ims)
            if since is None:
                return False
            modified = entry.last_modified_value
            if modified is None:
                modified = entry.date_value
            return modified <= since
        return False

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
        served = self.hits + self.stale + self.revalidated
        total = served + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "stale": self.stale,
            "revalidated": self.revalidated,
            "bypass": self.bypass,
            "uncacheable": self.uncacheable,
            "stores": self.stores,
            "evictions": self.memory.evictions,
            "invalidations": self.invalidations,
            "bytes_served": self.bytes_served,
            "entries": len(self.memory),
            "bytes": self.memory.bytes,
            "max_size": self.memory.max_size,
            "max_object_size": self.memory.max_object_size,
            "hit_ratio_10s": self._ring.ratio(now, 10),
            "hit_ratio_60s": self._ring.ratio(now, 60),
            "hit_ratio": served / total if total else None,
        }

    def entries(self, limit: int = 200, now: float | None = None) -> list[dict[str, Any]]:
        """The most recently used entries, for the UI's cache table."""
        return entry_rows(self.memory, limit, self._clock() if now is None else now)


def _expired(entry: CachedResponse, stale_for: float) -> str:
    if entry.source == "none":
        return "no freshness information"
    label = "heuristic freshness" if entry.heuristic else entry.source
    return f"{label} expired {stale_for:.0f}s ago"

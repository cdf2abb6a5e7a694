"""The cache stages: RFC 9111 decisions from :mod:`cache` acted out on an :class:`Exchange`.

``lookup`` (before upstream) answers hits synchronously by putting the stored response on the
exchange (:mod:`.cache_hit` builds it), so the response rules and the respond stage run as plain
calls (no coroutine on a hit).
Single flight: at most one fetch per (proxy, collapse key) is in flight — a miss, a stale entry's
revalidation, or a stale-while-revalidate background refresh. Concurrent requests for the same
key wait for it (bounded) and all get its result: the response it stored or refreshed, or its
failure, to which each waiter applies its own stale-if-error rules. ``after_upstream`` is the one
place a revalidation's answer is judged (304 → refreshed entry, failure or 5xx → stale if
allowed), for clients and background refreshes alike; ``store`` decides storability before the
relay and ``commit`` stores the body the relay collected.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from workbench.engine.cache import HttpCache, LookupResult, cache_status, is_unsafe
from workbench.engine.http.client import UpstreamError, UpstreamResponse
from workbench.engine.observe.records import RequestRecord
from workbench.engine.pipeline.actions import answer, answer_error
from workbench.engine.pipeline.cache_hit import serve, serve_hit, serve_plain_hit, serve_stale
from workbench.engine.pipeline.exchange import DONE, SERVED, Exchange

if TYPE_CHECKING:
    from workbench.engine.engine import Engine

COLLAPSE_WAIT = 30.0
"""Least time a collapsed request waits for the one fetching before going upstream itself (the
wait grows with the upstream timeout, so a waiter outlasts the fetch it waits for)."""


async def read_all(resp: UpstreamResponse, limit: int) -> bytes | None:
    """The whole body, or None when it is larger than ``limit`` (the rest is drained)."""
    if resp.complete:
        body = resp.take_body()
        return body if len(body) <= limit else None
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = await resp.read()
        if not chunk:
            break
        size += len(chunk)
        if size <= limit:
            parts.append(chunk)
    return b"".join(parts) if size <= limit else None


class CacheState:
    """What the cache stage knows about one exchange that went past the lookup.

    The fetch that owns a collapse key leaves its outcome here for the requests waiting on it:
    ``answered`` (a response came), ``fresh`` (the entry a 304 refreshed) or ``failure``.
    """

    __slots__ = (
        "layer",
        "res",
        "entry",
        "stale_ok",
        "key",
        "t0",
        "t1",
        "url",
        "targeted",
        "answered",
        "fresh",
        "failure",
    )

    def __init__(self, layer: CacheLayer, res: LookupResult | None, url: str) -> None:
        self.layer = layer
        self.res = res
        self.url = url
        self.entry: Any = None
        """The stored entry being revalidated (None: a plain miss)."""
        self.stale_ok = False
        self.key: tuple[str, str] | None = None
        """The collapse key this exchange owns (others wait on it)."""
        self.t0 = 0.0
        self.t1 = 0.0
        self.targeted = False
        """RFC 9213 targeted fields apply (the reverse proxy's cache)."""
        self.answered = False
        self.fresh: Any = None
        self.failure: UpstreamError | int | None = None
        """Why the fetch failed: the upstream error, or the 5xx status of a revalidation."""


class CacheLayer:
    """Lookup, serve, revalidate, store, collapse and invalidate for one engine."""

    def __init__(self, engine: Engine, cache: HttpCache) -> None:
        self.engine = engine
        self.cache = cache
        self.inflight: dict[tuple[str, str], asyncio.Future[CacheState]] = {}
        """Fetches in progress, by (proxy, collapse key). Per proxy, because the forward proxy
        may fetch a URL through this engine's own reverse proxy: with one shared map, the
        reverse request would wait for the forward request that is waiting for it."""
        self.collapsed = 0
        """Requests answered by waiting for another request's fetch (all time)."""

    # -- stage: cache lookup ----------------------------------------------------------------
    def lookup(self, x: Exchange) -> Any:
        """Stage: serve a usable entry (synchronously: returns :data:`SERVED`), or prepare the
        miss. Nothing when the mode's cache is off."""
        if not x.mode.cache_enabled:
            return None
        req = x.req
        rec = x.rec
        method = req.method
        url = rec.url
        if method not in ("GET", "HEAD") or req.upgrade is not None:
            # Not cacheable; an upgrade (WebSocket) is never collapsed or stored.
            if is_unsafe(method):  # also M-SEARCH, PURGE, FOO: may invalidate (§4.4)
                st = CacheState(self, None, url)
                st.t0 = time.time()
                st.targeted = rec.proxy == "reverse"
                x.cache = st
            return None
        cache = self.cache
        res = cache.lookup_or_hit(method, url, req.headers)
        if type(res) is tuple:  # a fresh hit for a request without Range or validators
            rec.cache = "hit"
            serve_plain_hit(x, res)
            return SERVED
        if res.only_if_cached_fail:
            rec.cache = "miss"
            rec.step("cache", "MISS", res.reason + " (only-if-cached: 504)")
            return answer(x, 504, "Not in the cache (only-if-cached).\n")
        if res.usable:
            if res.status == "hit":
                rec.cache = "hit"
                serve_hit(x, res, cache)
                return SERVED
            rec.cache = "stale"
            rec.step("cache", "STALE", res.reason)
            serve(x, res.entry, cache_status(res), res, cache)
            if res.serve_while_revalidate:
                self._revalidate_in_background(x, res)
            return SERVED
        key = self._collapse_key(rec, method, url, req, res)
        if key is not None and key in self.inflight:
            return self._wait(x, key)
        self._miss(x, res, key)
        return None

    def _collapse_key(self, rec, method, url, req, res) -> tuple[str, str] | None:
        """Misses, and revalidations the entry's own staleness asks for, may share one fetch.

        A client that insists on validation itself (no-cache, max-age, min-fresh) goes on its own.
        """
        if res.status != "miss" and not (
            res.must_revalidate and res.fwd == "stale" and res.entry is not None
        ):
            return None
        key = self.cache.collapse_key(method, url, req.headers)
        return None if key is None else (rec.proxy, key)

    def _wait_bound(self, x: Exchange) -> float:
        """How long a waiter waits: at least as long as the fetch it waits for may take."""
        try:
            return max(COLLAPSE_WAIT, 2.0 * x.mode.timeout(x) + 5.0)
        except AttributeError:  # no destination to ask
            return COLLAPSE_WAIT

    async def _wait(self, x: Exchange, key: tuple[str, str]) -> Any:
        """Wait for the fetch in flight for ``key`` and answer with its result."""
        rec = x.rec
        req = x.req
        rec.step("cache", "WAIT", "the same URL is being fetched: waiting for that response")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait_bound(x)
        while True:
            fut = self.inflight.get(key)
            owner: CacheState | None = None
            if fut is not None:
                try:
                    owner = await asyncio.wait_for(
                        asyncio.shield(fut), max(0.0, deadline - loop.time())
                    )
                except TimeoutError:
                    rec.step("cache", "WAIT", "gave up waiting: going upstream itself")
            again = self.cache.lookup(req.method, rec.url, req.headers)
            if again.usable:
                self.collapsed += 1
                rec.cache = "hit"
                rec.step("cache", "HIT", "collapsed: answered from the response just stored")
                serve(x, again.entry, cache_status(again, collapsed=True), again, self.cache)
                return None
            if owner is not None:
                if owner.fresh is not None and again.entry is owner.fresh:
                    # Validated by the origin while this request waited (a no-cache entry).
                    self.collapsed += 1
                    rec.cache = "revalidated"
                    rec.step("cache", "REVALIDATED", "collapsed: the origin just answered 304")
                    status = cache_status(again, fwd_status=304, collapsed=True)
                    serve(x, owner.fresh, status, again, self.cache)
                    return None
                if owner.failure is not None:
                    return self._share_failure(x, again, owner.failure)
                vanished = not owner.answered
            else:
                vanished = False
            key2 = self._collapse_key(rec, req.method, rec.url, req, again)
            if vanished and key2 is not None and key2 in self.inflight:
                continue  # its client left before an answer: wait for the next one instead
            self._miss(x, again, key2)
            return None

    def _share_failure(self, x: Exchange, res: LookupResult, failure: UpstreamError | int) -> Any:
        """The fetch this request waited for failed: stale if this request allows it, else the
        same failure (never one more attempt per waiter)."""
        rec = x.rec
        why = str(failure) if isinstance(failure, UpstreamError) else f"origin answered {failure}"
        if res.entry is not None and res.must_revalidate and res.can_serve_stale_on_error:
            st = CacheState(self, res, rec.url)
            st.entry = res.entry
            x.cache = st
            serve_stale(x, self.cache, f"the fetch this request waited for failed ({why})")
            return None
        rec.cache = "miss"
        rec.step("cache", "FAILED", f"the fetch this request waited for failed: {why}")
        if isinstance(failure, UpstreamError):
            return answer_error(x, failure)
        rec.error = why
        return answer(
            x, failure, f"The origin answered {failure} to the request this one waited for.\n"
        )

    def _miss(self, x: Exchange, res: LookupResult, key: tuple[str, str] | None) -> None:
        rec = x.rec
        st = CacheState(self, res, rec.url)
        st.targeted = rec.proxy == "reverse"
        if key is not None and key not in self.inflight:
            self.inflight[key] = asyncio.get_running_loop().create_future()
            st.key = key
        entry = res.entry
        if res.status == "bypass":
            rec.cache = "bypass"
            rec.step("cache", "BYPASS", res.reason)
        elif res.must_revalidate and entry is not None:
            rec.step("cache", "STALE", res.reason)
            st.entry = entry
            st.stale_ok = res.can_serve_stale_on_error
            x.extra = res.conditional_headers
        else:
            rec.cache = "miss"
            rec.step("cache", "MISS", res.reason)
        st.t0 = time.time()
        x.cache = st

    def release(self, x: Exchange) -> None:
        """The exchange is over: wake the requests that waited for its fetch."""
        st = x.cache
        if st is not None and st.key is not None:
            if x.resp is not None:
                st.answered = True
            elif st.failure is None and x.error is not None:
                st.failure = x.error
            self._settle(st)

    def _settle(self, st: CacheState) -> None:
        """The outcome of ``st``'s fetch is known: hand it to every waiter (once)."""
        key = st.key
        if key is None:
            return
        st.key = None
        fut = self.inflight.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(st)

    # -- after upstream (revalidation) ------------------------------------------------------
    def after_upstream(self, x: Exchange) -> Any:
        """A revalidation's outcome: 304 → the refreshed entry; failure or 5xx → stale if allowed.

        The one judge of a revalidation, for a client's request and for a background refresh
        (``x.conn`` None: nothing is served). Returns None to go on (with the entry or the
        upstream response on the exchange), or :data:`DONE` when the failure is not the cache's
        to cover (the caller answers it).
        """
        st = x.cache
        rec = x.rec
        resp = x.resp
        client = x.conn is not None
        if resp is None:
            st.failure = x.error
            self._settle(st)
            if not (client and st.stale_ok):
                return DONE
            serve_stale(x, self.cache, str(x.error))
            x.error = None
            return None
        st.answered = True
        if resp.status == 304:
            x.release()
            x.resp = None
            fresh = self.cache.refresh(st.entry, resp.headers, st.t0, time.time(), client)
            st.fresh = fresh
            self._settle(st)
            rec.status = 304
            rec.cache = "revalidated"
            rec.step("cache", "REVALIDATED", "origin answered 304: stored headers refreshed")
            if client:
                serve(x, fresh, cache_status(st.res, fwd_status=304), st.res, self.cache)
            return None
        if resp.status >= 500:
            st.failure = resp.status
            self._settle(st)
            if client and st.stale_ok:
                x.release()
                x.resp = None
                serve_stale(x, self.cache, f"origin answered {resp.status}")
        return None

    # -- stage: cache store -----------------------------------------------------------------
    def store(self, x: Exchange) -> None:
        """Stage: invalidate after unsafe methods; decide whether the response will be stored."""
        st = x.cache
        resp = x.resp
        if st is None or resp is None:
            return None
        rec = x.rec
        cache = self.cache
        method = x.req.method
        if st.res is None:
            n = cache.invalidate(method, st.url, resp.status, resp.headers)
            if method == "POST":
                # A POST answer naming its own URI in Content-Location may serve later GETs.
                ok, _ = cache.storable(
                    method,
                    st.url,
                    x.req.headers,
                    resp.status,
                    resp.headers,
                    resp.content_length,
                    targeted=st.targeted,
                )
                if ok:
                    st.t1 = time.time()
                    x.collect = cache.memory.max_object_size
            rec.step(
                "cache",
                "invalidate" if n else "pass",
                f"{method} {resp.status}: removed {n} entr{'y' if n == 1 else 'ies'}"
                if n
                else f"{method} is not cacheable",
            )
            return None
        if st.entry is not None:
            cache.count_miss()
            rec.cache = "miss"
        if method == "HEAD" and resp.status == 200:
            # A HEAD's 200 freshens the stored GET when the validators agree (§4.3.5).
            cache.freshen_from_head(
                st.url, x.req.headers, 200, resp.headers, st.t0, time.time(), targeted=st.targeted
            )
        ok, why = cache.storable(
            method,
            st.url,
            x.req.headers,
            resp.status,
            resp.headers,
            0 if method == "HEAD" else resp.content_length,  # a HEAD answer stores no body
            targeted=st.targeted,
        )
        x.out_headers.append(
            ("Cache-Status", cache_status(st.res, stored=ok, fwd_status=resp.status))
        )
        if not ok:
            if rec.cache == "miss":
                rec.cache = "uncacheable"
            rec.step("cache", "NO STORE", why)
            return None
        st.t1 = time.time()
        x.collect = cache.memory.max_object_size
        return None

    def commit(self, x: Exchange, status: int, headers, body: bytes | None) -> None:
        """Store the body the relay collected (called by the respond stage)."""
        st = x.cache
        rec = x.rec
        if body is None:
            rec.step(
                "cache", "NO STORE", "body larger than cache.max_object_size: streamed through"
            )
            return
        stored = self.cache.store(
            x.req.method,
            st.url,
            x.req.headers,
            status,
            headers,
            body,
            st.t0,
            st.t1,
            targeted=st.targeted,
        )
        rec.step("cache", "STORE" if stored else "NO STORE", stored.reason)

    def _revalidate_in_background(self, x: Exchange, res: LookupResult) -> None:
        """stale-while-revalidate: start one refresh of the entry unless one is in flight."""
        rec = x.rec
        key = self.cache.collapse_key(x.req.method, rec.url, x.req.headers)
        if key is None:
            return
        key2 = (rec.proxy, key)
        if key2 in self.inflight:
            rec.step("cache", "REVALIDATE", "a revalidation is already in flight")
            return
        rec.step("cache", "REVALIDATE", "one background revalidation started")
        st = CacheState(self, res, rec.url)
        st.entry = res.entry
        st.targeted = rec.proxy == "reverse"
        st.key = key2
        self.inflight[key2] = asyncio.get_running_loop().create_future()
        self.engine.spawn(self._background_revalidate(x, st))

    async def _background_revalidate(self, x: Exchange, st: CacheState) -> None:
        """Refresh ``st.entry`` without a client: the same fetch and judgement as a client's."""
        from workbench.engine.pipeline.upstream import fetch

        eng = self.engine
        client = x.rec
        req = x.req
        rec = RequestRecord(
            eng.recorder.next_id(),
            time.time(),
            client.client,
            client.proxy,
            req.method,
            client.url,
            client.host,
            client.path,
            client.request_headers,
        )
        rec.tags = ["background"]
        rec.step("cache", "REVALIDATE", "stale-while-revalidate: refreshing in the background")
        bx = Exchange(req, None, rec, x.mode)
        bx.dest = x.dest
        bx.target = x.target
        bx.authority = x.authority
        bx.headers = list(x.headers)
        bx.forwarded = x.forwarded
        bx.extra = st.res.conditional_headers
        bx.cache = st
        start = time.monotonic()
        st.t0 = time.time()
        try:
            await fetch(bx)  # judged by after_upstream: 304 refreshes, a failure is recorded
            resp = bx.resp
            if resp is None:
                if st.failure is not None:
                    rec.error = str(st.failure)
                return
            rec.status = resp.status
            st.t1 = time.time()
            body = await read_all(resp, self.cache.memory.max_object_size)
            self.commit(bx, resp.status, resp.headers, body)
        except (ConnectionError, UpstreamError) as exc:
            rec.error = str(exc)
            st.failure = st.failure or UpstreamError("reset", str(exc), retryable=False)
        finally:
            self.release(bx)
            bx.release()
            eng.recorder.finish(rec, start)

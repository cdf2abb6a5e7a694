"""The cache stages: RFC 9111 decisions from :mod:`cache` acted out on an :class:`Exchange`.

``lookup`` (before upstream) answers hits synchronously by putting the stored response on the
exchange, so the response rules and the respond stage run as plain calls (no coroutine on a hit).
On a miss it prepares revalidation and collapses concurrent misses for the same key: one request
goes upstream, the rest wait for it and are then answered from the cache. ``after_upstream``
turns a 304 or a failure into the stored (or stale) copy; ``store`` decides storability before
the relay and ``commit`` stores the body the relay collected.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from workbench.engine.cache import HttpCache, LookupResult, cache_status, is_unsafe
from workbench.engine.http.client import UpstreamError, UpstreamResponse
from workbench.engine.observe.records import Headers, RequestRecord
from workbench.engine.pipeline.actions import answer
from workbench.engine.pipeline.exchange import DONE, Exchange

if TYPE_CHECKING:
    from workbench.engine.engine import Engine

COLLAPSE_WAIT = 30.0
"""Longest a collapsed request waits for the one fetching before going upstream itself."""


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


def _stored_length(headers: Headers) -> int | None:
    """The Content-Length a stored response announced, if any."""
    for n, v in headers:
        if n.lower() == "content-length" and v.strip().isdigit():
            return int(v)
    return None


class ClientHead:
    """A stored response's header fields as clients get them, made once per entry and proxy.

    ``wire`` is their serialization, so that a hit writes the head without formatting it
    again; it is used only while the exchange's headers still begin with ``fields``.
    """

    __slots__ = ("source", "fields", "wire", "content_type")

    def __init__(self, source: Headers, fields: Headers) -> None:
        self.source = source
        """The stored headers these were made from (the entry's, until a refresh replaces them)."""
        self.fields = fields
        self.wire = "".join([f"{n}: {v}\r\n" for n, v in fields]).encode("latin-1")
        self.content_type: str | None = None
        for n, v in fields:
            if n.lower() == "content-type":
                self.content_type = v
                break


class CacheState:
    """What the cache stage knows about one exchange that went past the lookup."""

    __slots__ = ("layer", "res", "entry", "stale_ok", "key", "t0", "t1", "url", "targeted")

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


class CacheLayer:
    """Lookup, serve, revalidate, store, collapse and invalidate for one engine."""

    def __init__(self, engine: Engine, cache: HttpCache) -> None:
        self.engine = engine
        self.cache = cache
        self.inflight: dict[tuple[str, str], asyncio.Future[None]] = {}
        """Fetches in progress, by (proxy, collapse key). Per proxy, because the forward proxy
        may fetch a URL through this engine's own reverse proxy: with one shared map, the
        reverse request would wait for the forward request that is waiting for it."""
        self.collapsed = 0
        """Requests answered by waiting for another request's fetch (all time)."""

    # -- stage: cache lookup ----------------------------------------------------------------
    def lookup(self, x: Exchange) -> Any:
        """Stage: serve a usable entry (synchronously), or prepare the miss."""
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
        res = cache.lookup(method, url, req.headers)
        if res.only_if_cached_fail:
            rec.cache = "miss"
            rec.step("cache", "MISS", res.reason + " (only-if-cached: 504)")
            return answer(x, 504, "Not in the cache (only-if-cached).\n")
        if res.usable:
            rec.cache = "hit" if res.status == "hit" else "stale"
            rec.step("cache", rec.cache.upper(), res.reason)
            self._serve(x, res.entry, cache_status(res), res)
            if res.serve_while_revalidate:
                self.engine.spawn(self._background_revalidate(x, res))
            return None
        key = self._collapse_key(rec, method, url, req, res)
        if key is not None and key in self.inflight:
            return self._wait(x, key)
        self._miss(x, res, key)
        return None

    def _collapse_key(self, rec, method, url, req, res) -> tuple[str, str] | None:
        if res.status != "miss":
            return None
        key = self.cache.collapse_key(method, url, req.headers)
        return None if key is None else (rec.proxy, key)

    async def _wait(self, x: Exchange, key: tuple[str, str]) -> None:
        rec = x.rec
        req = x.req
        rec.step("cache", "WAIT", "the same URL is being fetched: waiting for that response")
        try:
            await asyncio.wait_for(asyncio.shield(self.inflight[key]), COLLAPSE_WAIT)
        except (TimeoutError, asyncio.CancelledError):
            pass
        again = self.cache.lookup(req.method, rec.url, req.headers)
        if again.usable:
            self.collapsed += 1
            rec.cache = "hit"
            rec.step("cache", "HIT", "collapsed: answered from the response just stored")
            self._serve(x, again.entry, cache_status(again, collapsed=True), again)
            return None
        self._miss(x, again, self._collapse_key(rec, req.method, rec.url, req, again))
        return None

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
            fut = self.inflight.pop(st.key, None)
            st.key = None
            if fut is not None and not fut.done():
                fut.set_result(None)

    # -- after upstream (revalidation) ------------------------------------------------------
    def after_upstream(self, x: Exchange) -> Any:
        """A revalidation's outcome: 304 → the refreshed entry; failure or 5xx → stale if allowed.

        Returns None to go on (with the entry or the upstream response on the exchange), or
        :data:`DONE` when the failure is not the cache's to cover (the caller answers it).
        """
        st = x.cache
        rec = x.rec
        resp = x.resp
        if resp is None:
            if not st.stale_ok:
                return DONE
            self._serve_stale(x, str(x.error))
            x.error = None
            return None
        if resp.status == 304:
            x.release()
            x.resp = None
            fresh = self.cache.refresh(st.entry, resp.headers, st.t0, time.time())
            rec.cache = "revalidated"
            rec.step("cache", "REVALIDATED", "origin answered 304: stored headers refreshed")
            self._serve(x, fresh, cache_status(st.res, fwd_status=304), st.res)
            return None
        if st.stale_ok and resp.status >= 500:
            x.release()
            x.resp = None
            self._serve_stale(x, f"origin answered {resp.status}")
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

    # -- serving stored responses -----------------------------------------------------------
    def _serve(self, x: Exchange, entry, status_value: str, res: LookupResult) -> None:
        """Put ``entry`` on the exchange as its response (headers decorated once per entry).

        A GET's single Range is answered from the complete entry (206 or 416).
        """
        cache = self.cache
        decorate = x.mode.decorate
        if cache.not_modified(entry, x.req.headers):
            headers = decorate(cache.not_modified_headers(entry))
            status = 304
            body = b""
        else:
            # Hop-by-hop removal, hidden fields and Via depend only on the stored headers:
            # do them (and their serialization) once per entry, then add the Age that changes
            # on every hit.
            ready = entry.client_headers.get(decorate)
            if ready is None or ready.source is not entry.headers:
                ready = entry.client_headers[decorate] = ClientHead(
                    entry.headers, decorate(entry.headers)
                )
            headers = ready.fields.copy()
            headers.append(("Age", str(int(entry.age(time.time())))))
            status = entry.status
            body = entry.body
            if res.range is not None:
                status, headers, body = cache.apply_range(res, entry, headers, body)
            else:
                x.ready = ready
        headers.append(("Cache-Status", status_value))
        rec = x.rec
        rec.status = status
        rec.backend_response_headers = None
        x.status = status
        x.out_headers = headers
        x.body = body
        if not body and x.req.method == "HEAD":
            # A stored HEAD answer has no body: announce the origin's Content-Length, not 0.
            x.length = _stored_length(entry.headers)

    def _serve_stale(self, x: Exchange, why: str) -> None:
        st = x.cache
        entry = st.entry
        headers = x.mode.decorate(self.cache.serve_stale(entry))
        headers.append(("Cache-Status", cache_status(st.res, detail="stale-if-error")))
        rec = x.rec
        rec.cache = "stale"
        rec.error = None
        rec.step("cache", "STALE", f"{why}: served the stale copy (stale-if-error)")
        rec.status = entry.status
        x.status = entry.status
        x.out_headers = headers
        x.body = entry.body

    async def _background_revalidate(self, x: Exchange, res: LookupResult) -> None:
        """stale-while-revalidate: refresh the entry without keeping the client waiting."""
        from workbench.engine.pipeline.upstream import fetch

        eng = self.engine
        client = x.rec
        req = x.req
        rec = RequestRecord(
            eng.next_id(),
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
        bx.extra = res.conditional_headers
        start = time.monotonic()
        t0 = time.time()
        try:
            await fetch(bx)
            resp = bx.resp
            if resp is None:
                rec.error = str(bx.error) if bx.error is not None else "no response"
                return
            rec.status = resp.status
            t1 = time.time()
            if resp.status == 304:
                self.cache.refresh(res.entry, resp.headers, t0, t1, served=False)
                rec.cache = "revalidated"
                rec.step("cache", "REVALIDATED", "entry refreshed by a 304")
                return
            body = await read_all(resp, self.cache.memory.max_object_size)
            if body is not None:
                stored = self.cache.store(
                    req.method,
                    client.url,
                    req.headers,
                    resp.status,
                    resp.headers,
                    body,
                    t0,
                    t1,
                    targeted=client.proxy == "reverse",
                )
                rec.step("cache", "STORE" if stored else "NO STORE", stored.reason)
        except (ConnectionError, UpstreamError) as exc:
            rec.error = str(exc)
        finally:
            self.cache.revalidation_done(res.entry)
            bx.release()
            eng.finish(rec, start)

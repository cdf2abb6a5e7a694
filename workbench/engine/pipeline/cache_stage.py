"""The cache stage of the pipeline: RFC 9111 decisions from :mod:`cache` acted out on real traffic.

Both proxies call :meth:`CacheLayer.handle` with two callables of their own:

- ``fetch(extra_headers, answer_errors, rec)`` sends the request upstream and returns
  ``(response, owner, connection)``; on failure it answers the client itself (``answer_errors``)
  or returns the :class:`UpstreamError` so that a stale entry can be served instead.
- ``finish(req, conn, rec, resp, owner, up, collect, extra)`` relays a response to the client
  and returns its body when it fitted in ``collect`` bytes.

Concurrent misses for the same key are collapsed: one request goes upstream, the rest wait for
it and are then answered from the cache.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from workbench.engine.cache import HttpCache, LookupResult, cache_status
from workbench.engine.http.client import UpstreamError, UpstreamResponse
from workbench.engine.http.server import HttpRequest, ServerConnection
from workbench.engine.observe.records import Headers, RequestRecord

if TYPE_CHECKING:
    from workbench.engine.engine import Engine

UNSAFE = frozenset({"POST", "PUT", "DELETE", "PATCH"})
COLLAPSE_WAIT = 30.0
"""Longest a collapsed request waits for the one fetching before going upstream itself."""

DONE = object()
"""Returned by :meth:`CacheLayer.begin` when the client has been answered."""

Fetch = Callable[..., Awaitable[Any]]
Finish = Callable[..., Awaitable[bytes | None]]
Decorate = Callable[[Headers], Headers]


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

    def begin(
        self,
        req: HttpRequest,
        conn: ServerConnection,
        rec: RequestRecord,
        url: str,
        fetch: Fetch,
        decorate: Decorate,
    ) -> Any:
        """The synchronous part: look up, and answer a usable entry (or only-if-cached) at once.

        Returns :data:`DONE` when the client has its answer, a coroutine to await (an answer
        delayed by a rule), or what :meth:`handle` continues with: the lookup, or None for
        methods the cache does not serve.
        """
        method = req.method
        if method not in ("GET", "HEAD"):
            return None
        cache = self.cache
        res = cache.lookup(method, url, req.headers)
        if res.only_if_cached_fail:
            rec.cache = "miss"
            rec.step("cache", "MISS", res.reason + " (only-if-cached: 504)")
            self.engine.answer(conn, req, rec, 504, "Not in the cache (only-if-cached).\n")
            return DONE
        if not res.usable:
            return res
        rec.cache = "hit" if res.status == "hit" else "stale"
        rec.step("cache", rec.cache.upper(), res.reason)
        pending = self._serve(req, conn, rec, res.entry, res, decorate, cache_status(res))
        if res.serve_while_revalidate:
            self.engine.spawn(self._background_revalidate(req, rec, url, res, fetch))
        return DONE if pending is None else pending

    async def handle(
        self,
        req: HttpRequest,
        conn: ServerConnection,
        rec: RequestRecord,
        url: str,
        fetch: Fetch,
        finish: Finish,
        decorate: Decorate,
        res: Any = None,
    ) -> None:
        """The whole cache stage; ``res`` is what :meth:`begin` returned, if it ran already."""
        cache = self.cache
        method = req.method
        if res is None and method in ("GET", "HEAD"):
            res = self.begin(req, conn, rec, url, fetch, decorate)
        if res is DONE:
            return
        if res is not None and not isinstance(res, LookupResult):
            await res  # a delayed answer from the cache
            return
        if res is None:
            result = await fetch(None, True, rec)
            if result is None:
                return
            resp = result[0]
            status, resp_headers = resp.status, resp.headers
            await finish(req, conn, rec, *result, 0, None)
            if method in UNSAFE:
                n = cache.invalidate(method, url, status, resp_headers)
                rec.step(
                    "cache",
                    "invalidate" if n else "pass",
                    f"{method} {status}: removed {n} entr{'y' if n == 1 else 'ies'}"
                    if n
                    else f"{method} is not cacheable",
                )
            return

        key = self._collapse_key(rec, method, url, req, res)
        if key is not None and key in self.inflight:
            rec.step("cache", "WAIT", "the same URL is being fetched: waiting for that response")
            try:
                await asyncio.wait_for(asyncio.shield(self.inflight[key]), COLLAPSE_WAIT)
            except (TimeoutError, asyncio.CancelledError):
                pass
            again = cache.lookup(method, url, req.headers)
            if again.usable:
                self.collapsed += 1
                rec.cache = "hit"
                rec.step("cache", "HIT", "collapsed: answered from the response just stored")
                status = cache_status(again, collapsed=True)
                await self._serve_async(req, conn, rec, again.entry, again, decorate, status)
                return
            res = again
            key = self._collapse_key(rec, method, url, req, res)
        owner = key is not None and key not in self.inflight
        if owner:
            self.inflight[key] = asyncio.get_running_loop().create_future()
        try:
            await self._forward(req, conn, rec, url, res, fetch, finish, decorate)
        finally:
            if owner:
                fut = self.inflight.pop(key, None)
                if fut is not None and not fut.done():
                    fut.set_result(None)

    def _collapse_key(self, rec, method, url, req, res) -> tuple[str, str] | None:
        if res.status != "miss":
            return None
        key = self.cache.collapse_key(method, url, req.headers)
        return None if key is None else (rec.proxy, key)

    async def _forward(self, req, conn, rec, url, res: LookupResult, fetch, finish, decorate):
        cache = self.cache
        method = req.method
        entry = res.entry
        revalidating = res.must_revalidate and entry is not None
        if res.status == "bypass":
            rec.cache = "bypass"
            rec.step("cache", "BYPASS", res.reason)
        elif revalidating:
            rec.step("cache", "STALE", res.reason)
        else:
            rec.cache = "miss"
            rec.step("cache", "MISS", res.reason)
        stale_ok = revalidating and res.can_serve_stale_on_error
        t0 = time.time()
        result = await fetch(res.conditional_headers if revalidating else None, not stale_ok, rec)
        if isinstance(result, UpstreamError):
            self._serve_stale(req, conn, rec, entry, res, decorate, str(result))
            return
        if result is None:
            return
        resp = result[0]
        t1 = time.time()
        if revalidating and resp.status == 304:
            self._discard(result)
            fresh = cache.refresh(entry, resp.headers, t0, t1)
            rec.cache = "revalidated"
            rec.step("cache", "REVALIDATED", "origin answered 304: stored headers refreshed")
            status = cache_status(res, fwd_status=304)
            await self._serve_async(req, conn, rec, fresh, res, decorate, status)
            return
        if stale_ok and resp.status >= 500:
            self._discard(result)
            self._serve_stale(
                req, conn, rec, entry, res, decorate, f"origin answered {resp.status}"
            )
            return
        if revalidating:
            cache.count_miss()
            rec.cache = "miss"
        ok, why = cache.storable(
            method,
            url,
            req.headers,
            resp.status,
            resp.headers,
            0 if method == "HEAD" else resp.content_length,  # a HEAD answer stores no body
        )
        extra = [("Cache-Status", cache_status(res, stored=ok, fwd_status=resp.status))]
        limit = cache.memory.max_object_size if ok else 0
        body = await finish(req, conn, rec, *result, limit, extra)
        if not ok:
            if rec.cache == "miss":
                rec.cache = "uncacheable"
            rec.step("cache", "NO STORE", why)
            return
        if body is None:
            rec.step(
                "cache", "NO STORE", "body larger than cache.max_object_size: streamed through"
            )
            return
        stored = cache.store(method, url, req.headers, resp.status, resp.headers, body, t0, t1)
        rec.step("cache", "STORE" if stored else "NO STORE", stored.reason)

    @staticmethod
    def _discard(result) -> None:
        """Give back an upstream connection whose response is not relayed to the client."""
        _resp, owner, up = result
        owner.release(up)  # a Backend or a forward proxy's origin pool

    def _serve(self, req, conn, rec, entry, res, decorate, status_value: str):
        """Answer from ``entry``; synchronous unless a response rule adds a delay.

        Returns None when done, or a coroutine the caller must await (the delayed answer).
        """
        cache = self.cache
        eng = self.engine
        if cache.not_modified(entry, req.headers):
            headers = decorate(cache.not_modified_headers(entry))
            status = 304
            body = b""
        else:
            # Hop-by-hop removal, hidden fields and Via depend only on the stored headers:
            # do them once per entry, then add the Age that changes on every hit.
            memo = entry.client_headers.get(decorate)
            if memo is None or memo[0] is not entry.headers:
                memo = (entry.headers, decorate(entry.headers))
                entry.client_headers[decorate] = memo
            headers = memo[1].copy()
            headers.append(("Age", str(int(entry.age(time.time())))))
            status = entry.status
            body = entry.body
        headers.append(("Cache-Status", status_value))
        rec.status = status
        # A stored HEAD answer has no body: announce the origin's Content-Length, not 0.
        length = _stored_length(entry.headers) if req.method == "HEAD" and not body else None
        rec.backend_response_headers = None
        delay = eng.apply_response_rules(req, conn, rec, headers)
        if delay is None:
            return None
        if delay:
            return self._respond_later(delay, req, conn, rec, status, headers, body, length)
        self._respond(req, conn, rec, status, headers, body, length)
        return None

    async def _respond_later(self, delay, req, conn, rec, status, headers, body, length) -> None:
        await asyncio.sleep(delay)
        self._respond(req, conn, rec, status, headers, body, length)

    @staticmethod
    def _respond(req, conn, rec, status, headers, body, length=None) -> None:
        rec.response_headers = headers
        rec.t_first_byte = time.monotonic() - req.start_mono
        is_head = req.method == "HEAD"
        rec.bytes_out = 0 if is_head or status == 304 else len(body)
        rec.body_preview = body[:4096] if body else None
        for n, v in headers:
            if n.lower() == "content-type":
                rec.content_type = v
                break
        conn.respond(status, headers, body, head=is_head, length=length)

    async def _serve_async(self, *args) -> None:
        pending = self._serve(*args)
        if pending is not None:
            await pending

    def _serve_stale(self, req, conn, rec, entry, res, decorate, why: str) -> None:
        headers = decorate(self.cache.serve_stale(entry))
        headers.append(("Cache-Status", cache_status(res, detail="stale-if-error")))
        rec.cache = "stale"
        rec.error = None
        rec.step("cache", "STALE", f"{why}: served the stale copy (stale-if-error)")
        rec.status = entry.status
        rec.response_headers = headers
        rec.bytes_out = len(entry.body)
        conn.respond(entry.status, headers, entry.body, head=req.method == "HEAD")

    async def _background_revalidate(self, req, client_rec, url, res: LookupResult, fetch) -> None:
        """stale-while-revalidate: refresh the entry without keeping the client waiting."""
        eng = self.engine
        rec = RequestRecord(
            eng.next_id(),
            time.time(),
            client_rec.client,
            client_rec.proxy,
            req.method,
            url,
            client_rec.host,
            client_rec.path,
            client_rec.request_headers,
        )
        rec.tags = ["background"]
        rec.step("cache", "REVALIDATE", "stale-while-revalidate: refreshing in the background")
        start = time.monotonic()
        t0 = time.time()
        try:
            result = await fetch(res.conditional_headers, False, rec)
            if isinstance(result, UpstreamError) or result is None:
                rec.error = str(result) if result is not None else "no response"
                return
            resp, owner, up = result
            rec.status = resp.status
            t1 = time.time()
            if resp.status == 304:
                self._discard(result)
                self.cache.refresh(res.entry, resp.headers, t0, t1, served=False)
                rec.cache = "revalidated"
                rec.step("cache", "REVALIDATED", "entry refreshed by a 304")
                return
            body = await read_all(resp, self.cache.memory.max_object_size)
            self._discard(result)
            if body is not None:
                stored = self.cache.store(
                    req.method, url, req.headers, resp.status, resp.headers, body, t0, t1
                )
                rec.step("cache", "STORE" if stored else "NO STORE", stored.reason)
        except (UpstreamError, ConnectionError) as exc:
            rec.error = str(exc)
        finally:
            eng.finish(rec, start)

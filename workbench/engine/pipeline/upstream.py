"""The upstream stage: the one pick → send → retry → passive-health loop, for every mode.

The mode says where to go (:meth:`pick` a peer: a pool's backend, or an origin); this loop sends,
retries idempotent requests within ``retries``, feeds passive health, and leaves either a
response (``x.resp`` from ``x.peer`` on ``x.up``) or the failure (``x.error``) on the exchange.
"""

from __future__ import annotations

import time
from collections.abc import Set as AbstractSet
from types import CoroutineType

from workbench.engine.balancing.health import passive_failure, passive_success
from workbench.engine.http.client import UpstreamError
from workbench.engine.http.headers import request_head
from workbench.engine.http.server import HttpRequest
from workbench.engine.observe.records import Headers
from workbench.engine.pipeline.actions import answer_error
from workbench.engine.pipeline.exchange import DONE, Exchange
from workbench.engine.pipeline.forwarding import add_forwarding

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
NOT_TRIED: frozenset[str] = frozenset()
"""Backends already tried, before the first retry (no set allocated per request)."""


_FRAMING = frozenset({"content-length", "expect"})


def upstream_request_headers(req: HttpRequest, headers: Headers) -> Headers:
    """Set the body framing headers for what will actually be sent upstream.

    A streamed body keeps the client's framing: its Content-Length, or chunked when the client
    sent chunked. ``Expect: 100-continue`` was answered by this proxy and is not passed on. An
    upgrade request (WebSocket) gets its ``Connection: Upgrade`` and ``Upgrade`` back.
    """
    if req.stream is not None:
        out = [(n, v) for n, v in headers if n.lower() not in _FRAMING]
        if req.chunked:
            out.append(("Transfer-Encoding", "chunked"))
        else:
            out.append(("Content-Length", str(req.content_length or 0)))
        return out
    if req.body or req.method in ("POST", "PUT", "PATCH") or req.expect_continue:
        out = [(n, v) for n, v in headers if n.lower() not in _FRAMING]
        if req.body or req.method in ("POST", "PUT", "PATCH"):
            out.append(("Content-Length", str(len(req.body))))
        return out
    if req.upgrade is not None:
        out = headers.copy()
        out.append(("Connection", "Upgrade"))
        out.append(("Upgrade", req.upgrade))
        return out
    return headers


def upstream(x: Exchange):
    """Stage: go upstream unless the response is already known (a cache hit)."""
    if x.body is not None:
        return None
    return fetch(x)


async def fetch(x: Exchange) -> object:
    """Pick a peer, send, retry; returns None to go on or :data:`DONE` when answered.

    With no client (``x.conn`` None: a background revalidation) nothing is answered; the caller
    reads ``x.resp`` or ``x.error``.
    """
    mode = x.mode
    req = x.req
    rec = x.rec
    if not x.forwarded:
        add_forwarding(x, mode.forwarding)
    retries = mode.retries(x)
    can_retry = req.method in IDEMPOTENT and req.stream is None
    tried: AbstractSet[str] = NOT_TRIED
    last: UpstreamError | None = None
    send_headers = x.headers if not x.extra else x.headers + x.extra
    passive = mode.passive
    attempt = 0
    while True:
        peer = mode.pick(x, tried)
        if type(peer) is CoroutineType:
            peer = await peer
        if peer is None:
            if x.error is None:
                x.error = last
            return _failed(x)
        rec.backend = peer.name
        peer.inflight += 1
        try:
            pool = peer.upstream
            up = pool.idle_connection()
            if up is None:
                up, t_connect = await pool.acquire()
            else:
                t_connect = 0.0
            rec.t_connect = t_connect
            rec.t_queue = time.monotonic() - req.start_mono - t_connect
            headers = upstream_request_headers(req, send_headers)
            if rec.upstream_headers is None:
                rec.upstream_headers = headers
            target = peer.base_path + x.target if peer.base_path else x.target
            rec.upstream_target = target
            if req.stream is not None and rec.body_cap:
                req.stream.tap = rec.keep_request  # a streamed body is kept as it goes upstream
            try:
                resp = await up.send(
                    request_head(req.method, target, headers),
                    req.stream if req.stream is not None else req.body,
                    is_head=req.method == "HEAD",
                    timeout=mode.timeout(x),
                    client=x.conn,
                    request=req,
                )
            except BaseException:
                up.close()
                raise
        except UpstreamError as exc:
            peer.inflight -= 1
            last = exc
            if passive:
                passive_failure(x.dest, peer, str(exc))
            rec.step("upstream", exc.kind, f"{peer.name}: {exc}")
            # A dropped pooled connection may have reached the application: it is a retry like
            # any other, so ``retries: 0`` sends the request exactly once.
            elsewhere = exc.retryable and mode.retry_elsewhere
            if can_retry and attempt < retries and (exc.stale or elsewhere):
                attempt += 1
                if exc.stale:
                    rec.step("upstream", "retry", f"{peer.name}: pooled connection was closed")
                else:
                    tried = tried | {peer.name}
                    # The failure path only: `~trace retry` finds the request whatever backend
                    # answered in the end.
                    rec.step(
                        "upstream",
                        "retry",
                        f"attempt {attempt + 1} of {retries + 1}, on another backend than "
                        f"{peer.name}",
                    )
                continue
            x.error = exc
            return _failed(x)
        except BaseException:
            peer.inflight -= 1
            raise
        rec.t_first_byte = time.monotonic() - req.start_mono
        status = resp.status
        if passive:
            if status >= 500:
                passive_failure(x.dest, peer, f"status {status}")
            else:
                passive_success(peer)
        rec.trace.append(_answered(peer.name, status, t_connect != 0.0))
        x.resp = resp
        x.peer = peer
        x.up = up
        cache = x.cache
        if cache is not None and cache.entry is not None:
            return cache.layer.after_upstream(x)
        return None


_ANSWERED: dict[tuple[str, int, bool], tuple[str, str, str]] = {}
"""Trace steps of upstream answers, made once per (peer, status, new connection); bounded."""


def _answered(name: str, status: int, new: bool) -> tuple[str, str, str]:
    """The trace step for ``name`` answering ``status`` (a shared tuple, like the other steps)."""
    key = (name, status, new)
    step = _ANSWERED.get(key)
    if step is None:
        if len(_ANSWERED) >= 4096:
            _ANSWERED.clear()
        how = "a new" if new else "a pooled"
        step = _ANSWERED[key] = ("upstream", str(status), f"{name} answered on {how} connection")
    return step


def _failed(x: Exchange) -> object:
    cache = x.cache
    if cache is not None and cache.entry is not None and cache.layer.after_upstream(x) is None:
        return None  # the cache answers with its stale copy
    if x.conn is None:
        return DONE
    return answer_error(x, x.error or UpstreamError("reset", "no response", retryable=False))

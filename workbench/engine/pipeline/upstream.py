"""The upstream stage: the one pick → send → retry → passive-health loop, for every mode.

The mode says where to go (:meth:`pick` a peer: a pool's backend, or an origin); this loop sends,
retries idempotent requests within ``retries``, feeds passive health, and leaves either a
response (``x.resp`` from ``x.peer`` on ``x.up``) or the failure (``x.error``) on the exchange.
"""

from __future__ import annotations

import time
from collections.abc import Set as AbstractSet
from types import CoroutineType
from typing import Any

from workbench.engine.balancing.health import passive_failure, passive_success
from workbench.engine.http.client import UpstreamConnection, UpstreamError, UpstreamResponse
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
    return first_attempt(x)


def first_attempt(x: Exchange):
    """The first attempt, sent at once when it can be (the usual case); else :func:`fetch`.

    With a pooled connection ready and nothing to await before sending, the request goes out
    now and the stage returns the connection's future for the response head, with
    :func:`_answer` as the exchange's ``then``: the stage loop resumes from a callback, with no
    coroutine or task for the exchange. Everything else (a new connection, a name to resolve,
    a streamed body, a retry) runs in the :func:`fetch` coroutine.
    """
    req = x.req
    mode = x.mode
    if req.stream is not None or x.conn is None:
        return fetch(x)
    if not x.forwarded:
        add_forwarding(x, mode.forwarding)
    peer = mode.pick(x, NOT_TRIED)
    if peer is None or type(peer) is CoroutineType:
        return fetch(x, peer)
    up = peer.upstream.idle_connection()
    if up is None:
        return fetch(x, peer)
    x.rec.backend = peer.name
    peer.inflight += 1
    try:
        waiter = _send(x, peer, up, 0.0)
    except BaseException:
        peer.inflight -= 1
        up.close()
        raise
    x.peer = peer
    x.up = up
    x.then = _answer
    return waiter


def _answer(x: Exchange, waiter) -> object:
    """The response head of the first attempt arrived (or the attempt failed)."""
    peer = x.peer
    up = x.up
    try:
        resp = waiter.result()
    except BaseException as exc:
        x.peer = x.up = None
        up.close()
        peer.inflight -= 1
        if not isinstance(exc, UpstreamError):
            raise
        tried = _retry(x, peer, exc, 0, NOT_TRIED)
        if tried is None:
            x.error = exc
            return _failed(x)
        return fetch(x, attempt=1, tried=tried, last=exc)
    return _answered(x, peer, up, resp, 0.0)


_UNPICKED: Any = object()
"""No peer picked yet for the next attempt."""


async def fetch(
    x: Exchange,
    peer: Any = _UNPICKED,
    *,
    attempt: int = 0,
    tried: AbstractSet[str] = NOT_TRIED,
    last: UpstreamError | None = None,
) -> object:
    """Pick a peer, send, retry; returns None to go on or :data:`DONE` when answered.

    ``peer`` is the first attempt's pick when already made (or a coroutine making it);
    ``attempt``, ``tried`` and ``last`` carry on the loop of a first attempt that failed.
    With no client (``x.conn`` None: a background revalidation) nothing is answered; the caller
    reads ``x.resp`` or ``x.error``.
    """
    mode = x.mode
    rec = x.rec
    if not x.forwarded:
        add_forwarding(x, mode.forwarding)
    while True:
        if peer is _UNPICKED:
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
            try:
                resp = await _send(x, peer, up, t_connect)
            except BaseException:
                up.close()
                raise
        except UpstreamError as exc:
            peer.inflight -= 1
            last = exc
            next_tried = _retry(x, peer, exc, attempt, tried)
            if next_tried is None:
                x.error = exc
                return _failed(x)
            attempt += 1
            tried = next_tried
            peer = _UNPICKED
            continue
        except BaseException:
            peer.inflight -= 1
            raise
        return _answered(x, peer, up, resp, t_connect)


def _send(x: Exchange, peer: Any, up: UpstreamConnection, t_connect: float):
    """Send the request on ``up``; the awaitable of the response head."""
    req = x.req
    rec = x.rec
    rec.t_connect = t_connect
    rec.t_queue = time.monotonic() - req.start_mono - t_connect
    headers = upstream_request_headers(req, x.headers if not x.extra else x.headers + x.extra)
    if rec.upstream_headers is None:
        rec.upstream_headers = headers
    target = peer.base_path + x.target if peer.base_path else x.target
    rec.upstream_target = target
    stream = req.stream
    if stream is not None and rec.body_cap:
        stream.tap = rec.keep_request  # a streamed body is kept as it goes upstream
    return up.send(
        request_head(req.method, target, headers),
        stream if stream is not None else req.body,
        is_head=req.method == "HEAD",
        timeout=x.mode.timeout(x),
        client=x.conn,
        request=req,
    )


def _retry(
    x: Exchange, peer: Any, exc: UpstreamError, attempt: int, tried: AbstractSet[str]
) -> AbstractSet[str] | None:
    """After a failed attempt (passive health told, trace written): the backends tried so
    far when the request is sent again, None when it is not."""
    mode = x.mode
    if mode.passive:
        passive_failure(x.dest, peer, str(exc))
    rec = x.rec
    rec.step("upstream", exc.kind, f"{peer.name}: {exc}")
    req = x.req
    # A dropped pooled connection may have reached the application: it is a retry like any
    # other, so ``retries: 0`` sends the request exactly once.
    elsewhere = exc.retryable and mode.retry_elsewhere
    if (
        req.method in IDEMPOTENT
        and req.stream is None
        and attempt < mode.retries(x)
        and (exc.stale or elsewhere)
    ):
        if exc.stale:
            rec.step("upstream", "retry", f"{peer.name}: pooled connection was closed")
            return tried
        return tried | {peer.name}
    return None


def _answered(
    x: Exchange, peer: Any, up: UpstreamConnection, resp: UpstreamResponse, t_connect: float
) -> object:
    """A response head from ``peer``: timings, passive health, trace; then the cache's say."""
    rec = x.rec
    rec.t_first_byte = time.monotonic() - x.req.start_mono
    status = resp.status
    if x.mode.passive:
        if status >= 500:
            passive_failure(x.dest, peer, f"status {status}")
        else:
            passive_success(peer)
    rec.trace.append(_answered_step(peer.name, status, t_connect != 0.0))
    x.resp = resp
    x.peer = peer
    x.up = up
    cache = x.cache
    if cache is not None and cache.entry is not None:
        return cache.layer.after_upstream(x)
    return None


_ANSWERED: dict[tuple[str, int, bool], tuple[str, str, str]] = {}
"""Trace steps of upstream answers, made once per (peer, status, new connection); bounded."""


def _answered_step(name: str, status: int, new: bool) -> tuple[str, str, str]:
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

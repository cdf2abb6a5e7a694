"""Moving a request upstream and its response back, with the right framing and back-pressure."""

from __future__ import annotations

import asyncio
import time

from workbench.engine.http.client import (
    UpstreamConnection,
    UpstreamError,
    UpstreamPool,
    UpstreamResponse,
)
from workbench.engine.http.headers import request_head
from workbench.engine.http.server import HttpRequest, ServerConnection
from workbench.engine.observe.records import Headers, RequestRecord

PREVIEW_BYTES = 4096


async def finish_response(
    engine,
    req: HttpRequest,
    conn: ServerConnection,
    rec: RequestRecord,
    resp: UpstreamResponse,
    owner,
    up: UpstreamConnection,
    client_headers,
    collect: int = 0,
    extra: Headers | None = None,
) -> bytes | None:
    """The response half of both proxies: client-bound headers, response rules, relay.

    ``owner`` (a backend or an origin pool) gets the connection back at the end. Returns the body
    when it fitted in ``collect`` bytes (for the cache).
    """
    try:
        rec.status = resp.status
        rec.backend_response_headers = resp.headers
        out = client_headers(resp.headers)
        delay = engine.apply_response_rules(req, conn, rec, out)
        if delay is None:
            return None  # a response rule answered instead; the unread body is dropped
        if delay:
            await asyncio.sleep(delay)
        if extra:
            out.extend(extra)
        rec.response_headers = out
        return await relay_response(conn, req, rec, resp, out, collect=collect)
    finally:
        owner.release(up)


async def relay_response(
    conn: ServerConnection,
    req: HttpRequest,
    rec: RequestRecord,
    resp: UpstreamResponse,
    headers: Headers,
    *,
    collect: int = 0,
) -> bytes | None:
    """Send ``resp`` (status, the already-filtered ``headers``, body) to the client.

    Returns the whole body when it fitted in ``collect`` bytes (for the cache), else None.
    Small complete bodies go out in one write; the rest streams with back-pressure.
    """
    if resp.complete:
        return relay_complete(conn, req, rec, resp, headers, collect)
    return await _relay_stream(conn, req, rec, resp, headers, collect)


def relay_complete(
    conn: ServerConnection,
    req: HttpRequest,
    rec: RequestRecord,
    resp: UpstreamResponse,
    headers: Headers,
    collect: int = 0,
) -> bytes | None:
    """:func:`relay_response` for a response whose body has fully arrived: one write, no await."""
    status = resp.status
    is_head = req.method == "HEAD"
    no_body = is_head or status in (204, 304) or status < 200
    body = resp.take_body()
    if no_body:
        # HEAD and 304 keep the origin's Content-Length: the length of the GET's body.
        if resp.content_length is not None and status != 204 and status >= 200:
            headers.append(("Content-Length", str(resp.content_length)))
        conn.write_head(status, headers, resp.reason or None)
    else:
        headers.append(("Content-Length", str(len(body))))
        conn.write_head(status, headers, resp.reason or None, body)
        rec.bytes_out = len(body)
    rec.body_preview = body[:PREVIEW_BYTES] if body else None
    if resp.close_delimited:
        rec.step("respond", "close-delimited", "the body ended when the backend closed")
    return body if len(body) <= collect else None


async def _relay_stream(
    conn: ServerConnection,
    req: HttpRequest,
    rec: RequestRecord,
    resp: UpstreamResponse,
    headers: Headers,
    collect: int,
) -> bytes | None:
    status = resp.status
    # Streaming: keep the client's framing honest about what we know of the length. A body
    # that ends when the backend closes ends the same way for the client.
    chunked = False
    if resp.content_length is not None:
        headers.append(("Content-Length", str(resp.content_length)))
    elif req.version == "1.1" and not resp.close_delimited:
        headers.append(("Transfer-Encoding", "chunked"))
        chunked = True
    else:
        req.keep_alive = False  # close-delimited for the client too
    conn.write_head(status, headers, resp.reason or None)
    collected: list[bytes] | None = [] if collect else None
    size = 0
    preview: bytes | None = None
    while True:
        try:
            data = await resp.read()
        except UpstreamError as exc:
            # Never let a truncated body look complete: reset the client connection.
            rec.step("respond", "truncated", f"after {size} bytes: {exc}")
            rec.bytes_out = size
            conn.abort()
            raise
        if not data:
            break
        size += len(data)
        if preview is None:
            preview = data[:PREVIEW_BYTES]
        if collected is not None:
            if size <= collect:
                collected.append(data)
            else:
                collected = None
        conn.write(b"%x\r\n%b\r\n" % (len(data), data) if chunked else data)
        await conn.drain()
    if chunked:
        conn.write(b"0\r\n\r\n")
    rec.bytes_out = size
    rec.body_preview = preview
    if resp.close_delimited:
        rec.step("respond", "close-delimited", "the body ended when the backend closed")
    return b"".join(collected) if collected is not None else None


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


async def send_upstream(
    pool: UpstreamPool,
    req: HttpRequest,
    rec: RequestRecord,
    target: str,
    headers: Headers,
    timeout: float,
    client: ServerConnection | None = None,
) -> tuple[UpstreamResponse, UpstreamConnection]:
    """Acquire a connection, send the request, wait for the response head; fills timings.

    Interim 1xx answers are relayed to ``client`` (HTTP/1.1 clients only).
    Raises :class:`UpstreamError`; the connection is closed on any failure.
    """
    up = pool.idle_connection()
    if up is None:
        up, t_connect = await pool.acquire()
    else:
        t_connect = 0.0
    rec.t_connect = t_connect
    rec.t_queue = time.monotonic() - req.start_mono - t_connect
    send_headers = upstream_request_headers(req, headers)
    if rec.upstream_headers is None:
        rec.upstream_headers = send_headers
    body = req.stream if req.stream is not None else req.body
    try:
        resp = await up.send(
            request_head(req.method, target, send_headers),
            body,
            is_head=req.method == "HEAD",
            timeout=timeout,
            client=client,
            request=req,
        )
    except BaseException:
        up.close()
        raise
    rec.t_first_byte = time.monotonic() - req.start_mono
    return resp, up

"""The respond stage: the response on the exchange goes to the client with the right framing.

A stored or complete response goes out in one write (no await); a streamed one is relayed with
back-pressure. What the relay collects (up to ``x.collect`` bytes) goes to the cache store.
"""

from __future__ import annotations

import time

from workbench.engine.http.client import UpstreamError, UpstreamResponse
from workbench.engine.http.server import HttpRequest, ServerConnection
from workbench.engine.http.upgrade import relay_upgrade, upgrade_protocol
from workbench.engine.observe.records import Headers, RequestRecord
from workbench.engine.pipeline.actions import answer_error
from workbench.engine.pipeline.exchange import Exchange


def respond(x: Exchange):
    """Stage: send the exchange's response; a coroutine only when the body streams."""
    resp = x.resp
    if resp is None:
        if x.body is not None:
            send_stored(x)
        return None
    if resp.status == 101:
        return switch_protocols(x)
    if resp.complete:
        try:
            body = relay_complete(x.conn, x.req, x.rec, resp, x.out_headers, x.collect)
        finally:
            x.release()
        if x.collect:
            x.cache.layer.commit(x, resp.status, resp.headers, body)
        return None
    return _respond_stream(x)


async def _respond_stream(x: Exchange) -> None:
    resp = x.resp
    try:
        body = await relay_stream(x.conn, x.req, x.rec, resp, x.out_headers, x.collect)
    finally:
        x.release()
    if x.collect:
        x.cache.layer.commit(x, resp.status, resp.headers, body)


async def switch_protocols(x: Exchange) -> object:
    """A 101: the upgraded connections are relayed both ways (WebSocket, …) until either closes.

    The upgrade hook of the pipeline: rules and forwarding already ran on the request and on
    the 101's headers; from here on both connections belong to the relay.
    """
    req = x.req
    resp = x.resp
    try:
        if req.upgrade is None:
            err = UpstreamError(
                "protocol", "the backend switched protocols unasked", retryable=False
            )
            return answer_error(x, err)
        protocol = upgrade_protocol(resp.headers).lower()
        asked = {t.strip().lower() for t in req.upgrade.split(",")}
        if protocol not in asked:
            # RFC 9110 §7.8 / §15.2.2: a 101 names the protocol, one the client offered.
            err = UpstreamError(
                "protocol",
                f"the backend switched to {protocol or 'no named protocol'!r}, "
                f"not one the client offered ({req.upgrade})",
                retryable=False,
            )
            return answer_error(x, err)
        await relay_upgrade(
            x.conn, req, x.rec, resp, x.out_headers, resp.connection.pool.idle_timeout
        )
        return None
    finally:
        x.release()


def send_stored(x: Exchange) -> None:
    """A complete response the workbench holds (a cache entry): one write."""
    req = x.req
    rec = x.rec
    status = x.status
    headers = x.out_headers
    body = x.body
    rec.response_headers = headers
    rec.t_first_byte = rec.t_first_byte or time.monotonic() - req.start_mono
    is_head = req.method == "HEAD"
    size = rec.bytes_out = 0 if is_head or status == 304 else len(body)
    if size and rec.body_cap:
        if rec.response_body_size == 0 and size <= rec.body_cap:
            rec.response_body = body  # keep_response's first piece, kept whole: a reference
            rec.response_body_size = size
        else:
            rec.keep_response(body)
    ready = x.ready
    wire = b""
    skip = 0
    if ready is not None:
        fields = ready.fields
        skip = len(fields)
        if headers[:skip] == fields:  # not edited since (by a rule or a hold): use the bytes
            wire = ready.wire
            if rec.content_type is None:
                rec.content_type = ready.content_type
            if not is_head and x.length is None:
                conn = x.conn
                # No Connection line for a kept-alive HTTP/1.1 request (the common case).
                if req.keep_alive and req.version == "1.1":
                    line = ""
                else:
                    line = conn.connection_line(status)
                whole = ready.whole(status, headers, body, line)
                if whole is not None:  # the same bytes as conn.respond would write
                    conn.respond_whole(whole)
                    return
        else:
            skip = 0
    if rec.content_type is None:
        for n, v in headers:
            if n.lower() == "content-type":
                rec.content_type = v
                break
    x.conn.respond(status, headers, body, head=is_head, length=x.length, wire=wire, skip=skip)


def relay_complete(
    conn: ServerConnection,
    req: HttpRequest,
    rec: RequestRecord,
    resp: UpstreamResponse,
    headers: Headers,
    collect: int = 0,
) -> bytes | None:
    """Relay a response whose body has fully arrived: one write, no await.

    Returns the body when it fitted in ``collect`` bytes (for the cache), else None.
    """
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
        if rec.body_cap:
            rec.keep_response(body)
    if resp.close_delimited:
        rec.step("respond", "close-delimited", "the body ended when the backend closed")
    return body if len(body) <= collect else None


async def relay_stream(
    conn: ServerConnection,
    req: HttpRequest,
    rec: RequestRecord,
    resp: UpstreamResponse,
    headers: Headers,
    collect: int = 0,
) -> bytes | None:
    """Relay a response whose body is still arriving, with back-pressure both ways.
    Returns the body when it fitted in ``collect`` bytes (for the cache), else None.
    """
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
    keep = rec.keep_response if rec.body_cap else None
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
        if keep is not None:
            keep(data)
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
    if resp.close_delimited:
        rec.step("respond", "close-delimited", "the body ended when the backend closed")
    return b"".join(collected) if collected is not None else None

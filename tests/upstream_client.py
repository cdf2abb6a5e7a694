"""Helpers for tests of the upstream HTTP client: send one request on a pool, read a body."""

from __future__ import annotations

from workbench.engine.http.client import UpstreamResponse
from workbench.engine.http.upstream_pool import UpstreamPool


async def fetch(pool: UpstreamPool, method="GET", body=b"", timeout=5.0, extra=b""):
    """Send ``method /`` on a connection from ``pool``: the connection and the response head."""
    up, _ = await pool.acquire()
    head = b"%s / HTTP/1.1\r\nHost: o\r\n%s\r\n" % (method.encode(), extra)
    resp = await up.send(head, body, is_head=method == "HEAD", timeout=timeout)
    return up, resp


async def read_all(resp: UpstreamResponse) -> bytes:
    """The whole body of ``resp``, however it arrives."""
    if resp.complete:
        return resp.take_body()
    parts = []
    while chunk := await resp.read():
        parts.append(chunk)
    return b"".join(parts)

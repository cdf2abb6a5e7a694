"""Answering from a stored response: its fields with a fresh Age, 304s, byte ranges.

Pure functions of a :class:`CachedResponse` and the request (every time is an argument); the
engine's hit path calls them directly, so each is kept to the work one answer needs.
"""

from __future__ import annotations

from workbench.engine.cache.parse import parse_http_date
from workbench.engine.cache.policy import (
    etag_matches_weak,
    if_range_matches,
    parse_range,
    partial_headers,
)
from workbench.engine.cache.status import LookupResult
from workbench.engine.cache.store import CachedResponse
from workbench.engine.observe.records import Headers

__all__ = ["apply_range", "not_modified", "not_modified_headers", "response_headers"]

NOT_MODIFIED_FIELDS = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified"}
)
"""The stored fields a 304 carries (RFC 9110 §15.4.5)."""


def response_headers(entry: CachedResponse, now: float) -> Headers:
    """The stored fields plus a fresh ``Age`` (the caller adds ``Cache-Status``)."""
    headers = entry.headers.copy()
    headers.append(("Age", str(int(entry.age(now)))))
    return headers


def not_modified_headers(entry: CachedResponse, now: float) -> Headers:
    """Fields for a 304 answered from ``entry`` (RFC 9110 §15.4.5), plus ``Age``."""
    headers = [(n, v) for n, v in entry.headers if n.lower() in NOT_MODIFIED_FIELDS]
    headers.append(("Age", str(int(entry.age(now)))))
    return headers


def not_modified(entry: CachedResponse, req_headers: Headers) -> bool:
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

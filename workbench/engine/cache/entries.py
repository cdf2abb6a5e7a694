"""Storing: may this response be stored, and the :class:`CachedResponse` made from it.

Pure functions (every time is an argument), used for a response from upstream and for a
stored response whose fields a 304 or a HEAD just updated (RFC 9111 §3, §4.2, §4.3.4).
"""

from __future__ import annotations

from email.utils import formatdate
from typing import NamedTuple

from workbench.engine.cache.parse import normalize_url, parse_age, parse_http_date, split_url
from workbench.engine.cache.policy import (
    ResponseMeta,
    corrected_initial_age,
    freshness_lifetime,
    storable_reason,
    stored_headers,
    vary_key,
)
from workbench.engine.cache.store import ENTRY_OVERHEAD, CachedResponse, CacheKey
from workbench.engine.observe.records import Headers

__all__ = [
    "Verdict",
    "build_entry",
    "date_value",
    "http_date",
    "judge",
    "same_representation",
    "with_date",
]


class Verdict(NamedTuple):
    """Whether a response may be stored, why (for the trace), and its freshness lifetime."""

    ok: bool
    reason: str
    lifetime: float
    source: str
    """Where the lifetime comes from: s-maxage, max-age, Expires, heuristic or none."""


def http_date(t: float) -> str:
    """``t`` as an IMF-fixdate: the Date a recipient with a clock adds to a response that has
    none, when it caches it (RFC 9110 §6.6.1); so does a 304 that refreshes a stored one."""
    return formatdate(t, usegmt=True)


def with_date(headers: Headers, received: float) -> Headers:
    """``headers``, with a Date of their receipt when they have none (RFC 9110 §6.6.1)."""
    for n, _ in headers:
        if n.lower() == "date":
            return headers
    return [*headers, ("Date", http_date(received))]


def date_value(meta: ResponseMeta, fallback: float) -> float:
    """The response's Date, or ``fallback`` (its receipt time) without a valid one (§6.6.1)."""
    parsed = parse_http_date(meta.date) if meta.date else None
    return parsed if parsed is not None else fallback


def judge(
    meta: ResponseMeta,
    method: str,
    url: str,
    req_headers: Headers,
    status: int,
    body_size: int | None,
    date: float,
    *,
    max_object_size: int,
    store_set_cookie: bool,
) -> Verdict:
    """May a shared cache store this response (RFC 9111 §3)? With its freshness lifetime.

    A response stale on arrival without a validator is refused: it could never be used.
    """
    why = storable_reason(
        method,
        status,
        req_headers,
        meta,
        url=url,
        body_size=body_size,
        max_object_size=max_object_size,
        store_set_cookie=store_set_cookie,
    )
    if why is not None:
        return Verdict(False, f"uncacheable: {why}", 0.0, "none")
    lifetime, source = freshness_lifetime(meta, status, date)
    cc = meta.cc
    has_validator = meta.etag is not None or meta.last_modified is not None
    if not has_validator and (lifetime <= 0.0 or cc.no_cache):
        if cc.stale_while_revalidate is None and cc.stale_if_error is None:
            return Verdict(False, "uncacheable: stale on arrival and no validator", 0.0, "none")
    how = f"{source} via {meta.targeted}" if meta.targeted else source
    return Verdict(True, f"storable ({how})", lifetime, source)


def build_entry(
    key: CacheKey,
    meta: ResponseMeta,
    url: str,
    req_headers: Headers,
    status: int,
    resp_headers: Headers,
    body: bytes,
    request_time: float,
    response_time: float,
    date: float,
    verdict: Verdict,
    *,
    hits: int = 0,
    vary: tuple[tuple[str, str | None], ...] | None = None,
) -> CachedResponse:
    """The stored form of a response: stored fields, age bookkeeping, validators, size.

    ``vary`` (the secondary key) defaults to the request's values for the fields named in
    Vary; a refresh passes the stored entry's own.
    """
    cc = meta.cc
    headers = stored_headers(resp_headers, cc)
    if meta.date is None:
        headers.append(("Date", http_date(response_time)))
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
    age_value = parse_age(meta.age)
    return CachedResponse(
        key=key,
        url=nurl,
        path=split_url(nurl)[1],
        status=status,
        headers=headers,
        body=body,
        request_time=request_time,
        response_time=response_time,
        date_value=date,
        age_value=age_value,
        corrected_initial_age=corrected_initial_age(age_value, date, request_time, response_time),
        lifetime=verdict.lifetime,
        source=verdict.source,
        vary=vary,
        etag=meta.etag,
        last_modified=meta.last_modified,
        last_modified_value=(parse_http_date(meta.last_modified) if meta.last_modified else None),
        no_cache=cc.no_cache,
        forbid_stale=(
            cc.must_revalidate or cc.proxy_revalidate or cc.no_cache or cc.s_maxage is not None
        ),
        swr=cc.stale_while_revalidate,
        sie=cc.stale_if_error,
        conditional=conditional,
        size=size,
        stored_at=response_time,
        hits=hits,
        set_cookie=set_cookie,
        targeted=meta.targeted,
    )


def same_representation(entry: CachedResponse, meta: ResponseMeta) -> bool:
    """Does a HEAD's 200 describe the stored GET ``entry`` (RFC 9111 §4.3.5)?

    Its ETag and Last-Modified (at least one present) and Content-Length, each when the HEAD
    response carries it, must equal the stored ones.
    """
    if meta.etag is None and meta.last_modified is None:
        return False  # nothing shows it is the same representation
    if meta.etag is not None and meta.etag != entry.etag:
        return False
    if meta.last_modified is not None and meta.last_modified != entry.last_modified:
        return False
    return meta.content_length is None or meta.content_length == len(entry.body)

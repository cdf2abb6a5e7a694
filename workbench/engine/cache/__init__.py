"""The shared HTTP cache (RFC 9111, RFC 9213 targeted fields, RFC 9211 Cache-Status).

- :mod:`.parse` — Cache-Control, HTTP-dates, Age, URLs, Vary'd values.
- :mod:`.policy` — pure decisions: storing, freshness, reuse, invalidation, stale use, ranges.
- :mod:`.store` — the stored response and the byte-bounded LRU.
- :mod:`.status` — lookup/store results, Cache-Status, the hit-ratio ring, the UI's listing.
- :mod:`.entries` — may a response be stored, and the stored form made from it.
- :mod:`.answer` — answering from a stored response: Age, 304s, byte ranges.
- :mod:`.lookup` — reuse: how a stored response may answer a request (the hit path).
- :mod:`.core` — :class:`HttpCache`, which the engine drives.

How the engine drives it::

    res = cache.lookup(method, url, req_headers)            # → LookupResult, reason for the trace
    if res.only_if_cached_fail:   answer 504
    elif res.usable:              # fresh hit, or stale that may be served (max-stale, s-w-r)
        if cache.not_modified(res.entry, req_headers): answer 304 with
            cache.not_modified_headers(res.entry)
        else: answer res.entry.status, cache.response_headers(res.entry), res.entry.body
        if res.serve_while_revalidate: revalidate in the background (res.conditional_headers)
            unless one is in flight, then cache.refresh(..., served=False) or cache.store(...)
    elif res.must_revalidate:     # stale or the client insists: forward with the validators
        send upstream with res.conditional_headers set (replacing the client's own)
        304                         → entry = cache.refresh(res.entry, h304, t0, t1)
        5xx / no answer and res.can_serve_stale_on_error → cache.serve_stale(res.entry)
        a full response             → cache.count_miss(); cache.store(...)
    else:                         # miss or bypass
        forward; then cache.store(method, url, req_headers, status, headers, body, t0, t1)
    for every unsafe request: cache.invalidate(method, url, status, resp_headers)
    Cache-Status header: cache_status(res, stored=..., fwd_status=...)

The engine (``pipeline/cache_stage.py``) keeps one fetch per URL and variant in flight: a miss,
a revalidation or a background refresh; concurrent requests wait for it and share its result.
``pipeline/cache_hit.py`` puts a stored response on the exchange (Age, Cache-Status, 304, Range).

Policy choices worth knowing (each is allowed by RFC 9111, and each is the cautious one):

- Keys are ``"GET|" + normalised URL``; a HEAD request may be served from the GET entry, and a
  HEAD response is stored under ``"HEAD|…"`` for HEAD requests only. 206 and 304 are never
  stored. A fresh POST response whose Content-Location is its own URI is stored for GET.
- Requests carrying ``Authorization`` bypass the lookup (their answer may be per user); their
  responses are stored only when marked public, s-maxage or must-revalidate (§3.5).
- Set-Cookie does not prevent storing (§7.3) unless ``store_set_cookie`` is off; entries
  remember it. Fields named by qualified ``private="…"``/``no-cache="…"`` are not stored.
- A response that is stale on arrival and carries no validator is not stored (it could never be
  used). Vary ``*`` is never stored. Invalid ``max-age``/``Expires``/``Age`` mean "stale".
- must-revalidate, proxy-revalidate, s-maxage and no-cache forbid every stale use: client
  ``max-stale``, ``stale-while-revalidate``, ``stale-if-error`` and the configured window.
- With ``targeted=True`` (the reverse proxy) a targeted field from ``targeted_fields``
  (default ``CDN-Cache-Control``, RFC 9213) replaces Cache-Control and Expires for this cache.
"""

from workbench.engine.cache.core import HttpCache, LookupResult, StoreResult
from workbench.engine.cache.parse import (
    MAX_DELTA,
    CacheControl,
    normalize_url,
    normalize_vary_value,
    parse_age,
    parse_cache_control,
    parse_http_date,
    parse_targeted,
)
from workbench.engine.cache.policy import (
    HEURISTIC_STATUSES,
    SAFE_METHODS,
    ByteRange,
    if_range_matches,
    invalidation_targets,
    is_unsafe,
    parse_range,
    partial_headers,
    select_cache_control,
    stale_on_error_allowed,
    unsatisfiable_headers,
)
from workbench.engine.cache.status import CACHE_NAME, cache_status
from workbench.engine.cache.store import (
    ENTRY_OVERHEAD,
    MAX_VARIANTS,
    CachedResponse,
    CacheKey,
    MemoryStore,
)

__all__ = [
    "CACHE_NAME",
    "ENTRY_OVERHEAD",
    "HEURISTIC_STATUSES",
    "MAX_DELTA",
    "MAX_VARIANTS",
    "SAFE_METHODS",
    "ByteRange",
    "CacheControl",
    "CacheKey",
    "CachedResponse",
    "HttpCache",
    "LookupResult",
    "MemoryStore",
    "StoreResult",
    "cache_status",
    "if_range_matches",
    "invalidation_targets",
    "is_unsafe",
    "normalize_url",
    "normalize_vary_value",
    "parse_age",
    "parse_cache_control",
    "parse_http_date",
    "parse_range",
    "parse_targeted",
    "partial_headers",
    "select_cache_control",
    "stale_on_error_allowed",
    "unsatisfiable_headers",
]
